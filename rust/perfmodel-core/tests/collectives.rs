//! Collectives: the worked numbers of docs/models/collectives.md#worked-numbers, and topology behaviour.
use perfmodel_core::collective::{self, algorithms, formulas, Algorithm, Op, Placement};
use perfmodel_core::topology::{disjoint_rings, system_of, Cluster, Comm, LevelParams, LinkKind};
use perfmodel_core::Error;

const GIB: f64 = 1_073_741_824.0;
const MIB: f64 = 1_048_576.0;

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
        devices_per_member: 1,
        ll_latency_ratio: 0.0,
        ll_bandwidth_ratio: 0.0,
        ll128_latency_ratio: 0.0,
        ll128_bandwidth_ratio: 0.0,
        custom_all_reduce: None,
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
        ranks_min_node: ranks_per_node,
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
    // full bandwidth). The ring (Simple protocol only on this level) and the store-and-forward algorithms
    // equal the textbook formulas exactly: ring all-reduce 2 (p-1) alpha + 2 (p-1)/p n beta = 37.651 ms.
    let c = comm_over(&[(level(LinkKind::Switch, 8, 50e9, 1, 5e-6), 8)], 8);
    let t = |op, algo| algorithms::flat_time(&c, op, GIB, algo).unwrap() * 1e3;
    close(t(Op::AllReduce, Algorithm::Ring), 37.651, 1e-4);
    close(t(Op::AllReduce, Algorithm::Rabenseifner), 37.611, 1e-4);
    close(t(Op::AllReduce, Algorithm::RecursiveDoubling), 64.440, 1e-4);
    let ag = (7.0 * 5e-6 + 7.0 / 8.0 * GIB / 50e9) * 1e3;
    close(t(Op::AllGather, Algorithm::Ring), ag, 1e-12);
    close(t(Op::ReduceScatter, Algorithm::Ring), ag, 1e-12);
    // Chains and trees keep the segmented-pipeline cost (sqrt L + sqrt W)^2.
    close(
        t(Op::Broadcast, Algorithm::Ring),
        formulas::pipelined(7.0 * 5e-6, GIB / 50e9) * 1e3,
        1e-12,
    );
}

#[test]
fn ring_takes_the_faster_protocol() {
    // With the LL protocol modelled (latency x 0.2, bandwidth x 0.25), a small all-gather pays the LL
    // latency and a large one Simple's bandwidth: each is L + W of the faster protocol, as NCCL's tuner prices.
    let mut l = level(LinkKind::Switch, 8, 50e9, 1, 5e-6);
    l.ll_latency_ratio = 0.2;
    l.ll_bandwidth_ratio = 0.25;
    let c = comm_over(&[(l, 8)], 8);
    let t = |n: f64| algorithms::flat_time(&c, Op::AllGather, n, Algorithm::Ring).unwrap();
    let (simple, ll) = (
        |n: f64| 7.0 * 5e-6 + 7.0 / 8.0 * n / 50e9,
        |n: f64| 7.0 * 1e-6 + 7.0 / 8.0 * n / 12.5e9,
    );
    close(t(4096.0), ll(4096.0), 1e-12);
    close(t(GIB), simple(GIB), 1e-12);
    assert!(ll(4096.0) < simple(4096.0) && simple(GIB) < ll(GIB));
    // A level without LL (another transport) leaves only Simple for a ring that crosses it.
    let c2 = comm_over(&[(l, 8), (level(LinkKind::Switch, 2, 50e9, 1, 5e-6), 2)], 8);
    let small = algorithms::flat_time(&c2, Op::AllGather, 4096.0, Algorithm::Ring).unwrap();
    close(small, 15.0 * 5e-6 + 15.0 / 16.0 * 4096.0 / 50e9, 1e-12);
}

#[test]
fn ring_takes_ll128_at_mid_sizes() {
    // LL128 (NCCL's tuner: Simple's bandwidth x 0.92 at a smaller per-step latency) wins between LL and Simple:
    // a 1 MiB all-gather of 8 ranks pays 7 x 2.5 us + 7/8 MiB / 46 GB/s; small sizes stay LL, large Simple.
    let mut l = level(LinkKind::Switch, 8, 50e9, 1, 5e-6);
    (l.ll_latency_ratio, l.ll_bandwidth_ratio) = (0.2, 0.25);
    (l.ll128_latency_ratio, l.ll128_bandwidth_ratio) = (0.5, 0.92);
    let c = comm_over(&[(l, 8)], 8);
    let t = |n: f64| algorithms::flat_time(&c, Op::AllGather, n, Algorithm::Ring).unwrap();
    let ll128 = |n: f64| 7.0 * 2.5e-6 + 7.0 / 8.0 * n / 46e9;
    close(t(MIB), ll128(MIB), 1e-12);
    close(t(256.0), 7.0 * 1e-6 + 7.0 / 8.0 * 256.0 / 12.5e9, 1e-12);
    close(t(GIB), 7.0 * 5e-6 + 7.0 / 8.0 * GIB / 50e9, 1e-12);
    // A level without LL128 takes it away from every ring that crosses it.
    let c2 = comm_over(&[(l, 8), (level(LinkKind::Switch, 2, 50e9, 1, 5e-6), 2)], 8);
    let mid = algorithms::flat_time(&c2, Op::AllGather, MIB, Algorithm::Ring).unwrap();
    close(mid, 15.0 * 5e-6 + 15.0 / 16.0 * MIB / 50e9, 1e-12);
}

