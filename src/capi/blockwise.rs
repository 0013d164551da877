//! Split-scale blockwise quantize / dequantize (ONNX blocked integers, OCP MX, NVFP4,
//! bitsandbytes), one-shot and operator form.

use std::ffi::c_void;

use super::operator::{nnk_operator, publish, with_operator};
use super::threadpool::{nnk_threadpool, pool_ref};
use super::{guard, guard_or, initialized_isa, nnk_status};
use crate::config::blockwise::BlockwiseElem;
use crate::operators::blocks::Direction;
use crate::operators::blockwise::{self as bw, BlockwiseOp, Buffers};
use crate::operators::{Body, Operator};
use crate::status::{Result, Status};
use crate::ukernels::blockwise::{Params, Scheme};
use crate::ukernels::simd::{Bf16, F16, F32};

/// ONNX int8: `q = saturate(rne(x / scale) + zp)`, f32 scale per block, int8 zero points
/// (optional). Computed scales: `amax / 127`, zero point 0.
pub const NNK_SCHEME_INT8: u32 = 1;
/// ONNX uint8. Computed scales: DynamicQuantizeLinear per block (`(max(0, max x) - min(0, min
/// x)) / 255`, zero point `saturate(rne(-min(0, min x) / scale))`), which needs zero points.
pub const NNK_SCHEME_UINT8: u32 = 2;
/// ONNX int4 (two per byte, earlier element in the low nibble; zero points packed the same
/// way, earlier block low). Computed scales: `amax / 7`, zero point 0.
pub const NNK_SCHEME_INT4: u32 = 3;
/// ONNX uint4 (packed as int4). Computed scales as uint8 with 15 levels.
pub const NNK_SCHEME_UINT4: u32 = 4;
/// OCP MXFP8 E4M3: block 32, one E8M0 scale byte per block, one byte per element.
pub const NNK_SCHEME_MXFP8_E4M3: u32 = 16;
/// OCP MXFP8 E5M2 (as E4M3).
pub const NNK_SCHEME_MXFP8_E5M2: u32 = 17;
/// OCP MXFP6 E2M3: four elements in three bytes, element i in bits [6i, 6i + 6) of the
/// little-endian 24-bit group.
pub const NNK_SCHEME_MXFP6_E2M3: u32 = 18;
/// OCP MXFP6 E3M2 (packed as E2M3).
pub const NNK_SCHEME_MXFP6_E3M2: u32 = 19;
/// OCP MXFP4 E2M1: two per byte, earlier element in the low nibble.
pub const NNK_SCHEME_MXFP4_E2M1: u32 = 20;
/// OCP MXINT8: two's complement bytes, value q / 64 times the block scale, q in [-127, 127].
pub const NNK_SCHEME_MXINT8: u32 = 21;
/// NVIDIA NVFP4: block 16, one E4M3 scale byte per block, `tensor_scale` per tensor, E2M1
/// elements two per byte (earlier element low).
pub const NNK_SCHEME_NVFP4: u32 = 24;
/// bitsandbytes blockwise 8-bit with the signed dynamic map; block a power of two in
/// 64..4096; f32 absmax per block.
pub const NNK_SCHEME_BNB_DYNAMIC8: u32 = 32;
/// bitsandbytes NF4; block a power of two in 32..4096; two codes per byte, earlier element in
/// the HIGH nibble (as bitsandbytes stores them).
pub const NNK_SCHEME_BNB_NF4: u32 = 33;
/// bitsandbytes FP4 (its own E2M1 variant), packed as NF4.
pub const NNK_SCHEME_BNB_FP4: u32 = 34;
/// `nnk_blockwise_params.flags`: quantize with the caller's scales (and zero points, if given)
/// instead of computing them.
pub const NNK_BLOCKWISE_SCALES_GIVEN: u32 = 0x1;

