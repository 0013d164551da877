//! Every generic kernel instantiation (portable, AVX2, AVX-512) against the scalar reference,
//! byte for byte, for every scheme: computed and given scales, with and without zero points,
//! block sizes that are and are not multiples of 16, partial last blocks, adversarial data
//! (the GGUF tests' generator: ties, signed zeros, subnormals, huge, NaN and infinities).

use super::{DequantizeFn, Kind, Params, QuantizeFn, Scheme};
use crate::ukernels::blocks::tests::{Rng, block, same_bits, to_elems};
use crate::ukernels::simd::{Bf16, Elem, F16, F32};

type Impl<E> = (
    &'static str,
    QuantizeFn<<E as Elem>::S>,
    DequantizeFn<<E as Elem>::S>,
);

macro_rules! impls {
    ($E:ty) => {{
        let mut v: Vec<Impl<$E>> = vec![(
            "portable",
            super::kernels::portable::quantize::<$E>,
            super::kernels::portable::dequantize::<$E>,
        )];
        #[cfg(target_arch = "x86_64")]
        {
            use crate::isa::IsaLevel;
            if crate::isa::detected() >= IsaLevel::Avx2 {
                v.push((
                    "avx2",
                    super::kernels::avx2::quantize::<$E>,
                    super::kernels::avx2::dequantize::<$E>,
                ));
            }
            if crate::isa::detected() >= IsaLevel::Avx512 {
                v.push((
                    "avx512",
                    super::kernels::avx512::quantize::<$E>,
                    super::kernels::avx512::dequantize::<$E>,
                ));
            }
        }
        v
    }};
}

/// Every scheme at a few valid block sizes, computed and given scales.
pub(crate) fn cases() -> Vec<Params> {
    let mut v = Vec::new();
    for scheme in Scheme::ALL {
        let sizes: &[usize] = match scheme {
            Scheme::Int8 | Scheme::Uint8 | Scheme::Int4 | Scheme::Uint4 => &[1, 3, 16, 32, 48, 128],
            Scheme::Nvfp4 => &[16],
            Scheme::BnbDynamic8 => &[64, 256],
            Scheme::BnbNf4 | Scheme::BnbFp4 => &[32, 64],
            _ => &[32],
        };
        for &block_size in sizes {
            for scales_given in [false, true] {
                for tensor_scale in [1.0f32, 3.0e-5] {
                    if tensor_scale != 1.0 && scheme != Scheme::Nvfp4 {
                        continue;
                    }
                    v.push(Params {
                        scheme,
                        block_size,
                        scales_given,
                        tensor_scale,
                    });
                }
            }
        }
    }
    v
}

