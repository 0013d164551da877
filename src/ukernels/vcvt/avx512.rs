//! AVX-512 (F+BW+DQ+VL) conversion kernels: 64 elements per main-loop iteration, then 16, then
//! one masked step for the tail (masked loads and stores touch only the selected lanes).
//!
//! Each family also has a `_nt` variant for outputs far larger than the cache: a masked head
//! brings the output to a 64-byte boundary, whole cache lines are written with non-temporal
//! stores (no read-for-ownership of lines that are about to be overwritten, no eviction of
//! useful data), the tail is masked, and an `sfence` orders the streamed stores before return.
//!
//! f16 uses the hardware converters (`vcvtps2ph` with an explicit round-to-nearest-even
//! immediate, so MXCSR's rounding mode does not matter; `vcvtph2ps` is exact). bf16 rounding is
//! done with integer arithmetic rather than AVX512_BF16's `vcvtneps2bf16`, which flushes
//! subnormal inputs to zero and so is not bit-exact.

use std::arch::x86_64::*;

/// Round-to-nearest-even, exceptions suppressed.
const RNE: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// How far ahead (in f32 elements) the non-temporal narrowing kernels prefetch their input.
const PREFETCH_ELEMS: usize = 2048;

/// Mask selecting the low `rem` lanes (`rem < 16`).
#[inline(always)]
fn tail_mask(rem: usize) -> __mmask16 {
    debug_assert!(rem < 16);
    ((1u32 << rem) - 1) as __mmask16
}

/// 16 f32 → 16 lanes whose high 16 bits are the bf16 result: `x + 0x7FFF + lsb` (round to
/// nearest even; carries into bit 16 exactly when rounding up), or `x | 0x0040_0000` for a
/// NaN (quiet, top payload bits kept). Same bits as [`crate::ukernels::cvt::f32_to_bf16`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
fn bf16_in_high_half(x: __m512) -> __m512i {
    let xi = _mm512_castps_si512(x);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(xi), _mm512_set1_epi32(1));
    let biased = _mm512_add_epi32(_mm512_add_epi32(xi, _mm512_set1_epi32(0x7FFF)), lsb);
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
    _mm512_mask_or_epi32(biased, nan, xi, _mm512_set1_epi32(0x0040_0000))
}

/// 16 f32 → 16 bf16 bits, round to nearest even, NaN quieted (same bits as
/// [`crate::ukernels::cvt::f32_to_bf16`]).
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn f32x16_to_bf16(x: __m512) -> __m256i {
    _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(bf16_in_high_half(x)))
}

/// 32 f32 (`a` then `b`) → 32 bf16 bits in one vector: the high halves of both rounded vectors
/// gathered by one two-source word permute (cheaper than two narrowing moves and an insert).
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn f32x32_to_bf16(a: __m512, b: __m512) -> __m512i {
    // Word 2k+1 of a (indices 0..31) for k < 16, then of b (indices 32..63).
    let odd_words = _mm512_set_epi16(
        63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, //
        31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1,
    );
    _mm512_permutex2var_epi16(bf16_in_high_half(a), odd_words, bf16_in_high_half(b))
}

/// 16 bf16 bits → 16 f32, NaN quieted.
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn bf16x16_to_f32(h: __m256i) -> __m512 {
    let v = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h));
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(_mm512_castsi512_ps(v), _mm512_castsi512_ps(v));
    _mm512_castsi512_ps(_mm512_mask_or_epi32(
        v,
        nan,
        v,
        _mm512_set1_epi32(0x0040_0000),
    ))
}

/// 16 f32 → 16 f16 bits, round to nearest even.
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn f32x16_to_f16(x: __m512) -> __m256i {
    _mm512_cvtps_ph::<RNE>(x)
}

/// 32 f32 (`a` then `b`) → 32 f16 bits in one vector.
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn f32x32_to_f16(a: __m512, b: __m512) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(f32x16_to_f16(a)), f32x16_to_f16(b))
}

/// 16 f16 bits → 16 f32 (exact).
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn f16x16_to_f32(h: __m256i) -> __m512 {
    _mm512_cvtph_ps(h)
}