const _: () = {
    assert!(NNK_SCHEME_INT8 == Scheme::Int8 as u32);
    assert!(NNK_SCHEME_UINT8 == Scheme::Uint8 as u32);
    assert!(NNK_SCHEME_INT4 == Scheme::Int4 as u32);
    assert!(NNK_SCHEME_UINT4 == Scheme::Uint4 as u32);
    assert!(NNK_SCHEME_MXFP8_E4M3 == Scheme::MxE4M3 as u32);
    assert!(NNK_SCHEME_MXFP8_E5M2 == Scheme::MxE5M2 as u32);
    assert!(NNK_SCHEME_MXFP6_E2M3 == Scheme::MxE2M3 as u32);
    assert!(NNK_SCHEME_MXFP6_E3M2 == Scheme::MxE3M2 as u32);
    assert!(NNK_SCHEME_MXFP4_E2M1 == Scheme::MxE2M1 as u32);
    assert!(NNK_SCHEME_MXINT8 == Scheme::MxInt8 as u32);
    assert!(NNK_SCHEME_NVFP4 == Scheme::Nvfp4 as u32);
    assert!(NNK_SCHEME_BNB_DYNAMIC8 == Scheme::BnbDynamic8 as u32);
    assert!(NNK_SCHEME_BNB_NF4 == Scheme::BnbNf4 as u32);
    assert!(NNK_SCHEME_BNB_FP4 == Scheme::BnbFp4 as u32);
    assert!(NNK_BLOCKWISE_SCALES_GIVEN == bw::SCALES_GIVEN);
};

/// A blockwise scheme and its block size.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nnk_blockwise_params {
    /// `NNK_SCHEME_*`.
    pub scheme: u32,
    /// Elements per scale: any >= 1 for the ONNX integers, 32 for MX, 16 for NVFP4, a power of
    /// two in 64..4096 (dynamic-8) or 32..4096 (NF4, FP4) for bitsandbytes. The last block of
    /// a call may be partial.
    pub block_size: u32,
    /// `NNK_BLOCKWISE_SCALES_GIVEN` or 0.
    pub flags: u32,
    /// NVFP4's per-tensor f32 scale (finite, > 0; usually the tensor's amax / (6 · 448));
    /// ignored by the other schemes.
    pub tensor_scale: f32,
}

/// Validated parameters from a C pointer.
///
/// # Safety
/// `p` NULL (rejected) or readable.
unsafe fn params(p: *const nnk_blockwise_params) -> Result<Params> {
    if p.is_null() {
        return Err(Status::InvalidParameter);
    }
    // SAFETY: non-NULL and readable (caller); every bit pattern is a valid value.
    let p = unsafe { p.read_unaligned() };
    bw::params(p.scheme, p.block_size, p.flags, p.tensor_scale)
}

/// Bytes of the element codes of `n` elements under `p` (8, 6 or 4 bits each, rounded up to
/// whole bytes); 0 if `p` is NULL or invalid.
///
/// # Safety
/// `p` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_blockwise_q_bytes(p: *const nnk_blockwise_params, n: usize) -> usize {
    // SAFETY: forwarded contract.
    guard_or(0, || unsafe { params(p) }.map_or(0, |p| p.q_bytes(n)))
}

/// Bytes of the scales of `n` elements under `p`: one per block (E8M0 for MX, E4M3 for
/// NVFP4) or four (f32: ONNX, bitsandbytes); 0 if `p` is NULL or invalid.
///
/// # Safety
/// `p` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_blockwise_scale_bytes(
    p: *const nnk_blockwise_params,
    n: usize,
) -> usize {
    // SAFETY: forwarded contract.
    guard_or(0, || unsafe { params(p) }.map_or(0, |p| p.scale_bytes(n)))
}

/// Bytes of the zero points of `n` elements under `p`: one per block (int8, uint8), one per
/// two blocks (int4, uint4), 0 for schemes without zero points or if `p` is NULL or invalid.
///
/// # Safety
/// `p` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_blockwise_zero_point_bytes(
    p: *const nnk_blockwise_params,
    n: usize,
) -> usize {
    // SAFETY: forwarded contract.
    guard_or(0, || {
        unsafe { params(p) }.map_or(0, |p| p.zero_point_bytes(n))
    })
}

