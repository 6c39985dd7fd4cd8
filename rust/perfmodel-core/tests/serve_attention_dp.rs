//! Attention DP (`ServePlan::attention_dp`): a lockstep group of equal batches is the replicated iteration to
//! the bit, every rank waits for the slowest, and an idle rank still runs its experts and the all-to-alls.
use perfmodel_core::llm::Model;
use perfmodel_core::serve::{Batch, Engine, Framework, KvFormat, ServePlan, WeightFormat};
use perfmodel_core::topology::system_of;

/// Qwen3-235B-A22B's shape (config.json): 94 MoE layers, 128 experts of width 1536, top 8.
fn qwen3_dp8() -> Engine {
    let model = Model::from_pairs(&[
        ("hidden", 4096.0),
        ("heads", 64.0),
        ("kv_heads", 4.0),
        ("head_dim", 128.0),
        ("layers", 94.0),
        ("ffn_hidden", 12288.0),
        ("moe_ffn_hidden", 1536.0),
        ("experts", 128.0),
        ("top_k", 8.0),
        ("seq_len", 40960.0),
        ("vocab", 151_936.0),
        ("glu", 1.0),
    ])
    .unwrap();
    let sys = system_of("dgx-h100").unwrap();
    let plan = ServePlan {
        tp: 8,
        pp: 1,
        ep: 8,
        attention_dp: true,
    };
    let fw = Framework::default();
    Engine::new(model, &sys, 1, plan, WeightFormat::Fp8, KvFormat::Fp8, fw).unwrap()
}

#[test]
fn a_group_of_equal_batches_is_the_replicated_iteration() {
    let e = qwen3_dp8();
    let b = Batch::decode(64.0, 1500.0);
    let group = e.group_iteration(&vec![b.clone(); 8]);
    assert_eq!(group, e.iteration(&b));
}

#[test]
fn every_rank_waits_for_the_slowest_and_idle_ranks_still_run_the_experts() {
    let e = qwen3_dp8();
    let big = Batch::decode(128.0, 2000.0);
    let small = Batch::decode(8.0, 2000.0);
    let mut batches = vec![small.clone(); 8];
    batches[3] = big.clone();
    let mixed = e.group_iteration(&batches);
    // The slowest rank is the one with the big batch: its attention is the big batch's, its experts take all
    // 128 + 7 x 8 routed tokens, its all-to-alls the big batch's 128 tokens.
    let alone = e.iteration(&big);
    assert_eq!(mixed.decode_attention_s, alone.decode_attention_s);
    assert_eq!(mixed.tp_comm_s, alone.tp_comm_s);
    assert!(
        mixed.moe_s < alone.moe_s,
        "fewer routed tokens than 8 x 128"
    );
    assert!(mixed.time_s > e.iteration(&small).time_s);
    // Only one rank busy: the others hold empty batches but the group still pays the experts and all-to-alls.
    let one = e.group_iteration(std::slice::from_ref(&big));
    assert!(one.time_s > 0.0 && one.moe_s > 0.0 && one.tp_comm_s > 0.0);
    assert_eq!(one.decode_attention_s, alone.decode_attention_s);
    assert_eq!(e.group_iteration(&[]).time_s, 0.0);
}
