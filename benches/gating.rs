//! Top-K gating per ISA level on the shapes of issue #5, 4096 tokens, single thread:
//! (E, k) = (8, 2) Mixtral, (64, 8) OLMoE, (128, 8) Qwen3, (256, 8) DeepSeek-V3 (sigmoid, bias,
//! 8 groups, top-2 sums, 4 kept), (32, 4) GPT-OSS; plus the dispatch plan of 4096 x 8 ids over
//! 256 experts. Criterion's time per iteration / 4096 = ns per token; throughput is logits
//! bytes read. Logits are pseudo-random, roughly normal, as routers produce. Filter with e.g.
//! `cargo bench --bench gating -- deepseek`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nnkern::IsaLevel;
use nnkern::operators::gating::{self as g, Params};
use nnkern::ukernels::simd::F32;

const TOKENS_DEFAULT: usize = 4096;

/// Tokens per call: 4096, or `NNK_BENCH_TOKENS` (e.g. 256 to keep the logits in L2).
fn tokens() -> usize {
    std::env::var("NNK_BENCH_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(TOKENS_DEFAULT)
}

fn p(
    e: u32,
    k: u32,
    score: u32,
    post: u32,
    norm: u32,
    scale: f32,
    groups: (u32, u32, u32),
) -> Params {
    Params {
        num_experts: e,
        k,
        score_fn: score,
        post_fn: post,
        normalize: norm,
        norm_eps: if norm == 1 { 1e-20 } else { 0.0 },
        scale,
        n_group: groups.0,
        topk_group: groups.1,
        group_score: groups.2,
    }
}

fn cases() -> Vec<(&'static str, Params, bool)> {
    vec![
        ("mixtral_e8_k2", p(8, 2, 1, 0, 1, 1.0, (0, 0, 0)), false),
        ("olmoe_e64_k8", p(64, 8, 1, 0, 0, 1.0, (0, 0, 0)), false),
        ("qwen3_e128_k8", p(128, 8, 1, 0, 1, 1.0, (0, 0, 0)), false),
        (
            "deepseek_v3_e256_k8",
            p(256, 8, 2, 0, 1, 2.5, (8, 4, 1)),
            true,
        ),
        ("gpt_oss_e32_k4", p(32, 4, 0, 1, 0, 1.0, (0, 0, 0)), false),
        // Selection alone (identity scores, raw weights): the cost of top-k itself.
        (
            "select_only_e64_k8",
            p(64, 8, 0, 0, 0, 1.0, (0, 0, 0)),
            false,
        ),
        (
            "select_only_e256_k8",
            p(256, 8, 0, 0, 0, 1.0, (0, 0, 0)),
            false,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let tokens = tokens();
    let mut grp = c.benchmark_group("gating");
    grp.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, params, with_bias) in cases() {
        let e = params.num_experts as usize;
        let k = params.k as usize;
        // Router-like logits: roughly normal (sum of four uniforms), fixed seed.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let x: Vec<f32> = (0..tokens * e)
            .map(|_| (uniform() + uniform() + uniform() + uniform() - 2.0) * 2.0)
            .collect();
        let bias: Vec<f32> = (0..e)
            .map(|i| ((i * 31) % 17) as f32 * 0.01 - 0.08)
            .collect();
        let plan = g::plan(&params, with_bias.then_some(&bias[..])).unwrap();
        let mut ids = vec![0i32; tokens * k];
        let mut w = vec![0f32; tokens * k];
        grp.throughput(Throughput::Bytes((tokens * e * 4) as u64));
        for level in IsaLevel::available() {
            let f = g::kernel::<F32>(0, level).func;
            grp.bench_function(BenchmarkId::new(name, level.name()), |b| {
                b.iter(|| {
                    // SAFETY: buffers of the documented sizes.
                    unsafe {
                        g::execute(
                            f,
                            &plan,
                            tokens,
                            e,
                            x.as_ptr(),
                            ids.as_mut_ptr(),
                            w.as_mut_ptr(),
                            None,
                        )
                        .unwrap()
                    };
                    black_box(&w);
                })
            });
        }
    }
    // Dispatch plan over the ids of the tokens x 8 of 256 experts.
    let (e, k) = (256usize, 8usize);
    let ids: Vec<i32> = (0..tokens * k)
        .map(|i| ((i * 2654435761) >> 7) as i32 & 255)
        .collect();
    let (mut cnt, mut off, mut perm, mut inv) = (
        vec![0; e],
        vec![0; e + 1],
        vec![0; tokens * k],
        vec![0; tokens * k],
    );
    grp.throughput(Throughput::Bytes((tokens * k * 4) as u64));
    grp.bench_function("dispatch_plan_4096x8_e256", |b| {
        b.iter(|| {
            // SAFETY: buffers of the documented sizes.
            unsafe {
                g::dispatch_plan(
                    tokens,
                    k,
                    ids.as_ptr(),
                    e,
                    cnt.as_mut_ptr(),
                    off.as_mut_ptr(),
                    perm.as_mut_ptr(),
                    inv.as_mut_ptr(),
                    None,
                )
                .unwrap()
            };
            black_box(&perm);
        })
    });
    grp.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
