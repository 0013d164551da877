//! Split-scale blockwise quantize / dequantize through the operator layer and the C API, at
//! every ISA level: the committed vectors from onnx.reference, ml_dtypes, modelopt's algorithm
//! and bitsandbytes (tests/vectors/gen_blockwise.py), f16/bf16 sources and destinations, tails
//! under guard pages, threads, validation (nothing written on error), the operator lifecycle.

mod common;

use common::{GuardPages, Rng};
use nnkern::IsaLevel;
use nnkern::capi::blockwise::*;
use nnkern::capi::operator::*;
use nnkern::capi::*;
use nnkern::config::blockwise::BlockwiseElem;
use nnkern::operators::blocks::Direction;
use nnkern::operators::blockwise::{Buffers, one_shot, params};
use nnkern::threadpool::Threadpool;
use nnkern::ukernels::blockwise::{Params, Scheme};
use nnkern::ukernels::simd::{Bf16, F16, F32};

fn levels() -> Vec<IsaLevel> {
    IsaLevel::available().collect()
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Quantized outputs: codes, scales, zero points.
#[derive(Debug, PartialEq, Clone)]
struct Out {
    q: Vec<u8>,
    s: Vec<u8>,
    z: Option<Vec<u8>>,
}

impl Out {
    /// Zeroed scale (and zero-point) buffers for quantizing `n` elements with computed scales.
    fn computed(p: &Params, n: usize) -> Out {
        Out {
            q: vec![],
            s: vec![0; p.scale_bytes(n)],
            z: p.scheme
                .has_zero_points()
                .then(|| vec![0; p.zero_point_bytes(n)]),
        }
    }
}

/// Quantizes `x` at `level`; `init` gives the scale / zero point buffers' initial contents
/// (the given ones, or anything when computed).
fn quantize<E: BlockwiseElem>(
    level: IsaLevel,
    p: &Params,
    x: &[E::S],
    init: &Out,
    tp: Option<&Threadpool>,
) -> Out {
    let n = x.len();
    let mut o = init.clone();
    o.q = vec![0x5A; p.q_bytes(n)];
    let b = Buffers {
        elems: x.as_ptr().cast_mut(),
        q: o.q.as_mut_ptr(),
        s: o.s.as_mut_ptr(),
        z: o.z
            .as_mut()
            .map_or(std::ptr::null_mut(), |z| z.as_mut_ptr()),
    };
    // SAFETY: buffers sized by the Params functions.
    let st = unsafe { one_shot::<E>(level, Direction::Quantize, p, n, &b, tp) };
    assert_eq!(st, Ok(()), "{p:?}");
    o
}

fn dequantize<E: BlockwiseElem>(
    level: IsaLevel,
    p: &Params,
    n: usize,
    o: &Out,
    tp: Option<&Threadpool>,
) -> Vec<E::S> {
    let mut y = vec![E::S::default(); n];
    let b = Buffers {
        elems: y.as_mut_ptr(),
        q: o.q.as_ptr().cast_mut(),
        s: o.s.as_ptr().cast_mut(),
        z: o.z
            .as_ref()
            .map_or(std::ptr::null_mut(), |z| z.as_ptr().cast_mut()),
    };
    // SAFETY: as above.
    let st = unsafe { one_shot::<E>(level, Direction::Dequantize, p, n, &b, tp) };
    assert_eq!(st, Ok(()), "{p:?}");
    y
}

/// One committed vector file.
struct Vector {
    name: String,
    p: Params,
    x: Vec<f32>,
    want: Out,
    y: Vec<f32>,
    f16_exact: bool,
    bf16_exact: bool,
}

fn vectors() -> Vec<Vector> {
    let dir = format!("{}/tests/vectors/blockwise", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors/blockwise")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let b = std::fs::read(&path).unwrap();
            let u = |i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
            assert_eq!(u(0), 0x4B4E_4E42);
            let p = params(u(1), u(2), u(3), f32::from_bits(u(4))).unwrap();
            let n = u(5) as usize;
            let has_zp = u(6) != 0;
            let mut at = 36;
            let mut take = |len: usize| {
                let v = b[at..at + len].to_vec();
                at += len;
                v
            };
            let x = f32s(&take(4 * n));
            let q = take(p.q_bytes(n));
            let s = take(p.scale_bytes(n));
            let z = has_zp.then(|| take(p.zero_point_bytes(n)));
            let y = f32s(&take(4 * n));
            assert_eq!(at, b.len(), "{path:?}");
            Vector {
                name: path.file_name().unwrap().to_string_lossy().into(),
                p,
                x,
                want: Out { q, s, z },
                y,
                f16_exact: u(7) != 0,
                bf16_exact: u(8) != 0,
            }
        })
        .collect()
}

