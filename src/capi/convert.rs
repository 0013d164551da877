//! Precision conversion: one-shot calls and the `convert_nc` operators.

use super::operator::{nnk_operator, publish, with_operator};
use super::threadpool::{nnk_threadpool, pool_ref};
use super::{guard, initialized_isa, nnk_status};
use crate::operators::{Body, ConvertKind, ConvertOp, Operator, convert};
use crate::status::{Result, Status};

fn create(flags: u32, kind: ConvertKind, out: *mut *mut nnk_operator) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        if flags != 0 {
            return Err(Status::InvalidParameter);
        }
        let body = match (convert::narrow_tables(kind), convert::widen_tables(kind)) {
            (Some(t), _) => Body::ConvertNarrow(ConvertOp::new(kind, t, isa)),
            (_, Some(t)) => Body::ConvertWiden(ConvertOp::new(kind, t, isa)),
            (None, None) => return Err(Status::InternalError),
        };
        // SAFETY: the C caller guarantees `out` is NULL or writable.
        unsafe { publish(Operator::new(isa, body), out) }
    })
}

fn narrow(kind: ConvertKind) -> impl FnOnce(&mut Body) -> Option<&mut ConvertOp<f32, u16>> {
    move |b| match b {
        Body::ConvertNarrow(c) if c.kind() == kind => Some(c),
        _ => None,
    }
}

fn widen(kind: ConvertKind) -> impl FnOnce(&mut Body) -> Option<&mut ConvertOp<u16, f32>> {
    move |b| match b {
        Body::ConvertWiden(c) if c.kind() == kind => Some(c),
        _ => None,
    }
}

/// One-shot conversion of `n` elements.
///
/// # Safety
/// C caller's contract: buffers valid for `n` elements, `tp` NULL or live.
unsafe fn one_shot<I, O>(
    tables: Option<convert::Tables<I, O>>,
    n: usize,
    x: *const I,
    y: *mut O,
    tp: *mut nnk_threadpool,
) -> Result<()> {
    let isa = initialized_isa()?;
    let tables = tables.ok_or(Status::InternalError)?;
    // SAFETY: forwarded contract.
    let tp = unsafe { pool_ref(tp) }?;
    // SAFETY: forwarded contract.
    unsafe { convert::convert_vector(tables, isa, n, x, y, tp) }
}

/// Converts `n` elements from f32 to IEEE binary16 (f16), rounded to nearest even (overflow
/// gives infinity).
/// NaN stays NaN (made quiet, sign and top payload bits kept); infinities and subnormals are
/// exact. `n == 0` succeeds without touching anything; otherwise `x` and `y` must be non-NULL, element-aligned and must not overlap
/// (`NNK_STATUS_INVALID_PARAMETER`, nothing written). `tp` may be NULL (calling thread).
///
/// # Safety
/// `x` must be readable and `y` writable for `n` elements; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_convert_f32_f16(
    n: usize,
    x: *const f32,
    y: *mut u16,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { one_shot(convert::narrow_tables(ConvertKind::F32F16), n, x, y, tp) })
}

/// Creates an operator converting `[batch][channels]` rows from f32 to IEEE binary16 (f16) (see
/// `nnk_convert_f32_f16` for the rounding rules). `flags` must be 0. Writes the handle to
/// `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_convert_nc_f32_f16(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(flags, ConvertKind::F32F16, op)
}

/// Sets the shape: `batch` rows of `channels` elements (>= 1), `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch` may be 0 (run does nothing).
/// An operator of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_convert_nc_f32_f16(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(narrow(ConvertKind::F32F16), |c| {
                c.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers for the reshaped shape: non-NULL (unless batch is 0), element-aligned, not
/// overlapping. `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_convert_nc_f32_f16(
    op: *mut nnk_operator,
    input: *const f32,
    output: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(narrow(ConvertKind::F32F16), |c| c.setup(input, output))
        })
    }
}

/// Converts `n` elements from IEEE binary16 (f16) to f32, exactly.
/// NaN stays NaN (made quiet, sign and top payload bits kept); infinities and subnormals are
/// exact. `n == 0` succeeds without touching anything; otherwise `x` and `y` must be non-NULL, element-aligned and must not overlap
/// (`NNK_STATUS_INVALID_PARAMETER`, nothing written). `tp` may be NULL (calling thread).
///
/// # Safety
/// `x` must be readable and `y` writable for `n` elements; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_convert_f16_f32(
    n: usize,
    x: *const u16,
    y: *mut f32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { one_shot(convert::widen_tables(ConvertKind::F16F32), n, x, y, tp) })
}

