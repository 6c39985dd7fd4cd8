//! LLM core: counts, collectives over levels, plan rules, search. Expected values: docs/models/training.md and docs/models/memory.md.
use perfmodel_core::collective::group::Machine;
use perfmodel_core::collective::{self, algorithms, Algorithm, Op};
use perfmodel_core::hw;
use perfmodel_core::llm::step::GroupKind;
use perfmodel_core::llm::{self, Calibration, Cluster, Invalid, Model, Plan, Recompute, Space};
use perfmodel_core::topology::{system_of, NodeGroup};

fn gpt(h: f64, a: f64, l: f64) -> Model {
    Model::from_pairs(&[
        ("hidden", h),
        ("heads", a),
        ("layers", l),
        ("seq_len", 2048.0),
        ("vocab", 51200.0),
    ])
    .unwrap()
}

#[test]
fn narayanan_parameter_counts() {
    // docs/models/training.md#parameters.
    for (h, a, l, b) in [
        (2304.0, 24.0, 24.0, 1.65),
        (8192.0, 64.0, 48.0, 39.10),
        (20480.0, 128.0, 105.0, 529.60),
        (25600.0, 160.0, 128.0, 1008.04),
    ] {
        let p = gpt(h, a, l).params() / 1e9;
        assert!((p - b).abs() < 0.006, "{h}: {p} vs {b}");
        let formula =
            12.0 * l * h * h * (1.0 + 13.0 / (12.0 * h) + (51200.0 + 2048.0) / (12.0 * l * h));
        assert!((gpt(h, a, l).params() - formula).abs() < 1e-3);
    }
}

#[test]
fn seventy_two_formula() {
    let m = Model::from_pairs(&[
        ("hidden", 12288.0),
        ("heads", 96.0),
        ("layers", 96.0),
        ("seq_len", 2048.0),
        ("vocab", 50257.0),
    ])
    .unwrap();
    assert!((m.model_flops_per_token() / 1.0764e12 - 1.0).abs() < 2e-4);
    let full = m.hardware_flops_per_token(Recompute::Full);
    let (h, l, s, v) = (12288.0, 96.0, 2048.0, 50257.0);
    assert!(
        (full / (96.0 * l * h * h * (1.0 + s / (6.0 * h) + v / (16.0 * l * h))) - 1.0).abs()
            < 1e-12
    );
}

fn dgx_h100(nodes: u32) -> Machine {
    let g = NodeGroup::from_system(system_of("dgx-h100").unwrap(), nodes).unwrap();
    Machine::of_group(&g, 1.0).unwrap()
}

#[test]
fn group_placement_by_stride() {
    let m = dgx_h100(16);
    // A DP group with tp = 8 has one member per node: all traffic crosses the network.
    let dp = m.layout(16, 8).unwrap();
    assert_eq!((&dp.members[..2], dp.ranks_per_node), (&[1, 16][..], 1));
    assert_eq!(m.outer_level(16, 8), Some(1));
    // A TP group of 8 stays in the node.
    let tp = m.layout(8, 1).unwrap();
    assert_eq!((&tp.members[..2], tp.ranks_per_node), (&[8, 1][..], 8));
    assert_eq!(m.outer_level(8, 1), Some(0));
    // 32 ranks 4 apart: 2 per node over 16 nodes.
    let g = m.layout(32, 4).unwrap();
    assert_eq!((&g.members[..2], g.ranks_per_node), (&[2, 16][..], 2));
    // Stride 3 does not nest in 8-GPU nodes.
    assert!(m.layout(4, 3).unwrap_err().to_string().contains("level 0"));
}

#[test]
fn plan_collectives_are_the_engines() {
    // Every collective the step model lists is the collectives engine's estimate for the same cluster, group
    // layout (size, stride, every rank of a node communicating) and size.
    let m = gpt(12288.0, 96.0, 96.0);
    let c = a100(64);
    let p = Plan {
        tp: 8,
        pp: 8,
        dp: 8,
        vp: 3,
        micro_batch: 1,
        global_batch: 64,
        sp: true,
        recompute: Recompute::Selective,
        zero: 1,
        ..Plan::default()
    };
    let net = perfmodel_core::topology::Cluster::new(system_of("dgx-a100").unwrap(), 64).unwrap();
    let cols = llm::step::plan_collectives(&m, &p, &c);
    assert_eq!(cols.len(), 5, "{cols:?}");
    for x in &cols {
        let place = collective::Placement {
            stride: x.stride,
            concurrent: Some(8),
        };
        let comm = collective::placed_comm(&net, x.size, place).unwrap();
        let (t, algo) = algorithms::evaluate(&comm, x.op(), x.bytes, Algorithm::Auto).unwrap();
        assert_eq!(t, x.time_s(), "{x:?}");
        assert_eq!(algo, x.algorithm());
    }
    // The DP group (stride 8) crosses only the network; TP stays in the node.
    let dp = cols.iter().find(|x| x.group == GroupKind::Dp).unwrap();
    assert_eq!((dp.size, dp.stride), (8, 8));
    assert!(dp.cross_node_bytes > 0.0);
    let tp = cols.iter().find(|x| x.group == GroupKind::Tp).unwrap();
    assert_eq!(tp.cross_node_bytes, 0.0);
}

#[test]
fn unplaceable_plan_names_the_group() {
    // tp = 3 leaves data-parallel ranks 3 apart, which do not nest in 8-GPU nodes.
    let m = gpt(6144.0, 48.0, 48.0);
    let c = a100(3);
    let p = Plan {
        tp: 3,
        dp: 8,
        global_batch: 8,
        ..Plan::default()
    };
    let e = llm::estimate(&m, &p, &c).unwrap_err().to_string();
    assert!(e.contains("dp group") && e.contains("level 0"), "{e}");
}

