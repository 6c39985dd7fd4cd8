//! Collectives: the worked numbers of shared/specs/domain.md §6.6 and §6.8, and topology behaviour.
use perfmodel_core::collective::{self, algorithms, formulas, Algorithm, Op, Placement};
use perfmodel_core::topology::{disjoint_rings, system_of, Cluster, Comm, LevelParams, LinkKind};
use perfmodel_core::Error;

const GIB: f64 = 1_073_741_824.0;

fn close(a: f64, b: f64, rel: f64) {
    assert!((a - b).abs() <= rel * b.abs(), "{a} vs {b}");
}

/// A synthetic level: `size` members, `bw` bytes/s per link (efficiency 1), `alpha` s per step, no launch.
fn level(kind: LinkKind, size: u32, bw: f64, links: u32, alpha: f64) -> LevelParams {
    LevelParams {
        kind,
        size,
        link_bandwidth: bw,
        links,
        efficiency: 1.0,
        inr_efficiency: 1.0,
        hop_latency_s: alpha,
        launch_s: 0.0,
        in_network_reduction: false,
        rails_only: false,
        oversubscription: 1.0,
        devices_per_node: 1,
    }
}

/// A communicator over the given (level, members) pairs, innermost first.
fn comm_over(levels: &[(LevelParams, u32)], ranks_per_node: u32) -> Comm {
    let mut c = Comm {
        nranks: levels.iter().map(|(_, k)| k).product(),
        levels: [levels[0].0; 6],
        members: [1; 6],
        len: levels.len(),
        ranks_per_node,
        launch_s: 0.0,
        crosses_groups: false,
    };
    for (i, (l, k)) in levels.iter().enumerate() {
        c.levels[i] = *l;
        c.members[i] = *k;
    }
    c
}

#[test]
fn engine_reproduces_domain_6_6() {
    // n = 1 GiB, p = 8, 1/beta = 50 GB/s, alpha = 5 us, gamma = 0, on one switch level (every rank has its
    // full bandwidth). The store-and-forward algorithms equal the textbook formulas exactly; the pipelined
    // ring equals (sqrt L + sqrt W)^2 with L = 2 (p-1) alpha and W = 2 (p-1)/p n beta, whose sum L + W is
    // §6.6's 37.651 ms.
    let c = comm_over(&[(level(LinkKind::Switch, 8, 50e9, 1, 5e-6), 8)], 8);
    let t = |op, algo| algorithms::flat_time(&c, op, GIB, algo).unwrap() * 1e3;
    close(t(Op::AllReduce, Algorithm::Rabenseifner), 37.611, 1e-4);
    close(t(Op::AllReduce, Algorithm::RecursiveDoubling), 64.440, 1e-4);
    let (l, w) = (2.0 * 7.0 * 5e-6, 2.0 * 7.0 / 8.0 * GIB / 50e9);
    close(
        t(Op::AllReduce, Algorithm::Ring),
        formulas::pipelined(l, w) * 1e3,
        1e-12,
    );
    close((l + w) * 1e3, 37.651, 1e-4);
    let ag = t(Op::AllGather, Algorithm::Ring);
    close(
        ag,
        formulas::pipelined(7.0 * 5e-6, 7.0 / 8.0 * GIB / 50e9) * 1e3,
        1e-12,
    );
}

#[test]
fn engine_hierarchical_reproduces_domain_6_8() {
    // g = 8 GPUs per node at 450 GB/s, n = 16 nodes, one 50 GB/s rail per GPU, no latency: reduce-scatter in
    // the node 2.088 ms, all-reduce of n/8 across nodes 5.033 ms, all-gather 2.088 ms; 9.209 ms in all.
    let intra = level(LinkKind::Switch, 8, 450e9, 1, 0.0);
    let mut net = level(LinkKind::Network, 16, 50e9, 8, 0.0);
    net.devices_per_node = 8;
    let c = comm_over(&[(intra, 8), (net, 16)], 8);
    let t = algorithms::flat_time(&c, Op::AllReduce, GIB, Algorithm::Hierarchical).unwrap();
    close(t * 1e3, 9.209, 1e-3);
    let node = comm_over(&[(intra, 8)], 8);
    let rs = algorithms::flat_time(&node, Op::ReduceScatter, GIB, Algorithm::Ring).unwrap();
    close(rs * 1e3, 2.088, 1e-3);
}

#[test]
fn engine_hierarchical_matches_6_8_bandwidth_terms_at_large_sizes() {
    // 16 DGX H100 nodes: NVSwitch per-GPU ring bandwidth and one rail per GPU, as §6.8 assumes. At 1 TiB the
    // latency and pipeline-fill terms are ~1 % of the total, so the engine's hierarchical all-reduce must equal
    // §6.8's bandwidth terms with the hwdb bandwidths: 2 (g-1)/g n / B_intra + 2 (N-1)/N (n/g) / B_nic.
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 16).unwrap();
    let comm = c.comm(128).unwrap();
    let intra = comm.levels[0].ring_bandwidth(8, 8);
    let nic = comm.levels[1].rail_bandwidth(8);
    let n = 1024.0 * GIB;
    let expected = 2.0 * 7.0 / 8.0 * n / intra + 2.0 * 15.0 / 16.0 * (n / 8.0) / nic;
    let e = collective::time(&c, Op::AllReduce, n as u64, 128, Algorithm::Hierarchical).unwrap();
    close(e.time_s, expected, 0.02);
}