/// # Safety
/// Forwarded from the extern functions.
unsafe fn one_shot<E: BlockwiseElem>(
    dir: Direction,
    p: *const nnk_blockwise_params,
    n: usize,
    b: Buffers<E::S>,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        // SAFETY: forwarded contract.
        let p = unsafe { params(p) }?;
        // SAFETY: forwarded contract.
        let tp = unsafe { pool_ref(tp) }?;
        // SAFETY: forwarded contract.
        unsafe { bw::one_shot::<E>(isa, dir, &p, n, &b, tp) }
    })
}

/// # Safety
/// Forwarded from the extern functions.
unsafe fn create<E: BlockwiseElem>(
    dir: Direction,
    p: *const nnk_blockwise_params,
    out: *mut *mut nnk_operator,
    body: fn(BlockwiseOp<E>) -> Body,
) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        // SAFETY: forwarded contract.
        let p = unsafe { params(p) }?;
        let op = Operator::new(isa, body(BlockwiseOp::new(isa, dir, p)));
        // SAFETY: the C caller guarantees `out` is NULL or writable.
        unsafe { publish(op, out) }
    })
}

/// # Safety
/// `op` NULL or live.
unsafe fn reshape<E: BlockwiseElem>(
    op: *mut nnk_operator,
    dir: Direction,
    n: usize,
    pick: fn(&mut Body) -> Option<&mut BlockwiseOp<E>>,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| pick(b).filter(|o| o.direction() == dir),
                |o| o.reshape(n),
            )
        })
    }
}

/// # Safety
/// `op` NULL or live.
unsafe fn setup<E: BlockwiseElem>(
    op: *mut nnk_operator,
    dir: Direction,
    b: Buffers<E::S>,
    pick: fn(&mut Body) -> Option<&mut BlockwiseOp<E>>,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |body| pick(body).filter(|o| o.direction() == dir),
                |o| o.setup(b),
            )
        })
    }
}

/// Quantizes `n` float elements at `x` under `p`: element codes to `q`
/// (`nnk_blockwise_q_bytes`), scales to `scales` (`nnk_blockwise_scale_bytes`; read instead
/// when `p->flags` has `NNK_BLOCKWISE_SCALES_GIVEN`), zero points to or from `zero_points`
/// (`nnk_blockwise_zero_point_bytes`; NULL means 0; required to compute uint8/uint4 scales;
/// must be NULL for the other families). The last block may be partial. Scale and code
/// buffers need no alignment. `n` = 0 succeeds without touching anything. NULL `p`, invalid
/// parameters (scheme, block size, flags, NVFP4 tensor_scale not finite and > 0), NULL or
/// misaligned buffers, zero points where the scheme has none, or buffers sharing a byte:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written. The bytes never depend on the ISA or the
/// thread count. Results, per family (the rules that depart from a public reference say so):
/// - ONNX: equal to `onnx.reference` QuantizeLinear-21 (x / scale in f32, round half to even,
///   add the zero point, saturate) for every quotient below 2^31 in magnitude; larger ones and ±inf
///   saturate (the reference overflows int32), NaN gives the zero point. A computed scale of
///   0 (all-zero block) is stored as 1. NaN elements do not enter computed scales.
/// - MX: scale byte `floor(log2 amax) - emax_elem + 127` from the exponent bits (amax 0
///   counts as 2^-126), at least 0; elements `x / 2^(byte - 127)` rounded to nearest even,
///   saturated at the format's largest normal, sign kept (−0 stays −0), equal to ml_dtypes'
///   casts. A block holding NaN or ±inf gets scale 0xFF (NaN) and zero codes. With given
///   scales, NaN elements saturate (MXINT8: 0).
/// - NVFP4 (modelopt's NVFP4QTensor): scale `e4m3(amax / (6 · tensor_scale))`, 0 replaced by
///   1, raised to at least 2^-9 and saturated at 448; elements `x / (scale · tensor_scale)`
///   to E2M1 (nearest even, saturated at 6, sign set for negative quotients). NaN elements do
///   not enter the scale.
/// - bitsandbytes (default backend, exact): absmax the NaN-propagating max |x|; code the
///   nearest by the f32 midpoints, ties to the lower code, NaN the last; whole blocks scale by
///   `x · (1 / max(absmax, 1e-38))`, a trailing partial block by `x / max(absmax, 1e-38)` and
///   stores that clamped absmax, as bitsandbytes does.
///
/// `tp` may be NULL.
///
/// # Safety
/// `p` NULL or readable; the buffers valid for the sizes above; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_quantize_blockwise_f32(
    p: *const nnk_blockwise_params,
    n: usize,
    x: *const f32,
    q: *mut c_void,
    scales: *mut c_void,
    zero_points: *mut c_void,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    let b = Buffers {
        elems: x.cast_mut(),
        q: q.cast(),
        s: scales.cast(),
        z: zero_points.cast(),
    };
    // SAFETY: forwarded contract.
    unsafe { one_shot::<F32>(Direction::Quantize, p, n, b, tp) }
}

