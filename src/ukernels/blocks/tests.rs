//! Every generic kernel instantiation (portable, AVX2, AVX-512) against the scalar reference,
//! byte for byte, on adversarial blocks: ties on the rounding grid, zeros of both signs,
//! one-hot, tiny and subnormal, huge, and non-finite values.

use super::{DequantizeFn, FORMATS, Format, QuantizeFn};
use crate::ukernels::cvt;
use crate::ukernels::simd::{Bf16, Elem, F16, F32};

pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One block of `n` test values of kind `kind`.
pub(crate) fn block(rng: &mut Rng, kind: u64, n: usize) -> Vec<f32> {
    let scale = match rng.below(6) {
        0 => 1.0,
        1 => 1e-3,
        2 => 1e4,
        3 => 1e-38,
        4 => 1e-44,
        _ => 1e30,
    };
    (0..n)
        .map(|i| match kind {
            // Gaussian-ish.
            0 => (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) * scale,
            // Tie-heavy: multiples of 1/2 and 1/4 on a small grid.
            1 => (rng.below(33) as f32 - 16.0) * 0.25,
            2 => 0.0,
            3 => {
                if i == 3 {
                    -scale
                } else if rng.below(2) == 0 {
                    0.0
                } else {
                    -0.0
                }
            }
            4 => [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5][rng.below(9) as usize],
            5 => f32::from_bits(rng.next() as u32 & 0x807F_FFFF), // subnormals
            6 => [f32::NAN, f32::INFINITY, -f32::INFINITY, 1.0, -3.0][rng.below(5) as usize],
            // All equal, and equal magnitudes of both signs.
            7 => scale,
            _ => {
                if rng.below(2) == 0 {
                    scale
                } else {
                    -scale
                }
            }
        })
        .collect()
}

pub(crate) fn to_elems<E: Elem>(x: &[f32]) -> Vec<E::S> {
    x.iter().map(|&v| E::from_f32(v)).collect()
}

type Impl<E> = (
    &'static str,
    [QuantizeFn<<E as Elem>::S>; FORMATS],
    [DequantizeFn<<E as Elem>::S>; FORMATS],
);

macro_rules! fns {
    ($m:path, $E:ty) => {{
        use $m as m;
        (
            [
                m::quantize_q4_0::<$E> as QuantizeFn<<$E as Elem>::S>,
                m::quantize_q4_1::<$E>,
                m::quantize_q5_0::<$E>,
                m::quantize_q5_1::<$E>,
                m::quantize_q8_0::<$E>,
                m::quantize_q8_1::<$E>,
                m::quantize_q4_k::<$E>,
                m::quantize_q5_k::<$E>,
                m::quantize_q6_k::<$E>,
                m::quantize_q8_k::<$E>,
                m::quantize_mxfp4::<$E>,
            ],
            [
                m::dequantize_q4_0::<$E> as DequantizeFn<<$E as Elem>::S>,
                m::dequantize_q4_1::<$E>,
                m::dequantize_q5_0::<$E>,
                m::dequantize_q5_1::<$E>,
                m::dequantize_q8_0::<$E>,
                m::dequantize_q8_1::<$E>,
                m::dequantize_q4_k::<$E>,
                m::dequantize_q5_k::<$E>,
                m::dequantize_q6_k::<$E>,
                m::dequantize_q8_k::<$E>,
                m::dequantize_mxfp4::<$E>,
            ],
        )
    }};
}

macro_rules! impls {
    ($E:ty) => {{
        let mut v: Vec<Impl<$E>> = Vec::new();
        let (q, d) = fns!(super::portable, $E);
        v.push(("portable", q, d));
        #[cfg(target_arch = "x86_64")]
        {
            use crate::isa::IsaLevel;
            if crate::isa::detected() >= IsaLevel::Avx2 {
                let (q, d) = fns!(super::avx2, $E);
                v.push(("avx2", q, d));
            }
            if crate::isa::detected() >= IsaLevel::Avx512 {
                let (q, d) = fns!(super::avx512, $E);
                v.push(("avx512", q, d));
            }
        }
        v
    }};
}

pub(crate) fn same_bits<E: Elem>(a: E::S, b: E::S) -> bool {
    let (fa, fb) = (E::to_f32(a), E::to_f32(b));
    (fa.is_nan() && fb.is_nan()) || fa.to_bits() == fb.to_bits()
}

