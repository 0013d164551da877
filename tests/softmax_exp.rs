//! The exp approximation inside the softmax kernels, over every f32 in [-87.3, 88.3], at every
//! ISA level, fused and unfused: its max error in ulps must not exceed
//! `nnkern::ukernels::softmax::EXP_MAX_ULP`.

use nnkern::IsaLevel;
use nnkern::ukernels::softmax::{EXP_MAX_ULP, ExpParams};

/// exp on 16 lanes in a given mode (`None`: the kernels' choice), optionally scaled.
type Exp16Mode = unsafe fn(&[f32; 16], &ExpParams, Option<u8>, Option<f32>) -> [f32; 16];

/// Every level available here, unfused and fused.
fn variants() -> Vec<(IsaLevel, bool, Exp16Mode)> {
    use nnkern::ukernels::softmax::scalar;
    let mut v: Vec<(IsaLevel, bool, Exp16Mode)> =
        vec![(IsaLevel::Scalar, false, scalar::exp16_mode::<false>)];
    #[cfg(target_arch = "x86_64")]
    {
        use nnkern::ukernels::softmax::{avx2, avx512};
        v.push((IsaLevel::Avx2, false, avx2::exp16_mode::<false>));
        v.push((IsaLevel::Avx2, true, avx2::exp16_mode::<true>));
        v.push((IsaLevel::Avx512, false, avx512::exp16_mode::<false>));
        v.push((IsaLevel::Avx512, true, avx512::exp16_mode::<true>));
    }
    let top = nnkern::isa::detected();
    v.into_iter().filter(|(l, _, _)| *l <= top).collect()
}

/// Asserts that `a` and `b` (two computations over inputs `x`) have the same bits.
fn same_bits(x: &[f32; 16], a: &[f32; 16], b: &[f32; 16], what: impl Fn() -> String) {
    for j in 0..16 {
        assert_eq!(
            a[j].to_bits(),
            b[j].to_bits(),
            "{} x={:e}: {:e} vs {:e}",
            what(),
            x[j],
            a[j],
            b[j]
        );
    }
}

/// The f32 ulp at the magnitude of `r` (normal range; `r` rounded to f32 first).
fn ulp(r: f64) -> f64 {
    let e = ((r as f32).to_bits() >> 23) & 0xFF;
    f64::from_bits(u64::from(e + 1023 - 127 - 23) << 52)
}

#[test]
fn exp_max_ulp_over_every_float() {
    let p = ExpParams {
        lo: -1000.0,
        shift: 0.0,
        n_ref: 0.0,
    };
    let lo_bits = (-87.3f32).to_bits(); // negative floats: bits grow with magnitude
    let hi_bits = 88.3f32.to_bits();
    let variants = variants();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    // Per variant: (worst ulp error, where).
    let worst = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let variants = &variants;
                s.spawn(move || {
                    let mut worst = vec![(0f64, 0f32); variants.len()];
                    let mut buf = [0f32; 16];
                    let mut k = 0;
                    let check = |buf: &[f32; 16], k: usize, worst: &mut Vec<(f64, f32)>| {
                        let r: Vec<f64> = buf[..k].iter().map(|&x| f64::from(x).exp()).collect();
                        let u: Vec<f64> = r.iter().map(|&r| ulp(r)).collect();
                        for (w, (_, _, f)) in worst.iter_mut().zip(variants) {
                            // SAFETY: only levels available on this CPU are listed.
                            let y = unsafe { f(buf, &p, None, None) };
                            for j in 0..k {
                                let e = (f64::from(y[j]) - r[j]).abs() / u[j];
                                if e > w.0 {
                                    *w = (e, buf[j]);
                                }
                            }
                        }
                    };
                    // Non-negative floats 0..=88.3 and negative ones down to -87.3.
                    for (start, end) in [(0u32, hi_bits), (0x8000_0001u32, lo_bits)] {
                        let mut b = start + t as u32;
                        while b <= end {
                            buf[k] = f32::from_bits(b);
                            k += 1;
                            if k == 16 {
                                check(&buf, 16, &mut worst);
                                k = 0;
                            }
                            b += threads as u32;
                        }
                    }
                    check(&buf, k, &mut worst);
                    worst
                })
            })
            .collect();
        let all: Vec<Vec<(f64, f32)>> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        (0..variants.len())
            .map(|v| {
                all.iter()
                    .map(|w| w[v])
                    .fold((0f64, 0f32), |a, b| if b.0 > a.0 { b } else { a })
            })
            .collect::<Vec<_>>()
    });
    for ((level, fused, _), (e, x)) in variants.iter().zip(&worst) {
        println!("exp {level:?} fused={fused}: max error {e:.3} ulp at x = {x:e}");
        assert!(
            *e <= EXP_MAX_ULP,
            "{level:?} fused={fused}: {e} ulp at {x:e}"
        );
    }
}

