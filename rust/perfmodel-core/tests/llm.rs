//! LLM core: counts, collectives over levels, plan rules, search. Expected values: shared/specs/domain.md.
use perfmodel_core::hw;
use perfmodel_core::llm::comm::{self, Group, LinkLevel, Topology, MAX_LEVELS};
use perfmodel_core::llm::{self, Calibration, Cluster, Invalid, Model, Plan, Recompute, Space};

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
    // domain.md §6.2.
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

fn two_level(g: u32, n: u32, b_intra: f64, b_nic: f64) -> Topology {
    let mut levels = [LinkLevel::default(); MAX_LEVELS];
    levels[0] = LinkLevel {
        size: g,
        bandwidth: b_intra,
        latency: 0.0,
        block: u64::from(g),
    };
    levels[1] = LinkLevel {
        size: n,
        bandwidth: b_nic,
        latency: 0.0,
        block: u64::from(g * n),
    };
    Topology {
        levels,
        n_levels: 2,
        devices_per_node: g,
        nodes: n,
    }
}

#[test]
fn hierarchical_all_reduce_matches_domain_example() {
    // domain.md §6.8: g = 8, n = 16, S = 1 GiB, 450 GB/s intra, 50 GB/s NIC: 2.088 + 5.033 + 2.088 = 9.209 ms.
    let topo = two_level(8, 16, 450e9, 50e9);
    let g = Group::new(&topo, 128, 1);
    assert_eq!(g.factors[..2], [8.0, 16.0]);
    let t = comm::all_reduce(&topo, &g, 1024.0 * 1024.0 * 1024.0);
    assert!((t * 1e3 - 9.209).abs() < 0.001, "{}", t * 1e3);
}

#[test]
fn group_placement_by_stride() {
    let topo = two_level(8, 16, 450e9, 50e9);
    // A DP group with tp = 8 has one member per node: all traffic crosses the network.
    let dp = Group::new(&topo, 16, 8);
    assert_eq!(dp.factors[..2], [1.0, 16.0]);
    assert!(dp.crosses_nodes(&topo));
    // A TP group of 8 stays in the node.
    let tp = Group::new(&topo, 8, 1);
    assert_eq!(tp.factors[..2], [8.0, 1.0]);
    assert!(!tp.crosses_nodes(&topo));
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
    let tg = Group::new(&c.topo, 8, 1);
    let ar = comm::all_reduce(&c.topo, &tg, 2.0 * 2048.0 * 12288.0);
    let none = tp(Recompute::None, false);
    assert!((none / (96.0 * 2.0 * ar) - 1.0).abs() < 1e-12, "{none}");
    assert!((tp(Recompute::Full, false) / none - 2.0).abs() < 1e-12);
    assert!((tp(Recompute::Selective, false) / none - 1.0).abs() < 1e-12);
    assert!((tp(Recompute::None, true) / none - 1.5).abs() < 1e-12);
}