#[test]
fn strided_groups_share_the_nodes_nics() {
    // A data-parallel group with tp = 8 on DGX H100 nodes has one rank per node; with all 8 ranks of a node
    // reducing at once each group gets one of the node's 8 NICs, as a lone 16-rank ring of one rank per
    // node would. Two concurrent ranks per node on a 1-NIC-per-GPU system still get one NIC each.
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 16).unwrap();
    let alone = Placement {
        stride: 8,
        concurrent: None,
    };
    let crowded = Placement {
        stride: 8,
        concurrent: Some(8),
    };
    let a = collective::placed_comm(&c, 16, alone).unwrap();
    let b = collective::placed_comm(&c, 16, crowded).unwrap();
    assert_eq!((a.len, a.members[0], a.ranks_per_node), (1, 16, 1));
    let ta = algorithms::evaluate(&a, Op::ReduceScatter, GIB, Algorithm::Ring)
        .unwrap()
        .0;
    let tb = algorithms::evaluate(&b, Op::ReduceScatter, GIB, Algorithm::Ring)
        .unwrap()
        .0;
    close(tb, ta, 1e-12);
    // Frontier: 8 GCDs share 4 NICs, so a one-rank-per-node group with every GCD busy gets half a NIC.
    let f = Cluster::new(system_of("frontier-node").unwrap(), 16).unwrap();
    let lone = collective::placed_comm(
        &f,
        16,
        Placement {
            stride: 8,
            concurrent: None,
        },
    )
    .unwrap();
    let busy = collective::placed_comm(
        &f,
        16,
        Placement {
            stride: 8,
            concurrent: Some(8),
        },
    )
    .unwrap();
    let t = |c: &Comm| {
        algorithms::evaluate(c, Op::ReduceScatter, 16.0 * GIB, Algorithm::Ring)
            .unwrap()
            .0
    };
    close(t(&busy) / t(&lone), 2.0, 0.01);
}

#[test]
fn a_group_that_does_not_nest_is_an_error_naming_the_level() {
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 4).unwrap();
    let e = collective::placed_comm(
        &c,
        4,
        Placement {
            stride: 3,
            concurrent: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("level 0"), "{e}");
    let e = collective::placed_comm(
        &c,
        4,
        Placement {
            stride: 8,
            concurrent: Some(9),
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("concurrent"), "{e}");
}

#[test]
fn auto_names_its_pick_and_is_the_fastest() {
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 1).unwrap();
    let auto = collective::time(&c, Op::AllReduce, 1 << 30, 8, Algorithm::Auto).unwrap();
    assert_eq!(auto.algorithm, Algorithm::Nvls);
    let ring = collective::time(&c, Op::AllReduce, 1 << 30, 8, Algorithm::Ring).unwrap();
    assert!(auto.time_s <= ring.time_s);
}

#[test]
fn nvls_needs_an_nvswitch_with_in_switch_reduction() {
    let c = Cluster::new(system_of("dgx-a100").unwrap(), 1).unwrap();
    let e = collective::time(&c, Op::AllReduce, 1 << 20, 8, Algorithm::Nvls).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("NVSwitch"));
}

#[test]
fn bad_ranks_and_names_are_clear_errors() {
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 2).unwrap();
    let e = collective::time(&c, Op::AllReduce, 1024, 17, Algorithm::Ring).unwrap_err();
    assert!(e.to_string().contains("beyond the 16 devices"), "{e}");
    assert!(c.check_nranks(0.0).is_err());
    assert!(Op::parse("all_reduc")
        .unwrap_err()
        .to_string()
        .contains("all_reduce"));
    assert!(Algorithm::parse("rign")
        .unwrap_err()
        .to_string()
        .contains("ring"));
    let e = collective::time(&c, Op::AllReduce, 1024, 8, Algorithm::Bruck).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }));
}

#[test]
fn mesh_ring_uses_one_link_per_hop_per_ring() {
    // A complete digraph on 8 vertices holds 7 edge-disjoint Hamiltonian rings, on 4 only 2 (Tillson 1980).
    assert_eq!(disjoint_rings(8), 7);
    assert_eq!(disjoint_rings(4), 2);
    let c = Cluster::new(system_of("mi300x-pollara-node").unwrap(), 1).unwrap();
    let comm = c.comm(2).unwrap();
    let one_link = comm.levels[0].link();
    // 2 ranks: a single link; the all-reduce busbw at 16 GiB approaches one link's bandwidth.
    let e = collective::time(&c, Op::AllReduce, 16 << 30, 2, Algorithm::Ring).unwrap();
    close(e.busbw(16 << 30), one_link, 0.02);
}

#[test]
fn rails_only_needs_rail_aligned_all_to_all() {
    let c = Cluster::new(system_of("mi300x-pollara-node").unwrap(), 4).unwrap();
    let e = collective::time(&c, Op::AllToAll, 1 << 28, 32, Algorithm::Direct).unwrap_err();
    assert!(e.to_string().contains("pxn"), "{e}");
    let auto = collective::time(&c, Op::AllToAll, 1 << 28, 32, Algorithm::Auto).unwrap();
    assert_eq!(auto.algorithm, Algorithm::Pxn);
}

#[test]
fn busbw_factors_follow_nccl_tests() {
    close(Op::AllReduce.busbw_factor(8), 1.75, 1e-12);
    close(Op::AllGather.busbw_factor(8), 0.875, 1e-12);
    close(Op::Broadcast.busbw_factor(8), 1.0, 1e-12);
}