/// The kernels leave steps of exp out per call (the clamp when the row's min is above it, the
/// `n - n_ref` subtraction when AVX-512 `scalef` lets the coefficients carry `2^-n_ref`): that
/// must never change a bit. For every reference exponent the softmax kernels use with
/// `|n_ref| <= 120` (past the prescaling limit of 100 too), inputs across the row's whole
/// range, plain and scaled by the last pass's factors: the chosen mode equals the full one.
#[test]
fn exp_modes_change_no_bit() {
    use nnkern::ukernels::softmax::{UNDERFLOW_SPAN, mode, round_log2e};
    let full = mode::CLAMP | mode::SUB;
    for (level, fused, f) in variants() {
        for r in -120i32..=120 {
            // A row max whose reference exponent is r.
            let max = r as f32 * std::f32::consts::LN_2;
            let p = ExpParams::for_max(max);
            assert_eq!(p.n_ref, round_log2e(max));
            let min = p.lo;
            let auto = p.with_min(min);
            assert_eq!(auto.lo, f32::NEG_INFINITY);
            let mut x = [0f32; 16];
            for chunk in 0..64 {
                for (j, v) in x.iter_mut().enumerate() {
                    let u = (chunk * 16 + j) as f32 / 1023.0;
                    *v = max - UNDERFLOW_SPAN * u * u;
                }
                x[0] = min;
                x[1] = max;
                for s in [
                    None,
                    Some(1.0),
                    Some(0.37),
                    Some(1e-9),
                    Some(2f32.powi(-40)),
                ] {
                    // SAFETY: only levels available on this CPU are listed.
                    let (a, b) = unsafe { (f(&x, &auto, None, s), f(&x, &p, Some(full), s)) };
                    same_bits(&x, &a, &b, || {
                        format!("{level:?} fused={fused} n_ref={r} s={s:?}")
                    });
                }
            }
        }
    }
    // NEG (gating's sigmoid): exp(-x) bit for bit as exp of the negated input, over every
    // 997th f32 in [-87.3, 87.3] and its 15 neighbours 6 apart (both signs).
    let plain = ExpParams {
        lo: f32::NEG_INFINITY,
        shift: 0.0,
        n_ref: 0.0,
    };
    for (level, fused, f) in variants() {
        let mut bits = 0u32;
        while bits <= 87.3f32.to_bits() {
            let x: [f32; 16] = std::array::from_fn(|j| {
                let v = f32::from_bits(bits + 6 * j as u32);
                if j % 2 == 0 { v } else { -v }
            });
            let neg = x.map(|v| -v);
            // SAFETY: only levels available on this CPU are listed.
            let (a, b) = unsafe {
                (
                    f(&x, &plain, Some(mode::NEG), None),
                    f(&neg, &plain, Some(0), None),
                )
            };
            same_bits(&x, &a, &b, || format!("{level:?} fused={fused} NEG"));
            bits += 997;
        }
    }
    // The modes compared above are the ones the kernels pick: on AVX-512 with FMA, no clamp
    // and (within |n_ref| <= 100, and while p * s stays normal) no subtraction.
    #[cfg(target_arch = "x86_64")]
    {
        use nnkern::ukernels::simd::avx512::Z16;
        use nnkern::ukernels::softmax::{exp_mode, exp_mode_scaled};
        for r in -120i32..=120 {
            let p = ExpParams::for_max(r as f32 * std::f32::consts::LN_2);
            let auto = p.with_min(p.lo);
            let want = if r.abs() <= 100 { 0 } else { mode::SUB };
            assert_eq!(exp_mode::<Z16, true>(&auto), want, "n_ref={r}");
            assert_eq!(
                exp_mode::<Z16, false>(&auto),
                if r == 0 { 0 } else { mode::SUB }
            );
            assert_eq!(exp_mode::<Z16, true>(&p), want | mode::CLAMP);
            let tiny = exp_mode_scaled::<Z16, true>(&auto, 2f32.powi(-40));
            let want = if (-100..=84).contains(&r) {
                0
            } else {
                mode::SUB
            };
            assert_eq!(tiny, want, "n_ref={r}");
        }
    }
}
