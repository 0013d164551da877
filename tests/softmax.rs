//! Softmax and log-softmax against an f64 reference at every ISA level, both algorithms, all
//! three element types: the numerics contract of DESIGN.md, special values, consistent
//! arithmetic across levels and thread counts, in-place runs, and guard pages on every tail.

mod common;

use common::{GuardPages, Rng};
use nnkern::IsaLevel;
use nnkern::operators::softmax::{self as sm, SoftmaxKind};
use nnkern::threadpool::Threadpool;
use nnkern::ukernels::simd::{Bf16, Elem, F16, F32};

const KINDS: [SoftmaxKind; 2] = [SoftmaxKind::Softmax, SoftmaxKind::LogSoftmax];
const ALGOS: [u32; 2] = [sm::FLAG_THREE_PASS, sm::FLAG_TWO_PASS];

fn levels() -> Vec<IsaLevel> {
    IsaLevel::available().collect()
}

/// f64 reference of one row (NaN / inf rules of the contract).
fn reference(kind: SoftmaxKind, x: &[f64], nan_on_empty: bool) -> Vec<f64> {
    let log = kind == SoftmaxKind::LogSoftmax;
    if x.iter().any(|v| v.is_nan()) {
        return vec![f64::NAN; x.len()];
    }
    let pinf = x.iter().filter(|&&v| v == f64::INFINITY).count();
    if pinf > 0 {
        let share = if log {
            -(pinf as f64).ln()
        } else {
            1.0 / pinf as f64
        };
        let other = if log { f64::NEG_INFINITY } else { 0.0 };
        return x
            .iter()
            .map(|&v| if v == f64::INFINITY { share } else { other })
            .collect();
    }
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        let v = if nan_on_empty {
            f64::NAN
        } else if log {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        return vec![v; x.len()];
    }
    // Pairwise-free but exact enough: f64 sum of exp(x - m) (terms <= 1, n <= 2^24).
    let s: f64 = x.iter().map(|&v| (v - m).exp()).sum();
    if log {
        let l = s.ln();
        x.iter().map(|&v| (v - m) - l).collect()
    } else {
        x.iter().map(|&v| (v - m).exp() / s).collect()
    }
}

/// Contract check of one output against its reference; returns a description on failure.
fn check<T: Elem>(kind: SoftmaxKind, got: T::S, want: f64) -> Option<String> {
    let g = T::to_f32(got);
    if want.is_nan() {
        return (!g.is_nan()).then(|| format!("got {g:e}, want NaN"));
    }
    if want.is_infinite() || want == 0.0 && kind == SoftmaxKind::Softmax && g == 0.0 {
        return (f64::from(g) != want).then(|| format!("got {g:e}, want {want:e}"));
    }
    let err = (f64::from(g) - want).abs();
    let ok = if T::NAME == "f32" {
        match kind {
            SoftmaxKind::Softmax => err <= 1e-6 * want.abs() + 1e-37,
            SoftmaxKind::LogSoftmax => err <= 2e-6 + 1e-6 * want.abs(),
        }
    } else {
        // Within 1 ulp of the reference rounded to the type; for log-softmax outputs near 0
        // (a dominant element), the f32 bound applies where it is wider than 1 ulp: the
        // output is rounded from an f32 result that carries that absolute error.
        let r = T::from_f32(want as f32);
        let (a, b) = (T::to_f32(r), g);
        a == b
            || f64::from((a - b).abs()) <= ulp_of::<T>(a) * 1.000001
            || kind == SoftmaxKind::LogSoftmax && err <= 2e-6 + 1e-6 * want.abs()
    };
    (!ok).then(|| format!("got {g:e}, want {want:e} (err {err:e})"))
}

/// The spacing of T values at `v`'s magnitude.
fn ulp_of<T: Elem>(v: f32) -> f64 {
    let bits = if T::NAME == "f16" { 10 } else { 7 };
    let min_exp = if T::NAME == "f16" { -14 } else { -126 };
    let e = if v == 0.0 {
        min_exp
    } else {
        (v.abs().log2().floor() as i32).max(min_exp)
    };
    2f64.powi(e - bits)
}