/// Scales (and zero points) a caller might give, including degenerate ones.
fn given(rng: &mut Rng, p: &Params, n: usize, s: &mut [u8], z: &mut [u8]) {
    match p.scheme.kind() {
        Kind::Int { .. } | Kind::Bnb(_) => {
            for c in s.chunks_exact_mut(4) {
                let v = match rng.below(8) {
                    0 => 0.0,
                    1 => f32::NAN,
                    2 => f32::INFINITY,
                    3 => -0.37,
                    4 => 1e-40,
                    _ => {
                        (rng.uniform() * 4.0 + 0.01) * [1e-3f32, 1.0, 100.0][rng.below(3) as usize]
                    }
                };
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => s.iter_mut().for_each(|b| *b = rng.next() as u8),
    }
    z.iter_mut().for_each(|b| *b = rng.next() as u8);
    assert_eq!(s.len(), p.scale_bytes(n));
}

fn check<E: Elem>(impls: &[Impl<E>]) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for p in cases() {
        let bs = p.block_size;
        for n in [bs * 40, bs * 40 - bs / 2 - 1, 5] {
            if n == 0 {
                continue;
            }
            let mut x = Vec::new();
            let mut k = 0;
            while x.len() < n {
                x.extend(block(&mut rng, k % 9, bs.max(16)));
                k += 1;
            }
            x.truncate(n);
            let xs = to_elems::<E>(&x);
            let has_zp = p.scheme.has_zero_points();
            for with_zp in [false, true] {
                if with_zp && !has_zp {
                    continue;
                }
                let zb = if with_zp { p.zero_point_bytes(n) } else { 0 };
                let mut s0 = vec![0u8; p.scale_bytes(n)];
                let mut z0 = vec![0u8; zb];
                if p.scales_given {
                    given(&mut rng, &p, n, &mut s0, &mut z0);
                }
                let zptr = |z: &mut Vec<u8>| {
                    if with_zp {
                        z.as_mut_ptr()
                    } else {
                        std::ptr::null_mut()
                    }
                };
                let (mut q, mut s, mut z) = (vec![0u8; p.q_bytes(n)], s0.clone(), z0.clone());
                // SAFETY: buffers sized by the Params functions.
                unsafe {
                    super::reference::quantize::<E>(
                        &p,
                        n,
                        xs.as_ptr(),
                        q.as_mut_ptr(),
                        s.as_mut_ptr(),
                        zptr(&mut z),
                    )
                };
                for (name, qf, df) in impls {
                    let (mut gq, mut gs, mut gz) = (vec![0xA5u8; q.len()], s0.clone(), z0.clone());
                    // SAFETY: as above.
                    unsafe {
                        qf(
                            &p,
                            n,
                            xs.as_ptr(),
                            gq.as_mut_ptr(),
                            gs.as_mut_ptr(),
                            zptr(&mut gz),
                        )
                    };
                    let what = format!("{name} {} {:?} n {n} zp {with_zp}", E::NAME, p);
                    assert_eq!(gs, s, "scales {what}");
                    assert_eq!(gz, z, "zero points {what}");
                    for (i, (a, b)) in gq.iter().zip(&q).enumerate() {
                        let e = i * 8 / p.scheme.element_bits();
                        assert_eq!(a, b, "codes {what} byte {i}: x {:?}", &x[e..(e + 4).min(n)]);
                    }
                    // Dequantize random codes with these scales.
                    let codes: Vec<u8> = (0..q.len()).map(|_| rng.next() as u8).collect();
                    let mut want = vec![E::S::default(); n];
                    let mut got = vec![E::S::default(); n];
                    // SAFETY: as above.
                    unsafe {
                        let zp = if with_zp {
                            z.as_ptr()
                        } else {
                            std::ptr::null()
                        };
                        super::reference::dequantize::<E>(
                            &p,
                            n,
                            codes.as_ptr(),
                            s.as_ptr(),
                            zp,
                            want.as_mut_ptr(),
                        );
                        df(&p, n, codes.as_ptr(), s.as_ptr(), zp, got.as_mut_ptr());
                    }
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        assert!(same_bits::<E>(g, w), "dequantize {what} element {i}");
                    }
                }
            }
        }
    }
}

#[test]
fn kernels_match_reference_f32() {
    check::<F32>(&impls!(F32));
}

#[test]
fn kernels_match_reference_f16() {
    check::<F16>(&impls!(F16));
}

#[test]
fn kernels_match_reference_bf16() {
    #[allow(unused_mut)]
    let mut v = impls!(Bf16);
    #[cfg(target_arch = "x86_64")]
    if crate::isa::extras().avx512bf16 {
        v.push((
            "avx512bf16",
            super::kernels::avx512::quantize::<Bf16>,
            super::kernels::avx512bf16::dequantize::<crate::ukernels::simd::Bf16Hw>,
        ));
    }
    check::<Bf16>(&v);
}