/// Dequantizes `n` elements under `p` from codes `q`, scales `scales` and zero points
/// `zero_points` (NULL: 0; must be NULL for schemes without them) into float elements at `y`:
/// ONNX `(q - zp) · scale`; MX `value(q) · 2^(byte - 127)` (exact; byte 0xFF gives NaN);
/// NVFP4 `value(q) · (f32(scale) · tensor_scale)`; bitsandbytes `code[q] · absmax`; each one
/// f32 rounding at most. Validation as for the quantizer.
/// `tp` may be NULL.
///
/// # Safety
/// `p` NULL or readable; the buffers valid for the sizes of `nnk_quantize_blockwise_f32`;
/// `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_dequantize_blockwise_f32(
    p: *const nnk_blockwise_params,
    n: usize,
    q: *const c_void,
    scales: *const c_void,
    zero_points: *const c_void,
    y: *mut f32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    let b = Buffers {
        elems: y,
        q: q.cast_mut().cast(),
        s: scales.cast_mut().cast(),
        z: zero_points.cast_mut().cast(),
    };
    // SAFETY: forwarded contract.
    unsafe { one_shot::<F32>(Direction::Dequantize, p, n, b, tp) }
}

/// Creates an operator quantizing float elements under `*p` (copied; see
/// `nnk_quantize_blockwise_f32`). NULL or invalid `p`: `NNK_STATUS_INVALID_PARAMETER`, nothing
/// written to `*op`.
///
/// # Safety
/// `p` NULL or readable; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_quantize_blockwise_f32(
    p: *const nnk_blockwise_params,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<F32>(Direction::Quantize, p, op, Body::BlockwiseF32) }
}

/// Sets the element count `n` (0 runs as a no-op). An operator of another type is
/// `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_quantize_blockwise_f32(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        reshape::<F32>(op, Direction::Quantize, n, |b| match b {
            Body::BlockwiseF32(o) => Some(o),
            _ => None,
        })
    }
}

/// Sets the buffers `x`, `q`, `scales`, `zero_points`, checked as the one-shot call checks them.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_quantize_blockwise_f32(
    op: *mut nnk_operator,
    x: *const f32,
    q: *mut c_void,
    scales: *mut c_void,
    zero_points: *mut c_void,
) -> nnk_status {
    let b = Buffers {
        elems: x.cast_mut(),
        q: q.cast(),
        s: scales.cast(),
        z: zero_points.cast(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        setup::<F32>(op, Direction::Quantize, b, |b| match b {
            Body::BlockwiseF32(o) => Some(o),
            _ => None,
        })
    }
}

/// Creates an operator dequantizing float elements under `*p` (copied; see
/// `nnk_dequantize_blockwise_f32`). NULL or invalid `p`: `NNK_STATUS_INVALID_PARAMETER`, nothing
/// written to `*op`.
///
/// # Safety
/// `p` NULL or readable; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_dequantize_blockwise_f32(
    p: *const nnk_blockwise_params,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<F32>(Direction::Dequantize, p, op, Body::BlockwiseF32) }
}

