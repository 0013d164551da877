//! AVX2 + F16C conversion kernels: 32 elements per main-loop iteration in two 16-element steps;
//! a tail of fewer than 16 goes through a stack copy (AVX2 has no 16-bit masked load/store).

use std::arch::x86_64::*;
use std::ptr::copy_nonoverlapping;

/// 8 f32 (as integer lanes) → 8 bf16 values in the low 16 bits of each lane, round to nearest
/// even, NaN quieted (same bits as [`crate::ukernels::cvt::f32_to_bf16`]).
///
/// # Safety
/// Callable only where the CPU supports the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn f32x8_to_bf16_lanes(x: __m256) -> __m256i {
    let xi = _mm256_castps_si256(x);
    let hi = _mm256_srli_epi32::<16>(xi);
    let lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    let biased = _mm256_add_epi32(_mm256_add_epi32(xi, _mm256_set1_epi32(0x7FFF)), lsb);
    let rounded = _mm256_srli_epi32::<16>(biased);
    let quiet = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
    let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
    _mm256_blendv_epi8(rounded, quiet, nan)
}

/// 16 f32 → 16 bf16 bits.
///
/// # Safety
/// Callable only where the CPU supports the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn f32x16_to_bf16(a: __m256, b: __m256) -> __m256i {
    // Lanes hold values <= 0xFFFF, so the unsigned-saturating pack is exact; it interleaves
    // 128-bit halves (a0 b0 a1 b1), which the permute puts back in order.
    let packed = _mm256_packus_epi32(f32x8_to_bf16_lanes(a), f32x8_to_bf16_lanes(b));
    _mm256_permute4x64_epi64::<0b11_01_10_00>(packed)
}

/// 8 bf16 bits → 8 f32, NaN quieted.
///
/// # Safety
/// Callable only where the CPU supports the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn bf16x8_to_f32(h: __m128i) -> __m256 {
    let v = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)));
    let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
    _mm256_or_ps(
        v,
        _mm256_and_ps(nan, _mm256_castsi256_ps(_mm256_set1_epi32(0x0040_0000))),
    )
}

/// Defines a kernel from a 16-element step `step(x, y)`: 32 per iteration, then 16, then the
/// tail through zeroed stack buffers.
macro_rules! kernel_from_step16 {
    ($(#[$doc:meta])* $name:ident, $step:ident, $in:ty, $out:ty) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support the Avx2 level; see the module contract in [`super`].
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(n: usize, x: *const $in, y: *mut $out) {
            let mut i = 0;
            while i + 32 <= n {
                // SAFETY: elements i..i+32 are inside x[..n] and y[..n].
                unsafe {
                    $step(x.add(i), y.add(i));
                    $step(x.add(i + 16), y.add(i + 16));
                }
                i += 32;
            }
            if i + 16 <= n {
                // SAFETY: elements i..i+16 are inside x[..n] and y[..n].
                unsafe { $step(x.add(i), y.add(i)) };
                i += 16;
            }
            if i < n {
                let rem = n - i;
                let mut xb = [<$in>::default(); 16];
                let mut yb = [<$out>::default(); 16];
                // SAFETY: rem < 16 elements remain in x and y; the buffers hold 16 each, and
                // the step reads and writes only the buffers.
                unsafe {
                    copy_nonoverlapping(x.add(i), xb.as_mut_ptr(), rem);
                    $step(xb.as_ptr(), yb.as_mut_ptr());
                    copy_nonoverlapping(yb.as_ptr(), y.add(i), rem);
                }
            }
        }
    };
}

/// # Safety
/// 16 elements readable at `x`, writable at `y`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f32_f16_step16(x: *const f32, y: *mut u16) {
    const RNE: i32 = _MM_FROUND_TO_NEAREST_INT;
    // SAFETY: caller guarantees 16 elements at x and y.
    unsafe {
        let a = _mm256_loadu_ps(x);
        let b = _mm256_loadu_ps(x.add(8));
        _mm_storeu_si128(y.cast(), _mm256_cvtps_ph::<RNE>(a));
        _mm_storeu_si128(y.add(8).cast(), _mm256_cvtps_ph::<RNE>(b));
    }
}

/// # Safety
/// 16 elements readable at `x`, writable at `y`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_f32_step16(x: *const u16, y: *mut f32) {
    // SAFETY: caller guarantees 16 elements at x and y.
    unsafe {
        let a = _mm_loadu_si128(x.cast());
        let b = _mm_loadu_si128(x.add(8).cast());
        _mm256_storeu_ps(y, _mm256_cvtph_ps(a));
        _mm256_storeu_ps(y.add(8), _mm256_cvtph_ps(b));
    }
}

/// # Safety
/// 16 elements readable at `x`, writable at `y`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f32_bf16_step16(x: *const f32, y: *mut u16) {
    // SAFETY: caller guarantees 16 elements at x and y.
    unsafe {
        let a = _mm256_loadu_ps(x);
        let b = _mm256_loadu_ps(x.add(8));
        _mm256_storeu_si256(y.cast(), f32x16_to_bf16(a, b));
    }
}

/// # Safety
/// 16 elements readable at `x`, writable at `y`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bf16_f32_step16(x: *const u16, y: *mut f32) {
    // SAFETY: caller guarantees 16 elements at x and y.
    unsafe {
        let a = _mm_loadu_si128(x.cast());
        let b = _mm_loadu_si128(x.add(8).cast());
        _mm256_storeu_ps(y, bf16x8_to_f32(a));
        _mm256_storeu_ps(y.add(8), bf16x8_to_f32(b));
    }
}

kernel_from_step16!(
    /// `f32_f16_vcvt__f16c_u32`
    f32_f16, f32_f16_step16, f32, u16
);
kernel_from_step16!(
    /// `f16_f32_vcvt__f16c_u32`
    f16_f32, f16_f32_step16, u16, f32
);
kernel_from_step16!(
    /// `f32_bf16_vcvt__avx2_u32`
    f32_bf16, f32_bf16_step16, f32, u16
);
kernel_from_step16!(
    /// `bf16_f32_vcvt__avx2_u32`
    bf16_f32, bf16_f32_step16, u16, f32
);