#[test]
fn tables() {
    use super::FpFormat;
    use super::tables::*;
    assert_eq!(FpFormat::E4M3.emax(), 8);
    assert_eq!(FpFormat::E5M2.emax(), 15);
    assert_eq!(FpFormat::E2M3.emax(), 2);
    assert_eq!(FpFormat::E3M2.emax(), 4);
    assert_eq!(FpFormat::E2M1.emax(), 2);
    assert_eq!(E4M3[0x7E], 448.0);
    assert!(E4M3[0x7F].is_nan() && E4M3[0xFF].is_nan());
    assert_eq!(E4M3[1], 2f32.powi(-9));
    assert_eq!(E5M2[0x7B], 57344.0);
    assert_eq!(E5M2[0x7C], f32::INFINITY);
    assert_eq!(E2M3[31], 7.5);
    assert_eq!(E3M2[31], 28.0);
    assert_eq!(E2M1[..8], [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
    // Every code of every format encodes back to itself (NaN codes aside).
    for f in [
        FpFormat::E4M3,
        FpFormat::E5M2,
        FpFormat::E2M3,
        FpFormat::E3M2,
        FpFormat::E2M1,
    ] {
        for c in 0..1u32 << f.bits() {
            let v = fp_decode(f, c);
            if v.is_finite() {
                assert_eq!(
                    super::reference::fp_encode(f, v, v.is_sign_negative()),
                    c,
                    "{f:?} {c}"
                );
            }
        }
    }
    assert_eq!(DYNAMIC8.values[127], 0.0);
    assert_eq!(DYNAMIC8.values[255], 1.0);
    assert!(DYNAMIC8.mids.windows(2).all(|w| w[0] < w[1]));
    assert!(NF4.mids.windows(2).all(|w| w[0] < w[1]));
    assert!(FP4.mids.windows(2).all(|w| w[0] <= w[1]));
}

/// The dynamic map's bucket table counts the midpoints below every value the way the plain
/// count does: each midpoint and its float neighbours (the bucket compare's edges), the bucket
/// edges, zeros, tiny and huge magnitudes, infinities, and random bit patterns.
#[test]
fn dynamic8_buckets_count_like_the_midpoints() {
    use super::tables::{BUCKET_SHIFT, BUCKETS, DYNAMIC8};
    let t = DYNAMIC8.buckets.expect("256-code book");
    let count = |v: f32| DYNAMIC8.mids.iter().filter(|&&m| m < v).count() as u32;
    let mut vals = vec![
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        1.5,
        -2.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    vals.extend([
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-40,
        -1e-40,
        1e-7,
        -1e-7,
        1e30,
    ]);
    for &m in DYNAMIC8.mids {
        vals.extend([m, m.next_up(), m.next_down(), -m]);
    }
    for key in t.lo - 2..t.lo + BUCKETS as u32 + 2 {
        let edge = f32::from_bits(key << BUCKET_SHIFT);
        vals.extend([edge, edge.next_down(), -edge, -edge.next_down()]);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    vals.extend((0..1 << 20).map(|_| f32::from_bits(rng.next() as u32)));
    // Values in the map's range, where the midpoints are dense.
    vals.extend(
        (0..1 << 18).map(|_| (rng.uniform() * 2.0 - 1.0) * 10f32.powi(-(rng.below(8) as i32))),
    );
    for v in vals.into_iter().filter(|v| !v.is_nan()) {
        assert_eq!(t.search(v), count(v), "{v:e} ({:#x})", v.to_bits());
    }
}

/// ONNX quantization with given scales on quotients within a few ulps of half-integers (where
/// a multiply-by-reciprocal shortcut would round differently from the reference's division).
#[test]
fn int_near_ties_match_reference() {
    fn run<E: Elem>(impls: &[Impl<E>]) {
        for scheme in [Scheme::Int8, Scheme::Uint8, Scheme::Int4] {
            for scale in [0.1f32, 0.3, 1.0 / 3.0, 0.7, 1.1, 3e-5, 7.0] {
                let mut x = Vec::new();
                for k in -140..140 {
                    let t = (k as f32 + 0.5) * scale;
                    for ulps in -4i32..=4 {
                        x.push(f32::from_bits((t.to_bits() as i32 + ulps) as u32));
                    }
                }
                let n = x.len() / 32 * 32;
                x.truncate(n);
                let p = Params {
                    scheme,
                    block_size: 32,
                    scales_given: true,
                    tensor_scale: 1.0,
                };
                let s: Vec<u8> = (0..p.blocks(n)).flat_map(|_| scale.to_le_bytes()).collect();
                let xs = to_elems::<E>(&x);
                let mut want = vec![0u8; p.q_bytes(n)];
                let mut s1 = s.clone();
                // SAFETY: buffers sized by the Params functions.
                unsafe {
                    super::reference::quantize::<E>(
                        &p,
                        n,
                        xs.as_ptr(),
                        want.as_mut_ptr(),
                        s1.as_mut_ptr(),
                        std::ptr::null_mut(),
                    )
                };
                for (name, qf, _) in impls {
                    let mut got = vec![0u8; p.q_bytes(n)];
                    let mut s2 = s.clone();
                    // SAFETY: as above.
                    unsafe {
                        qf(
                            &p,
                            n,
                            xs.as_ptr(),
                            got.as_mut_ptr(),
                            s2.as_mut_ptr(),
                            std::ptr::null_mut(),
                        )
                    };
                    assert_eq!(got, want, "{name} {scheme:?} scale {scale} {}", E::NAME);
                }
            }
        }
    }
    run::<F32>(&impls!(F32));
    run::<F16>(&impls!(F16));
}
