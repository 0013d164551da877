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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
        #[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
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

// Non-temporal variants, for outputs far larger than the cache: the regular kernel brings the
// output to a 32-byte boundary (and does the tail), whole 32-byte blocks are written with
// streaming stores, and an `sfence` orders them before return.

/// 16 f32 → 16 f16 bits in one register.
///
/// # Safety
/// 16 elements readable at `x`; the CPU has the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
unsafe fn f32_f16_load16(x: *const f32) -> __m256i {
    const RNE: i32 = _MM_FROUND_TO_NEAREST_INT;
    // SAFETY: caller guarantees 16 elements at x.
    unsafe {
        let lo = _mm256_cvtps_ph::<RNE>(_mm256_loadu_ps(x));
        let hi = _mm256_cvtps_ph::<RNE>(_mm256_loadu_ps(x.add(8)));
        _mm256_set_m128i(hi, lo)
    }
}

/// 16 f32 → 16 bf16 bits in one register.
///
/// # Safety
/// 16 elements readable at `x`; the CPU has the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
unsafe fn f32_bf16_load16(x: *const f32) -> __m256i {
    // SAFETY: caller guarantees 16 elements at x.
    unsafe { f32x16_to_bf16(_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8))) }
}

/// 16 f16 → 16 f32 in two registers.
///
/// # Safety
/// 16 elements readable at `x`; the CPU has the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
unsafe fn f16_f32_load16(x: *const u16) -> (__m256, __m256) {
    // SAFETY: caller guarantees 16 elements at x.
    unsafe {
        (
            _mm256_cvtph_ps(_mm_loadu_si128(x.cast())),
            _mm256_cvtph_ps(_mm_loadu_si128(x.add(8).cast())),
        )
    }
}

/// 16 bf16 → 16 f32 in two registers.
///
/// # Safety
/// 16 elements readable at `x`; the CPU has the Avx2 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
unsafe fn bf16_f32_load16(x: *const u16) -> (__m256, __m256) {
    // SAFETY: caller guarantees 16 elements at x.
    unsafe {
        (
            bf16x8_to_f32(_mm_loadu_si128(x.cast())),
            bf16x8_to_f32(_mm_loadu_si128(x.add(8).cast())),
        )
    }
}

macro_rules! narrow_nt {
    ($(#[$doc:meta])* $name:ident, $regular:ident, $load16:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support the Avx2 level; see the module contract in [`super`].
        #[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
        pub unsafe fn $name(n: usize, x: *const f32, y: *mut u16) {
            // Elements before the output's next 32-byte boundary (y is 2-byte aligned).
            let head = ((32 - (y as usize) % 32) % 32 / 2).min(n);
            // SAFETY: elements 0..head are inside x[..n] and y[..n].
            unsafe { $regular(head, x, y) };
            let mut i = head;
            while i + 16 <= n {
                // SAFETY: elements i..i+16 are inside the buffers; y + i is 32-byte aligned.
                // Prefetches never fault, so their addresses may run past the buffer.
                unsafe {
                    let ahead = x.wrapping_add(i + 2048).cast::<i8>();
                    _mm_prefetch::<_MM_HINT_T1>(ahead);
                    _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(32));
                    _mm256_stream_si256(y.add(i).cast(), $load16(x.add(i)));
                }
                i += 16;
            }
            // SAFETY: elements i..n are inside x[..n] and y[..n].
            unsafe { $regular(n - i, x.add(i), y.add(i)) };
            _mm_sfence();
        }
    };
}

macro_rules! widen_nt {
    ($(#[$doc:meta])* $name:ident, $regular:ident, $load16:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support the Avx2 level; see the module contract in [`super`].
        #[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
        pub unsafe fn $name(n: usize, x: *const u16, y: *mut f32) {
            // Elements before the output's next 32-byte boundary (y is 4-byte aligned).
            let head = ((32 - (y as usize) % 32) % 32 / 4).min(n);
            // SAFETY: elements 0..head are inside x[..n] and y[..n].
            unsafe { $regular(head, x, y) };
            let mut i = head;
            while i + 16 <= n {
                // SAFETY: elements i..i+16 are inside the buffers; y + i is 32-byte aligned.
                unsafe {
                    let (a, b) = $load16(x.add(i));
                    _mm256_stream_ps(y.add(i), a);
                    _mm256_stream_ps(y.add(i + 8), b);
                }
                i += 16;
            }
            // SAFETY: elements i..n are inside x[..n] and y[..n].
            unsafe { $regular(n - i, x.add(i), y.add(i)) };
            _mm_sfence();
        }
    };
}

narrow_nt!(
    /// `f32_f16_vcvt__f16c_u16_nt`
    f32_f16_nt, f32_f16, f32_f16_load16
);
narrow_nt!(
    /// `f32_bf16_vcvt__avx2_u16_nt`
    f32_bf16_nt, f32_bf16, f32_bf16_load16
);
widen_nt!(
    /// `f16_f32_vcvt__f16c_u16_nt`
    f16_f32_nt, f16_f32, f16_f32_load16
);
widen_nt!(
    /// `bf16_f32_vcvt__avx2_u16_nt`
    bf16_f32_nt, bf16_f32, bf16_f32_load16
);
