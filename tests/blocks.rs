//! GGUF block quantize / dequantize through the operator layer and the C API, at every ISA
//! level: the committed gguf-py vectors (tests/vectors), f16/bf16 sources and destinations,
//! every tail length under guard pages, threads, validation (nothing written on error),
//! NNK_FLAG_CHECK_FINITE, and the operator lifecycle.

mod common;

use common::{GuardPages, Rng};
use nnkern::IsaLevel;
use nnkern::capi::blocks::*;
use nnkern::capi::operator::*;
use nnkern::capi::*;
use nnkern::config::blocks::BlockElem;
use nnkern::operators::blocks::{Direction, one_shot};
use nnkern::threadpool::Threadpool;
use nnkern::ukernels::blocks::Format;
use nnkern::ukernels::simd::{Bf16, Elem, F16, F32};

fn levels() -> Vec<IsaLevel> {
    IsaLevel::available().collect()
}

fn vector(name: &str) -> Option<Vec<u8>> {
    std::fs::read(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .ok()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn quantize<E: BlockElem>(
    level: IsaLevel,
    f: Format,
    x: &[E::S],
    tp: Option<&Threadpool>,
) -> Vec<u8> {
    let mut out = vec![0u8; x.len() / f.block_size() * f.block_bytes()];
    // SAFETY: buffers sized for n elements / their blocks.
    let s = unsafe {
        one_shot::<E>(
            level,
            Direction::Quantize,
            f.ggml_id(),
            x.len(),
            x.as_ptr().cast_mut(),
            out.as_mut_ptr(),
            0,
            tp,
        )
    };
    assert_eq!(s, Ok(()));
    out
}

fn dequantize<E: BlockElem>(
    level: IsaLevel,
    f: Format,
    q: &[u8],
    tp: Option<&Threadpool>,
) -> Vec<E::S> {
    let n = q.len() / f.block_bytes() * f.block_size();
    let mut y = vec![E::S::default(); n];
    // SAFETY: as above.
    let s = unsafe {
        one_shot::<E>(
            level,
            Direction::Dequantize,
            f.ggml_id(),
            n,
            y.as_mut_ptr(),
            q.as_ptr().cast_mut(),
            0,
            tp,
        )
    };
    assert_eq!(s, Ok(()));
    y
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Exactly representable in `E` (so an `E` source quantizes like the f32 value).
fn representable<E: Elem>(v: f32) -> bool {
    same(E::to_f32(E::from_f32(v)), v)
}

#[test]
fn gguf_vectors_every_level() {
    let mut quant_checked = 0;
    let mut deq_checked = 0;
    for f in Format::ALL {
        let (bs, bb) = (f.block_size(), f.block_bytes());
        if let (Some(x), Some(want)) = (
            vector(&format!("{}.quant.in.f32", f.name())),
            vector(&format!("{}.quant.out.bin", f.name())),
        ) {
            let x = f32s(&x);
            for level in levels() {
                assert!(
                    quantize::<F32>(level, f, &x, None) == want,
                    "{} {level:?}",
                    f.name()
                );
                // f16 / bf16 sources: the blocks whose values the type holds exactly.
                for (name, got) in [
                    ("f16", blocks_via::<F16>(level, f, &x)),
                    ("bf16", blocks_via::<Bf16>(level, f, &x)),
                ] {
                    let mut n = 0;
                    for (b, g) in got {
                        assert_eq!(
                            g,
                            want[b * bb..(b + 1) * bb],
                            "{} {name} {level:?} block {b}",
                            f.name()
                        );
                        n += 1;
                    }
                    assert!(n > 20, "{} {name}: only {n} representable blocks", f.name());
                }
            }
            quant_checked += 1;
        }
        if let (Some(q), Some(want)) = (
            vector(&format!("{}.deq.in.bin", f.name())),
            vector(&format!("{}.deq.out.f32", f.name())),
        ) {
            let want = f32s(&want);
            for level in levels() {
                let y = dequantize::<F32>(level, f, &q, None);
                assert!(
                    y.iter().zip(&want).all(|(&a, &b)| same(a, b)),
                    "{} {level:?}",
                    f.name()
                );
                // 16-bit destinations: the f32 values rounded to nearest even (checked with
                // the `half` crate, independent of nnkern's conversions).
                let h = dequantize::<F16>(level, f, &q, None);
                let b16 = dequantize::<Bf16>(level, f, &q, None);
                for i in 0..want.len() {
                    let wh = half::f16::from_f32(want[i]);
                    let wb = half::bf16::from_f32(want[i]);
                    assert!(
                        same(half::f16::from_bits(h[i]).to_f32(), wh.to_f32()),
                        "{} f16 {level:?} {i}",
                        f.name()
                    );
                    assert!(
                        same(half::bf16::from_bits(b16[i]).to_f32(), wb.to_f32()),
                        "{} bf16 {level:?} {i}",
                        f.name()
                    );
                }
            }
            assert_eq!(want.len() % bs, 0);
            deq_checked += 1;
        }
    }
    assert_eq!((quant_checked, deq_checked), (6, 9), "vector files missing");
}

/// Quantizes the blocks of `x` that `E` represents exactly, from `E` elements; returns each
/// with its index.
fn blocks_via<E: BlockElem>(level: IsaLevel, f: Format, x: &[f32]) -> Vec<(usize, Vec<u8>)> {
    let bs = f.block_size();
    let mut out = Vec::new();
    for (b, xb) in x.chunks_exact(bs).enumerate() {
        if xb.iter().all(|&v| representable::<E>(v)) {
            let e: Vec<E::S> = xb.iter().map(|&v| E::from_f32(v)).collect();
            out.push((b, quantize::<E>(level, f, &e, None)));
        }
    }
    out
}

fn random_values(r: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let u = (r.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let scale = [1.0, 1e-3, 7e3, 1e-20][(i / 256) % 4];
            u * scale
        })
        .collect()
}

/// Every level, every format, 1..=9 blocks with the buffers against guard pages on both sides:
/// the same bytes and values as the scalar level, and no access outside the buffers.
#[test]
fn tails_and_guard_pages() {
    let mut r = Rng(0x5EED_0B10);
    for f in Format::ALL {
        let (bs, bb) = (f.block_size(), f.block_bytes());
        for blocks in 1..=9 {
            let n = blocks * bs;
            let x = random_values(&mut r, n);
            let want = quantize::<F32>(IsaLevel::Scalar, f, &x, None);
            for level in levels() {
                let gx = GuardPages::new(n * 4);
                let gq = GuardPages::new(blocks * bb);
                let gy = GuardPages::new(n * 4);
                for (xp, qp, yp) in [
                    (
                        gx.at_end::<f32>(n),
                        gq.at_end::<u8>(blocks * bb),
                        gy.at_end::<f32>(n),
                    ),
                    (
                        gx.at_start::<f32>(0, n),
                        gq.at_start::<u8>(0, blocks * bb),
                        gy.at_start::<f32>(0, n),
                    ),
                ] {
                    // SAFETY: each pointer covers exactly the n elements / bytes passed.
                    unsafe {
                        std::ptr::copy_nonoverlapping(x.as_ptr(), xp, n);
                        let s = one_shot::<F32>(
                            level,
                            Direction::Quantize,
                            f.ggml_id(),
                            n,
                            xp,
                            qp,
                            0,
                            None,
                        );
                        assert_eq!(s, Ok(()));
                        assert_eq!(
                            std::slice::from_raw_parts(qp, blocks * bb),
                            &want[..],
                            "{} {level:?}",
                            f.name()
                        );
                        let s = one_shot::<F32>(
                            level,
                            Direction::Dequantize,
                            f.ggml_id(),
                            n,
                            yp,
                            qp,
                            0,
                            None,
                        );
                        assert_eq!(s, Ok(()));
                        let y = std::slice::from_raw_parts(yp, n);
                        let wy = dequantize::<F32>(IsaLevel::Scalar, f, &want, None);
                        assert!(y.iter().zip(&wy).all(|(&a, &b)| same(a, b)));
                    }
                }
            }
        }
    }
}

/// A 2-thread pool splits the blocks; the bytes do not change.
#[test]
fn threads_do_not_change_results() {
    let tp = Threadpool::new(2).unwrap();
    let mut r = Rng(77);
    for f in Format::ALL {
        let n = f.block_size() * 2048;
        let x = random_values(&mut r, n);
        for level in levels() {
            let one = quantize::<F32>(level, f, &x, None);
            let two = quantize::<F32>(level, f, &x, Some(&tp));
            assert!(one == two, "{} {level:?}", f.name());
            let y1 = dequantize::<F16>(level, f, &one, None);
            let y2 = dequantize::<F16>(level, f, &one, Some(&tp));
            assert!(y1 == y2, "{} {level:?}", f.name());
        }
    }
}

/// Every kernel (level, format, direction, f32/f16/bf16, pooled or not) on a 1 MiB thread,
/// with the scalar level's bytes and values: unoptimized builds give every inlined helper its
/// own stack slots (CI runs this test unoptimized too; see `common::on_small_stack`).
#[test]
fn every_kernel_fits_in_a_small_thread_stack() {
    fn each<E: BlockElem>(f: Format, x: &[f32], pool: &Threadpool) {
        let x: Vec<E::S> = x.iter().map(|&v| E::from_f32(v)).collect();
        let want = quantize::<E>(IsaLevel::Scalar, f, &x, None);
        let want_y = dequantize::<E>(IsaLevel::Scalar, f, &want, None);
        for level in levels() {
            for tp in [None, Some(pool)] {
                let what = format!("{} {level:?} pooled {}", f.name(), tp.is_some());
                assert!(quantize::<E>(level, f, &x, tp) == want, "{what}");
                let y = dequantize::<E>(level, f, &want, tp);
                let same_y = y
                    .iter()
                    .zip(&want_y)
                    .all(|(&a, &b)| same(E::to_f32(a), E::to_f32(b)));
                assert!(same_y, "{what}");
            }
        }
    }
    common::on_small_stack(|| {
        let pool = Threadpool::new(2).unwrap();
        let mut r = Rng(19);
        for f in Format::ALL {
            let x = random_values(&mut r, f.block_size() * 17);
            each::<F32>(f, &x, &pool);
            each::<F16>(f, &x, &pool);
            each::<Bf16>(f, &x, &pool);
        }
    });
}

/// Dequantize(quantize(x)) stays within each format's error bound relative to the block's
/// largest magnitude (a sanity check on the round trip, independent of the byte tests).
#[test]
fn round_trip_error() {
    let mut r = Rng(9);
    for f in Format::ALL {
        let n = f.block_size() * 64;
        let x: Vec<f32> = (0..n)
            .map(|_| (r.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
            .collect();
        let y = dequantize::<F32>(
            IsaLevel::Scalar,
            f,
            &quantize::<F32>(IsaLevel::Scalar, f, &x, None),
            None,
        );
        // Half a step of each format's level grid over a block spanning [-1, 1] (plus a
        // little for the f16 / 6-bit scale rounding): Q4_0 has 16 levels on [-8d, 7d] with
        // d = 1/8, so -1 lands on -7/8 (0.125); Q4_1 steps 2/15; Q5_0 1/16; Q5_1 2/31; the
        // 8-bit formats 1/127.
        let tol = match f {
            Format::Q4_0 => 0.13,
            Format::Q4_1 => 0.075,
            // The K-quants fit scale and min by weighted least squares (and round them to 6
            // bits), which can leave an edge element up to a full step off (checked against
            // ggml's own quantizer: same bytes).
            Format::Q4K => 0.134,
            Format::Q5K => 0.065,
            Format::Q5_0 => 0.066,
            Format::Q5_1 => 0.036,
            Format::Q6K => 0.03,
            Format::Q8_0 | Format::Q8_1 | Format::Q8K => 0.005,
            // The shared scale is 2^(floor(log2 amax) - 2) and E2M1 stops at 6, so magnitudes
            // in [6, 8) scale units saturate: up to 2 units = 0.25 for amax just below 1.
            Format::Mxfp4 => 0.25,
        };
        let worst = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= tol, "{}: {worst}", f.name());
    }
}

#[test]
fn c_api_validation_and_operator() {
    assert_eq!(nnk_initialize(), NNK_STATUS_SUCCESS);
    let null = std::ptr::null_mut();
    assert_eq!(nnk_block_size(NNK_BLOCK_Q4_K), 256);
    assert_eq!(nnk_block_bytes(NNK_BLOCK_Q4_K), 144);
    assert_eq!(nnk_block_bytes(NNK_BLOCK_MXFP4), 17);
    assert_eq!(nnk_block_size(1), 0);
    assert_eq!(nnk_block_bytes(40), 0);
    let x = vec![0.5f32; 64];
    let mut q = vec![0xEEu8; 68];
    let mut y = vec![7.0f32; 64];
    // SAFETY: buffers as described; invalid cases must not touch them.
    unsafe {
        let qv = q.as_mut_ptr().cast();
        assert_eq!(
            nnk_quantize_blocks_f32(NNK_BLOCK_Q8_0, 64, x.as_ptr(), qv, 0, null),
            NNK_STATUS_SUCCESS
        );
        let good = q.clone();
        for (fmt, n, xp, flags) in [
            (1, 64, x.as_ptr(), 0),                    // unknown format
            (NNK_BLOCK_Q8_0, 48, x.as_ptr(), 0),       // not a multiple of 32
            (NNK_BLOCK_Q8_0, 64, std::ptr::null(), 0), // NULL
            (NNK_BLOCK_Q8_0, 64, x.as_ptr().cast::<u8>().add(1).cast(), 0), // misaligned
            (NNK_BLOCK_Q8_0, 64, x.as_ptr(), 0x20),    // unknown flag
            (NNK_BLOCK_Q4_K, 64, x.as_ptr(), 0),       // not a multiple of 256
        ] {
            q.fill(0xEE);
            assert_eq!(
                nnk_quantize_blocks_f32(fmt, n, xp, q.as_mut_ptr().cast(), flags, null),
                NNK_STATUS_INVALID_PARAMETER
            );
            assert!(q.iter().all(|&b| b == 0xEE));
        }
        // n == 0: success, nothing touched, NULL allowed.
        assert_eq!(
            nnk_quantize_blocks_f32(NNK_BLOCK_Q8_0, 0, std::ptr::null(), null.cast(), 0, null),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_dequantize_blocks_bf16(NNK_BLOCK_Q4_0, 0, std::ptr::null(), null.cast(), 0, null),
            NNK_STATUS_SUCCESS
        );
        // Overlap: the output inside the input.
        let mut buf = vec![0f32; 64];
        let bp = buf.as_mut_ptr();
        assert_eq!(
            nnk_quantize_blocks_f32(NNK_BLOCK_Q8_0, 32, bp, bp.add(4).cast(), 0, null),
            NNK_STATUS_INVALID_PARAMETER
        );
        // CHECK_FINITE: a NaN or inf fails before anything is written; without it, bytes.
        for bad in [f32::NAN, f32::INFINITY, -f32::INFINITY] {
            let mut xb = x.clone();
            xb[40] = bad;
            q.fill(0xEE);
            assert_eq!(
                nnk_quantize_blocks_f32(
                    NNK_BLOCK_Q8_0,
                    64,
                    xb.as_ptr(),
                    q.as_mut_ptr().cast(),
                    NNK_FLAG_CHECK_FINITE,
                    null
                ),
                NNK_STATUS_INVALID_PARAMETER
            );
            assert!(q.iter().all(|&b| b == 0xEE));
            assert_eq!(
                nnk_quantize_blocks_f32(
                    NNK_BLOCK_Q8_0,
                    64,
                    xb.as_ptr(),
                    q.as_mut_ptr().cast(),
                    0,
                    null
                ),
                NNK_STATUS_SUCCESS
            );
        }
        assert_eq!(
            nnk_quantize_blocks_f32(
                NNK_BLOCK_Q8_0,
                64,
                x.as_ptr(),
                q.as_mut_ptr().cast(),
                NNK_FLAG_CHECK_FINITE | 1,
                null
            ),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(q, good);
        // Dequantize with CHECK_FINITE: an infinite f16 scale is rejected, nothing written.
        let mut qbad = good.clone();
        qbad[34] = 0x00;
        qbad[35] = 0x7C; // second block's d = +inf
        y.fill(7.0);
        assert_eq!(
            nnk_dequantize_blocks_f32(
                NNK_BLOCK_Q8_0,
                64,
                qbad.as_ptr().cast(),
                y.as_mut_ptr(),
                NNK_FLAG_CHECK_FINITE,
                null
            ),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert!(y.iter().all(|&v| v == 7.0));
        assert_eq!(
            nnk_dequantize_blocks_f32(
                NNK_BLOCK_Q8_0,
                64,
                good.as_ptr().cast(),
                y.as_mut_ptr(),
                NNK_FLAG_CHECK_FINITE,
                null
            ),
            NNK_STATUS_SUCCESS
        );
        let want_y = y.clone();
        assert!(y.iter().all(|&v| (v - 0.5).abs() < 0.005), "{y:?}");

        // Operator form.
        let mut op = null.cast::<nnk_operator>();
        assert_eq!(
            nnk_create_quantize_blocks_f32(1, 0, &mut op),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert!(op.is_null());
        assert_eq!(
            nnk_create_quantize_blocks_f32(NNK_BLOCK_Q8_0, 0x40, &mut op),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_create_quantize_blocks_f32(NNK_BLOCK_Q8_0, 0, &mut op),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null.cast()), NNK_STATUS_INVALID_STATE);
        assert_eq!(
            nnk_setup_quantize_blocks_f32(op, x.as_ptr(), q.as_mut_ptr().cast()),
            NNK_STATUS_INVALID_STATE
        );
        assert_eq!(
            nnk_reshape_quantize_blocks_f32(op, 33),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_dequantize_blocks_f32(op, 64),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_quantize_blocks_f16(op, 64),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(nnk_reshape_quantize_blocks_f32(op, 64), NNK_STATUS_SUCCESS);
        assert_eq!(
            nnk_setup_quantize_blocks_f32(op, std::ptr::null(), q.as_mut_ptr().cast()),
            NNK_STATUS_INVALID_PARAMETER
        );
        q.fill(0);
        assert_eq!(
            nnk_setup_quantize_blocks_f32(op, x.as_ptr(), q.as_mut_ptr().cast()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null.cast()), NNK_STATUS_SUCCESS);
        assert_eq!(q, good);
        assert!(!nnk_operator_kernel_name(op).is_null());
        assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);

        let mut op = null.cast::<nnk_operator>();
        assert_eq!(
            nnk_create_dequantize_blocks_bf16(NNK_BLOCK_Q8_0, 0, &mut op),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_reshape_dequantize_blocks_bf16(op, 64),
            NNK_STATUS_SUCCESS
        );
        let mut yb = vec![0u16; 64];
        assert_eq!(
            nnk_setup_dequantize_blocks_bf16(op, good.as_ptr().cast(), yb.as_mut_ptr()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null.cast()), NNK_STATUS_SUCCESS);
        assert!(
            yb.iter()
                .zip(&want_y)
                .all(|(&b, &w)| b == half::bf16::from_f32(w).to_bits())
        );
        assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
    }
}