fn a100(nodes: u32) -> Cluster {
    let sys = hw::registry()
        .unwrap()
        .get_kind("dgx-a100", "system")
        .unwrap()
        .system()
        .unwrap();
    Cluster::new(&sys, nodes, Calibration::default()).unwrap()
}

#[test]
fn plan_rules_name_constraints() {
    let m = gpt(12288.0, 96.0, 96.0);
    let p = Plan {
        tp: 5,
        dp: 1,
        global_batch: 1,
        ..Plan::default()
    };
    assert_eq!(p.check_code(&m, 64), Some(Invalid::HeadsTp));
    let msg = p.check(&m, 64).unwrap_err().to_string();
    assert!(
        msg.contains("heads (96) must be divisible by tp (5)"),
        "{msg}"
    );
    let p = Plan {
        tp: 8,
        pp: 5,
        dp: 1,
        global_batch: 1,
        ..Plan::default()
    };
    assert_eq!(p.check_code(&m, 64), Some(Invalid::LayersPp));
    let p = Plan {
        tp: 8,
        dp: 16,
        global_batch: 16,
        ..Plan::default()
    };
    assert_eq!(p.check_code(&m, 64), Some(Invalid::TooManyGpus));
    let p = Plan {
        tp: 8,
        ep: 2,
        dp: 2,
        global_batch: 2,
        ..Plan::default()
    };
    assert_eq!(p.check_code(&m, 64), Some(Invalid::EpDense));
}

#[test]
fn estimate_is_finite_and_components_add_up() {
    let m = gpt(8192.0, 64.0, 48.0);
    let c = a100(8);
    let p = Plan {
        tp: 8,
        pp: 2,
        dp: 4,
        vp: 2,
        micro_batch: 1,
        global_batch: 64,
        recompute: Recompute::Full,
        ..Plan::default()
    };
    let e = llm::estimate(&m, &p, &c).unwrap();
    assert!(e.step_time_s.is_finite() && e.step_time_s > 0.0);
    assert!((e.times.step() - e.step_time_s).abs() < 1e-12);
    assert!(e.mfu > 0.2 && e.mfu < 0.9 && e.hfu > e.mfu);
}

#[test]
fn search_matches_single_estimates() {
    let m = gpt(8192.0, 64.0, 48.0);
    let c = a100(8);
    let space = Space {
        global_batch: 64,
        tp: vec![4, 8],
        pp: vec![1, 2, 3, 4],
        vp: vec![1, 2],
        cp: vec![1],
        ep: vec![1],
        micro_batch: vec![1, 2],
        recompute: Recompute::ALL.to_vec(),
        zero: vec![0, 1, 3],
        sp: vec![false, true],
        overlap: vec![0, 7],
        offload: vec![0, 3],
        base: Plan::default(),
    };
    let found = llm::search(&m, &c, &space, 0, None).unwrap();
    assert_eq!(found.candidates, space.size());
    assert_eq!(
        found.plans.len() as u64 + found.skipped.iter().sum::<u64>(),
        space.size() as u64
    );
    assert!(found.skipped[Invalid::GpusDivide as usize] > 0);
    for (p, e) in found.plans.iter().zip(&found.estimates).step_by(7) {
        let single = llm::estimate(&m, p, &c).unwrap();
        assert!((single.step_time_s - e.step_time_s).abs() <= 1e-12 * e.step_time_s);
    }
}

#[test]
fn backward_tp_collectives_hide_behind_gradient_gemms() {
    // Megatron-LM runs the input-gradient collective of each column-parallel linear behind its weight-gradient
    // GEMM (Korthikanti et al. 2022 §6.2). With GEMMs longer than the collectives (175B, tp 8 in one node):
    // no SP -> only the 2 forward all-reduces per layer are exposed, and a full-recompute forward repeats them;
    // SP -> the forward's 2 all-gather + reduce-scatter pairs plus the 2 backward all-gathers of the
    // row-parallel outputs (1.5x).
    let m = gpt(12288.0, 96.0, 96.0);
    let c = a100(1);
    let plan = |recompute, sp| Plan {
        tp: 8,
        dp: 1,
        micro_batch: 1,
        global_batch: 1,
        recompute,
        sp,
        ..Plan::default()
    };
    let tp = |recompute, sp| llm::evaluate(&m, &plan(recompute, sp), &c).times.tp_comm;
    let ar = c
        .collective(Op::AllReduce, 8, 1, 2.0 * 2048.0 * 12288.0)
        .time_s;
    let none = tp(Recompute::None, false);
    assert!((none / (96.0 * 2.0 * ar) - 1.0).abs() < 1e-12, "{none}");
    assert!((tp(Recompute::Full, false) / none - 2.0).abs() < 1e-12);
    assert!((tp(Recompute::Selective, false) / none - 1.0).abs() < 1e-12);
    // With SP: 2 all-gathers + 2 reduce-scatters forward and the 2 conjugate all-gathers backward, each the
    // engine's estimate for the TP group.
    let bytes = 2.0 * 2048.0 * 12288.0;
    let ag = c.collective(Op::AllGather, 8, 1, bytes).time_s;
    let rs = c.collective(Op::ReduceScatter, 8, 1, bytes).time_s;
    let sp = tp(Recompute::None, true);
    assert!(
        (sp / (96.0 * (4.0 * ag + 2.0 * rs)) - 1.0).abs() < 1e-12,
        "{sp}"
    );
    // Exposed: SP adds the backward all-gathers, so it costs more than the all-reduces without SP.
    assert!(sp > none, "{sp} vs {none}");
}
