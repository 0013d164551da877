//! The operator handle and the calls every operator shares.

use std::ffi::c_char;

use super::threadpool::{nnk_threadpool, pool_ref};
use super::{guard, guard_or, nnk_status};
use crate::operators::Operator;
use crate::status::{Result, Status};

const OPERATOR_MAGIC: u64 = u64::from_le_bytes(*b"nnk_op\0\x01");

/// An operator object (opaque). Create it with an `nnk_create_*` function, give it a shape with
/// `nnk_reshape_*`, buffers with `nnk_setup_*`, then call `nnk_run_operator` as often as needed;
/// free it with `nnk_delete_operator`. Distinct operators may run concurrently; one operator
/// must not be used from two threads at once.
pub struct nnk_operator {
    magic: u64,
    op: Operator,
}

/// Boxes `op` and stores the handle in `*out`.
///
/// # Safety
/// `out` must be NULL or valid for a pointer write.
pub(crate) unsafe fn publish(op: Operator, out: *mut *mut nnk_operator) -> Result<()> {
    if out.is_null() {
        return Err(Status::InvalidParameter);
    }
    let handle = Box::into_raw(Box::new(nnk_operator {
        magic: OPERATOR_MAGIC,
        op,
    }));
    // SAFETY: `out` is non-null and the caller guarantees it is writable.
    unsafe { out.write(handle) };
    Ok(())
}

/// The operator behind a handle: NULL or a pointer that is not a live operator (as far as the
/// magic tag shows) is [`Status::InvalidParameter`].
///
/// # Safety
/// `op` must be NULL or a handle from an `nnk_create_*` call that has not been deleted.
pub(crate) unsafe fn operator_mut<'a>(op: *mut nnk_operator) -> Result<&'a mut Operator> {
    // SAFETY: the caller guarantees a non-null `op` points to a live nnk_operator.
    let handle = unsafe { op.as_mut() }.ok_or(Status::InvalidParameter)?;
    if handle.magic != OPERATOR_MAGIC {
        return Err(Status::InvalidParameter);
    }
    Ok(&mut handle.op)
}

/// Shared access to the operator behind a handle, with the same checks as [`operator_mut`].
///
/// # Safety
/// As for [`operator_mut`].
pub(crate) unsafe fn operator_ref<'a>(op: *const nnk_operator) -> Result<&'a Operator> {
    // SAFETY: the caller guarantees a non-null `op` points to a live nnk_operator.
    let handle = unsafe { op.as_ref() }.ok_or(Status::InvalidParameter)?;
    if handle.magic != OPERATOR_MAGIC {
        return Err(Status::InvalidParameter);
    }
    Ok(&handle.op)
}

/// Applies `f` to the body of the operator behind `op`; `f` returns `InvalidParameter` when the
/// operator is of another type.
///
/// # Safety
/// As for [`operator_mut`].
pub(crate) unsafe fn with_operator(
    op: *mut nnk_operator,
    f: impl FnOnce(&mut Operator) -> Result<()>,
) -> nnk_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let op = unsafe { operator_mut(op) }?;
        f(op)
    })
}

/// Runs a set-up operator on `threadpool` (NULL: on the calling thread). Returns
/// `NNK_STATUS_INVALID_STATE` if the operator was not reshaped and set up since its last reshape.
///
/// # Safety
/// `op` must be NULL or a live operator handle, `threadpool` NULL or a live pool; the buffers
/// given at setup must still be valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_run_operator(
    op: *mut nnk_operator,
    threadpool: *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let op = unsafe { operator_mut(op) }?;
        // SAFETY: forwarded contract.
        let tp = unsafe { pool_ref(threadpool) }?;
        op.run(tp)
    })
}

/// Frees an operator. NULL is accepted and ignored.
///
/// # Safety
/// `op` must be NULL or a live operator handle; it is invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_delete_operator(op: *mut nnk_operator) -> nnk_status {
    guard(|| {
        if op.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded contract.
        unsafe { operator_ref(op) }?;
        // SAFETY: `op` came from Box::into_raw in `publish` and is live.
        let mut handle = unsafe { Box::from_raw(op) };
        handle.magic = 0;
        drop(handle);
        Ok(())
    })
}

/// The registry name of the microkernel the operator runs, e.g.
/// "f32_f16_vcvt__avx512skx_u64" (a static string), or NULL for a NULL or invalid handle.
///
/// # Safety
/// `op` must be NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_operator_kernel_name(op: *const nnk_operator) -> *const c_char {
    guard_or(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        match unsafe { operator_ref(op) } {
            Ok(op) => op.kernel_name().as_ptr(),
            Err(_) => std::ptr::null(),
        }
    })
}
