//! Softmax and log-softmax: flags, one-shot calls and the `softmax_nc` / `log_softmax_nc`
//! operators for f32, f16 and bf16 rows.

use super::operator::{nnk_operator, publish, with_operator};
use super::threadpool::{nnk_threadpool, pool_ref};
use super::{guard, initialized_isa, nnk_status};
use crate::operators::softmax::{self as sm, SoftmaxKind, SoftmaxOp};
use crate::operators::{Body, Operator};
use crate::status::Result;
use crate::ukernels::simd::{Bf16, F16, F32};

/// Softmax flag: results bit-identical on every ISA level and for every thread count (the
/// kernels then run without FMA: a little slower).
pub const NNK_FLAG_CONSISTENT_ARITHMETIC: u32 = 0x1;
/// Softmax flag: a row whose entries are all `-inf` gives NaN (default: zeros, and `-inf` for
/// log-softmax, as for a fully masked attention row).
pub const NNK_FLAG_NAN_ON_EMPTY_ROW: u32 = 0x2;
/// Softmax flag: force the three-pass algorithm (max; exp and sum; scale).
pub const NNK_FLAG_SOFTMAX_THREE_PASS: u32 = 0x4;
/// Softmax flag: force the two-pass algorithm (extended-exponent sum; scale). Without either
/// algorithm flag nnkern picks by row size against the cache size.
pub const NNK_FLAG_SOFTMAX_TWO_PASS: u32 = 0x8;

fn create(
    kind: SoftmaxKind,
    flags: u32,
    out: *mut *mut nnk_operator,
    body: fn(SoftmaxKind, u32, crate::isa::IsaLevel) -> Body,
) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        sm::check_flags(flags)?;
        // SAFETY: the C caller guarantees `out` is NULL or writable.
        unsafe { publish(Operator::new(isa, body(kind, flags, isa)), out) }
    })
}

fn pick_f32(kind: SoftmaxKind) -> impl FnOnce(&mut Body) -> Option<&mut SoftmaxOp<F32>> {
    move |b| match b {
        Body::SoftmaxF32(o) if o.kind() == kind => Some(o),
        _ => None,
    }
}

/// One-shot call shared by the `f32` functions.
///
/// # Safety
/// C caller's contract.
#[allow(clippy::too_many_arguments)]
unsafe fn one_shot_f32(
    kind: SoftmaxKind,
    batch: usize,
    channels: usize,
    x: *const f32,
    input_stride: usize,
    y: *mut f32,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> Result<()> {
    let isa = initialized_isa()?;
    // SAFETY: forwarded contract.
    let tp = unsafe { pool_ref(tp) }?;
    // SAFETY: forwarded contract.
    unsafe {
        sm::one_shot::<F32>(
            kind,
            isa,
            batch,
            channels,
            x,
            input_stride,
            y,
            output_stride,
            flags,
            tp,
        )
    }
}

fn pick_f16(kind: SoftmaxKind) -> impl FnOnce(&mut Body) -> Option<&mut SoftmaxOp<F16>> {
    move |b| match b {
        Body::SoftmaxF16(o) if o.kind() == kind => Some(o),
        _ => None,
    }
}

/// One-shot call shared by the `f16` functions.
///
/// # Safety
/// C caller's contract.
#[allow(clippy::too_many_arguments)]
unsafe fn one_shot_f16(
    kind: SoftmaxKind,
    batch: usize,
    channels: usize,
    x: *const u16,
    input_stride: usize,
    y: *mut u16,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> Result<()> {
    let isa = initialized_isa()?;
    // SAFETY: forwarded contract.
    let tp = unsafe { pool_ref(tp) }?;
    // SAFETY: forwarded contract.
    unsafe {
        sm::one_shot::<F16>(
            kind,
            isa,
            batch,
            channels,
            x,
            input_stride,
            y,
            output_stride,
            flags,
            tp,
        )
    }
}

fn pick_bf16(kind: SoftmaxKind) -> impl FnOnce(&mut Body) -> Option<&mut SoftmaxOp<Bf16>> {
    move |b| match b {
        Body::SoftmaxBf16(o) if o.kind() == kind => Some(o),
        _ => None,
    }
}

/// One-shot call shared by the `bf16` functions.
///
/// # Safety
/// C caller's contract.
#[allow(clippy::too_many_arguments)]
unsafe fn one_shot_bf16(
    kind: SoftmaxKind,
    batch: usize,
    channels: usize,
    x: *const u16,
    input_stride: usize,
    y: *mut u16,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> Result<()> {
    let isa = initialized_isa()?;
    // SAFETY: forwarded contract.
    let tp = unsafe { pool_ref(tp) }?;
    // SAFETY: forwarded contract.
    unsafe {
        sm::one_shot::<Bf16>(
            kind,
            isa,
            batch,
            channels,
            x,
            input_stride,
            y,
            output_stride,
            flags,
            tp,
        )
    }
}

/// Creates a softmax operator over f32 rows (softmax along the last axis).
/// `flags`: `NNK_FLAG_CONSISTENT_ARITHMETIC`, `NNK_FLAG_NAN_ON_EMPTY_ROW`,
/// `NNK_FLAG_SOFTMAX_THREE_PASS` or `NNK_FLAG_SOFTMAX_TWO_PASS` (not both); other bits are
/// `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_softmax_nc_f32(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(SoftmaxKind::Softmax, flags, op, |k, f, isa| {
        Body::SoftmaxF32(SoftmaxOp::new(k, f, isa))
    })
}

