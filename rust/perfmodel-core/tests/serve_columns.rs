//! The serving iteration model over columns: `uniform_columns_into` gives what `uniform` gives element by
//! element, and the engine's memo of per-token terms gives what a fresh engine computes, to the bit. The timing
//! test is ignored (`cargo test --release -p perfmodel-core --test serve_columns -- --ignored --nocapture`):
//! decode batch x context evaluations per second, serially and over columns, as `benchmarks/bench_serve.py`
//! (a) times them through Python.
use perfmodel_core::llm::Model;
use perfmodel_core::serve::{Engine, Framework, KvFormat, ServePlan, WeightFormat};
use perfmodel_core::topology::system_of;
use std::time::Instant;

fn llama3_70b_tp8() -> Engine {
    let model = Model::from_pairs(&[
        ("hidden", 8192.0),
        ("heads", 64.0),
        ("kv_heads", 8.0),
        ("layers", 80.0),
        ("ffn_hidden", 28672.0),
        ("seq_len", 8192.0),
        ("vocab", 128_256.0),
        ("glu", 1.0),
    ])
    .unwrap();
    let sys = system_of("dgx-h100").unwrap();
    let fw = Framework::of_system(&sys, "vllm").unwrap().0;
    let plan = ServePlan {
        tp: 8,
        pp: 1,
        ep: 1,
        attention_dp: false,
    };
    Engine::new(model, &sys, 1, plan, WeightFormat::Bf16, KvFormat::Half, fw).unwrap()
}

/// Inputs that reach every branch: prefill-only, decode-only, mixed, empty, fractional and beyond the memo.
fn mixed_columns(n: usize) -> [Vec<f64>; 5] {
    let f = |i: usize, m: usize| (i * 7919 % m) as f64;
    [
        (0..n).map(|i| f(i, 4)).collect(),
        (0..n).map(|i| f(i, 3) * 512.0 + f(i, 5) * 0.25).collect(),
        (0..n).map(|i| f(i, 2) * 300.0).collect(),
        (0..n)
            .map(|i| f(i, 300) + if i % 97 == 0 { 20_000.5 } else { 0.0 })
            .collect(),
        (0..n).map(|i| 1.0 + f(i, 9000)).collect(),
    ]
}

#[test]
fn columns_into_match_uniform_and_a_fresh_engine() {
    let e = llama3_70b_tp8();
    let n = 20_000;
    let [ps, pl, ca, ds, cx] = mixed_columns(n);
    let cols = [
        ("prefill_seqs", &ps[..]),
        ("prompt_len", &pl[..]),
        ("cached", &ca[..]),
        ("decode_seqs", &ds[..]),
        ("context_len", &cx[..]),
    ];
    let mut out: [Vec<f64>; 11] = std::array::from_fn(|_| vec![f64::NAN; n]);
    e.uniform_columns_into(cols, out.each_mut().map(Vec::as_mut_slice))
        .unwrap();
    // The memo is now full; a clone starts with an empty one and computes every term afresh.
    let fresh = e.clone();
    let rows = e.uniform_columns(cols).unwrap();
    for i in 0..n {
        let want = fresh.uniform(ps[i], pl[i], ca[i], ds[i], cx[i]).values();
        assert_eq!(
            rows[i].values().map(f64::to_bits),
            want.map(f64::to_bits),
            "row {i}"
        );
        for (j, col) in out.iter().enumerate() {
            assert_eq!(col[i].to_bits(), want[j].to_bits(), "row {i}, part {j}");
        }
    }
    // Lengths are checked, inputs before outputs.
    let mut short: [Vec<f64>; 11] = std::array::from_fn(|_| vec![0.0; n - 1]);
    let err = e
        .uniform_columns_into(cols, short.each_mut().map(Vec::as_mut_slice))
        .unwrap_err();
    assert!(err.to_string().contains("time_s"), "{err}");
    let bad = [
        ("prefill_seqs", &ps[..]),
        ("prompt_len", &pl[..1]),
        ("cached", &ca[..]),
        ("decode_seqs", &ds[..]),
        ("context_len", &cx[..]),
    ];
    let err = e
        .uniform_columns_into(bad, out.each_mut().map(Vec::as_mut_slice))
        .unwrap_err();
    assert!(err.to_string().contains("prompt_len"), "{err}");
}

#[test]
#[ignore = "timing"]
fn iteration_rate() {
    let e = llama3_70b_tp8();
    let n = 1_000_000usize;
    let mut s = 0x1234_5678_u64;
    let mut rnd = |lo: u64, hi: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (lo + s % (hi - lo)) as f64
    };
    let batch: Vec<f64> = (0..n).map(|_| rnd(1, 257)).collect();
    let ctx: Vec<f64> = (0..n).map(|_| rnd(128, 8193)).collect();
    let zero = vec![0.0; n];
    for _ in 0..3 {
        let t0 = Instant::now();
        let mut acc = 0.0;
        for (&b, &c) in batch.iter().zip(&ctx) {
            acc += e.uniform(0.0, 0.0, 0.0, b, c).time_s;
        }
        let serial = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let cols = [
            ("prefill_seqs", &zero[..]),
            ("prompt_len", &zero[..]),
            ("cached", &zero[..]),
            ("decode_seqs", &batch[..]),
            ("context_len", &ctx[..]),
        ];
        let out = e.uniform_columns(cols).unwrap();
        let columns = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let mut parts: [Vec<f64>; 11] = std::array::from_fn(|_| vec![0.0; n]);
        let alloc = t0.elapsed().as_secs_f64();
        e.uniform_columns_into(cols, parts.each_mut().map(Vec::as_mut_slice))
            .unwrap();
        let into_fresh = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        e.uniform_columns_into(cols, parts.each_mut().map(Vec::as_mut_slice))
            .unwrap();
        let into_again = t0.elapsed().as_secs_f64();
        println!(
            "into fresh columns {:.1} ms (allocation {:.1} ms), into the same columns again {:.1} ms",
            into_fresh * 1e3,
            alloc * 1e3,
            into_again * 1e3
        );
        println!(
            "serial {:.1} ns/evaluation; columns {:.1} ms for {} ({:.2e} evaluations/s); checksum {acc}",
            serial / n as f64 * 1e9,
            columns * 1e3,
            out.len(),
            n as f64 / columns
        );
    }
}