/// Sets the element count `n` (0 runs as a no-op). An operator of another type is
/// `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_dequantize_blockwise_f32(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        reshape::<F32>(op, Direction::Dequantize, n, |b| match b {
            Body::BlockwiseF32(o) => Some(o),
            _ => None,
        })
    }
}

/// Sets the buffers `q`, `scales`, `zero_points`, `y`, checked as the one-shot call checks them.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_dequantize_blockwise_f32(
    op: *mut nnk_operator,
    q: *const c_void,
    scales: *const c_void,
    zero_points: *const c_void,
    y: *mut f32,
) -> nnk_status {
    let b = Buffers {
        elems: y,
        q: q.cast_mut().cast(),
        s: scales.cast_mut().cast(),
        z: zero_points.cast_mut().cast(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        setup::<F32>(op, Direction::Dequantize, b, |b| match b {
            Body::BlockwiseF32(o) => Some(o),
            _ => None,
        })
    }
}

/// Quantizes `n` IEEE half (uint16_t bits) elements at `x` under `p`: element codes to `q`
/// (`nnk_blockwise_q_bytes`), scales to `scales` (`nnk_blockwise_scale_bytes`; read instead
/// when `p->flags` has `NNK_BLOCKWISE_SCALES_GIVEN`), zero points to or from `zero_points`
/// (`nnk_blockwise_zero_point_bytes`; NULL means 0; required to compute uint8/uint4 scales;
/// must be NULL for the other families). The last block may be partial. Scale and code
/// buffers need no alignment. `n` = 0 succeeds without touching anything. NULL `p`, invalid
/// parameters (scheme, block size, flags, NVFP4 tensor_scale not finite and > 0), NULL or
/// misaligned buffers, zero points where the scheme has none, or buffers sharing a byte:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written. The bytes never depend on the ISA or the
/// thread count. Results, per family (the rules that depart from a public reference say so):
/// - ONNX: equal to `onnx.reference` QuantizeLinear-21 (x / scale in f32, round half to even,
///   add the zero point, saturate) for every quotient below 2^31 in magnitude; larger ones and ±inf
///   saturate (the reference overflows int32), NaN gives the zero point. A computed scale of
///   0 (all-zero block) is stored as 1. NaN elements do not enter computed scales.
/// - MX: scale byte `floor(log2 amax) - emax_elem + 127` from the exponent bits (amax 0
///   counts as 2^-126), at least 0; elements `x / 2^(byte - 127)` rounded to nearest even,
///   saturated at the format's largest normal, sign kept (−0 stays −0), equal to ml_dtypes'
///   casts. A block holding NaN or ±inf gets scale 0xFF (NaN) and zero codes. With given
///   scales, NaN elements saturate (MXINT8: 0).
/// - NVFP4 (modelopt's NVFP4QTensor): scale `e4m3(amax / (6 · tensor_scale))`, 0 replaced by
///   1, raised to at least 2^-9 and saturated at 448; elements `x / (scale · tensor_scale)`
///   to E2M1 (nearest even, saturated at 6, sign set for negative quotients). NaN elements do
///   not enter the scale.
/// - bitsandbytes (default backend, exact): absmax the NaN-propagating max |x|; code the
///   nearest by the f32 midpoints, ties to the lower code, NaN the last; whole blocks scale by
///   `x · (1 / max(absmax, 1e-38))`, a trailing partial block by `x / max(absmax, 1e-38)` and
///   stores that clamped absmax, as bitsandbytes does.
///
/// f16/bf16 sources are widened exactly: the bytes are those of the same values in f32.
/// `tp` may be NULL.
///
/// # Safety
/// `p` NULL or readable; the buffers valid for the sizes above; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_quantize_blockwise_f16(
    p: *const nnk_blockwise_params,
    n: usize,
    x: *const u16,
    q: *mut c_void,
    scales: *mut c_void,
    zero_points: *mut c_void,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    let b = Buffers {
        elems: x.cast_mut(),
        q: q.cast(),
        s: scales.cast(),
        z: zero_points.cast(),
    };
    // SAFETY: forwarded contract.
    unsafe { one_shot::<F16>(Direction::Quantize, p, n, b, tp) }
}

