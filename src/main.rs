//! `nnkern`: a small command-line companion to the library.
//!
//! - `nnkern info`: the CPU's level, the ceiling (`NNK_ISA`), and the kernel of every family.
//! - `nnkern bench`: a few-second throughput table for every family and level, single thread,
//!   in GB/s and as a fraction of a memory-copy roofline measured in the same run.

use std::time::{Duration, Instant};

use nnkern::IsaLevel;
use nnkern::config::KernelTable;
use nnkern::isa;
use nnkern::operators::convert::{ConvertKind, Tables, narrow_tables, widen_tables};
use nnkern::ukernels::vcvt::VcvtFn;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    isa::initialize();
    match args.first().map(String::as_str) {
        Some("info") | None => info(),
        Some("bench") => bench(),
        Some(other) => {
            eprintln!("unknown command '{other}'\nusage: nnkern [info | bench]");
            std::process::exit(2);
        }
    }
}

fn info() {
    println!("nnkern {}", env!("CARGO_PKG_VERSION"));
    let e = isa::extras();
    let extras: Vec<&str> = [
        ("avx512bf16", e.avx512bf16),
        ("avx512fp16", e.avx512fp16),
        ("avx512vnni", e.avx512vnni),
    ]
    .into_iter()
    .filter_map(|(n, has)| has.then_some(n))
    .collect();
    println!(
        "cpu level: {} (extras: {})",
        isa::detected().name(),
        if extras.is_empty() {
            "none".into()
        } else {
            extras.join(" ")
        }
    );
    match isa::env_setting() {
        (None, _) => println!("NNK_ISA: unset"),
        (Some(raw), Some(l)) => println!("NNK_ISA: {raw:?} (ceiling {})", l.name()),
        (Some(raw), None) => println!("NNK_ISA: {raw:?} (not scalar|avx2|avx512: ignored)"),
    }
    let level = isa::current();
    println!("in force: {}", level.name());
    println!(
        "kernels (in cache / beyond L2 of {} KiB):",
        isa::caches().l2 >> 10
    );
    let names = |r: &std::ffi::CStr, s: &std::ffi::CStr| {
        format!("{} / {}", r.to_string_lossy(), s.to_string_lossy())
    };
    for (family, kind) in FAMILIES {
        let line = match (narrow_tables(kind), widen_tables(kind)) {
            (Some(t), _) => names(t.regular.get(level).name, t.streaming.get(level).name),
            (_, Some(t)) => names(t.regular.get(level).name, t.streaming.get(level).name),
            _ => continue,
        };
        println!("  convert {family:<10} {line}");
    }
    use nnkern::operators::softmax::{FLAG_CONSISTENT_ARITHMETIC, kernels};
    use nnkern::ukernels::simd::{Bf16, F16, F32};
    for (name, fused, consistent) in [
        (
            "f32",
            kernels::<F32>(0, level).name,
            kernels::<F32>(FLAG_CONSISTENT_ARITHMETIC, level).name,
        ),
        (
            "f16",
            kernels::<F16>(0, level).name,
            kernels::<F16>(FLAG_CONSISTENT_ARITHMETIC, level).name,
        ),
        (
            "bf16",
            kernels::<Bf16>(0, level).name,
            kernels::<Bf16>(FLAG_CONSISTENT_ARITHMETIC, level).name,
        ),
    ] {
        println!(
            "  softmax {name:<10} {} / {} (consistent)",
            fused.to_string_lossy(),
            consistent.to_string_lossy()
        );
    }
}

const FAMILIES: [(&str, ConvertKind); 4] = [
    ("f32->f16", ConvertKind::F32F16),
    ("f16->f32", ConvertKind::F16F32),
    ("f32->bf16", ConvertKind::F32Bf16),
    ("bf16->f32", ConvertKind::Bf16F32),
];

/// Best of `reps` timings of `f`.
fn best_of(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn gbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

fn bench() {
    // 2^26 elements: 256 MiB of f32 plus 128 MiB of 16-bit values, beyond any L3 here.
    const N: usize = 1 << 26;
    const REPS: usize = 3;
    let a = vec![1.5f32; N];
    let mut b = vec![0f32; N];
    let mut h = vec![0x3C00u16; N];
    // Memory-copy roofline: bytes read + bytes written per second.
    let t = best_of(REPS, || b.copy_from_slice(&a));
    let roof = gbps(2 * N * 4, t);
    println!(
        "memcpy roofline: {roof:.1} GB/s (read + write, {} MiB, single thread)",
        (N * 4) >> 20
    );
    println!(
        "{:<18} {:>7} {:>12} {:>9} {:>10}",
        "family", "isa", "Gelem/s", "GB/s", "roofline"
    );
    let row = |family: &str, level: IsaLevel, t: Duration| {
        let g = gbps(N * 6, t);
        println!(
            "{family:<18} {:>7} {:>12.2} {g:>9.1} {:>9.0}%",
            level.name(),
            N as f64 / t.as_secs_f64() / 1e9,
            100.0 * g / roof
        );
    };
    fn time<I, O>(
        tables: Tables<I, O>,
        level: IsaLevel,
        x: &[I],
        y: &mut [O],
    ) -> (Duration, Duration) {
        let one = |table: &'static KernelTable<VcvtFn<I, O>>, y: &mut [O]| {
            let k = table.get(level).func;
            // SAFETY: equal lengths, distinct buffers; `level` is available on this CPU.
            best_of(REPS, || unsafe { k(x.len(), x.as_ptr(), y.as_mut_ptr()) })
        };
        (one(tables.regular, y), one(tables.streaming, y))
    }
    for level in IsaLevel::available() {
        for (family, kind) in FAMILIES {
            let (regular, streaming) = match (narrow_tables(kind), widen_tables(kind)) {
                (Some(t), _) => time(t, level, &a, &mut h),
                (_, Some(t)) => time(t, level, &h, &mut b),
                _ => continue,
            };
            row(family, level, regular);
            row(&format!("{family} nt"), level, streaming);
        }
    }
}
