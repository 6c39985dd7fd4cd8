//! Heterogeneous-NIC training in the core: placement, transport selection, partition solver.
use std::sync::Arc;

use perfmodel_core::hw;
use perfmodel_core::llm::hetero::{self, HeteroCluster, Placement};
use perfmodel_core::llm::step::{Pipeline, StageCost};
use perfmodel_core::llm::{Calibration, Model, Plan};
use perfmodel_core::topology::{Cluster, NodeGroup};
use perfmodel_core::Error;

fn group(id: &str, nodes: u32) -> NodeGroup {
    let sys: Arc<hw::System> = hw::registry()
        .unwrap()
        .get_kind(id, "system")
        .unwrap()
        .system()
        .unwrap();
    NodeGroup::from_system(sys, nodes).unwrap()
}

fn gpt_7_5b() -> Model {
    Model::from_pairs(&[
        ("hidden", 4096.0),
        ("heads", 32.0),
        ("layers", 36.0),
        ("seq_len", 2048.0),
        ("vocab", 51200.0),
    ])
    .unwrap()
}

fn plan(tp: f64, pp: f64, dp: f64, gb: f64) -> Plan {
    Plan::from_pairs(&[
        ("tp", tp),
        ("pp", pp),
        ("dp", dp),
        ("micro_batch", 1.0),
        ("global_batch", gb),
    ])
    .unwrap()
}

#[test]
fn even_pipeline_equals_explicit_stages() {
    let last = StageCost {
        forward: 1.0,
        backward: 2.0,
        recompute: 0.5,
        tp_comm: 0.25,
        dp_comm: 0.7,
        optimizer: 0.1,
        ..StageCost::default()
    };
    // The other stages lack the output layer: 0.1 s less forward, 0.2 s less backward.
    let other = StageCost {
        forward: 0.9,
        backward: 1.8,
        ..last
    };
    let even = Pipeline::even(&last, other.per_micro_batch(), 4, 0.01);
    let of = Pipeline::of(&[other, other, other, last], &[0.01; 3]);
    assert_eq!(even.slowest, of.slowest);
    assert!((even.sum_per_micro_batch - of.sum_per_micro_batch).abs() < 1e-12);
    assert!((even.p2p_sum - of.p2p_sum).abs() < 1e-12);
    assert_eq!(even.p2p_max, of.p2p_max);
}

#[test]
fn solver_matches_exhaustive_search_and_favours_the_faster_devices() {
    let net = Cluster::with_groups(
        vec![group("dgx-a100", 1), group("dgx-h100", 1)],
        Some(("eth-100g", 1)),
    )
    .unwrap();
    let hc = HeteroCluster {
        net: &net,
        calib: vec![Calibration::default(); 2],
    };
    let m = gpt_7_5b();
    let p = plan(8.0, 2.0, 1.0, 64.0);
    let auto = hetero::estimate(&m, &p, &hc, &Placement::NicAware, None).unwrap();
    let layers: Vec<u32> = auto.stages.iter().map(|s| s.layers).collect();
    assert!(layers[1] > layers[0], "{layers:?}");
    let best = (1..36)
        .map(|a| {
            hetero::estimate(&m, &p, &hc, &Placement::NicAware, Some(&[a, 36 - a]))
                .unwrap()
                .estimate
                .step_time_s
        })
        .fold(f64::INFINITY, f64::min);
    assert!((auto.estimate.step_time_s - best).abs() <= 1e-12 * best);
    assert!(auto.reason.contains("stage 1"));
}

#[test]
fn groups_without_a_shared_network_are_an_error() {
    let net = Cluster::with_groups(
        vec![group("holmes-a100-ib", 2), group("holmes-a100-roce", 2)],
        None,
    )
    .unwrap();
    let hc = HeteroCluster {
        net: &net,
        calib: vec![Calibration::default(); 2],
    };
    let m = gpt_7_5b();
    // DP over all 32 GPUs spans both NIC types.
    let err = hetero::estimate(
        &m,
        &plan(2.0, 1.0, 16.0, 64.0),
        &hc,
        &Placement::NicAware,
        None,
    )
    .unwrap_err();
    match err {
        Error::Unsupported { message } => {
            assert!(
                message.contains("infiniband") && message.contains("roce"),
                "{message}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(net.comm(32).is_err());
    assert!(net.comm(16).is_ok());
}