/// Dequantizes `n` elements under `p` from codes `q`, scales `scales` and zero points
/// `zero_points` (NULL: 0; must be NULL for schemes without them) into IEEE half (uint16_t bits) elements at `y`:
/// ONNX `(q - zp) · scale`; MX `value(q) · 2^(byte - 127)` (exact; byte 0xFF gives NaN);
/// NVFP4 `value(q) · (f32(scale) · tensor_scale)`; bitsandbytes `code[q] · absmax`; each one
/// f32 rounding at most rounded to nearest even. Validation as for the quantizer.
/// `tp` may be NULL.
///
/// # Safety
/// `p` NULL or readable; the buffers valid for the sizes of `nnk_quantize_blockwise_f32`;
/// `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_dequantize_blockwise_f16(
    p: *const nnk_blockwise_params,
    n: usize,
    q: *const c_void,
    scales: *const c_void,
    zero_points: *const c_void,
    y: *mut u16,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    let b = Buffers {
        elems: y,
        q: q.cast_mut().cast(),
        s: scales.cast_mut().cast(),
        z: zero_points.cast_mut().cast(),
    };
    // SAFETY: forwarded contract.
    unsafe { one_shot::<F16>(Direction::Dequantize, p, n, b, tp) }
}

/// Creates an operator quantizing IEEE half (uint16_t bits) elements under `*p` (copied; see
/// `nnk_quantize_blockwise_f16`). NULL or invalid `p`: `NNK_STATUS_INVALID_PARAMETER`, nothing
/// written to `*op`.
///
/// # Safety
/// `p` NULL or readable; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_quantize_blockwise_f16(
    p: *const nnk_blockwise_params,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<F16>(Direction::Quantize, p, op, Body::BlockwiseF16) }
}

/// Sets the element count `n` (0 runs as a no-op). An operator of another type is
/// `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_quantize_blockwise_f16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        reshape::<F16>(op, Direction::Quantize, n, |b| match b {
            Body::BlockwiseF16(o) => Some(o),
            _ => None,
        })
    }
}

/// Sets the buffers `x`, `q`, `scales`, `zero_points`, checked as the one-shot call checks them.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_quantize_blockwise_f16(
    op: *mut nnk_operator,
    x: *const u16,
    q: *mut c_void,
    scales: *mut c_void,
    zero_points: *mut c_void,
) -> nnk_status {
    let b = Buffers {
        elems: x.cast_mut(),
        q: q.cast(),
        s: scales.cast(),
        z: zero_points.cast(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        setup::<F16>(op, Direction::Quantize, b, |b| match b {
            Body::BlockwiseF16(o) => Some(o),
            _ => None,
        })
    }
}

/// Creates an operator dequantizing IEEE half (uint16_t bits) elements under `*p` (copied; see
/// `nnk_dequantize_blockwise_f16`). NULL or invalid `p`: `NNK_STATUS_INVALID_PARAMETER`, nothing
/// written to `*op`.
///
/// # Safety
/// `p` NULL or readable; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_dequantize_blockwise_f16(
    p: *const nnk_blockwise_params,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<F16>(Direction::Dequantize, p, op, Body::BlockwiseF16) }
}

/// Sets the element count `n` (0 runs as a no-op). An operator of another type is
/// `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_dequantize_blockwise_f16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        reshape::<F16>(op, Direction::Dequantize, n, |b| match b {
            Body::BlockwiseF16(o) => Some(o),
            _ => None,
        })
    }
}

