//! The exp approximation inside the softmax kernels, over every f32 in [-87.3, 88.3], at every
//! ISA level, fused and unfused: its max error in ulps must not exceed
//! `nnkern::ukernels::softmax::EXP_MAX_ULP`.

use nnkern::IsaLevel;
use nnkern::ukernels::softmax::{EXP_MAX_ULP, ExpParams};

type Exp16 = unsafe fn(&[f32; 16], &ExpParams) -> [f32; 16];

fn variants() -> Vec<(IsaLevel, bool, Exp16)> {
    let mut v: Vec<(IsaLevel, bool, Exp16)> = vec![(
        IsaLevel::Scalar,
        false,
        nnkern::ukernels::softmax::scalar::exp16::<false>,
    )];
    #[cfg(target_arch = "x86_64")]
    {
        use nnkern::ukernels::softmax::{avx2, avx512};
        v.push((IsaLevel::Avx2, false, avx2::exp16::<false>));
        v.push((IsaLevel::Avx2, true, avx2::exp16::<true>));
        v.push((IsaLevel::Avx512, false, avx512::exp16::<false>));
        v.push((IsaLevel::Avx512, true, avx512::exp16::<true>));
    }
    let top = nnkern::isa::detected();
    v.into_iter().filter(|(l, _, _)| *l <= top).collect()
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
                            let y = unsafe { f(buf, &p) };
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