fn check<E: Elem>(impls: &[Impl<E>]) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for f in Format::ALL {
        let (bs, bb) = (f.block_size(), f.block_bytes());
        let blocks = 360;
        let mut x = Vec::new();
        for b in 0..blocks {
            x.extend(block(&mut rng, b as u64 % 9, bs));
        }
        let xs = to_elems::<E>(&x);
        let mut want = vec![0u8; blocks * bb];
        // SAFETY: buffers sized for `blocks` blocks.
        unsafe { super::scalar_quantize::<E>(f)(blocks, xs.as_ptr(), want.as_mut_ptr()) };
        // Random block bytes (scales included) exercise every code and scale in dequantize.
        let mut qbytes: Vec<u8> = (0..blocks * bb).map(|_| rng.next() as u8).collect();
        qbytes[..want.len()].copy_from_slice(&want[..]);
        qbytes.truncate(blocks * bb);
        let mut want_y = vec![E::S::default(); blocks * bs];
        // SAFETY: as above.
        unsafe { super::scalar_dequantize::<E>(f)(blocks, qbytes.as_ptr(), want_y.as_mut_ptr()) };
        for (name, q, d) in impls {
            let mut got = vec![0xA5u8; blocks * bb];
            // SAFETY: as above.
            unsafe { q[f.index()](blocks, xs.as_ptr(), got.as_mut_ptr()) };
            for b in 0..blocks {
                assert_eq!(
                    got[b * bb..(b + 1) * bb],
                    want[b * bb..(b + 1) * bb],
                    "{name} quantize {} {} block {b} kind {}: {:?}",
                    f.name(),
                    E::NAME,
                    b % 9,
                    &x[b * bs..(b + 1) * bs]
                );
            }
            let mut got_y = vec![E::S::default(); blocks * bs];
            // SAFETY: as above.
            unsafe { d[f.index()](blocks, qbytes.as_ptr(), got_y.as_mut_ptr()) };
            for (i, (&g, &w)) in got_y.iter().zip(&want_y).enumerate() {
                assert!(
                    same_bits::<E>(g, w),
                    "{name} dequantize {} {} element {i}",
                    f.name(),
                    E::NAME
                );
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
        let (q, _) = fns!(super::avx512, Bf16);
        let (_, d) = fns!(super::avx512bf16, crate::ukernels::simd::Bf16Hw);
        v.push(("avx512bf16", q, d));
    }
    check::<Bf16>(&v);
}

/// MXFP4's code selection at every decision point: each midpoint between two code magnitudes
/// (`MID·d`, where a tie goes low), the floats just above and below it, the quarter-octave grid
/// points between midpoints, and values just above `d/2`, both signs, for block maxima from
/// subnormal to huge (d from subnormal, where the kernels count compares, to 2^127).
#[test]
fn mxfp4_codes_at_every_midpoint() {
    use super::reference as r;
    const MID: [f32; 7] = [0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0];
    const GRID: [f32; 8] = [0.625, 0.75, 1.25, 1.75, 3.0, 4.0, 6.0, 12.0];
    let impls = impls!(F32);
    let mut rng = Rng(0x51ED_2701);
    let mut x = Vec::new();
    let mut maxima: Vec<f32> = (-149..=127).map(|k| 2f32.powi(k)).collect();
    maxima.extend((-149..=127).map(|k| 2f32.powi(k) * 1.9));
    for amax in maxima {
        let d = r::e8m0_half(r::mxfp4_exponent(amax));
        let mut points = Vec::new();
        for m in MID.iter().chain(&GRID) {
            let v = m * d;
            points.extend([v, v.next_up(), v.next_down()]);
        }
        points.extend([(0.5 * d).next_up(), 0.5 * d, 0.0]);
        // Keep every point inside the block's maximum (the exponent comes from amax).
        points.retain(|v| v.abs() <= amax);
        for chunk in points.chunks(31) {
            x.push(amax);
            for i in 0..31 {
                let v = chunk.get(i).copied().unwrap_or(0.0);
                x.push(if rng.below(2) == 0 { v } else { -v });
            }
        }
    }
    let blocks = x.len() / 32;
    let mut want = vec![0u8; 17 * blocks];
    for (b, out) in want.chunks_mut(17).enumerate() {
        r::quantize_mxfp4(&x[32 * b..32 * b + 32], out);
    }
    let f = Format::Mxfp4;
    for (name, q, _) in &impls {
        let mut got = vec![0xA5u8; 17 * blocks];
        // SAFETY: buffers sized for `blocks` blocks.
        unsafe { q[f.index()](blocks, x.as_ptr(), got.as_mut_ptr()) };
        for b in 0..blocks {
            assert_eq!(
                got[17 * b..17 * b + 17],
                want[17 * b..17 * b + 17],
                "{name} MXFP4 block {b}: {:?}",
                &x[32 * b..32 * b + 32]
            );
        }
    }
}

#[test]
fn reference_facts() {
    use super::reference as r;
    // An all-zero Q4_0 block: d = -0.0, every quant 8.
    let mut out = [0u8; 18];
    r::quantize_q4_0(&[0.0; 32], &mut out);
    assert_eq!(&out[..2], &[0x00, 0x80]);
    assert!(out[2..].iter().all(|&b| b == 0x88));
    // Q8_0 rounds half away from zero: 0.5 → 1, -0.5 → -1, 2.5 → 3 (at d = 1).
    let mut x = [0.0f32; 32];
    x[0] = 127.0;
    x[1] = 0.5;
    x[2] = -0.5;
    x[3] = 2.5;
    let mut q = [0u8; 34];
    r::quantize_q8_0(&x, &mut q);
    assert_eq!(&q[2..6], &[127, 1, 255, 3]);
    // MXFP4: log2f rounds nextafter(16, 0) up to 4.
    assert_eq!(
        r::mxfp4_exponent(f32::from_bits(16f32.to_bits() - 1)),
        4 - 2 + 127
    );
    assert_eq!(r::mxfp4_exponent(16.0), 4 - 2 + 127);
    assert_eq!(r::mxfp4_exponent(15.9), 3 - 2 + 127);
    // The fast exponent path agrees with the reference on every mantissa near a power of two
    // and on a sweep of exponents.
    for e in 1..255u32 {
        for m in (0..64)
            .map(|k| 0x7F_FFFF - k)
            .chain([0, 1, 0x40_0000, 0x7F_FF00, 0x7F_FEFF])
        {
            let a = f32::from_bits(e << 23 | m);
            assert_eq!(
                super::kernels::mxfp4_exponent(a),
                r::mxfp4_exponent(a),
                "{a:e}"
            );
        }
    }
    // MXFP4 ties go to the smaller magnitude: 0.75 → 0.5 (code 1), 3.5 → 3 (code 5)... at d = 1
    // (e = 128 → d = 2^0 halves: kvalue·d with d = 1 means codes are the doubled values).
    assert_eq!(r::best_index_mxfp4(1.5, 1.0), 1);
    assert_eq!(r::best_index_mxfp4(7.0, 1.0), 5);
    assert_eq!(r::best_index_mxfp4(-0.25, 1.0), 0);
    let _ = cvt::f32_to_f16(0.0);
}

/// The committed gguf-py vectors (tests/vectors/gen.py) against the reference.
#[test]
fn reference_matches_gguf_vectors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).ok();
    let f32s = |b: Vec<u8>| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut checked = 0;
    for f in Format::ALL {
        let (bs, bb) = (f.block_size(), f.block_bytes());
        if let (Some(x), Some(want)) = (
            read(&format!("{}.quant.in.f32", f.name())),
            read(&format!("{}.quant.out.bin", f.name())),
        ) {
            let x = f32s(x);
            let mut bad = 0;
            for (b, (xb, wb)) in x.chunks_exact(bs).zip(want.chunks_exact(bb)).enumerate() {
                let mut got = vec![0u8; bb];
                f.quantize_ref()(xb, &mut got);
                if got != wb {
                    bad += 1;
                    if bad < 4 {
                        eprintln!("{} block {b}: got {got:?} want {wb:?} x {xb:?}", f.name());
                    }
                }
            }
            assert_eq!(bad, 0, "{} quantize: {bad} blocks differ", f.name());
            checked += 1;
        }
        if let (Some(q), Some(want)) = (
            read(&format!("{}.deq.in.bin", f.name())),
            read(&format!("{}.deq.out.f32", f.name())),
        ) {
            let want = f32s(want);
            for (b, (qb, wb)) in q.chunks_exact(bb).zip(want.chunks_exact(bs)).enumerate() {
                let mut got = vec![0f32; bs];
                f.dequantize_ref()(qb, &mut got);
                for i in 0..bs {
                    assert!(
                        got[i].to_bits() == wb[i].to_bits() || (got[i].is_nan() && wb[i].is_nan()),
                        "{} dequantize block {b} element {i}: {} vs {}",
                        f.name(),
                        got[i],
                        wb[i]
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 15, "vector files missing");
}

/// Finite Q4_K/Q5_K blocks take the lane search at every level (the reference is only for
/// NaN, infinities and |x| >= 1e18), and a NaN block does fall back. The bytes are the same
/// either way, so only this count shows which path ran.
#[test]
fn k_quants_use_the_lanes_for_finite_data() {
    use super::kernels::K4_FALLBACKS;
    let mut rng = Rng(77);
    let mut x: Vec<f32> = (0..4 * 256).map(|_| rng.uniform() - 0.5).collect();
    let mut q = vec![0u8; 4 * 176];
    for (name, quantize, _) in impls!(F32) {
        for f in [6, 7] {
            K4_FALLBACKS.with(|c| c.set(0));
            // SAFETY: 4 blocks of input, q holds 4 blocks of the larger (Q5_K) format.
            unsafe { quantize[f](4, x.as_ptr(), q.as_mut_ptr()) };
            assert_eq!(
                K4_FALLBACKS.with(|c| c.get()),
                0,
                "{name} format {f}: finite data fell back"
            );
            x[300] = f32::NAN;
            // SAFETY: as above.
            unsafe { quantize[f](4, x.as_ptr(), q.as_mut_ptr()) };
            assert_eq!(
                K4_FALLBACKS.with(|c| c.get()),
                1,
                "{name} format {f}: the NaN pair"
            );
            x[300] = 0.25;
        }
    }
}