fn check_vector<E: BlockwiseElem>(v: &Vector, level: IsaLevel, tp: Option<&Threadpool>) {
    let n = v.x.len();
    let x: Vec<E::S> = v.x.iter().map(|&f| E::from_f32(f)).collect();
    let init = if v.p.scales_given {
        v.want.clone()
    } else {
        Out {
            q: vec![],
            s: vec![0xEE; v.want.s.len()],
            z: v.want.z.as_ref().map(|z| vec![0xEE; z.len()]),
        }
    };
    let got = quantize::<E>(level, &v.p, &x, &init, tp);
    for (i, (a, b)) in got.q.iter().zip(&v.want.q).enumerate() {
        assert_eq!(a, b, "{} {} {level:?} code byte {i}", v.name, E::NAME);
    }
    assert_eq!(got.s, v.want.s, "{} {} {level:?} scales", v.name, E::NAME);
    assert_eq!(
        got.z,
        v.want.z,
        "{} {} {level:?} zero points",
        v.name,
        E::NAME
    );
    let y = dequantize::<E>(level, &v.p, n, &v.want, tp);
    for (i, (&g, &w)) in y.iter().zip(&v.y).enumerate() {
        let w = E::to_f32(E::from_f32(w));
        assert!(
            same(E::to_f32(g), w),
            "{} {} {level:?} element {i}: {} vs {w}",
            v.name,
            E::NAME,
            E::to_f32(g)
        );
    }
}

#[test]
fn reference_vectors_every_level() {
    let vs = vectors();
    assert!(vs.len() > 100, "{} vector files", vs.len());
    for s in Scheme::ALL {
        assert!(vs.iter().any(|v| v.p.scheme == s), "no vectors for {s:?}");
    }
    let tp = Threadpool::new(2).unwrap();
    for v in &vs {
        for level in levels() {
            check_vector::<F32>(v, level, None);
            if v.f16_exact {
                check_vector::<F16>(v, level, None);
            }
            if v.bf16_exact {
                check_vector::<Bf16>(v, level, Some(&tp));
            }
        }
    }
}

#[test]
fn dynamic_map_is_bitsandbytes() {
    let b = std::fs::read(format!(
        "{}/tests/vectors/bnb_dynamic8.f32",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let want = f32s(&b);
    assert_eq!(want.len(), 256);
    let got = nnkern::ukernels::blockwise::tables::DYNAMIC8.values;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "code {i}");
    }
}

fn random_values(r: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let u = (r.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            match i % 97 {
                13 => f32::NAN,
                41 => f32::INFINITY,
                _ => u * [1.0f32, 1e-3, 1e4][i % 3],
            }
        })
        .collect()
}

fn test_params() -> Vec<Params> {
    let mut v = Vec::new();
    for s in Scheme::ALL {
        let sizes: &[u32] = match s {
            Scheme::Int8 | Scheme::Uint8 | Scheme::Int4 | Scheme::Uint4 => &[5, 32],
            Scheme::Nvfp4 => &[16],
            Scheme::BnbDynamic8 => &[64],
            Scheme::BnbNf4 | Scheme::BnbFp4 => &[32],
            _ => &[32],
        };
        for &bs in sizes {
            v.push(params(s as u32, bs, 0, 0.01).unwrap());
        }
    }
    v
}

