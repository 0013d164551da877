//! GGUF block quantize / dequantize (ggml type ids), one-shot and operator form.

use std::ffi::c_void;

use super::operator::{nnk_operator, publish, with_operator};
use super::threadpool::{nnk_threadpool, pool_ref};
use super::{guard, guard_or, initialized_isa, nnk_status};
use crate::config::blocks::BlockElem;
use crate::operators::blocks::{self as b, BlocksOp, Direction};
use crate::operators::{Body, Operator};
use crate::status::Result;
use crate::ukernels::blocks::Format;
use crate::ukernels::simd::{Bf16, F16, F32};

/// ggml Q4_0: 32 elements in 18 bytes (f16 d; 4-bit q), value (q - 8)·d.
pub const NNK_BLOCK_Q4_0: u32 = 2;
/// ggml Q4_1: 32 elements in 20 bytes (f16 d, m; 4-bit q), value q·d + m.
pub const NNK_BLOCK_Q4_1: u32 = 3;
/// ggml Q5_0: 32 elements in 22 bytes (f16 d; 5-bit q), value (q - 16)·d.
pub const NNK_BLOCK_Q5_0: u32 = 6;
/// ggml Q5_1: 32 elements in 24 bytes (f16 d, m; 5-bit q), value q·d + m.
pub const NNK_BLOCK_Q5_1: u32 = 7;
/// ggml Q8_0: 32 elements in 34 bytes (f16 d; int8 q), value q·d.
pub const NNK_BLOCK_Q8_0: u32 = 8;
/// ggml Q8_1: 32 elements in 36 bytes (f16 d, f16 d·sum(q); int8 q), value q·d.
pub const NNK_BLOCK_Q8_1: u32 = 9;
/// ggml Q4_K: 256 elements in 144 bytes (f16 d, dmin; 6-bit scales and mins of 8 sub-blocks;
/// 4-bit q), value d·sc·q - dmin·m.
pub const NNK_BLOCK_Q4_K: u32 = 12;
/// ggml Q5_K: 256 elements in 176 bytes (as Q4_K with 5-bit q).
pub const NNK_BLOCK_Q5_K: u32 = 13;
/// ggml Q6_K: 256 elements in 210 bytes (6-bit q, int8 scales of 16 sub-blocks, f16 d), value
/// d·sc·(q - 32).
pub const NNK_BLOCK_Q6_K: u32 = 14;
/// ggml Q8_K: 256 elements in 292 bytes (f32 d; int8 q; int16 sums of 16), value q·d.
pub const NNK_BLOCK_Q8_K: u32 = 15;
/// ggml MXFP4: 32 E2M1 elements in 17 bytes (E8M0 scale byte first; element j in the low
/// nibble of byte 1 + j, element j + 16 in its high nibble).
pub const NNK_BLOCK_MXFP4: u32 = 39;
/// Quantize: fail with `NNK_STATUS_INVALID_PARAMETER` before writing anything if an input
/// element is NaN or infinite. Dequantize: the same if a block's f16/f32 scale is.
pub const NNK_FLAG_CHECK_FINITE: u32 = 0x10;

const _: () = {
    assert!(NNK_BLOCK_Q4_0 == Format::Q4_0.ggml_id());
    assert!(NNK_BLOCK_Q4_1 == Format::Q4_1.ggml_id());
    assert!(NNK_BLOCK_Q5_0 == Format::Q5_0.ggml_id());
    assert!(NNK_BLOCK_Q5_1 == Format::Q5_1.ggml_id());
    assert!(NNK_BLOCK_Q8_0 == Format::Q8_0.ggml_id());
    assert!(NNK_BLOCK_Q8_1 == Format::Q8_1.ggml_id());
    assert!(NNK_BLOCK_Q4_K == Format::Q4K.ggml_id());
    assert!(NNK_BLOCK_Q5_K == Format::Q5K.ggml_id());
    assert!(NNK_BLOCK_Q6_K == Format::Q6K.ggml_id());
    assert!(NNK_BLOCK_Q8_K == Format::Q8K.ggml_id());
    assert!(NNK_BLOCK_MXFP4 == Format::Mxfp4.ggml_id());
    assert!(NNK_FLAG_CHECK_FINITE == b::FLAG_CHECK_FINITE);
    assert!(super::softmax::NNK_FLAG_CONSISTENT_ARITHMETIC == b::FLAG_CONSISTENT);
};

