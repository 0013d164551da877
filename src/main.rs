//! `nnkern`: a small command-line companion to the library.
//!
//! - `nnkern info`: the CPU's level, the ceiling (`NNK_ISA`), and the kernel of every family.
//! - `nnkern bench`: a few-second throughput table for every family and level, single thread,
//!   in GB/s and as a fraction of a memory-copy roofline measured in the same run.

use std::time::{Duration, Instant};

use nnkern::IsaLevel;
use nnkern::config::KernelTable;
use nnkern::config::vcvt::*;
use nnkern::isa;
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
    println!("kernels:");
    for (family, name) in [
        ("convert f32->f16", F32_F16.get(level).name),
        ("convert f16->f32", F16_F32.get(level).name),
        ("convert f32->bf16", F32_BF16.get(level).name),
        ("convert bf16->f32", BF16_F32.get(level).name),
    ] {
        println!("  {family:<20} {}", name.to_string_lossy());
    }
}

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
    let mut a = vec![1.5f32; N];
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
        table: &'static KernelTable<VcvtFn<I, O>>,
        level: IsaLevel,
        x: &[I],
        y: &mut [O],
    ) -> Duration {
        let k = table.get(level).func;
        // SAFETY: equal lengths, distinct buffers; `level` is available on this CPU.
        best_of(REPS, || unsafe { k(x.len(), x.as_ptr(), y.as_mut_ptr()) })
    }
    for level in IsaLevel::available() {
        row("f32->f16", level, time(&F32_F16, level, &a, &mut h));
        row("f16->f32", level, time(&F16_F32, level, &h, &mut b));
        row("f32->bf16", level, time(&F32_BF16, level, &a, &mut h));
        row("bf16->f32", level, time(&BF16_F32, level, &h, &mut a));
        row("f32->bf16 nt", level, time(&F32_BF16_NT, level, &a, &mut h));
        row("f32->f16 nt", level, time(&F32_F16_NT, level, &a, &mut h));
        row("f16->f32 nt", level, time(&F16_F32_NT, level, &h, &mut b));
        row("f32->bf16 nt", level, time(&F32_BF16_NT, level, &a, &mut h));
        row("bf16->f32 nt", level, time(&BF16_F32_NT, level, &h, &mut a));
    }
}