/// Sets the shape: `batch_size` rows of `channels` (>= 1) elements, `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch_size` may be 0. Picks the
/// algorithm. An operator of another type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_softmax_nc_f32(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick_f32(SoftmaxKind::Softmax), |s| {
                s.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers: non-NULL (unless the batch is 0), element-aligned; `input == output`
/// with equal strides computes in place, any other overlap is `NNK_STATUS_INVALID_PARAMETER`.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_softmax_nc_f32(
    op: *mut nnk_operator,
    input: *const f32,
    output: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick_f32(SoftmaxKind::Softmax), |s| s.setup(input, output))
        })
    }
}

/// One-shot softmax: `y = exp(x - max) / sum(exp(x - max))` over each row: `batch` rows of `channels` elements, strides in elements (>= channels);
/// `batch == 0` succeeds without touching anything. Accuracy: every output within 1e-6 relative (+1e-37 absolute) of the exact value for f32. `-inf` entries give 0
/// (log: `-inf`); a row of only `-inf` gives zeros (log: `-inf`), or NaN with
/// `NNK_FLAG_NAN_ON_EMPTY_ROW`; a NaN anywhere makes the row NaN; `+inf` entries share the
/// mass equally. Same checks and flags as the operator form; `tp` may be NULL.
///
/// # Safety
/// The buffers must be valid for the shape; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_softmax_nc_f32(
    batch: usize,
    channels: usize,
    input: *const f32,
    input_stride: usize,
    output: *mut f32,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot_f32(
            SoftmaxKind::Softmax,
            batch,
            channels,
            input,
            input_stride,
            output,
            output_stride,
            flags,
            tp,
        )
    })
}

/// Creates a softmax operator over f16 rows (softmax along the last axis).
/// `flags`: `NNK_FLAG_CONSISTENT_ARITHMETIC`, `NNK_FLAG_NAN_ON_EMPTY_ROW`,
/// `NNK_FLAG_SOFTMAX_THREE_PASS` or `NNK_FLAG_SOFTMAX_TWO_PASS` (not both); other bits are
/// `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_softmax_nc_f16(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(SoftmaxKind::Softmax, flags, op, |k, f, isa| {
        Body::SoftmaxF16(SoftmaxOp::new(k, f, isa))
    })
}

/// Sets the shape: `batch_size` rows of `channels` (>= 1) elements, `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch_size` may be 0. Picks the
/// algorithm. An operator of another type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_softmax_nc_f16(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick_f16(SoftmaxKind::Softmax), |s| {
                s.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers: non-NULL (unless the batch is 0), element-aligned; `input == output`
/// with equal strides computes in place, any other overlap is `NNK_STATUS_INVALID_PARAMETER`.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_softmax_nc_f16(
    op: *mut nnk_operator,
    input: *const u16,
    output: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick_f16(SoftmaxKind::Softmax), |s| s.setup(input, output))
        })
    }
}

/// One-shot softmax: `y = exp(x - max) / sum(exp(x - max))` over each row: `batch` rows of `channels` elements, strides in elements (>= channels);
/// `batch == 0` succeeds without touching anything. Accuracy: every output within 1e-6 relative (+1e-37 absolute) of the exact value for f32. `-inf` entries give 0
/// (log: `-inf`); a row of only `-inf` gives zeros (log: `-inf`), or NaN with
/// `NNK_FLAG_NAN_ON_EMPTY_ROW`; a NaN anywhere makes the row NaN; `+inf` entries share the
/// mass equally. Elements are f16 bits (`uint16_t`), computed in f32 and rounded once (to nearest even) on store. Same checks and flags as the operator form; `tp` may be NULL.
///
/// # Safety
/// The buffers must be valid for the shape; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_softmax_nc_f16(
    batch: usize,
    channels: usize,
    input: *const u16,
    input_stride: usize,
    output: *mut u16,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot_f16(
            SoftmaxKind::Softmax,
            batch,
            channels,
            input,
            input_stride,
            output,
            output_stride,
            flags,
            tp,
        )
    })
}

