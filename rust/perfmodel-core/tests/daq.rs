//! The CMS pipelines of SystemFlow (arXiv:2407.00123) against the numbers of docs/models/daq.md#numbers-to-reproduce.
use perfmodel_core::daq::{
    evaluate, sweep, Field, Link, Node, Pipeline, Settings, Target, METRIC_NAMES,
};

/// Run-5 (PU200) detectors, bytes per sample (docs/models/daq.md#cms-presets, `cms_system_200.xlsx`).
const RUN5: [(&str, &str, f64); 19] = [
    ("Inner Tracker", "Tracking", 1_440_000.0),
    ("Outer Tracker PS", "Tracking", 720_000.0),
    ("Outer Tracker 2S", "Tracking", 430_000.0),
    ("Track Finder TPG", "Tracking", 10_000.0),
    ("MIP Timing BTL", "Timing", 240_000.0),
    ("MIP Timing ETL", "Timing", 440_000.0),
    ("ECAL Barrel", "Calorimetry", 600_000.0),
    ("HCAL Barrel", "Calorimetry", 240_000.0),
    ("HCAL HO", "Calorimetry", 30_000.0),
    ("HCAL HF", "Calorimetry", 60_000.0),
    ("HGCAL", "Calorimetry", 3_000_000.0),
    ("HGCAL TPG Stage1", "Calorimetry", 150_000.0),
    ("HGCAL TPG Stage2", "Calorimetry", 50_000.0),
    ("Muon DT", "Muon", 150_000.0),
    ("Muon CSC", "Muon", 470_000.0),
    ("Muon GEM GE1", "Muon", 3_000.0),
    ("Muon GEM GE2", "Muon", 2_000.0),
    ("Muon GEM ME0", "Muon", 120_000.0),
    ("Muon RPC", "Muon", 10_000.0),
];

/// HLT complexity, CPU least-squares fit (docs/models/daq.md#cms-presets).
const HLT_CPU: [f64; 4] = [
    0.0,
    1.411_732_201_9e-7,
    1.883_313_734_3e-13,
    2.227_443_677_4e-20,
];

fn v(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
}