/// Elements per block of `format` (an `NNK_BLOCK_*` / ggml type id): 32 or 256; 0 for a
/// format nnkern does not know.
#[unsafe(no_mangle)]
pub extern "C" fn nnk_block_size(format: u32) -> usize {
    guard_or(0, || {
        Format::from_ggml(format).map_or(0, Format::block_size)
    })
}

/// Bytes per block of `format`; 0 for a format nnkern does not know.
#[unsafe(no_mangle)]
pub extern "C" fn nnk_block_bytes(format: u32) -> usize {
    guard_or(0, || {
        Format::from_ggml(format).map_or(0, Format::block_bytes)
    })
}

/// # Safety
/// Forwarded from the extern functions.
#[allow(clippy::too_many_arguments)]
unsafe fn one_shot<E: BlockElem>(
    dir: Direction,
    format: u32,
    n: usize,
    elems: *mut E::S,
    blocks: *mut u8,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> Result<()> {
    let isa = initialized_isa()?;
    // SAFETY: forwarded contract.
    let tp = unsafe { pool_ref(tp) }?;
    // SAFETY: forwarded contract.
    unsafe { b::one_shot::<E>(isa, dir, format, n, elems, blocks, flags, tp) }
}

fn create<E: BlockElem>(
    dir: Direction,
    format: u32,
    flags: u32,
    out: *mut *mut nnk_operator,
    body: fn(BlocksOp<E>) -> Body,
) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        let op = Operator::new(isa, body(BlocksOp::new(isa, dir, format, flags)?));
        // SAFETY: the C caller guarantees `out` is NULL or writable.
        unsafe { publish(op, out) }
    })
}

/// Quantizes `n` float elements at `x` into `n / nnk_block_size(format)` blocks at `out`
/// (`nnk_block_bytes(format)` bytes each, packed, no alignment needed), byte-identical to
/// ggml's reference quantizer (`quantize_row_*_ref`, built without FMA contraction).
/// `n` must be a multiple of the block size; 0 succeeds without touching anything. Unknown
/// format, unknown flag bits, NULL or misaligned pointers with n > 0, or overlapping buffers:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written. `flags`: `NNK_FLAG_CHECK_FINITE` (a NaN or
/// infinity fails the call before anything is written; without it, non-finite input gives
/// defined bytes and never faults), `NNK_FLAG_CONSISTENT_ARITHMETIC` (accepted; the bytes never
/// depend on the ISA or thread count). Where ggml's result depends on undefined C behaviour
/// (NaN or out-of-range float-to-integer conversions) nnkern gives what x86 gives; the one
/// documented departure: a NaN is skipped in Q8_0/Q8_1's block maximum. Q8_K's `bsums` of an
/// all-zero block are written as 0 (ggml leaves them unwritten). `tp` may be NULL.
///
/// # Safety
/// `x` readable for `n` elements and `out` writable for the blocks' bytes; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_quantize_blocks_f32(
    format: u32,
    n: usize,
    x: *const f32,
    out: *mut c_void,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot::<F32>(
            Direction::Quantize,
            format,
            n,
            x.cast_mut(),
            out.cast(),
            flags,
            tp,
        )
    })
}

/// Dequantizes the `n / nnk_block_size(format)` blocks at `in` into `n` float elements at
/// `y`. Exact in f32 (equal to ggml's `dequantize_row_*`; Q8_1, which ggml cannot dequantize,
/// gives q·d); every product fits in 24 bits.
/// Validation as for `nnk_quantize_blocks_f32`; `NNK_FLAG_CHECK_FINITE` rejects a block
/// whose f16 or f32 scale is NaN or infinite (nothing written). `tp` may be NULL.
///
/// # Safety
/// `in` readable for the blocks' bytes, `y` writable for `n` elements; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_dequantize_blocks_f32(
    format: u32,
    n: usize,
    r#in: *const c_void,
    y: *mut f32,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot::<F32>(
            Direction::Dequantize,
            format,
            n,
            y,
            r#in.cast_mut().cast(),
            flags,
            tp,
        )
    })
}