/// Creates a softmax operator over bf16 rows (softmax along the last axis).
/// `flags`: `NNK_FLAG_CONSISTENT_ARITHMETIC`, `NNK_FLAG_NAN_ON_EMPTY_ROW`,
/// `NNK_FLAG_SOFTMAX_THREE_PASS` or `NNK_FLAG_SOFTMAX_TWO_PASS` (not both); other bits are
/// `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_softmax_nc_bf16(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(SoftmaxKind::Softmax, flags, op, |k, f, isa| {
        Body::SoftmaxBf16(SoftmaxOp::new(k, f, isa))
    })
}

/// Sets the shape: `batch_size` rows of `channels` (>= 1) elements, `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch_size` may be 0. Picks the
/// algorithm. An operator of another type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_softmax_nc_bf16(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick_bf16(SoftmaxKind::Softmax), |s| {
                s.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers: non-NULL (unless the batch is 0), element-aligned; `input == output`
/// with equal strides computes in place, any other overlap is `NNK_STATUS_INVALID_PARAMETER`.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_softmax_nc_bf16(
    op: *mut nnk_operator,
    input: *const u16,
    output: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick_bf16(SoftmaxKind::Softmax), |s| s.setup(input, output))
        })
    }
}

/// One-shot softmax: `y = exp(x - max) / sum(exp(x - max))` over each row: `batch` rows of `channels` elements, strides in elements (>= channels);
/// `batch == 0` succeeds without touching anything. Accuracy: every output within 1e-6 relative (+1e-37 absolute) of the exact value for f32. `-inf` entries give 0
/// (log: `-inf`); a row of only `-inf` gives zeros (log: `-inf`), or NaN with
/// `NNK_FLAG_NAN_ON_EMPTY_ROW`; a NaN anywhere makes the row NaN; `+inf` entries share the
/// mass equally. Elements are bf16 bits (`uint16_t`), computed in f32 and rounded once (to nearest even) on store. Same checks and flags as the operator form; `tp` may be NULL.
///
/// # Safety
/// The buffers must be valid for the shape; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_softmax_nc_bf16(
    batch: usize,
    channels: usize,
    input: *const u16,
    input_stride: usize,
    output: *mut u16,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot_bf16(
            SoftmaxKind::Softmax,
            batch,
            channels,
            input,
            input_stride,
            output,
            output_stride,
            flags,
            tp,
        )
    })
}

/// Creates a log-softmax operator over f32 rows (log_softmax along the last axis).
/// `flags`: `NNK_FLAG_CONSISTENT_ARITHMETIC`, `NNK_FLAG_NAN_ON_EMPTY_ROW`,
/// `NNK_FLAG_SOFTMAX_THREE_PASS` or `NNK_FLAG_SOFTMAX_TWO_PASS` (not both); other bits are
/// `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_log_softmax_nc_f32(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(SoftmaxKind::LogSoftmax, flags, op, |k, f, isa| {
        Body::SoftmaxF32(SoftmaxOp::new(k, f, isa))
    })
}

/// Sets the shape: `batch_size` rows of `channels` (>= 1) elements, `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch_size` may be 0. Picks the
/// algorithm. An operator of another type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_log_softmax_nc_f32(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick_f32(SoftmaxKind::LogSoftmax), |s| {
                s.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers: non-NULL (unless the batch is 0), element-aligned; `input == output`
/// with equal strides computes in place, any other overlap is `NNK_STATUS_INVALID_PARAMETER`.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_log_softmax_nc_f32(
    op: *mut nnk_operator,
    input: *const f32,
    output: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick_f32(SoftmaxKind::LogSoftmax), |s| {
                s.setup(input, output)
            })
        })
    }
}

/// One-shot log-softmax: `y = x - max - ln(sum(exp(x - max)))` over each row: `batch` rows of `channels` elements, strides in elements (>= channels);
/// `batch == 0` succeeds without touching anything. Accuracy: every output within 2e-6 + 1e-6 relative of the exact value for f32. `-inf` entries give 0
/// (log: `-inf`); a row of only `-inf` gives zeros (log: `-inf`), or NaN with
/// `NNK_FLAG_NAN_ON_EMPTY_ROW`; a NaN anywhere makes the row NaN; `+inf` entries share the
/// mass equally. Same checks and flags as the operator form; `tp` may be NULL.
///
/// # Safety
/// The buffers must be valid for the shape; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_log_softmax_nc_f32(
    batch: usize,
    channels: usize,
    input: *const f32,
    input_stride: usize,
    output: *mut f32,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot_f32(
            SoftmaxKind::LogSoftmax,
            batch,
            channels,
            input,
            input_stride,
            output,
            output_stride,
            flags,
            tp,
        )
    })
}

