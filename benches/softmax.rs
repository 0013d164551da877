//! Softmax / log-softmax throughput per ISA level × algorithm × element type, on the shapes of
//! issue #3 (1×1000, 1×10000, 4096×1000, 64×32000, 8×128000, 1×2^24, single thread; 1×2^24 and
//! 8×128000 with a 2-thread pool), beside the streaming bound measured in the same run: one
//! pass that reads the data (sum) and one that reads and writes it (scale), over the same bytes.
//!
//! Criterion reports time per iteration and bytes/s (input + output bytes, once each);
//! ns/element = time ÷ elements. Filter with e.g. `cargo bench --bench softmax -- f32/softmax`.
//! `NNK_BENCH_SHAPES=1x10000,64x32000` overrides the shapes.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nnkern::IsaLevel;
use nnkern::config::softmax::SoftmaxElem;
use nnkern::operators::softmax::{self as sm, SoftmaxKind};
use nnkern::threadpool::Threadpool;
use nnkern::ukernels::simd::{Bf16, F16, F32};

fn shapes() -> Vec<(usize, usize)> {
    match std::env::var("NNK_BENCH_SHAPES") {
        Ok(s) => s
            .split(',')
            .filter_map(|p| p.split_once('x'))
            .filter_map(|(b, c)| Some((b.trim().parse().ok()?, c.trim().parse().ok()?)))
            .collect(),
        Err(_) => vec![
            (1, 1000),
            (1, 10000),
            (4096, 1000),
            (64, 32000),
            (8, 128_000),
            (1, 1 << 24),
        ],
    }
}

fn group<T: SoftmaxElem>(c: &mut Criterion, kind: SoftmaxKind, pool: &Threadpool) {
    let name = match kind {
        SoftmaxKind::Softmax => "softmax",
        SoftmaxKind::LogSoftmax => "log_softmax",
    };
    let mut g = c.benchmark_group(format!(
        "{}/{name}",
        <T as nnkern::ukernels::simd::Elem>::NAME
    ));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (batch, n) in shapes() {
        let total = batch * n;
        let x: Vec<T::S> = (0..total)
            .map(|i| T::from_f32(((i * 7919) % 4001) as f32 * 0.01 - 20.0))
            .collect();
        let mut y = vec![T::S::default(); total];
        g.throughput(Throughput::Bytes((2 * total * size_of::<T::S>()) as u64));
        let shape = format!("{batch}x{n}");
        for level in IsaLevel::available() {
            for (algo, flag) in [("3pass", sm::FLAG_THREE_PASS), ("2pass", sm::FLAG_TWO_PASS)] {
                let mut threads: Vec<Option<&Threadpool>> = vec![None];
                // The 2-thread shapes of the issue: 8x128000 (1.02e6 elements) and larger.
                if level == nnkern::isa::detected() && total >= 1_000_000 {
                    threads.push(Some(pool));
                }
                for tp in threads {
                    let id = format!(
                        "{}/{algo}{}",
                        level.name(),
                        if tp.is_some() { "/2threads" } else { "" }
                    );
                    g.bench_with_input(BenchmarkId::new(id, &shape), &shape, |b, _| {
                        b.iter(|| {
                            // SAFETY: dense buffers of batch * n elements.
                            unsafe {
                                sm::one_shot::<T>(
                                    kind,
                                    level,
                                    batch,
                                    n,
                                    black_box(x.as_ptr()),
                                    n,
                                    y.as_mut_ptr(),
                                    n,
                                    flag,
                                    tp,
                                )
                                .unwrap()
                            }
                        })
                    });
                }
            }
        }
        // Streaming bound over the same bytes: a read pass and a read-write pass.
        if size_of::<T::S>() == 4 {
            common::streaming_bounds(&mut g, &shape, total);
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    nnkern::isa::initialize();
    let pool = Threadpool::new(2).unwrap();
    group::<F32>(c, SoftmaxKind::Softmax, &pool);
    group::<F32>(c, SoftmaxKind::LogSoftmax, &pool);
    group::<F16>(c, SoftmaxKind::Softmax, &pool);
    group::<Bf16>(c, SoftmaxKind::Softmax, &pool);
}

criterion_group!(softmax, benches);
criterion_main!(softmax);