/// Sets the buffers `q`, `scales`, `zero_points`, `y`, checked as the one-shot call checks them.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_dequantize_blockwise_f16(
    op: *mut nnk_operator,
    q: *const c_void,
    scales: *const c_void,
    zero_points: *const c_void,
    y: *mut u16,
) -> nnk_status {
    let b = Buffers {
        elems: y,
        q: q.cast_mut().cast(),
        s: scales.cast_mut().cast(),
        z: zero_points.cast_mut().cast(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        setup::<F16>(op, Direction::Dequantize, b, |b| match b {
            Body::BlockwiseF16(o) => Some(o),
            _ => None,
        })
    }
}

/// Quantizes `n` bfloat16 (uint16_t bits) elements at `x` under `p`: element codes to `q`
/// (`nnk_blockwise_q_bytes`), scales to `scales` (`nnk_blockwise_scale_bytes`; read instead
/// when `p->flags` has `NNK_BLOCKWISE_SCALES_GIVEN`), zero points to or from `zero_points`
/// (`nnk_blockwise_zero_point_bytes`; NULL means 0; required to compute uint8/uint4 scales;
/// must be NULL for the other families). The last block may be partial. Scale and code
/// buffers need no alignment. `n` = 0 succeeds without touching anything. NULL `p`, invalid
/// parameters (scheme, block size, flags, NVFP4 tensor_scale not finite and > 0), NULL or
/// misaligned buffers, zero points where the scheme has none, or buffers sharing a byte:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written. The bytes never depend on the ISA or the
/// thread count. Results, per family (the rules that depart from a public reference say so):
/// - ONNX: equal to `onnx.reference` QuantizeLinear-21 (x / scale in f32, round half to even,
///   add the zero point, saturate) for every quotient below 2^31 in magnitude; larger ones and ±inf
///   saturate (the reference overflows int32), NaN gives the zero point. A computed scale of
///   0 (all-zero block) is stored as 1. NaN elements do not enter computed scales.
/// - MX: scale byte `floor(log2 amax) - emax_elem + 127` from the exponent bits (amax 0
///   counts as 2^-126), at least 0; elements `x / 2^(byte - 127)` rounded to nearest even,
///   saturated at the format's largest normal, sign kept (−0 stays −0), equal to ml_dtypes'
///   casts. A block holding NaN or ±inf gets scale 0xFF (NaN) and zero codes. With given
///   scales, NaN elements saturate (MXINT8: 0).
/// - NVFP4 (modelopt's NVFP4QTensor): scale `e4m3(amax / (6 · tensor_scale))`, 0 replaced by
///   1, raised to at least 2^-9 and saturated at 448; elements `x / (scale · tensor_scale)`
///   to E2M1 (nearest even, saturated at 6, sign set for negative quotients). NaN elements do
///   not enter the scale.
/// - bitsandbytes (default backend, exact): absmax the NaN-propagating max |x|; code the
///   nearest by the f32 midpoints, ties to the lower code, NaN the last; whole blocks scale by
///   `x · (1 / max(absmax, 1e-38))`, a trailing partial block by `x / max(absmax, 1e-38)` and
///   stores that clamped absmax, as bitsandbytes does.
///
/// f16/bf16 sources are widened exactly: the bytes are those of the same values in f32.
/// `tp` may be NULL.
///
/// # Safety
/// `p` NULL or readable; the buffers valid for the sizes above; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_quantize_blockwise_bf16(
    p: *const nnk_blockwise_params,
    n: usize,
    x: *const u16,
    q: *mut c_void,
    scales: *mut c_void,
    zero_points: *mut c_void,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    let b = Buffers {
        elems: x.cast_mut(),
        q: q.cast(),
        s: scales.cast(),
        z: zero_points.cast(),
    };
    // SAFETY: forwarded contract.
    unsafe { one_shot::<Bf16>(Direction::Quantize, p, n, b, tp) }
}