/// Every tail length at every level under guard pages (buffers ending at the trailing guard
/// page, and starting right after the leading one) gives the scalar level's bytes and values.
#[test]
fn tails_and_guard_pages() {
    let mut r = Rng(0xB10C);
    for p in test_params() {
        let bs = p.block_size;
        let ns: Vec<usize> = (1..=2 * bs + 3).chain([7 * bs + 1, 40 * bs - 1]).collect();
        for n in ns {
            let x = random_values(&mut r, n);
            let zb = p.zero_point_bytes(n);
            let with_z = p.scheme.has_zero_points();
            let init = Out::computed(&p, n);
            let want = quantize::<F32>(IsaLevel::Scalar, &p, &x, &init, None);
            let want_y = dequantize::<F32>(IsaLevel::Scalar, &p, n, &want, None);
            for level in levels() {
                let (qb, sb) = (p.q_bytes(n), p.scale_bytes(n));
                let g: Vec<GuardPages> = [n * 4, qb, sb, zb.max(1), n * 4]
                    .iter()
                    .map(|&b| GuardPages::new(b))
                    .collect();
                for at_end in [true, false] {
                    let ptr = |i: usize, len: usize| -> *mut u8 {
                        if at_end {
                            g[i].at_end::<u8>(len)
                        } else {
                            g[i].at_start::<u8>(0, len)
                        }
                    };
                    let (xp, qp, sp) = (ptr(0, n * 4).cast::<f32>(), ptr(1, qb), ptr(2, sb));
                    let zp = if with_z {
                        ptr(3, zb)
                    } else {
                        std::ptr::null_mut()
                    };
                    let yp = ptr(4, n * 4).cast::<f32>();
                    // SAFETY: each pointer covers exactly the bytes the call uses.
                    unsafe {
                        std::ptr::copy_nonoverlapping(x.as_ptr(), xp, n);
                        let b = Buffers {
                            elems: xp,
                            q: qp,
                            s: sp,
                            z: zp,
                        };
                        assert_eq!(
                            one_shot::<F32>(level, Direction::Quantize, &p, n, &b, None),
                            Ok(())
                        );
                        let what = format!("{p:?} n {n} {level:?}");
                        assert_eq!(std::slice::from_raw_parts(qp, qb), &want.q[..], "{what}");
                        assert_eq!(std::slice::from_raw_parts(sp, sb), &want.s[..], "{what}");
                        if with_z {
                            assert_eq!(
                                Some(std::slice::from_raw_parts(zp, zb).to_vec()),
                                want.z,
                                "{what}"
                            );
                        }
                        let b = Buffers {
                            elems: yp,
                            q: qp,
                            s: sp,
                            z: zp,
                        };
                        assert_eq!(
                            one_shot::<F32>(level, Direction::Dequantize, &p, n, &b, None),
                            Ok(())
                        );
                        let y = std::slice::from_raw_parts(yp, n);
                        assert!(y.iter().zip(&want_y).all(|(a, b)| same(*a, *b)), "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn threads_do_not_change_results() {
    let tp = Threadpool::new(2).unwrap();
    let mut r = Rng(41);
    for p in test_params() {
        let n = 1 << 18 | 5;
        let x = random_values(&mut r, n);
        let init = Out::computed(&p, n);
        for level in levels() {
            let one = quantize::<F32>(level, &p, &x, &init, None);
            let two = quantize::<F32>(level, &p, &x, &init, Some(&tp));
            assert!(one == two, "{p:?} {level:?}");
            let y1 = dequantize::<Bf16>(level, &p, n, &one, None);
            let y2 = dequantize::<Bf16>(level, &p, n, &one, Some(&tp));
            assert!(y1 == y2, "{p:?} {level:?}");
        }
    }
}

/// dequantize(quantize(x)) within half a grid step for the ONNX integers (relative to the
/// computed scale) and within the element format's half-ulp for MX (relative to 2^shared).
#[test]
fn round_trip_error() {
    let mut r = Rng(3);
    for p in test_params() {
        let n = p.block_size * 64;
        let x: Vec<f32> = (0..n)
            .map(|_| (r.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
            .collect();
        let init = Out::computed(&p, n);
        let o = quantize::<F32>(IsaLevel::Scalar, &p, &x, &init, None);
        let y = dequantize::<F32>(IsaLevel::Scalar, &p, n, &o, None);
        // Bounds for |x| <= 1 per block: ONNX half a step (1/127, 1/7, 2/255, 2/15 of range).
        // MX: the scale is 2^(floor(log2 amax) - emax), so scaled magnitudes reach just below
        // 2^(emax + 1) and those above the largest normal saturate: (2^(emax+1) - max) /
        // 2^(emax+1) of a block max near 1 — E4M3 (512 - 448) / 512 = 1/8, E5M2 1/8, E3M2
        // 4/32 = 1/8, E2M1 2/8 = 1/4, E2M3 0.5/8 = 1/16 (its half-ulp at the top, 1/64, is
        // smaller); MXINT8 half of 1/64 at scale 1. NVFP4: half its largest E2M1 gap (2) of
        // 6 units = 1/6. bitsandbytes: half the widest code gap (NF4 ~0.28 → 0.14 plus FP4's
        // 1/3 gap → 0.17; dynamic map 0.0140625·... well under 0.05).
        let tol: f32 = match p.scheme {
            Scheme::Int8 => 0.5 / 127.0,
            Scheme::Uint8 => 1.0 / 255.0,
            Scheme::Int4 => 0.5 / 7.0,
            Scheme::Uint4 => 1.0 / 15.0,
            Scheme::MxE2M3 => 1.0 / 16.0,
            Scheme::MxE4M3 | Scheme::MxE5M2 | Scheme::MxE3M2 => 1.0 / 8.0,
            Scheme::MxE2M1 => 0.25,
            Scheme::Nvfp4 => 1.0 / 6.0,
            Scheme::MxInt8 => 1.0 / 128.0,
            Scheme::BnbDynamic8 => 0.05,
            Scheme::BnbNf4 | Scheme::BnbFp4 => 0.17,
        };
        let worst = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= tol * 1.0001, "{:?}: {worst} > {tol}", p.scheme);
    }
}

/// Every kernel (level, scheme, direction, f32/f16/bf16, computed and given scales, pooled or
/// not, 17 blocks and a tail) on a 1 MiB thread, with the scalar level's bytes and values.
/// Meant for unoptimized builds, where one kernel inlining every scheme's block loop needed
/// over 1 MiB of stack (CI runs this test unoptimized too; see `common::on_small_stack`).
#[test]
fn every_kernel_fits_in_a_small_thread_stack() {
    fn each<E: BlockwiseElem>(p: &Params, x: &[f32], pool: &Threadpool) {
        let x: Vec<E::S> = x.iter().map(|&f| E::from_f32(f)).collect();
        let n = x.len();
        let init = Out::computed(p, n);
        let given = params(p.scheme as u32, p.block_size as u32, 1, p.tensor_scale).unwrap();
        let want = quantize::<E>(IsaLevel::Scalar, p, &x, &init, None);
        let want_y = dequantize::<E>(IsaLevel::Scalar, p, n, &want, None);
        let same_y = |y: &[E::S]| {
            y.iter()
                .zip(&want_y)
                .all(|(&a, &b)| same(E::to_f32(a), E::to_f32(b)))
        };
        for level in levels() {
            for tp in [None, Some(pool)] {
                let what = format!("{p:?} {level:?} pooled {}", tp.is_some());
                assert_eq!(quantize::<E>(level, p, &x, &init, tp), want, "{what}");
                assert_eq!(quantize::<E>(level, &given, &x, &want, tp), want, "{what}");
                assert!(same_y(&dequantize::<E>(level, p, n, &want, tp)), "{what}");
            }
        }
    }
    common::on_small_stack(|| {
        let pool = Threadpool::new(2).unwrap();
        let mut r = Rng(17);
        for p in test_params() {
            let x = random_values(&mut r, 17 * p.block_size + 3);
            each::<F32>(&p, &x, &pool);
            each::<F16>(&p, &x, &pool);
            each::<Bf16>(&p, &x, &pool);
        }
    });
}

fn bp(scheme: u32, block_size: u32, flags: u32, tensor_scale: f32) -> nnk_blockwise_params {
    nnk_blockwise_params {
        scheme,
        block_size,
        flags,
        tensor_scale,
    }
}

#[test]
fn c_api_validation_and_operator() {
    assert_eq!(nnk_initialize(), NNK_STATUS_SUCCESS);
    let null = std::ptr::null_mut::<std::ffi::c_void>();
    let tp = std::ptr::null_mut();
    // Sizes.
    // SAFETY: the params pointers are NULL or point at a local.
    unsafe {
        let p = bp(NNK_SCHEME_MXFP6_E2M3, 32, 0, 0.0);
        assert_eq!(nnk_blockwise_q_bytes(&p, 33), 25); // 198 bits
        assert_eq!(nnk_blockwise_scale_bytes(&p, 33), 2);
        assert_eq!(nnk_blockwise_zero_point_bytes(&p, 33), 0);
        let p = bp(NNK_SCHEME_INT4, 3, 0, 0.0);
        assert_eq!(nnk_blockwise_q_bytes(&p, 7), 4);
        assert_eq!(nnk_blockwise_scale_bytes(&p, 7), 12);
        assert_eq!(nnk_blockwise_zero_point_bytes(&p, 7), 2);
        let p = bp(NNK_SCHEME_BNB_NF4, 48, 0, 0.0); // not a power of two
        assert_eq!(nnk_blockwise_q_bytes(&p, 96), 0);
        assert_eq!(nnk_blockwise_q_bytes(std::ptr::null(), 96), 0);
    }
    let n = 100;
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.37 - 9.0).collect();
    let (mut q, mut s, mut z) = (vec![0xEEu8; 128], vec![0xEEu8; 64], vec![0xEEu8; 16]);
    let reset = |q: &mut Vec<u8>, s: &mut Vec<u8>, z: &mut Vec<u8>| {
        q.fill(0xEE);
        s.fill(0xEE);
        z.fill(0xEE);
    };
    let untouched = |q: &[u8], s: &[u8], z: &[u8]| q.iter().chain(s).chain(z).all(|&b| b == 0xEE);
    // SAFETY: the buffers hold what each valid call needs; invalid ones must not touch them.
    unsafe {
        let (qp, sp, zp) = (
            q.as_mut_ptr().cast::<std::ffi::c_void>(),
            s.as_mut_ptr().cast::<std::ffi::c_void>(),
            z.as_mut_ptr().cast::<std::ffi::c_void>(),
        );
        let good = bp(NNK_SCHEME_UINT8, 32, 0, 0.0);
        assert_eq!(
            nnk_quantize_blockwise_f32(&good, n, x.as_ptr(), qp, sp, zp, tp),
            NNK_STATUS_SUCCESS
        );
        let want = (q.clone(), s.clone(), z.clone());
        let bad_params = [
            bp(0, 32, 0, 0.0),                         // unknown scheme
            bp(5, 32, 0, 0.0),                         // unknown scheme
            bp(NNK_SCHEME_UINT8, 0, 0, 0.0),           // block 0
            bp(NNK_SCHEME_UINT8, 32, 2, 0.0),          // unknown flag
            bp(NNK_SCHEME_MXFP8_E4M3, 16, 0, 0.0),     // MX block must be 32
            bp(NNK_SCHEME_NVFP4, 32, 0, 1.0),          // NVFP4 block must be 16
            bp(NNK_SCHEME_NVFP4, 16, 0, 0.0),          // tensor scale 0
            bp(NNK_SCHEME_NVFP4, 16, 0, f32::NAN),     // tensor scale NaN
            bp(NNK_SCHEME_NVFP4, 16, 0, -1.0),         // negative
            bp(NNK_SCHEME_BNB_DYNAMIC8, 32, 0, 0.0),   // below 64
            bp(NNK_SCHEME_BNB_DYNAMIC8, 8192, 0, 0.0), // above 4096
            bp(NNK_SCHEME_BNB_FP4, 96, 0, 0.0),        // not a power of two
        ];
        for p in &bad_params {
            reset(&mut q, &mut s, &mut z);
            let zz = if p.scheme <= 4 { zp } else { null };
            assert_eq!(
                nnk_quantize_blockwise_f32(p, n, x.as_ptr(), qp, sp, zz, tp),
                NNK_STATUS_INVALID_PARAMETER,
                "{p:?}"
            );
            let mut y = vec![1.0f32; n];
            assert_eq!(
                nnk_dequantize_blockwise_f32(p, n, qp, sp, zz, y.as_mut_ptr(), tp),
                NNK_STATUS_INVALID_PARAMETER
            );
            assert!(untouched(&q, &s, &z) && y.iter().all(|&v| v == 1.0));
        }
        // Buffer errors: NULL params, NULL x / q / scales, zero points for MX, uint8 computed
        // without zero points, misaligned x, overlapping buffers.
        let mx = bp(NNK_SCHEME_MXFP8_E4M3, 32, 0, 0.0);
        let xm = x.as_ptr().cast::<u8>().add(1).cast::<f32>();
        for (p, xp, qq, ss, zz) in [
            (std::ptr::null(), x.as_ptr(), qp, sp, zp),
            (&good as *const _, std::ptr::null(), qp, sp, zp),
            (&good, x.as_ptr(), null, sp, zp),
            (&good, x.as_ptr(), qp, null, zp),
            (&good, x.as_ptr(), qp, sp, null),
            (&mx, x.as_ptr(), qp, sp, zp),
            (&good, xm, qp, sp, zp),
            (&good, x.as_ptr(), qp, qp.cast::<u8>().add(50).cast(), zp),
            (&good, x.as_ptr(), qp, sp, sp.cast::<u8>().add(2).cast()),
        ] {
            reset(&mut q, &mut s, &mut z);
            assert_eq!(
                nnk_quantize_blockwise_f32(p, n, xp, qq, ss, zz, tp),
                NNK_STATUS_INVALID_PARAMETER
            );
            assert!(untouched(&q, &s, &z));
        }
        // n = 0: success with NULL buffers.
        assert_eq!(
            nnk_quantize_blockwise_bf16(&good, 0, std::ptr::null(), null, null, null, tp),
            NNK_STATUS_SUCCESS
        );
        // Given scales: the computed ones reproduce the same codes.
        let given = bp(NNK_SCHEME_UINT8, 32, NNK_BLOCKWISE_SCALES_GIVEN, 0.0);
        q.fill(0xEE);
        s.copy_from_slice(&want.1);
        z.copy_from_slice(&want.2);
        assert_eq!(
            nnk_quantize_blockwise_f32(&given, n, x.as_ptr(), qp, sp, zp, tp),
            NNK_STATUS_SUCCESS
        );
        assert_eq!((&q, &s, &z), (&want.0, &want.1, &want.2));

        // Operator form equals the one-shot call; lifecycle errors.
        let mut op: *mut nnk_operator = std::ptr::null_mut();
        assert_eq!(
            nnk_create_quantize_blockwise_f16(&bad_params[0], &mut op),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert!(op.is_null());
        assert_eq!(
            nnk_create_dequantize_blockwise_f32(&good, &mut op),
            NNK_STATUS_SUCCESS
        );
        let mut y = vec![0f32; n];
        assert_eq!(
            nnk_setup_dequantize_blockwise_f32(op, qp, sp, zp, y.as_mut_ptr()),
            NNK_STATUS_INVALID_STATE
        );
        assert_eq!(nnk_run_operator(op, tp), NNK_STATUS_INVALID_STATE);
        assert_eq!(
            nnk_reshape_quantize_blockwise_f32(op, n),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_dequantize_blockwise_f16(op, n),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_dequantize_blockwise_f32(op, n),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_setup_dequantize_blockwise_f32(
                op,
                qp,
                sp,
                null,
                y.as_mut_ptr().cast::<u8>().add(1).cast()
            ),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_setup_dequantize_blockwise_f32(op, qp, sp, zp, y.as_mut_ptr()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
        let mut y1 = vec![0f32; n];
        assert_eq!(
            nnk_dequantize_blockwise_f32(&good, n, qp, sp, zp, y1.as_mut_ptr(), tp),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(y, y1);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 37.0 / 255.0 / 2.0 * 1.01, "{a} {b}");
        }
        assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
        let mut op: *mut nnk_operator = std::ptr::null_mut();
        assert_eq!(
            nnk_create_quantize_blockwise_f32(&good, &mut op),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_reshape_quantize_blockwise_f32(op, n),
            NNK_STATUS_SUCCESS
        );
        reset(&mut q, &mut s, &mut z);
        assert_eq!(
            nnk_setup_quantize_blockwise_f32(op, x.as_ptr(), qp, sp, null),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_setup_quantize_blockwise_f32(op, x.as_ptr(), qp, sp, zp),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
        assert_eq!((&q, &s, &z), (&want.0, &want.1, &want.2));
        assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
    }
}