/// Creates a log-softmax operator over f16 rows (log_softmax along the last axis).
/// `flags`: `NNK_FLAG_CONSISTENT_ARITHMETIC`, `NNK_FLAG_NAN_ON_EMPTY_ROW`,
/// `NNK_FLAG_SOFTMAX_THREE_PASS` or `NNK_FLAG_SOFTMAX_TWO_PASS` (not both); other bits are
/// `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_log_softmax_nc_f16(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(SoftmaxKind::LogSoftmax, flags, op, |k, f, isa| {
        Body::SoftmaxF16(SoftmaxOp::new(k, f, isa))
    })
}

/// Sets the shape: `batch_size` rows of `channels` (>= 1) elements, `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch_size` may be 0. Picks the
/// algorithm. An operator of another type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_log_softmax_nc_f16(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick_f16(SoftmaxKind::LogSoftmax), |s| {
                s.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers: non-NULL (unless the batch is 0), element-aligned; `input == output`
/// with equal strides computes in place, any other overlap is `NNK_STATUS_INVALID_PARAMETER`.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_log_softmax_nc_f16(
    op: *mut nnk_operator,
    input: *const u16,
    output: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick_f16(SoftmaxKind::LogSoftmax), |s| {
                s.setup(input, output)
            })
        })
    }
}

/// One-shot log-softmax: `y = x - max - ln(sum(exp(x - max)))` over each row: `batch` rows of `channels` elements, strides in elements (>= channels);
/// `batch == 0` succeeds without touching anything. Accuracy: every output within 2e-6 + 1e-6 relative of the exact value for f32. `-inf` entries give 0
/// (log: `-inf`); a row of only `-inf` gives zeros (log: `-inf`), or NaN with
/// `NNK_FLAG_NAN_ON_EMPTY_ROW`; a NaN anywhere makes the row NaN; `+inf` entries share the
/// mass equally. Elements are f16 bits (`uint16_t`), computed in f32 and rounded once (to nearest even) on store. Same checks and flags as the operator form; `tp` may be NULL.
///
/// # Safety
/// The buffers must be valid for the shape; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_log_softmax_nc_f16(
    batch: usize,
    channels: usize,
    input: *const u16,
    input_stride: usize,
    output: *mut u16,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot_f16(
            SoftmaxKind::LogSoftmax,
            batch,
            channels,
            input,
            input_stride,
            output,
            output_stride,
            flags,
            tp,
        )
    })
}

/// Creates a log-softmax operator over bf16 rows (log_softmax along the last axis).
/// `flags`: `NNK_FLAG_CONSISTENT_ARITHMETIC`, `NNK_FLAG_NAN_ON_EMPTY_ROW`,
/// `NNK_FLAG_SOFTMAX_THREE_PASS` or `NNK_FLAG_SOFTMAX_TWO_PASS` (not both); other bits are
/// `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_log_softmax_nc_bf16(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(SoftmaxKind::LogSoftmax, flags, op, |k, f, isa| {
        Body::SoftmaxBf16(SoftmaxOp::new(k, f, isa))
    })
}

/// Sets the shape: `batch_size` rows of `channels` (>= 1) elements, `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch_size` may be 0. Picks the
/// algorithm. An operator of another type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_log_softmax_nc_bf16(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick_bf16(SoftmaxKind::LogSoftmax), |s| {
                s.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers: non-NULL (unless the batch is 0), element-aligned; `input == output`
/// with equal strides computes in place, any other overlap is `NNK_STATUS_INVALID_PARAMETER`.
/// `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_log_softmax_nc_bf16(
    op: *mut nnk_operator,
    input: *const u16,
    output: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick_bf16(SoftmaxKind::LogSoftmax), |s| {
                s.setup(input, output)
            })
        })
    }
}

/// One-shot log-softmax: `y = x - max - ln(sum(exp(x - max)))` over each row: `batch` rows of `channels` elements, strides in elements (>= channels);
/// `batch == 0` succeeds without touching anything. Accuracy: every output within 2e-6 + 1e-6 relative of the exact value for f32. `-inf` entries give 0
/// (log: `-inf`); a row of only `-inf` gives zeros (log: `-inf`), or NaN with
/// `NNK_FLAG_NAN_ON_EMPTY_ROW`; a NaN anywhere makes the row NaN; `+inf` entries share the
/// mass equally. Elements are bf16 bits (`uint16_t`), computed in f32 and rounded once (to nearest even) on store. Same checks and flags as the operator form; `tp` may be NULL.
///
/// # Safety
/// The buffers must be valid for the shape; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_log_softmax_nc_bf16(
    batch: usize,
    channels: usize,
    input: *const u16,
    input_stride: usize,
    output: *mut u16,
    output_stride: usize,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe {
        one_shot_bf16(
            SoftmaxKind::LogSoftmax,
            batch,
            channels,
            input,
            input_stride,
            output,
            output_stride,
            flags,
            tp,
        )
    })
}