/// Creates an operator converting `[batch][channels]` rows from IEEE binary16 (f16) to f32 (see
/// `nnk_convert_f16_f32` for the rounding rules). `flags` must be 0. Writes the handle to
/// `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_convert_nc_f16_f32(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(flags, ConvertKind::F16F32, op)
}

/// Sets the shape: `batch` rows of `channels` elements (>= 1), `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch` may be 0 (run does nothing).
/// An operator of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_convert_nc_f16_f32(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(widen(ConvertKind::F16F32), |c| {
                c.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers for the reshaped shape: non-NULL (unless batch is 0), element-aligned, not
/// overlapping. `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_convert_nc_f16_f32(
    op: *mut nnk_operator,
    input: *const u16,
    output: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(widen(ConvertKind::F16F32), |c| c.setup(input, output))
        })
    }
}

/// Converts `n` elements from f32 to bfloat16, rounded to nearest even (overflow gives
/// infinity).
/// NaN stays NaN (made quiet, sign and top payload bits kept); infinities and subnormals are
/// exact. `n == 0` succeeds without touching anything; otherwise `x` and `y` must be non-NULL, element-aligned and must not overlap
/// (`NNK_STATUS_INVALID_PARAMETER`, nothing written). `tp` may be NULL (calling thread).
///
/// # Safety
/// `x` must be readable and `y` writable for `n` elements; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_convert_f32_bf16(
    n: usize,
    x: *const f32,
    y: *mut u16,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { one_shot(convert::narrow_tables(ConvertKind::F32Bf16), n, x, y, tp) })
}

/// Creates an operator converting `[batch][channels]` rows from f32 to bfloat16 (see
/// `nnk_convert_f32_bf16` for the rounding rules). `flags` must be 0. Writes the handle to
/// `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_convert_nc_f32_bf16(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(flags, ConvertKind::F32Bf16, op)
}

/// Sets the shape: `batch` rows of `channels` elements (>= 1), `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch` may be 0 (run does nothing).
/// An operator of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_convert_nc_f32_bf16(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(narrow(ConvertKind::F32Bf16), |c| {
                c.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers for the reshaped shape: non-NULL (unless batch is 0), element-aligned, not
/// overlapping. `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_convert_nc_f32_bf16(
    op: *mut nnk_operator,
    input: *const f32,
    output: *mut u16,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(narrow(ConvertKind::F32Bf16), |c| c.setup(input, output))
        })
    }
}

/// Converts `n` elements from bfloat16 to f32, exactly.
/// NaN stays NaN (made quiet, sign and top payload bits kept); infinities and subnormals are
/// exact. `n == 0` succeeds without touching anything; otherwise `x` and `y` must be non-NULL, element-aligned and must not overlap
/// (`NNK_STATUS_INVALID_PARAMETER`, nothing written). `tp` may be NULL (calling thread).
///
/// # Safety
/// `x` must be readable and `y` writable for `n` elements; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_convert_bf16_f32(
    n: usize,
    x: *const u16,
    y: *mut f32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { one_shot(convert::widen_tables(ConvertKind::Bf16F32), n, x, y, tp) })
}

/// Creates an operator converting `[batch][channels]` rows from bfloat16 to f32 (see
/// `nnk_convert_bf16_f32` for the rounding rules). `flags` must be 0. Writes the handle to
/// `*op`; nothing is written on failure.
///
/// # Safety
/// `op` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_convert_nc_bf16_f32(
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    create(flags, ConvertKind::Bf16F32, op)
}

/// Sets the shape: `batch` rows of `channels` elements (>= 1), `input_stride` and
/// `output_stride` elements apart (each >= channels). `batch` may be 0 (run does nothing).
/// An operator of another type is `NNK_STATUS_INVALID_PARAMETER`. Setup is needed afterwards.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_convert_nc_bf16_f32(
    op: *mut nnk_operator,
    channels: usize,
    input_stride: usize,
    output_stride: usize,
    batch_size: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(widen(ConvertKind::Bf16F32), |c| {
                c.reshape(channels, input_stride, output_stride, batch_size)
            })
        })
    }
}

/// Sets the buffers for the reshaped shape: non-NULL (unless batch is 0), element-aligned, not
/// overlapping. `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle; the buffers must stay valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_convert_nc_bf16_f32(
    op: *mut nnk_operator,
    input: *const u16,
    output: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(widen(ConvertKind::Bf16F32), |c| c.setup(input, output))
        })
    }
}