/// Quantizes `n` IEEE half (uint16_t bits) elements at `x` into `n / nnk_block_size(format)` blocks at `out`
/// (`nnk_block_bytes(format)` bytes each, packed, no alignment needed), byte-identical to
/// ggml's reference quantizer (`quantize_row_*_ref`, built without FMA contraction).
/// f16/bf16 sources are widened exactly, so they give the bytes of the same values in f32.
/// `n` must be a multiple of the block size; 0 succeeds without touching anything. Unknown
/// format, unknown flag bits, NULL or misaligned pointers with n > 0, or overlapping buffers:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written. `flags`: `NNK_FLAG_CHECK_FINITE` (a NaN or
/// infinity fails the call before anything is written; without it, non-finite input gives
/// defined bytes and never faults), `NNK_FLAG_CONSISTENT_ARITHMETIC` (accepted; the bytes never
/// depend on the ISA or thread count). Where ggml's result depends on undefined C behaviour
/// (NaN or out-of-range float-to-integer conversions) nnkern gives what x86 gives; the one
/// documented departure: a NaN is skipped in Q8_0/Q8_1's block maximum. Q8_K's `bsums` of an
/// all-zero block are written as 0 (ggml leaves them unwritten). `tp` may be NULL.
///
/// # Safety
/// `x` readable for `n` elements and `out` writable for the blocks' bytes; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_quantize_blocks_f16(
    format: u32,
    n: usize,
    x: *const u16,
    out: *mut c_void,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot::<F16>(
            Direction::Quantize,
            format,
            n,
            x.cast_mut(),
            out.cast(),
            flags,
            tp,
        )
    })
}

/// Dequantizes the `n / nnk_block_size(format)` blocks at `in` into `n` IEEE half (uint16_t bits) elements at
/// `y`. Exact in f32 (equal to ggml's `dequantize_row_*`; Q8_1, which ggml cannot dequantize,
/// gives q·d); f16/bf16 destinations are those f32 values rounded to nearest even.
/// Validation as for `nnk_quantize_blocks_f16`; `NNK_FLAG_CHECK_FINITE` rejects a block
/// whose f16 or f32 scale is NaN or infinite (nothing written). `tp` may be NULL.
///
/// # Safety
/// `in` readable for the blocks' bytes, `y` writable for `n` elements; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_dequantize_blocks_f16(
    format: u32,
    n: usize,
    r#in: *const c_void,
    y: *mut u16,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot::<F16>(
            Direction::Dequantize,
            format,
            n,
            y,
            r#in.cast_mut().cast(),
            flags,
            tp,
        )
    })
}

/// Quantizes `n` bfloat16 (uint16_t bits) elements at `x` into `n / nnk_block_size(format)` blocks at `out`
/// (`nnk_block_bytes(format)` bytes each, packed, no alignment needed), byte-identical to
/// ggml's reference quantizer (`quantize_row_*_ref`, built without FMA contraction).
/// f16/bf16 sources are widened exactly, so they give the bytes of the same values in f32.
/// `n` must be a multiple of the block size; 0 succeeds without touching anything. Unknown
/// format, unknown flag bits, NULL or misaligned pointers with n > 0, or overlapping buffers:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written. `flags`: `NNK_FLAG_CHECK_FINITE` (a NaN or
/// infinity fails the call before anything is written; without it, non-finite input gives
/// defined bytes and never faults), `NNK_FLAG_CONSISTENT_ARITHMETIC` (accepted; the bytes never
/// depend on the ISA or thread count). Where ggml's result depends on undefined C behaviour
/// (NaN or out-of-range float-to-integer conversions) nnkern gives what x86 gives; the one
/// documented departure: a NaN is skipped in Q8_0/Q8_1's block maximum. Q8_K's `bsums` of an
/// all-zero block are written as 0 (ggml leaves them unwritten). `tp` may be NULL.
///
/// # Safety
/// `x` readable for `n` elements and `out` writable for the blocks' bytes; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_quantize_blocks_bf16(
    format: u32,
    n: usize,
    x: *const u16,
    out: *mut c_void,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot::<Bf16>(
            Direction::Quantize,
            format,
            n,
            x.cast_mut(),
            out.cast(),
            flags,
            tp,
        )
    })
}