#[test]
fn mesh_members_bring_all_their_devices_links() {
    // Frontier's node level joins 4 MI250X packages of 2 GCDs, 3 links per GCD: 6 links per package, 2 per
    // package pair; a flat ring of the node's 8 GCDs gets disjoint_rings(4) x 2 = 4 rings, held to the 3
    // links of a GCD (every channel runs through every rank); the level alone counted per device gave 2.
    // A single GCD to a GCD of another package (send/recv) gets one link.
    let c = Cluster::new(system_of("frontier-node").unwrap(), 1).unwrap();
    let comm = c.comm(8).unwrap();
    let node = comm.levels[1];
    assert_eq!((node.devices_per_member, node.links_per_pair()), (2, 2));
    assert_eq!((node.mesh_rings(4, 2), disjoint_rings(4)), (3, 2));
    close(node.ring_bandwidth(4, 8, 2), 3.0 * node.link(), 1e-12);
    // Two packages, one GCD each (a strided group): that GCD's links to one peer package, 2.
    close(node.ring_bandwidth(2, 2, 1), 2.0 * node.link(), 1e-12);
    close(node.direct_bandwidth(2, 1, true), node.link(), 1e-12);
    // The MI250X pair and the MI300X mesh are unchanged: 4 links, and 1 link per pair.
    assert_eq!(comm.levels[0].links_per_pair(), 4);
    let m = Cluster::new(system_of("mi300x-pollara-node").unwrap(), 1)
        .unwrap()
        .comm(8)
        .unwrap();
    assert_eq!(
        (m.levels[0].links_per_pair(), m.levels[0].mesh_rings(8, 1)),
        (1, 7)
    );
}

#[test]
fn all_gather_and_reduce_scatter_candidates_are_rings() {
    // NCCL/RCCL run all-gather and reduce-scatter as rings: the tuner offers nothing else; hierarchical
    // stays selectable by name.
    let c = Cluster::new(system_of("frontier-node").unwrap(), 16).unwrap();
    let comm = c.comm(128).unwrap();
    for op in [Op::AllGather, Op::ReduceScatter] {
        assert_eq!(algorithms::candidates(&comm, op), &[Algorithm::Ring]);
        let e = collective::time(&c, op, 1 << 30, 128, Algorithm::Hierarchical).unwrap();
        assert_eq!(e.algorithm, Algorithm::Hierarchical);
    }
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
    // 16 DGX H100 nodes: NVSwitch per-GPU ring bandwidth and one rail per GPU, as the worked number above
    // assumes. At 1 TiB the latency and pipeline-fill terms are ~1 % of the total, so the engine's hierarchical
    // all-reduce must equal its bandwidth terms with the hwdb bandwidths:
    // 2 (g-1)/g n / B_intra + 2 (N-1)/N (n/g) / B_nic.
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 16).unwrap();
    let comm = c.comm(128).unwrap();
    let intra = comm.levels[0].ring_bandwidth(8, 8, 1);
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

/// A framework's custom all-reduce: the fabric's hwdb line (nvlink4-nvswitch: 7.0 us + bytes / 37.4 GB/s, the
/// least-squares line through sgl-project/sglang PR #2904's H100 TP8 kernel timings), no NCCL launch on top, never
/// the tuner's pick, and an error beyond its limits (8 MiB; 2, 4, 6 or 8 ranks of one switch domain).
#[test]
fn custom_all_reduce_is_the_fabrics_line_and_never_auto() {
    let node = Cluster::new(system_of("dgx-h100").unwrap(), 2).unwrap();
    let n = 57_344u64; // 4 x 7168 x 2 bytes: one decode layer's all-reduce of DeepSeek-V3 at 4 sequences
    let e = collective::time(&node, Op::AllReduce, n, 8, Algorithm::CustomAllReduce).unwrap();
    close(e.time_s, 7.0e-6 + n as f64 / 37.4e9, 1e-12);
    for bytes in [512u64, 1 << 20, 1 << 30] {
        let auto = collective::time(&node, Op::AllReduce, bytes, 8, Algorithm::Auto).unwrap();
        assert_ne!(auto.algorithm, Algorithm::CustomAllReduce);
    }
    assert_eq!(
        Algorithm::parse("custom").unwrap(),
        Algorithm::CustomAllReduce
    );
    let refused = |bytes: u64, ranks: u32| {
        matches!(
            collective::time(
                &node,
                Op::AllReduce,
                bytes,
                ranks,
                Algorithm::CustomAllReduce
            ),
            Err(Error::Unsupported { .. })
        )
    };
    assert!(refused(16 << 20, 8)); // above 8 MiB
    assert!(refused(n, 3)); // odd
    assert!(refused(n, 16)); // two nodes
    assert!(!refused(8 << 20, 8)); // 8 MiB itself runs
}
