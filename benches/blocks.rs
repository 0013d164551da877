//! GGUF block quantize / dequantize throughput per format, direction and ISA level, single
//! thread, in cache (2^16 elements) and far out of cache (2^24), beside a memcpy in the same
//! run (the roofline). Throughput is bytes read + bytes written per second: quantizing from
//! f32 moves 4 + B/S bytes per element and dequantizing to f32 the same (B bytes per block of S
//! elements); to f16/bf16, 2 + B/S. ns/element = (bytes per element) / (bytes/s) · 1e9.
//! memcpy moves 8 bytes per f32. The streaming bounds of [`common::streaming_bounds`] (read,
//! write and read-write passes over the same element count) are measured beside memcpy: for a
//! direction that reads `r` and writes `w` bytes per element, the same-run bound is
//! `r · t(read) / 4 + w · t(write) / 4` per element (t = a pass's time per f32).
//!
//! `cargo bench --bench blocks` runs everything (several minutes: the scalar K-quant
//! quantizers are slow by design); filters narrow it, e.g.
//! `cargo bench --bench blocks -- 'q4_K/avx512'`. `NNK_BENCH_SIZES=65536` sets the sizes.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{data, sizes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nnkern::IsaLevel;
use nnkern::config::blocks::BlockElem;
use nnkern::ukernels::blocks::Format;
use nnkern::ukernels::simd::{Bf16, F16, F32};

fn dequantize<E: BlockElem>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    f: Format,
    level: IsaLevel,
    q: &[u8],
    n: usize,
) {
    let k = E::table().get(level);
    let bytes = q.len() + n * size_of::<E::S>();
    let mut y = vec![E::S::default(); n];
    g.throughput(Throughput::Bytes(bytes as u64));
    let func = k.func.dequantize[f.index()];
    g.bench_with_input(
        BenchmarkId::new(format!("{}/dequantize_{}", level.name(), E::NAME), n),
        &n,
        |b, _| {
            // SAFETY: q holds n / S blocks and y n elements; the level is available.
            b.iter(|| unsafe {
                func(
                    n / f.block_size(),
                    black_box(q.as_ptr()),
                    black_box(y.as_mut_ptr()),
                )
            })
        },
    );
}

fn benches(c: &mut Criterion) {
    nnkern::isa::initialize();
    for f in Format::ALL {
        let mut g = c.benchmark_group(format!("blocks/{}", f.name()));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for n in sizes() {
            let x = data(n);
            let blocks = n / f.block_size();
            let mut q = vec![0u8; blocks * f.block_bytes()];
            for level in IsaLevel::available() {
                let k = F32::table().get(level);
                if k.isa != level {
                    continue;
                }
                let quantize = k.func.quantize[f.index()];
                g.throughput(Throughput::Bytes((n * 4 + q.len()) as u64));
                g.bench_with_input(
                    BenchmarkId::new(format!("{}/quantize_f32", level.name()), n),
                    &n,
                    |b, _| {
                        // SAFETY: x holds n elements, q their blocks; the level is available.
                        b.iter(|| unsafe {
                            quantize(blocks, black_box(x.as_ptr()), black_box(q.as_mut_ptr()))
                        })
                    },
                );
                dequantize::<F32>(&mut g, f, level, &q, n);
                dequantize::<F16>(&mut g, f, level, &q, n);
                dequantize::<Bf16>(&mut g, f, level, &q, n);
            }
            let src = vec![1.0f32; n];
            let mut dst = vec![0.0f32; n];
            g.throughput(Throughput::Bytes((2 * n * 4) as u64));
            g.bench_with_input(BenchmarkId::new("memcpy", n), &n, |b, _| {
                b.iter(|| dst.copy_from_slice(black_box(&src)))
            });
            common::streaming_bounds(&mut g, n, n);
        }
        g.finish();
    }
}

criterion_group!(blocks, benches);
criterion_main!(blocks);
