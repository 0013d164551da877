//! Helpers shared by the block benchmarks.

/// Element counts: `NNK_BENCH_SIZES=a,b,...`, else 2^16 (in cache) and 2^24 (far out of it).
pub fn sizes() -> Vec<usize> {
    match std::env::var("NNK_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|v| v.trim().parse().ok()).collect(),
        Err(_) => vec![1 << 16, 1 << 24],
    }
}

/// Test data: a smooth mix of magnitudes, like weights.
pub fn data(n: usize) -> Vec<f32> {
    let mut s = 0x1234_5678_u32;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * (1.0 + (i % 97) as f32 / 16.0)
        })
        .collect()
}
