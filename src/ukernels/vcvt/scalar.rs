//! Portable conversion kernels: one element at a time through [`crate::ukernels::cvt`].

use crate::ukernels::cvt;

/// # Safety
/// See the module contract in [`super`].
#[inline(always)]
unsafe fn map<I: Copy, O>(n: usize, x: *const I, y: *mut O, f: impl Fn(I) -> O) {
    for i in 0..n {
        // SAFETY: i < n, and the caller guarantees x[..n] readable and y[..n] writable.
        unsafe { y.add(i).write(f(x.add(i).read())) }
    }
}

/// `f32_f16_vcvt__scalar_u1`
///
/// # Safety
/// See the module contract in [`super`].
pub unsafe fn f32_f16(n: usize, x: *const f32, y: *mut u16) {
    // SAFETY: forwarded contract.
    unsafe { map(n, x, y, cvt::f32_to_f16) }
}

/// `f16_f32_vcvt__scalar_u1`
///
/// # Safety
/// See the module contract in [`super`].
pub unsafe fn f16_f32(n: usize, x: *const u16, y: *mut f32) {
    // SAFETY: forwarded contract.
    unsafe { map(n, x, y, cvt::f16_to_f32) }
}

/// `f32_bf16_vcvt__scalar_u1`
///
/// # Safety
/// See the module contract in [`super`].
pub unsafe fn f32_bf16(n: usize, x: *const f32, y: *mut u16) {
    // SAFETY: forwarded contract.
    unsafe { map(n, x, y, cvt::f32_to_bf16) }
}

/// `bf16_f32_vcvt__scalar_u1`
///
/// # Safety
/// See the module contract in [`super`].
pub unsafe fn bf16_f32(n: usize, x: *const u16, y: *mut f32) {
    // SAFETY: forwarded contract.
    unsafe { map(n, x, y, cvt::bf16_to_f32) }
}
