//! `vcvt`: elementwise precision conversion between f32 and f16/bf16 (four families:
//! `f32_f16`, `f16_f32`, `f32_bf16`, `bf16_f32`), round to nearest even, NaN kept and quieted.
//!
//! Contract for every kernel `k(n, x, y)`: `x` points to `n` readable, element-aligned inputs
//! and `y` to `n` writable, element-aligned outputs that do not overlap them; `n` may be 0.
//! Nothing outside `x[..n]` and `y[..n]` is touched.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod scalar;

/// The signature shared by every conversion kernel.
pub type VcvtFn<I, O> = unsafe fn(n: usize, x: *const I, y: *mut O);