/// Defines a narrowing kernel (32 f32 in → 32 u16 out per 512-bit store, 16 per masked step)
/// and its non-temporal variant.
macro_rules! narrow_kernels {
    ($features:literal, $(#[$doc:meta])* $name:ident, $(#[$doc_nt:meta])* $name_nt:ident, $conv16:ident, $conv32:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support the Avx512 level; see the module contract in [`super`].
        #[target_feature(enable = $features)]
        pub unsafe fn $name(n: usize, x: *const f32, y: *mut u16) {
            let mut i = 0;
            while i + 64 <= n {
                // SAFETY: elements i..i+64 are inside x[..n] and y[..n].
                unsafe {
                    let a = _mm512_loadu_ps(x.add(i));
                    let b = _mm512_loadu_ps(x.add(i + 16));
                    let c = _mm512_loadu_ps(x.add(i + 32));
                    let d = _mm512_loadu_ps(x.add(i + 48));
                    _mm512_storeu_si512(y.add(i).cast(), $conv32(a, b));
                    _mm512_storeu_si512(y.add(i + 32).cast(), $conv32(c, d));
                }
                i += 64;
            }
            // SAFETY: elements i..n are inside x[..n] and y[..n].
            unsafe { narrow_masked_steps(n - i, x.add(i), y.add(i), |v| $conv16(v)) };
        }

        $(#[$doc_nt])*
        ///
        /// # Safety
        /// The CPU must support the Avx512 level; see the module contract in [`super`].
        #[target_feature(enable = $features)]
        pub unsafe fn $name_nt(n: usize, x: *const f32, y: *mut u16) {
            // Elements before the output's next 64-byte boundary (y is 2-byte aligned).
            let head = ((64 - (y as usize) % 64) % 64 / 2).min(n);
            // SAFETY: elements 0..head are inside x[..n] and y[..n].
            unsafe { narrow_masked_steps(head, x, y, |v| $conv16(v)) };
            let mut i = head;
            while i + 64 <= n {
                // SAFETY: elements i..i+64 are inside the buffers; y + i is 64-byte aligned.
                // Prefetches never fault, so their addresses may run past the buffer.
                unsafe {
                    let ahead = x.wrapping_add(i + PREFETCH_ELEMS).cast::<i8>();
                    _mm_prefetch::<_MM_HINT_T1>(ahead);
                    _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(64));
                    _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(128));
                    _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(192));
                    let a = _mm512_loadu_ps(x.add(i));
                    let b = _mm512_loadu_ps(x.add(i + 16));
                    let c = _mm512_loadu_ps(x.add(i + 32));
                    let d = _mm512_loadu_ps(x.add(i + 48));
                    _mm512_stream_si512(y.add(i).cast(), $conv32(a, b));
                    _mm512_stream_si512(y.add(i + 32).cast(), $conv32(c, d));
                }
                i += 64;
            }
            // SAFETY: elements i..n are inside x[..n] and y[..n].
            unsafe { narrow_masked_steps(n - i, x.add(i), y.add(i), |v| $conv16(v)) };
            _mm_sfence();
        }
    };
}

/// Converts `n` elements with 16-wide steps, the last one masked.
///
/// # Safety
/// Avx512 CPU; `n` elements readable at `x`, writable at `y`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn narrow_masked_steps(
    n: usize,
    x: *const f32,
    y: *mut u16,
    conv: impl Fn(__m512) -> __m256i,
) {
    let mut i = 0;
    while i < n {
        let m = if n - i >= 16 {
            0xFFFF
        } else {
            tail_mask(n - i)
        };
        // SAFETY: the mask selects elements i..min(i+16, n) only; masked lanes are not accessed.
        unsafe {
            let a = _mm512_maskz_loadu_ps(m, x.add(i));
            _mm256_mask_storeu_epi16(y.add(i).cast(), m, conv(a));
        }
        i += 16;
    }
}

