//! Conversion throughput per family, ISA level and store kind (regular / non-temporal), from
//! in-cache to far out-of-cache sizes, beside a memcpy of the same input in the same run (the
//! roofline). Throughput is bytes read + bytes written per second (6 bytes per element; memcpy
//! moves 8 bytes per f32). Elements/s = bytes/s ÷ 6.
//!
//! `cargo bench --bench convert` runs everything (a few minutes); a filter such as
//! `cargo bench --bench convert -- f32_bf16/avx512` narrows it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nnkern::IsaLevel;
use nnkern::config::KernelTable;
use nnkern::operators::convert::{ConvertKind, Tables, narrow_tables, widen_tables};
use nnkern::ukernels::vcvt::VcvtFn;

/// Element counts: in L1/L2, beyond L2, and far beyond the last-level cache. Override with
/// `NNK_BENCH_SIZES=16384,262144` (comma-separated element counts).
fn sizes() -> Vec<usize> {
    match std::env::var("NNK_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|v| v.trim().parse().ok()).collect(),
        Err(_) => vec![1 << 14, 1 << 20, 1 << 24, 1 << 26],
    }
}

fn family<I: Copy, O: Copy>(
    c: &mut Criterion,
    name: &str,
    tables: Option<Tables<I, O>>,
    x0: I,
    y0: O,
) {
    let t = tables.expect("conversion tables");
    let tables: [(&str, &'static KernelTable<VcvtFn<I, O>>); 2] =
        [("regular", t.regular), ("nt", t.streaming)];
    let mut g = c.benchmark_group(format!("convert/{name}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for n in sizes() {
        let x = vec![x0; n];
        let mut y = vec![y0; n];
        g.throughput(Throughput::Bytes(
            (n * (size_of::<I>() + size_of::<O>())) as u64,
        ));
        for level in IsaLevel::available() {
            for (store, table) in tables {
                let k = table.get(level);
                if k.isa != level || (store == "nt" && tables[0].1.get(level).name == k.name) {
                    continue; // no distinct kernel at this level
                }
                g.bench_with_input(
                    BenchmarkId::new(format!("{}/{store}", level.name()), n),
                    &n,
                    |b, _| {
                        // SAFETY: equal lengths, distinct buffers; the level is available.
                        b.iter(|| unsafe {
                            (k.func)(n, black_box(x.as_ptr()), black_box(y.as_mut_ptr()))
                        })
                    },
                );
            }
        }
        let src = vec![1.0f32; n];
        let mut dst = vec![0.0f32; n];
        g.throughput(Throughput::Bytes((2 * n * 4) as u64));
        g.bench_with_input(BenchmarkId::new("memcpy", n), &n, |b, _| {
            b.iter(|| dst.copy_from_slice(black_box(&src)))
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    nnkern::isa::initialize();
    // The tables the operators use on this CPU (e.g. AVX512_BF16 kernels where present).
    family(
        c,
        "f32_f16",
        narrow_tables(ConvertKind::F32F16),
        1.5f32,
        0u16,
    );
    family(
        c,
        "f16_f32",
        widen_tables(ConvertKind::F16F32),
        0x3E00u16,
        0f32,
    );
    family(
        c,
        "f32_bf16",
        narrow_tables(ConvertKind::F32Bf16),
        1.5f32,
        0u16,
    );
    family(
        c,
        "bf16_f32",
        widen_tables(ConvertKind::Bf16F32),
        0x3FC0u16,
        0f32,
    );
}

criterion_group!(convert, benches);
criterion_main!(convert);