/// Runs one configuration and checks every output; returns the outputs.
#[allow(clippy::too_many_arguments)]
fn run_check<T: sm_elem::E>(
    kind: SoftmaxKind,
    level: IsaLevel,
    flags: u32,
    batch: usize,
    channels: usize,
    x: &[f32],
    tp: Option<&Threadpool>,
    what: &str,
) -> Vec<T::S> {
    let xs: Vec<T::S> = x.iter().map(|&v| T::from_f32(v)).collect();
    let mut y = vec![T::S::default(); xs.len()];
    // SAFETY: dense buffers of batch * channels elements.
    unsafe {
        sm::one_shot::<T>(
            kind,
            level,
            batch,
            channels,
            xs.as_ptr(),
            channels,
            y.as_mut_ptr(),
            channels,
            flags,
            tp,
        )
        .unwrap();
    }
    for r in 0..batch {
        let row: Vec<f64> = xs[r * channels..(r + 1) * channels]
            .iter()
            .map(|&v| f64::from(T::to_f32(v)))
            .collect();
        let want = reference(kind, &row, flags & sm::FLAG_NAN_ON_EMPTY_ROW != 0);
        for c in 0..channels {
            if let Some(e) = check::<T>(kind, y[r * channels + c], want[c]) {
                panic!(
                    "{what} {} {kind:?} {level:?} flags={flags:#x} n={channels} row {r} col {c}: {e}",
                    T::NAME
                );
            }
        }
    }
    y
}

mod sm_elem {
    pub trait E: nnkern::config::softmax::SoftmaxElem {}
    impl E for nnkern::ukernels::simd::F32 {}
    impl E for nnkern::ukernels::simd::F16 {}
    impl E for nnkern::ukernels::simd::Bf16 {}
}

fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n)
        .map(|_| lo + (hi - lo) * (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32)
        .collect()
}

/// Runs one configuration: kind, level, flags, batch, channels, input, label.
type RunFn<'a> = &'a dyn Fn(SoftmaxKind, IsaLevel, u32, usize, usize, &[f32], &str);

/// Calls `f` with a runner for each element type.
fn all_types(f: &dyn Fn(RunFn)) {
    f(&|k, l, fl, b, c, x, w| {
        run_check::<F32>(k, l, fl, b, c, x, None, w);
    });
    f(&|k, l, fl, b, c, x, w| {
        run_check::<F16>(k, l, fl, b, c, x, None, w);
    });
    f(&|k, l, fl, b, c, x, w| {
        run_check::<Bf16>(k, l, fl, b, c, x, None, w);
    });
}

#[test]
fn every_length_to_300_and_chunk_edges() {
    let mut lengths: Vec<usize> = (1..=300).collect();
    lengths.extend([511, 512, 513, 4095, 4096, 4097, 16383, 16384, 16385, 70000]);
    all_types(&|run| {
        for level in levels() {
            for kind in KINDS {
                for algo in ALGOS {
                    for &n in &lengths {
                        let x = uniform(&mut Rng(n as u64 + 1), n, -20.0, 20.0);
                        run(kind, level, algo, 1, n, &x, "U(-20,20)");
                    }
                }
            }
        }
    });
}

#[test]
fn input_distributions() {
    let mut rng = Rng(2);
    let n = 5000;
    let huge: Vec<f32> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                1e30
            } else if i % 3 == 1 {
                -1e30
            } else {
                0.5
            }
        })
        .collect();
    let mixed: Vec<f32> = (0..n)
        .map(|i| match i % 5 {
            0 => 1e-30,
            1 => -3e4,
            2 => 2000.0,
            3 => 1999.5,
            _ => -1e-38,
        })
        .collect();
    let hot: Vec<f32> = (0..n)
        .map(|i| if i % 7 == 0 { 88.0 } else { -3.0 })
        .collect();
    let sets: Vec<(&str, Vec<f32>)> = vec![
        ("U(-20,20)", uniform(&mut rng, n, -20.0, 20.0)),
        ("U(90,100)", uniform(&mut rng, n, 90.0, 100.0)),
        ("U(-1e3,1e3)", uniform(&mut rng, n, -1e3, 1e3)),
        ("±1e30", huge),
        ("tiny and huge", mixed),
        ("one-hot-ish", hot),
        ("constant", vec![-7.25; n]),
    ];
    all_types(&|run| {
        for level in levels() {
            for kind in KINDS {
                for algo in [0, sm::FLAG_THREE_PASS, sm::FLAG_TWO_PASS] {
                    for (name, x) in &sets {
                        run(kind, level, algo, 1, n, x, name);
                    }
                }
            }
        }
    });
}