/// Defines a widening kernel (16 u16 in → 16 f32 out per step) and its non-temporal variant.
macro_rules! widen_kernels {
    ($(#[$doc:meta])* $name:ident, $(#[$doc_nt:meta])* $name_nt:ident, $conv:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support the Avx512 level; see the module contract in [`super`].
        #[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
        pub unsafe fn $name(n: usize, x: *const u16, y: *mut f32) {
            let mut i = 0;
            while i + 64 <= n {
                // SAFETY: elements i..i+64 are inside x[..n] and y[..n].
                unsafe {
                    let a = _mm256_loadu_si256(x.add(i).cast());
                    let b = _mm256_loadu_si256(x.add(i + 16).cast());
                    let c = _mm256_loadu_si256(x.add(i + 32).cast());
                    let d = _mm256_loadu_si256(x.add(i + 48).cast());
                    _mm512_storeu_ps(y.add(i), $conv(a));
                    _mm512_storeu_ps(y.add(i + 16), $conv(b));
                    _mm512_storeu_ps(y.add(i + 32), $conv(c));
                    _mm512_storeu_ps(y.add(i + 48), $conv(d));
                }
                i += 64;
            }
            // SAFETY: elements i..n are inside x[..n] and y[..n].
            unsafe { widen_masked_steps(n - i, x.add(i), y.add(i), |v| $conv(v)) };
        }

        $(#[$doc_nt])*
        ///
        /// # Safety
        /// The CPU must support the Avx512 level; see the module contract in [`super`].
        #[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
        pub unsafe fn $name_nt(n: usize, x: *const u16, y: *mut f32) {
            // Elements before the output's next 64-byte boundary (y is 4-byte aligned).
            let head = ((64 - (y as usize) % 64) % 64 / 4).min(n);
            // SAFETY: elements 0..head are inside x[..n] and y[..n].
            unsafe { widen_masked_steps(head, x, y, |v| $conv(v)) };
            let mut i = head;
            while i + 64 <= n {
                // SAFETY: elements i..i+64 are inside the buffers; y + i is 64-byte aligned.
                unsafe {
                    let a = _mm256_loadu_si256(x.add(i).cast());
                    let b = _mm256_loadu_si256(x.add(i + 16).cast());
                    let c = _mm256_loadu_si256(x.add(i + 32).cast());
                    let d = _mm256_loadu_si256(x.add(i + 48).cast());
                    _mm512_stream_ps(y.add(i), $conv(a));
                    _mm512_stream_ps(y.add(i + 16), $conv(b));
                    _mm512_stream_ps(y.add(i + 32), $conv(c));
                    _mm512_stream_ps(y.add(i + 48), $conv(d));
                }
                i += 64;
            }
            // SAFETY: elements i..n are inside x[..n] and y[..n].
            unsafe { widen_masked_steps(n - i, x.add(i), y.add(i), |v| $conv(v)) };
            _mm_sfence();
        }
    };
}

/// Converts `n` elements with 16-wide steps, the last one masked.
///
/// # Safety
/// Avx512 CPU; `n` elements readable at `x`, writable at `y`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn widen_masked_steps(
    n: usize,
    x: *const u16,
    y: *mut f32,
    conv: impl Fn(__m256i) -> __m512,
) {
    let mut i = 0;
    while i < n {
        let m = if n - i >= 16 {
            0xFFFF
        } else {
            tail_mask(n - i)
        };
        // SAFETY: the mask selects elements i..min(i+16, n) only; masked lanes are not accessed.
        unsafe {
            let a = _mm256_maskz_loadu_epi16(m, x.add(i).cast());
            _mm512_mask_storeu_ps(y.add(i), m, conv(a));
        }
        i += 16;
    }
}

narrow_kernels!(
    "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl",
    /// `f32_f16_vcvt__avx512skx_u64`
    f32_f16,
    /// `f32_f16_vcvt__avx512skx_u64_nt`
    f32_f16_nt,
    f32x16_to_f16,
    f32x32_to_f16
);
narrow_kernels!(
    "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl",
    /// `f32_bf16_vcvt__avx512skx_u64`
    f32_bf16,
    /// `f32_bf16_vcvt__avx512skx_u64_nt`
    f32_bf16_nt,
    f32x16_to_bf16,
    f32x32_to_bf16
);
widen_kernels!(
    /// `f16_f32_vcvt__avx512skx_u64`
    f16_f32,
    /// `f16_f32_vcvt__avx512skx_u64_nt`
    f16_f32_nt,
    f16x16_to_f32
);
widen_kernels!(
    /// `bf16_f32_vcvt__avx512skx_u64`
    bf16_f32,
    /// `bf16_f32_vcvt__avx512skx_u64_nt`
    bf16_f32_nt,
    bf16x16_to_f32
);

/// 32 f32 → 32 bf16 bits with AVX512_BF16's `vcvtne2ps2bf16`, which rounds to nearest even and
/// quiets NaNs exactly as [`crate::ukernels::cvt::f32_to_bf16`] but treats subnormal inputs as
/// zero. Vectors holding a subnormal (rare: `vfpclassps` finds them) take the integer path, so
/// the result is bit-exact for every input. About a third of the integer path's instructions,
/// which matters out of cache, where the integer path falls short of the memory roofline.
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level and AVX512_BF16.
#[inline]
#[target_feature(
    enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16"
)]
pub fn f32x32_to_bf16_hw(a: __m512, b: __m512) -> __m512i {
    const DENORMAL: i32 = 0x20;
    let subnormal = _mm512_fpclass_ps_mask::<DENORMAL>(a) | _mm512_fpclass_ps_mask::<DENORMAL>(b);
    if subnormal != 0 {
        return f32x32_to_bf16(a, b);
    }
    // SAFETY: __m512bh and __m512i are both 512-bit vectors; this only relabels the bits.
    unsafe { std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(b, a)) }
}

/// 16 f32 → 16 bf16 bits with AVX512_BF16's `vcvtneps2bf16`, bit-exact like
/// [`f32x32_to_bf16_hw`] (a vector holding a subnormal takes the integer path).
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level and AVX512_BF16.
#[inline]
#[target_feature(
    enable = "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16"
)]
pub fn f32x16_to_bf16_hw(x: __m512) -> __m256i {
    const DENORMAL: i32 = 0x20;
    if _mm512_fpclass_ps_mask::<DENORMAL>(x) != 0 {
        return f32x16_to_bf16(x);
    }
    // SAFETY: __m256bh and __m256i are both 256-bit vectors; this only relabels the bits.
    unsafe { std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(x)) }
}

narrow_kernels!(
    "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16",
    /// `f32_bf16_vcvt__avx512bf16_u64`: needs AVX512_BF16 beside the Avx512 level.
    f32_bf16_hw,
    /// `f32_bf16_vcvt__avx512bf16_u64_nt`: needs AVX512_BF16 beside the Avx512 level.
    f32_bf16_hw_nt,
    f32x16_to_bf16,
    f32x32_to_bf16_hw
);