fn run5(gpu: bool, smart_pixels: bool, l1_skill: f64, hlt_skill: f64) -> Pipeline {
    let mut nodes = Vec::new();
    let mut links = Vec::new();
    let cats = ["Tracking", "Timing", "Calorimetry", "Muon"];
    for (name, _, bytes) in RUN5 {
        let b = if smart_pixels && name == "Inner Tracker" {
            bytes * (1.0 - 0.54)
        } else {
            bytes
        };
        nodes.push(
            Node::new(
                name,
                "detector",
                "none",
                None,
                &v(&[("sample_rate_hz", 40e6), ("data_bytes", b)]),
            )
            .unwrap(),
        );
    }
    for c in cats {
        nodes.push(Node::new(c, "processor", "none", None, &[]).unwrap());
    }
    let l1 = v(&[
        ("data_bytes", 260_000.0),
        ("reduction_ratio", 53.3),
        ("energy_per_op_j", 3e-3),
        ("complexity_k1", 1.0 / 2e6),
        ("skill", l1_skill),
    ]);
    nodes.push(Node::new("L1T", "processor", "gaussian", None, &l1).unwrap());
    let mut hlt = v(&[
        ("reduction_ratio", 100.0),
        ("energy_per_op_j", 16.0),
        ("skill", hlt_skill),
        ("complexity_scale", if gpu { 0.5 } else { 1.0 }),
    ]);
    for (i, k) in HLT_CPU.iter().enumerate() {
        hlt.push((format!("complexity_k{i}"), *k));
    }
    nodes.push(Node::new("HLT", "processor", "gaussian", None, &hlt).unwrap());
    nodes.push(Node::new("Disk", "storage", "none", None, &[]).unwrap());
    let idx = |n: &str, nodes: &Vec<Node>| nodes.iter().position(|x| x.name == n).unwrap();
    for (name, cat, _) in RUN5 {
        links.push(Link {
            from: idx(name, &nodes),
            to: idx(cat, &nodes),
            energy_per_bit_j: 2.22e-11,
        });
    }
    for c in cats {
        links.push(Link {
            from: idx(c, &nodes),
            to: idx("L1T", &nodes),
            energy_per_bit_j: 2.5e-11,
        });
    }
    links.push(Link {
        from: idx("L1T", &nodes),
        to: idx("HLT", &nodes),
        energy_per_bit_j: 2.5e-11,
    });
    links.push(Link {
        from: idx("HLT", &nodes),
        to: idx("Disk", &nodes),
        energy_per_bit_j: 2.5e-11,
    });
    let settings = Settings {
        year: 2032.0,
        ..Settings::default()
    };
    Pipeline::new(nodes, &links, Vec::new(), settings).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn power_table_matches_domain_1_5() {
    // (gpu, smart pixels, P_scaled MW) from docs/models/daq.md#numbers-to-reproduce (scratch re-implementation, notebook within 0.1 %).
    for (gpu, smpx, mw) in [
        (false, false, 51.60),
        (true, false, 25.85),
        (false, true, 40.83),
        (true, true, 20.46),
    ] {
        let e = evaluate(&run5(gpu, smpx, 3.0, 4.0), None).unwrap();
        assert!(
            rel(e.metrics.power_w / 1e6, mw) < 5e-3,
            "gpu={gpu} smpx={smpx}: {} MW",
            e.metrics.power_w / 1e6
        );
    }
    let p = run5(false, false, 3.0, 4.0);
    let e = evaluate(&p, None).unwrap();
    let l1 = &e.nodes[p.index("L1T").unwrap()];
    assert_eq!(l1.message_bytes, 8_425_000.0);
    // L1T raw power 505 499.99 W (notebook), i.e. 0.0126375 J x 39 999 999 Hz.
    assert!(rel(l1.compute_power_w * e.metrics.scale_factor, 505_499.99) < 1e-8);
    assert!(rel(e.metrics.scale_factor, 6.499_570_514_329_353) < 1e-9);
}

#[test]
fn gaussian_oracle_matches_domain_1_5() {
    let p = run5(false, false, 3.0, 4.0);
    let e = evaluate(&p, None).unwrap();
    let m = e.metrics;
    assert_eq!(
        e.nodes[p.index("L1T").unwrap()].contingency,
        [39_248_181.0, 1_348.0, 744_313.0, 6_155.0]
    );
    assert_eq!(
        e.nodes[p.index("HLT").unwrap()].contingency,
        [742_280.0, 682.0, 2_032.0, 5_472.0]
    );
    assert_eq!(
        [m.tn_per_s, m.fn_per_s, m.fp_per_s, m.tp_per_s],
        [39_990_461.0, 2_030.0, 2_032.0, 5_472.0]
    );
    assert!(rel(m.f1, 0.729_308) < 1e-5, "{}", m.f1);
    assert!(
        rel(m.relevant_per_kj, 0.1061) < 1e-3,
        "{}",
        m.relevant_per_kj
    );
    let m34 = evaluate(&run5(false, false, 3.4, 4.0), None)
        .unwrap()
        .metrics;
    assert!(rel(m34.f1, 0.790_670) < 1e-5, "{}", m34.f1);
    assert_eq!(m34.output_rate_hz, 7_503.0);
}

#[test]
fn sweep_matches_single_evaluations() {
    let p = run5(false, false, 3.0, 4.0);
    let hlt = p.index("HLT").unwrap();
    let l1 = p.index("L1T").unwrap();
    let scale = [1.0, 0.5, 1.0, 0.5];
    let skill = [3.0, 3.0, 3.4, 3.4];
    let n = 4000; // above the parallel threshold
    let sc: Vec<f64> = (0..n).map(|i| scale[i % 4]).collect();
    let sk: Vec<f64> = (0..n).map(|i| skill[i % 4]).collect();
    let out = sweep(
        &p,
        &[
            (Target::Node(hlt, Field::ComplexityScale), &sc),
            (Target::Node(l1, Field::Skill), &sk),
        ],
        true,
        None,
    )
    .unwrap();
    let w = METRIC_NAMES.len();
    let f1 = METRIC_NAMES.iter().position(|x| *x == "f1").unwrap();
    for i in [0, 1, 2, 3, n - 1] {
        let single = evaluate(&run5(scale[i % 4] == 0.5, false, skill[i % 4], 4.0), None)
            .unwrap()
            .metrics;
        assert_eq!(out.metrics[i * w..(i + 1) * w], single.values());
        assert!((out.metrics[i * w + f1] - single.f1).abs() < 1e-15);
        let stage_sum: f64 = out.stage_power_w[i * p.nodes.len()..(i + 1) * p.nodes.len()]
            .iter()
            .sum();
        assert!(rel(stage_sum, single.power_w) < 1e-12);
    }
}

#[test]
fn bad_pipelines_name_the_stage() {
    let det = || {
        Node::new(
            "Det",
            "detector",
            "none",
            None,
            &v(&[("sample_rate_hz", 1e6), ("data_bytes", 10.0)]),
        )
        .unwrap()
    };
    let trig = |name: &str| {
        Node::new(
            name,
            "processor",
            "gaussian",
            None,
            &v(&[("reduction_ratio", 10.0), ("skill", 2.0)]),
        )
        .unwrap()
    };
    let disk = || Node::new("Disk", "storage", "none", None, &[]).unwrap();
    let l = |from, to| Link {
        from,
        to,
        energy_per_bit_j: 1e-12,
    };
    // Cycle: A -> B -> A, and Det -> Disk.
    let e = Pipeline::new(
        vec![det(), trig("A"), trig("B"), disk()],
        &[l(0, 3), l(1, 2), l(2, 1)],
        vec![],
        Settings::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("cycle")
            && (e.to_string().contains("'A'") || e.to_string().contains("'B'")),
        "{e}"
    );
    // No storage root.
    let e = Pipeline::new(
        vec![det(), trig("A")],
        &[l(0, 1)],
        vec![],
        Settings::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("storage"), "{e}");
    // Two roots: a trigger that sends its data nowhere.
    let e = Pipeline::new(
        vec![det(), trig("A"), disk(), trig("Orphan")],
        &[l(0, 1), l(1, 2), l(0, 3)],
        vec![],
        Settings::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("'Det'"), "{e}");
    // Reduction ratio below 1.
    let mut bad = trig("L1");
    bad.params.reduction_ratio = 0.5;
    let e = Pipeline::new(
        vec![det(), bad, disk()],
        &[l(0, 1), l(1, 2)],
        vec![],
        Settings::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("'L1'") && e.to_string().contains("reduction_ratio"),
        "{e}"
    );
    // Negative rate and size.
    let mut d = det();
    d.params.sample_rate_hz = -1.0;
    let e = Pipeline::new(
        vec![d, trig("A"), disk()],
        &[l(0, 1), l(1, 2)],
        vec![],
        Settings::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("'Det'") && e.to_string().contains("rate"),
        "{e}"
    );
    let mut d = det();
    d.params.data_bytes = -5.0;
    let e = Pipeline::new(
        vec![d, trig("A"), disk()],
        &[l(0, 1), l(1, 2)],
        vec![],
        Settings::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("'Det'") && e.to_string().contains("size"),
        "{e}"
    );
    // A sweep value out of domain names the row and the stage.
    let p = Pipeline::new(
        vec![det(), trig("A"), disk()],
        &[l(0, 1), l(1, 2)],
        vec![],
        Settings::default(),
    )
    .unwrap();
    let e = sweep(
        &p,
        &[(Target::Node(1, Field::ReductionRatio), &[2.0, 0.9])],
        false,
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("row 1") && e.to_string().contains("'A'"),
        "{e}"
    );
}