#[test]
fn special_values() {
    let inf = f32::INFINITY;
    let rows: Vec<(&str, Vec<f32>)> = vec![
        ("one -inf", vec![1.0, f32::NEG_INFINITY, 2.0, 3.0]),
        ("all -inf", vec![f32::NEG_INFINITY; 37]),
        ("NaN", vec![1.0, 2.0, f32::NAN, 3.0]),
        (
            "NaN among -inf",
            vec![f32::NEG_INFINITY, f32::NAN, f32::NEG_INFINITY],
        ),
        ("two +inf", vec![1.0, inf, 5.0, inf, -inf]),
        ("+inf and NaN", vec![inf, f32::NAN]),
        (
            "long -inf run",
            (0..3000)
                .map(|i| if i == 2900 { 4.0 } else { f32::NEG_INFINITY })
                .collect(),
        ),
    ];
    all_types(&|run| {
        for level in levels() {
            for kind in KINDS {
                for algo in ALGOS {
                    for extra in [0, sm::FLAG_NAN_ON_EMPTY_ROW] {
                        for (name, x) in &rows {
                            run(kind, level, algo | extra, 1, x.len(), x, name);
                        }
                    }
                }
            }
        }
    });
}

/// Special values in a later block of a row, out of place (against the reference) and in
/// place (the same bits): a blocked pass that finds them has already written the earlier
/// blocks, which in place are the input.
#[test]
fn special_values_in_later_blocks_in_place() {
    use nnkern::ukernels::softmax::MAX_BLOCK;
    let n = 3 * MAX_BLOCK + 7;
    let base = uniform(&mut Rng(11), n, -20.0, 20.0);
    let at = 2 * MAX_BLOCK + 100;
    let mut sets: Vec<(&str, Vec<f32>)> = Vec::new();
    for (name, v) in [
        ("NaN", f32::NAN),
        ("+inf", f32::INFINITY),
        ("huge", 2000.0),
        ("-1e30", -1e30),
    ] {
        let mut x = base.clone();
        x[at] = v;
        sets.push((name, x));
    }
    let mut x = base.clone();
    x[2 * MAX_BLOCK..3 * MAX_BLOCK].fill(f32::NEG_INFINITY);
    sets.push(("a block of -inf", x));
    for level in levels() {
        for kind in KINDS {
            for algo in [0, sm::FLAG_THREE_PASS, sm::FLAG_TWO_PASS] {
                for (name, x) in &sets {
                    let want = run_check::<F32>(kind, level, algo, 1, n, x, None, name);
                    let mut y = x.clone();
                    // SAFETY: one dense row, in place.
                    unsafe {
                        sm::one_shot::<F32>(
                            kind,
                            level,
                            1,
                            n,
                            y.as_ptr(),
                            n,
                            y.as_mut_ptr(),
                            n,
                            algo,
                            None,
                        )
                        .unwrap();
                    }
                    for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "{name} {kind:?} {level:?} algo={algo:#x} in place, element {i}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn long_rows_2_20_and_2_24() {
    let mut rng = Rng(3);
    let pool = Threadpool::new(2).unwrap();
    for &n in &[1usize << 20, 1 << 24] {
        let x = uniform(&mut rng, n, -20.0, 20.0);
        let top = *levels().last().unwrap();
        for kind in KINDS {
            for algo in ALGOS {
                run_check::<F32>(kind, top, algo, 1, n, &x, Some(&pool), "long row");
            }
        }
    }
}

/// Rows whose blocks (of `MAX_BLOCK`) sit at very different heights: the blocked three-pass
/// path scales each block by its own factor `2^(n_B - n_total) / sum`, which here ranges from
/// ~1 to subnormal and 0 (blocks 60 to 400 below the max, and a later block above an earlier
/// one). Every level, both arithmetic flags, one and three threads, on the blocked path (rows up
/// to `BLOCKED_MAX_ROW`) and just past it.
#[test]
fn blocks_at_different_heights() {
    use nnkern::ukernels::softmax::MAX_BLOCK;
    let offsets = [0.0f32, -60.0, 30.0, -90.0, 45.0, -400.0, 44.0, -87.0, 2.5];
    let pool = Threadpool::new(3).unwrap();
    for &n in &[
        3 * MAX_BLOCK + 5,
        5 * MAX_BLOCK,
        sm::BLOCKED_MAX_ROW,
        sm::BLOCKED_MAX_ROW + 1,
    ] {
        let mut rng = Rng(n as u64);
        let x: Vec<f32> = uniform(&mut rng, n, -20.0, 0.0)
            .iter()
            .enumerate()
            .map(|(i, v)| v + offsets[(i / MAX_BLOCK) % offsets.len()])
            .collect();
        for level in levels() {
            for flags in [0, sm::FLAG_CONSISTENT_ARITHMETIC] {
                for algo in [0, sm::FLAG_THREE_PASS] {
                    for tp in [None, Some(&pool)] {
                        run_check::<F32>(
                            SoftmaxKind::Softmax,
                            level,
                            flags | algo,
                            1,
                            n,
                            &x,
                            tp,
                            "blocks at different heights",
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn consistent_arithmetic_is_bit_identical_across_levels_and_threads() {
    let mut rng = Rng(4);
    let pool = Threadpool::new(3).unwrap();
    for &(batch, n) in &[(3usize, 1000usize), (1, 100_003), (5, 40_000)] {
        let x = uniform(&mut rng, batch * n, -30.0, 30.0);
        for kind in KINDS {
            for algo in ALGOS {
                let flags = algo | sm::FLAG_CONSISTENT_ARITHMETIC;
                let base = run_check::<F32>(
                    kind,
                    IsaLevel::Scalar,
                    flags,
                    batch,
                    n,
                    &x,
                    None,
                    "consistent",
                );
                for level in levels() {
                    for tp in [None, Some(&pool)] {
                        let y =
                            run_check::<F32>(kind, level, flags, batch, n, &x, tp, "consistent");
                        let same = y.iter().zip(&base).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(
                            same,
                            "{kind:?} algo {algo:#x} {level:?} threads {:?}: differs from scalar",
                            tp.map(|p| p.threads())
                        );
                    }
                }
                let y16 = run_check::<Bf16>(
                    kind,
                    IsaLevel::Scalar,
                    flags,
                    batch,
                    n,
                    &x,
                    None,
                    "consistent",
                );
                for level in levels() {
                    assert_eq!(
                        run_check::<Bf16>(
                            kind,
                            level,
                            flags,
                            batch,
                            n,
                            &x,
                            Some(&pool),
                            "consistent"
                        ),
                        y16
                    );
                }
            }
        }
    }
}

#[test]
fn strided_in_place_and_guard_pages() {
    let mut rng = Rng(5);
    for level in levels() {
        for kind in KINDS {
            for algo in ALGOS {
                // Strided rows with padding that must stay untouched.
                let (batch, ch, is, os) = (7usize, 333usize, 340usize, 350usize);
                let x = uniform(&mut rng, batch * is, -10.0, 10.0);
                let mut y = vec![-5.0f32; batch * os];
                // SAFETY: buffers sized for the strides.
                unsafe {
                    sm::one_shot::<F32>(
                        kind,
                        level,
                        batch,
                        ch,
                        x.as_ptr(),
                        is,
                        y.as_mut_ptr(),
                        os,
                        algo,
                        None,
                    )
                    .unwrap()
                };
                for r in 0..batch {
                    let row: Vec<f64> = x[r * is..r * is + ch]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect();
                    let want = reference(kind, &row, false);
                    for c in 0..os {
                        if c < ch {
                            assert!(check::<F32>(kind, y[r * os + c], want[c]).is_none());
                        } else {
                            assert_eq!(y[r * os + c], -5.0, "padding written");
                        }
                    }
                }
                // In place.
                let mut z = x[..ch * 3].to_vec();
                let p = z.as_mut_ptr();
                // SAFETY: in place, equal strides.
                unsafe {
                    sm::one_shot::<F32>(kind, level, 3, ch, p, ch, p, ch, algo, None).unwrap()
                };
                for r in 0..3 {
                    let row: Vec<f64> = x[r * ch..(r + 1) * ch]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect();
                    let want = reference(kind, &row, false);
                    for c in 0..ch {
                        assert!(
                            check::<F32>(kind, z[r * ch + c], want[c]).is_none(),
                            "in place"
                        );
                    }
                }
                // Guard pages: every length 1..=100 ending at a guard page, f32 and bf16.
                let gi = GuardPages::new(400);
                let go = GuardPages::new(400);
                for n in 1..=100 {
                    let src = uniform(&mut rng, n, -5.0, 5.0);
                    // SAFETY: n-element buffers against the guard pages.
                    unsafe {
                        let (xi, yo) = (gi.at_end::<f32>(n), go.at_end::<f32>(n));
                        std::ptr::copy_nonoverlapping(src.as_ptr(), xi, n);
                        sm::one_shot::<F32>(kind, level, 1, n, xi, n, yo, n, algo, None).unwrap();
                        let (xb, yb) = (gi.at_end::<u16>(n), go.at_end::<u16>(n));
                        for (i, v) in src.iter().enumerate() {
                            xb.add(i).write(Bf16::from_f32(*v));
                        }
                        sm::one_shot::<Bf16>(kind, level, 1, n, xb, n, yb, n, algo, None).unwrap();
                        let (xh, yh) = (gi.at_start::<u16>(2, n), go.at_start::<u16>(6, n));
                        for (i, v) in src.iter().enumerate() {
                            xh.add(i).write(F16::from_f32(*v));
                        }
                        sm::one_shot::<F16>(kind, level, 1, n, xh, n, yh, n, algo, None).unwrap();
                    }
                }
            }
        }
    }
}

/// Two-pass softmax rows whose output exceeds the L2 cache stream their last pass past the
/// caches (AVX2, AVX-512: aligned non-temporal stores after a peeled head). Rows at all 16
/// start alignments, against guard pages at either end, at every level: every output right,
/// nothing outside written.
#[test]
fn streamed_rows_at_every_alignment_against_guard_pages() {
    let mut rng = Rng(11);
    let base = nnkern::isa::caches().l2 / 4 + 1;
    let x = uniform(&mut rng, base + 16, -20.0, 20.0);
    let want_full: Vec<Vec<f64>> = (0..16)
        .map(|j| {
            let row: Vec<f64> = x[..base + j].iter().map(|&v| f64::from(v)).collect();
            reference(SoftmaxKind::Softmax, &row, false)
        })
        .collect();
    let gi = GuardPages::new(4 * (base + 16));
    let go = GuardPages::new(4 * (base + 16) + 64);
    for level in levels() {
        for (j, want_row) in want_full.iter().enumerate() {
            let n = base + j;
            for at_end in [true, false] {
                // SAFETY: n-element buffers inside the guarded mappings.
                unsafe {
                    let xi = gi.at_start::<f32>(0, n);
                    std::ptr::copy_nonoverlapping(x.as_ptr(), xi, n);
                    let yo = if at_end {
                        go.at_end::<f32>(n)
                    } else {
                        go.at_start::<f32>(4 * j, n)
                    };
                    sm::one_shot::<F32>(
                        SoftmaxKind::Softmax,
                        level,
                        1,
                        n,
                        xi,
                        n,
                        yo,
                        n,
                        sm::FLAG_TWO_PASS,
                        None,
                    )
                    .unwrap();
                    let y = std::slice::from_raw_parts(yo, n);
                    for (c, (&got, &want)) in y.iter().zip(want_row).enumerate() {
                        assert!(
                            check::<F32>(SoftmaxKind::Softmax, got, want).is_none(),
                            "{level:?} n={n} at_end={at_end} col {c}: {got:e} vs {want:e}"
                        );
                    }
                }
            }
        }
    }
}

/// `pow2_scale_exact` (the last step of every recomputed softmax output) rounds once, also in
/// the subnormal range, and gives the same bits on every ISA (AVX-512 uses `scalef`).
#[test]
fn pow2_scale_exact_matches_across_isas() {
    use nnkern::ukernels::simd::V16;
    use nnkern::ukernels::simd::scalar::S16;
    let mut rng = Rng(6);
    for k in -170..=1 {
        let mut p = [0f32; 16];
        for v in p.iter_mut() {
            // p in [2^-28, 2): what the kernels pass.
            *v = f32::from_bits(0x3200_0000 + rng.next_u32() % (0x4000_0000 - 0x3200_0000));
        }
        let kv = [k as f32; 16];
        let want: Vec<u32> = p
            .iter()
            .map(|&v| {
                let exact = f64::from(v) * 2f64.powi(k);
                (exact as f32).to_bits() // f64 -> f32 rounds once to nearest even, subnormals included
            })
            .collect();
        let s = S16::pow2_scale_exact::<false>(S16(p), S16(kv)).0;
        assert_eq!(s.map(f32::to_bits).to_vec(), want, "scalar k={k}");
        #[cfg(target_arch = "x86_64")]
        {
            let top = nnkern::isa::detected();
            // SAFETY (all blocks): each level is used only when the CPU has it.
            if top >= IsaLevel::Avx2 {
                use nnkern::ukernels::simd::avx2::A16;
                let mut out = [0f32; 16];
                unsafe {
                    let r = A16::pow2_scale_exact::<true>(
                        A16::load_f32(p.as_ptr()),
                        A16::load_f32(kv.as_ptr()),
                    );
                    r.store_f32(out.as_mut_ptr());
                }
                assert_eq!(out.map(f32::to_bits).to_vec(), want, "avx2 k={k}");
            }
            if top >= IsaLevel::Avx512 {
                use nnkern::ukernels::simd::avx512::Z16;
                let mut out = [0f32; 16];
                unsafe {
                    let r = Z16::pow2_scale_exact::<false>(
                        Z16::load_f32(p.as_ptr()),
                        Z16::load_f32(kv.as_ptr()),
                    );
                    r.store_f32(out.as_mut_ptr());
                }
                assert_eq!(out.map(f32::to_bits).to_vec(), want, "avx512 k={k}");
            }
        }
    }
}

/// Every kernel variant on a thread with a 1 MiB stack, and through a pool (whose workers have
/// 2 MiB): rows of the single-block, blocked three-pass and streamed (output past L2) paths,
/// fused and consistent. Meant for unoptimized builds (`cargo test --test softmax`), where the
/// kernels' inlined helpers each keep their own stack slots: seven exp modes inlined into one
/// pass made 0.6-2.7 MB frames that overflowed any 2 MiB thread (CI runs this test unoptimized
/// as well as optimized).
#[test]
fn every_kernel_fits_in_a_small_thread_stack() {
    let stream_n = nnkern::isa::caches().l2 / 4 + 1000;
    common::on_small_stack(move || {
        let pool = Threadpool::new(2).unwrap();
        let mut rng = Rng(11);
        for (batch, n) in [(2usize, 1000usize), (1, 100_003), (1, stream_n)] {
            let x = uniform(&mut rng, batch * n, -30.0, 30.0);
            for level in levels() {
                for kind in KINDS {
                    for algo in ALGOS {
                        for flags in [algo, algo | sm::FLAG_CONSISTENT_ARITHMETIC] {
                            for tp in [None, Some(&pool)] {
                                let what = "small stack";
                                run_check::<F32>(kind, level, flags, batch, n, &x, tp, what);
                                run_check::<Bf16>(kind, level, flags, batch, n, &x, tp, what);
                                run_check::<F16>(kind, level, flags, batch, n, &x, tp, what);
                            }
                        }
                    }
                }
            }
        }
    });
}