/// Dequantizes the `n / nnk_block_size(format)` blocks at `in` into `n` bfloat16 (uint16_t bits) elements at
/// `y`. Exact in f32 (equal to ggml's `dequantize_row_*`; Q8_1, which ggml cannot dequantize,
/// gives q·d); f16/bf16 destinations are those f32 values rounded to nearest even.
/// Validation as for `nnk_quantize_blocks_bf16`; `NNK_FLAG_CHECK_FINITE` rejects a block
/// whose f16 or f32 scale is NaN or infinite (nothing written). `tp` may be NULL.
///
/// # Safety
/// `in` readable for the blocks' bytes, `y` writable for `n` elements; `tp` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_dequantize_blocks_bf16(
    format: u32,
    n: usize,
    r#in: *const c_void,
    y: *mut u16,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot::<Bf16>(
            Direction::Dequantize,
            format,
            n,
            y,
            r#in.cast_mut().cast(),
            flags,
            tp,
        )
    })
}

/// Creates an operator quantizing GGUF blocks of `format` from float elements (see
/// `nnk_quantize_blocks_f32` for the results and `flags`). Unknown format or flags:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written to `*op`.
///
/// # Safety
/// `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_quantize_blocks_f32(
    format: u32,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create::<F32>(Direction::Quantize, format, flags, op, Body::BlocksF32)
}

/// Sets the element count `n` (a multiple of the block size; 0 runs as a no-op). An operator
/// of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_quantize_blocks_f32(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| match b {
                    Body::BlocksF32(o) if o.direction() == Direction::Quantize => Some(o),
                    _ => None,
                },
                |o| o.reshape(n),
            )
        })
    }
}

/// Sets the buffers `x` (n elements) and `out` (the blocks' bytes): non-NULL unless n is 0, elements aligned, not overlapping.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_quantize_blocks_f32(
    op: *mut nnk_operator,
    x: *const f32,
    out: *mut c_void,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |b| match b {
                    Body::BlocksF32(o) if o.direction() == Direction::Quantize => Some(o),
                    _ => None,
                },
                |o| o.setup(x.cast_mut(), out.cast()),
            )
        })
    }
}

/// Creates an operator dequantizing GGUF blocks of `format` to float elements (see
/// `nnk_dequantize_blocks_f32` for the results and `flags`). Unknown format or flags:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written to `*op`.
///
/// # Safety
/// `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_dequantize_blocks_f32(
    format: u32,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create::<F32>(Direction::Dequantize, format, flags, op, Body::BlocksF32)
}

/// Sets the element count `n` (a multiple of the block size; 0 runs as a no-op). An operator
/// of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_dequantize_blocks_f32(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| match b {
                    Body::BlocksF32(o) if o.direction() == Direction::Dequantize => Some(o),
                    _ => None,
                },
                |o| o.reshape(n),
            )
        })
    }
}

/// Sets the buffers `in` (the blocks' bytes) and `y` (n elements): non-NULL unless n is 0, elements aligned, not overlapping.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_dequantize_blocks_f32(
    op: *mut nnk_operator,
    r#in: *const c_void,
    y: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |b| match b {
                    Body::BlocksF32(o) if o.direction() == Direction::Dequantize => Some(o),
                    _ => None,
                },
                |o| o.setup(y, r#in.cast_mut().cast()),
            )
        })
    }
}

/// Creates an operator quantizing GGUF blocks of `format` from IEEE half (uint16_t bits) elements (see
/// `nnk_quantize_blocks_f16` for the results and `flags`). Unknown format or flags:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written to `*op`.
///
/// # Safety
/// `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_quantize_blocks_f16(
    format: u32,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create::<F16>(Direction::Quantize, format, flags, op, Body::BlocksF16)
}

/// Sets the element count `n` (a multiple of the block size; 0 runs as a no-op). An operator
/// of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_quantize_blocks_f16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| match b {
                    Body::BlocksF16(o) if o.direction() == Direction::Quantize => Some(o),
                    _ => None,
                },
                |o| o.reshape(n),
            )
        })
    }
}

