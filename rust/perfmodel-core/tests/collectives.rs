//! Collectives: the worked numbers of shared/specs/domain.md §6.6 and §6.8, and topology behaviour.
use perfmodel_core::collective::{self, formulas, Algorithm, Op};
use perfmodel_core::topology::{disjoint_rings, system_of, Cluster};
use perfmodel_core::Error;

const GIB: f64 = 1_073_741_824.0;

fn close(a: f64, b: f64, rel: f64) {
    assert!((a - b).abs() <= rel * b.abs(), "{a} vs {b}");
}

#[test]
fn thakur_formulas_reproduce_domain_6_6() {
    // n = 1 GiB, p = 8, 1/beta = 50 GB/s, alpha = 5 us, gamma = 0.
    let (p, n, a, b) = (8.0, GIB, 5e-6, 1.0 / 50e9);
    close(
        formulas::ring_all_reduce(p, n, a, b, 0.0) * 1e3,
        37.651,
        1e-4,
    );
    close(
        formulas::rabenseifner_all_reduce(p, n, a, b, 0.0) * 1e3,
        37.611,
        1e-4,
    );
    close(
        formulas::recursive_doubling_all_reduce(p, n, a, b, 0.0) * 1e3,
        64.440,
        1e-4,
    );
    close(formulas::binomial_broadcast(p, n, a, b) * 1e3, 64.440, 1e-4);
    close(formulas::ring_all_gather(p, n, a, b) * 1e3, 18.825, 1e-4);
}

#[test]
fn hierarchical_reproduces_domain_6_8() {
    let (rs, ar, ag) = formulas::hierarchical_all_reduce(8.0, 16.0, GIB, 450e9, 50e9);
    close(rs * 1e3, 2.088, 1e-3);
    close(ar * 1e3, 5.033, 1e-3);
    close((rs + ar + ag) * 1e3, 9.209, 1e-3);
    // Flat ring bottlenecked at one NIC: 42.61 ms.
    close(
        formulas::ring_all_reduce(128.0, GIB, 0.0, 1.0 / 50e9, 0.0) * 1e3,
        42.61,
        1e-3,
    );
}

#[test]
fn engine_hierarchical_matches_6_8_bandwidth_terms_at_large_sizes() {
    // 16 DGX H100 nodes: NVSwitch per-GPU ring bandwidth and one rail per GPU, as §6.8 assumes. At 1 TiB the
    // latency and pipeline-fill terms are ~1 % of the total at 1 TiB, so the engine's hierarchical all-reduce must equal §6.8's formula
    // with the hwdb bandwidths.
    let c = Cluster::new(system_of("dgx-h100").unwrap(), 16).unwrap();
    let comm = c.comm(128).unwrap();
    let intra = comm.levels[0].ring_bandwidth(8, 8);
    let nic = comm.levels[1].rail_bandwidth(8);
    let n = 1024.0 * GIB;
    let (rs, ar, ag) = formulas::hierarchical_all_reduce(8.0, 16.0, n, intra, nic);
    let e = collective::time(&c, Op::AllReduce, n as u64, 128, Algorithm::Hierarchical).unwrap();
    close(e.time_s, rs + ar + ag, 0.02);
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
