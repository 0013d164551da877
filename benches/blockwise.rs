//! Split-scale blockwise quantize / dequantize throughput per scheme, direction and ISA level,
//! single thread, in cache (2^16 elements) and far out of cache (2^24), beside a memcpy in the
//! same run (the roofline). Throughput counts bytes read + written: f32, f16 or bf16 elements
//! plus codes plus scales (and zero points). ns/element = bytes per element / (bytes/s) · 1e9.
//! Block sizes: ONNX 64 with zero points, MX 32, NVFP4 16, bitsandbytes 64 (dynamic-8 256).
//!
//! `cargo bench --bench blockwise`; filter e.g. `-- 'nvfp4/avx512'`;
//! `NNK_BENCH_SIZES=65536` sets the sizes.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{data, sizes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nnkern::IsaLevel;
use nnkern::config::blockwise::BlockwiseElem;
use nnkern::ukernels::blockwise::{Params, Scheme};
use nnkern::ukernels::simd::{Bf16, F16, F32};

fn params(scheme: Scheme) -> Params {
    let block_size = match scheme {
        Scheme::Int8 | Scheme::Uint8 | Scheme::Int4 | Scheme::Uint4 => 64,
        Scheme::Nvfp4 => 16,
        Scheme::BnbDynamic8 => 256,
        Scheme::BnbNf4 | Scheme::BnbFp4 => 64,
        _ => 32,
    };
    Params {
        scheme,
        block_size,
        scales_given: false,
        tensor_scale: 0.01,
    }
}

struct Buffers {
    q: Vec<u8>,
    s: Vec<u8>,
    z: Vec<u8>,
}

impl Buffers {
    fn z(&mut self) -> *mut u8 {
        if self.z.is_empty() {
            std::ptr::null_mut()
        } else {
            self.z.as_mut_ptr()
        }
    }
}

fn dequantize<E: BlockwiseElem>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    p: &Params,
    level: IsaLevel,
    b: &mut Buffers,
    n: usize,
) {
    let k = E::table().get(level);
    let bytes = b.q.len() + b.s.len() + b.z.len() + n * size_of::<E::S>();
    let mut y = vec![E::S::default(); n];
    g.throughput(Throughput::Bytes(bytes as u64));
    let func = k.func.dequantize;
    let z = b.z().cast_const();
    g.bench_with_input(
        BenchmarkId::new(format!("{}/dequantize_{}", level.name(), E::NAME), n),
        &n,
        |bn, _| {
            // SAFETY: buffers sized by the Params functions; the level is available.
            bn.iter(|| unsafe {
                func(
                    p,
                    n,
                    black_box(b.q.as_ptr()),
                    b.s.as_ptr(),
                    z,
                    black_box(y.as_mut_ptr()),
                )
            })
        },
    );
}

fn quantize<E: BlockwiseElem>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    p: &Params,
    level: IsaLevel,
    b: &mut Buffers,
    x: &[f32],
) {
    let n = x.len();
    let x: Vec<E::S> = x.iter().map(|&v| E::from_f32(v)).collect();
    let quantize = E::table().get(level).func.quantize;
    let bytes = n * size_of::<E::S>() + b.q.len() + b.s.len() + b.z.len();
    g.throughput(Throughput::Bytes(bytes as u64));
    let z = b.z();
    let (q, s) = (b.q.as_mut_ptr(), b.s.as_mut_ptr());
    g.bench_with_input(
        BenchmarkId::new(format!("{}/quantize_{}", level.name(), E::NAME), n),
        &n,
        |bn, _| {
            // SAFETY: buffers sized by the Params functions; the level is available.
            bn.iter(|| unsafe { quantize(p, n, black_box(x.as_ptr()), black_box(q), s, z) })
        },
    );
}

fn benches(c: &mut Criterion) {
    nnkern::isa::initialize();
    for scheme in Scheme::ALL {
        let p = params(scheme);
        let mut g = c.benchmark_group(format!("blockwise/{}", scheme.name()));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for n in sizes() {
            let x = data(n);
            let mut b = Buffers {
                q: vec![0u8; p.q_bytes(n)],
                s: vec![0u8; p.scale_bytes(n)],
                z: vec![0u8; p.zero_point_bytes(n)],
            };
            for level in IsaLevel::available() {
                if F32::table().get(level).isa != level {
                    continue;
                }
                quantize::<F32>(&mut g, &p, level, &mut b, &x);
                quantize::<F16>(&mut g, &p, level, &mut b, &x);
                quantize::<Bf16>(&mut g, &p, level, &mut b, &x);
                dequantize::<F32>(&mut g, &p, level, &mut b, n);
                dequantize::<F16>(&mut g, &p, level, &mut b, n);
                dequantize::<Bf16>(&mut g, &p, level, &mut b, n);
            }
            let src = vec![1.0f32; n];
            let mut dst = vec![0.0f32; n];
            g.throughput(Throughput::Bytes((2 * n * 4) as u64));
            g.bench_with_input(BenchmarkId::new("memcpy", n), &n, |bn, _| {
                bn.iter(|| dst.copy_from_slice(black_box(&src)))
            });
        }
        g.finish();
    }
}

criterion_group!(blockwise, benches);
criterion_main!(blockwise);
