//! The C API: the only module with `extern "C"`. Every function here checks its arguments,
//! converts C integers to Rust types only after validating them, casts handles, and catches
//! panics so that none crosses into the host (a caught panic is `NNK_STATUS_INTERNAL_ERROR`).

#![allow(non_camel_case_types)]

use std::ffi::{CStr, c_char};

use crate::isa::{self, IsaLevel};
use crate::status::{Result, Status};

pub mod blocks;
pub mod blockwise;
pub mod convert;
pub mod gating;
pub mod operator;
pub mod softmax;
pub mod threadpool;

pub use operator::nnk_operator;
pub use threadpool::nnk_threadpool;

/// Result code of every fallible nnkern function: 0 is success, anything else an error
/// (`NNK_STATUS_*`). Codes are never reused.
pub type nnk_status = i32;

/// The call succeeded.
pub const NNK_STATUS_SUCCESS: nnk_status = 0;
/// `nnk_initialize` has not been called.
pub const NNK_STATUS_UNINITIALIZED: nnk_status = 1;
/// A pointer, size, stride, flag or enum value is invalid; nothing was written.
pub const NNK_STATUS_INVALID_PARAMETER: nnk_status = 2;
/// The call is out of order for this operator (e.g. setup before reshape, run before setup).
pub const NNK_STATUS_INVALID_STATE: nnk_status = 3;
/// A valid parameter that this build does not support.
pub const NNK_STATUS_UNSUPPORTED_PARAMETER: nnk_status = 4;
/// The CPU lacks a feature the call needs.
pub const NNK_STATUS_UNSUPPORTED_HARDWARE: nnk_status = 5;
/// Memory or threads could not be allocated.
pub const NNK_STATUS_OUT_OF_MEMORY: nnk_status = 6;
/// A bug inside nnkern was caught (a Rust panic); the process is intact but outputs of the
/// failed call are unspecified.
pub const NNK_STATUS_INTERNAL_ERROR: nnk_status = 7;

/// ISA level: portable scalar code.
pub const NNK_ISA_SCALAR: u32 = 0;
/// ISA level: x86-64 with AVX2, FMA and F16C.
pub const NNK_ISA_AVX2: u32 = 1;
/// ISA level: x86-64 with AVX-512 F, BW, DQ and VL (and the AVX2 level's features).
pub const NNK_ISA_AVX512: u32 = 2;

const _: () = {
    assert!(NNK_STATUS_UNINITIALIZED == Status::Uninitialized as i32);
    assert!(NNK_STATUS_INVALID_PARAMETER == Status::InvalidParameter as i32);
    assert!(NNK_STATUS_INVALID_STATE == Status::InvalidState as i32);
    assert!(NNK_STATUS_UNSUPPORTED_PARAMETER == Status::UnsupportedParameter as i32);
    assert!(NNK_STATUS_UNSUPPORTED_HARDWARE == Status::UnsupportedHardware as i32);
    assert!(NNK_STATUS_OUT_OF_MEMORY == Status::OutOfMemory as i32);
    assert!(NNK_STATUS_INTERNAL_ERROR == Status::InternalError as i32);
    assert!(NNK_ISA_SCALAR == IsaLevel::Scalar as u32);
    assert!(NNK_ISA_AVX2 == IsaLevel::Avx2 as u32);
    assert!(NNK_ISA_AVX512 == IsaLevel::Avx512 as u32);
};

/// Runs `f` behind the panic boundary and converts its result to a status code.
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> nnk_status {
    match crate::status::catch_quietly(f) {
        Ok(Ok(())) => NNK_STATUS_SUCCESS,
        Ok(Err(s)) => s.code(),
        Err(_) => NNK_STATUS_INTERNAL_ERROR,
    }
}

/// Runs `f` behind the panic boundary, returning `fallback` if it panics.
pub(crate) fn guard_or<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    crate::status::catch_quietly(f).unwrap_or(fallback)
}

/// [`Status::Uninitialized`] unless `nnk_initialize` has run; otherwise the level in force.
pub(crate) fn initialized_isa() -> Result<IsaLevel> {
    if isa::is_initialized() {
        Ok(isa::current())
    } else {
        Err(Status::Uninitialized)
    }
}

/// Initializes nnkern: detects the CPU (once) and reads `NNK_ISA`. Idempotent and thread-safe;
/// must be called before creating operators or making one-shot calls, which otherwise return
/// `NNK_STATUS_UNINITIALIZED`.
#[unsafe(no_mangle)]
pub extern "C" fn nnk_initialize() -> nnk_status {
    guard(|| {
        isa::initialize();
        Ok(())
    })
}

/// The ISA level in force for operators created and one-shot calls made now (`NNK_ISA_*`): the
/// CPU's level, lowered by `NNK_ISA` and `nnk_set_isa_limit`. Detects the CPU if needed.
#[unsafe(no_mangle)]
pub extern "C" fn nnk_isa() -> u32 {
    guard_or(NNK_ISA_SCALAR, || isa::current() as u32)
}

/// Sets the ISA ceiling (`NNK_ISA_*`) for operators created and one-shot calls made afterwards;
/// existing operators keep their kernels. A level above the CPU's is clamped to it. An unknown
/// value is `NNK_STATUS_INVALID_PARAMETER` and changes nothing. The environment variable
/// `NNK_ISA=scalar|avx2|avx512` sets the initial ceiling (other values are ignored).
#[unsafe(no_mangle)]
pub extern "C" fn nnk_set_isa_limit(isa: u32) -> nnk_status {
    guard(|| {
        let level = IsaLevel::from_u32(isa).ok_or(Status::InvalidParameter)?;
        isa::set_limit(level);
        Ok(())
    })
}

/// The library version, e.g. "0.1.0" (a static string).
#[unsafe(no_mangle)]
pub extern "C" fn nnk_version_string() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("version contains a NUL"),
        };
    VERSION.as_ptr()
}

/// A static, human-readable name for a status code ("success", "invalid parameter", ...);
/// "unknown status" for a code that is not an `NNK_STATUS_*` value.
#[unsafe(no_mangle)]
pub extern "C" fn nnk_status_string(status: i32) -> *const c_char {
    let s: &'static CStr = match status {
        NNK_STATUS_SUCCESS => c"success",
        NNK_STATUS_UNINITIALIZED => c"uninitialized",
        NNK_STATUS_INVALID_PARAMETER => c"invalid parameter",
        NNK_STATUS_INVALID_STATE => c"invalid state",
        NNK_STATUS_UNSUPPORTED_PARAMETER => c"unsupported parameter",
        NNK_STATUS_UNSUPPORTED_HARDWARE => c"unsupported hardware",
        NNK_STATUS_OUT_OF_MEMORY => c"out of memory",
        NNK_STATUS_INTERNAL_ERROR => c"internal error",
        _ => c"unknown status",
    };
    s.as_ptr()
}