/// Sets the buffers `x` (n elements) and `out` (the blocks' bytes): non-NULL unless n is 0, elements aligned, not overlapping.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_quantize_blocks_f16(
    op: *mut nnk_operator,
    x: *const u16,
    out: *mut c_void,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |b| match b {
                    Body::BlocksF16(o) if o.direction() == Direction::Quantize => Some(o),
                    _ => None,
                },
                |o| o.setup(x.cast_mut(), out.cast()),
            )
        })
    }
}

/// Creates an operator dequantizing GGUF blocks of `format` to IEEE half (uint16_t bits) elements (see
/// `nnk_dequantize_blocks_f16` for the results and `flags`). Unknown format or flags:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written to `*op`.
///
/// # Safety
/// `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_dequantize_blocks_f16(
    format: u32,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create::<F16>(Direction::Dequantize, format, flags, op, Body::BlocksF16)
}

/// Sets the element count `n` (a multiple of the block size; 0 runs as a no-op). An operator
/// of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_dequantize_blocks_f16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| match b {
                    Body::BlocksF16(o) if o.direction() == Direction::Dequantize => Some(o),
                    _ => None,
                },
                |o| o.reshape(n),
            )
        })
    }
}

/// Sets the buffers `in` (the blocks' bytes) and `y` (n elements): non-NULL unless n is 0, elements aligned, not overlapping.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_dequantize_blocks_f16(
    op: *mut nnk_operator,
    r#in: *const c_void,
    y: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |b| match b {
                    Body::BlocksF16(o) if o.direction() == Direction::Dequantize => Some(o),
                    _ => None,
                },
                |o| o.setup(y, r#in.cast_mut().cast()),
            )
        })
    }
}

/// Creates an operator quantizing GGUF blocks of `format` from bfloat16 (uint16_t bits) elements (see
/// `nnk_quantize_blocks_bf16` for the results and `flags`). Unknown format or flags:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written to `*op`.
///
/// # Safety
/// `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_quantize_blocks_bf16(
    format: u32,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create::<Bf16>(Direction::Quantize, format, flags, op, Body::BlocksBf16)
}

/// Sets the element count `n` (a multiple of the block size; 0 runs as a no-op). An operator
/// of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_quantize_blocks_bf16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| match b {
                    Body::BlocksBf16(o) if o.direction() == Direction::Quantize => Some(o),
                    _ => None,
                },
                |o| o.reshape(n),
            )
        })
    }
}

/// Sets the buffers `x` (n elements) and `out` (the blocks' bytes): non-NULL unless n is 0, elements aligned, not overlapping.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_quantize_blocks_bf16(
    op: *mut nnk_operator,
    x: *const u16,
    out: *mut c_void,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |b| match b {
                    Body::BlocksBf16(o) if o.direction() == Direction::Quantize => Some(o),
                    _ => None,
                },
                |o| o.setup(x.cast_mut(), out.cast()),
            )
        })
    }
}

/// Creates an operator dequantizing GGUF blocks of `format` to bfloat16 (uint16_t bits) elements (see
/// `nnk_dequantize_blocks_bf16` for the results and `flags`). Unknown format or flags:
/// `NNK_STATUS_INVALID_PARAMETER`, nothing written to `*op`.
///
/// # Safety
/// `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_dequantize_blocks_bf16(
    format: u32,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create::<Bf16>(Direction::Dequantize, format, flags, op, Body::BlocksBf16)
}

/// Sets the element count `n` (a multiple of the block size; 0 runs as a no-op). An operator
/// of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_dequantize_blocks_bf16(
    op: *mut nnk_operator,
    n: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(
                |b| match b {
                    Body::BlocksBf16(o) if o.direction() == Direction::Dequantize => Some(o),
                    _ => None,
                },
                |o| o.reshape(n),
            )
        })
    }
}

/// Sets the buffers `in` (the blocks' bytes) and `y` (n elements): non-NULL unless n is 0, elements aligned, not overlapping.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_dequantize_blocks_bf16(
    op: *mut nnk_operator,
    r#in: *const c_void,
    y: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(
                |b| match b {
                    Body::BlocksBf16(o) if o.direction() == Direction::Dequantize => Some(o),
                    _ => None,
                },
                |o| o.setup(y, r#in.cast_mut().cast()),
            )
        })
    }
}