/// Dequantizes `n` elements under `p` from codes `q`, scales `scales` and zero points
/// `zero_points` (NULL: 0; must be NULL for schemes without them) into bfloat16 (uint16_t bits) elements at `y`:
/// ONNX `(q - zp) · scale`; MX `value(q) · 2^(byte - 127)` (exact; byte 0xFF gives NaN);
/// NVFP4 `value(q) · (f32(scale) · tensor_scale)`; bitsandbytes `code[q] · absmax`; each one
/// f32 rounding at most rounded to nearest even. Validation as for the quantizer.
/// `tp` may be NULL.
///
/// # Safety
/// `p` NULL or readable; the buffers valid for the sizes of `nnk_quantize_blockwise_f32`;
/// `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_dequantize_blockwise_bf16(
    p: *const nnk_blockwise_params,
    n: usize,
    q: *const c_void,
    scales: *const c_void,
    zero_points: *const c_void,
    y: *mut u16,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    let b = Buffers {
        elems: y,
        q: q.cast_mut().cast(),
        s: scales.cast_mut().cast(),
        z: zero_points.cast_mut().cast(),
    };
    // SAFETY: forwarded contract.
    unsafe { one_shot::<Bf16>(Direction::Dequantize, p, n, b, tp) }
}

/// Creates an operator quantizing bfloat16 (uint16_t bits) elements under `*p` (copied; see
/// `nnk_quantize_blockwise_bf16`). NULL or invalid `p`: `NNK_STATUS_INVALID_PARAMETER`, nothing
/// written to `*op`.
///
/// # Safety
/// `p` NULL or readable; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_quantize_blockwise_bf16(
    p: *const nnk_blockwise_params,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<Bf16>(Direction::Quantize, p, op, Body::BlockwiseBf16) }
}

/// Sets the element count `n` (0 runs as a no-op). An operator of another type is
/// `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_quantize_blockwise_bf16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        reshape::<Bf16>(op, Direction::Quantize, n, |b| match b {
            Body::BlockwiseBf16(o) => Some(o),
            _ => None,
        })
    }
}

/// Sets the buffers `x`, `q`, `scales`, `zero_points`, checked as the one-shot call checks them.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_quantize_blockwise_bf16(
    op: *mut nnk_operator,
    x: *const u16,
    q: *mut c_void,
    scales: *mut c_void,
    zero_points: *mut c_void,
) -> nnk_status {
    let b = Buffers {
        elems: x.cast_mut(),
        q: q.cast(),
        s: scales.cast(),
        z: zero_points.cast(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        setup::<Bf16>(op, Direction::Quantize, b, |b| match b {
            Body::BlockwiseBf16(o) => Some(o),
            _ => None,
        })
    }
}

/// Creates an operator dequantizing bfloat16 (uint16_t bits) elements under `*p` (copied; see
/// `nnk_dequantize_blockwise_bf16`). NULL or invalid `p`: `NNK_STATUS_INVALID_PARAMETER`, nothing
/// written to `*op`.
///
/// # Safety
/// `p` NULL or readable; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_dequantize_blockwise_bf16(
    p: *const nnk_blockwise_params,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<Bf16>(Direction::Dequantize, p, op, Body::BlockwiseBf16) }
}

/// Sets the element count `n` (0 runs as a no-op). An operator of another type is
/// `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_dequantize_blockwise_bf16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        reshape::<Bf16>(op, Direction::Dequantize, n, |b| match b {
            Body::BlockwiseBf16(o) => Some(o),
            _ => None,
        })
    }
}

/// Sets the buffers `q`, `scales`, `zero_points`, `y`, checked as the one-shot call checks them.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_dequantize_blockwise_bf16(
    op: *mut nnk_operator,
    q: *const c_void,
    scales: *const c_void,
    zero_points: *const c_void,
    y: *mut u16,
) -> nnk_status {
    let b = Buffers {
        elems: y,
        q: q.cast_mut().cast(),
        s: scales.cast_mut().cast(),
        z: zero_points.cast_mut().cast(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        setup::<Bf16>(op, Direction::Dequantize, b, |b| match b {
            Body::BlockwiseBf16(o) => Some(o),
            _ => None,
        })
    }
}
