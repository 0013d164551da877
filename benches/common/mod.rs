//! Helpers shared by the benchmarks (each uses a subset).
#![allow(dead_code)]

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Throughput};

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

/// The streaming bounds of one core over `n` f32, measured in the caller's group beside the
/// kernels: `bound/read` (an integer sum of the bits, which vectorizes, so memory and not a
/// dependency chain bounds it), `bound/write` (plain stores of distinct values, which the
/// compiler cannot turn into a memset and its non-temporal stores) and `bound/read_write` (a
/// scale pass, plain stores). A plain store first reads its line for ownership, so a written
/// byte costs about twice a read one: a kernel that reads `r` bytes and writes `w` is bound by
/// about `r / read rate + w / write rate`, which `memcpy` (whose large copies avoid the
/// read-for-ownership) understates for write-heavy kernels. Throughput: the bytes each pass
/// moves (n · 4, n · 4, 2 · n · 4).
pub fn streaming_bounds<P: std::fmt::Display>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    param: P,
    n: usize,
) {
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut y = vec![0f32; n];
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.bench_with_input(BenchmarkId::new("bound/read", &param), &n, |b, _| {
        b.iter(|| {
            black_box(&x)
                .iter()
                .fold(0u32, |a, v| a.wrapping_add(v.to_bits()))
        })
    });
    g.bench_with_input(BenchmarkId::new("bound/write", &param), &n, |b, _| {
        b.iter(|| {
            for (i, o) in black_box(&mut y).iter_mut().enumerate() {
                *o = f32::from_bits(i as u32);
            }
        })
    });
    g.throughput(Throughput::Bytes((2 * n * 4) as u64));
    g.bench_with_input(BenchmarkId::new("bound/read_write", &param), &n, |b, _| {
        b.iter(|| {
            for (o, i) in y.iter_mut().zip(black_box(&x)) {
                *o = i * 0.5;
            }
        })
    });
}
