//! AVX-512 (F+BW+DQ+VL) conversion kernels: 64 elements per main-loop iteration, then 16, then
//! one masked step for the tail (masked loads and stores touch only the selected lanes).
//!
//! f16 uses the hardware converters (`vcvtps2ph` with an explicit round-to-nearest-even
//! immediate, so MXCSR's rounding mode does not matter; `vcvtph2ps` is exact). bf16 rounding is
//! done with integer arithmetic rather than AVX512_BF16's `vcvtneps2bf16`, which flushes
//! subnormal inputs to zero and so is not bit-exact.

use std::arch::x86_64::*;

/// Round-to-nearest-even, exceptions suppressed.
const RNE: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// Mask selecting the low `rem` lanes (`rem < 16`).
#[inline(always)]
fn tail_mask(rem: usize) -> __mmask16 {
    debug_assert!(rem < 16);
    ((1u32 << rem) - 1) as __mmask16
}

/// 16 f32 → 16 bf16 bits, round to nearest even, NaN quieted (same bits as
/// [`crate::ukernels::cvt::f32_to_bf16`]).
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
pub fn f32x16_to_bf16(x: __m512) -> __m256i {
    let xi = _mm512_castps_si512(x);
    let hi = _mm512_srli_epi32::<16>(xi);
    let lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    let biased = _mm512_add_epi32(_mm512_add_epi32(xi, _mm512_set1_epi32(0x7FFF)), lsb);
    let rounded = _mm512_srli_epi32::<16>(biased);
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
    let quiet = _mm512_or_si512(hi, _mm512_set1_epi32(0x40));
    _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet))
}

/// 16 bf16 bits → 16 f32, NaN quieted.
///
/// # Safety
/// Callable only where the CPU supports the Avx512 level.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
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

/// `f32_f16_vcvt__avx512skx_u64`
///
/// # Safety
/// The CPU must support the Avx512 level; see the module contract in [`super`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
pub unsafe fn f32_f16(n: usize, x: *const f32, y: *mut u16) {
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: elements i..i+64 are inside x[..n] and y[..n].
        unsafe {
            let a = _mm512_loadu_ps(x.add(i));
            let b = _mm512_loadu_ps(x.add(i + 16));
            let c = _mm512_loadu_ps(x.add(i + 32));
            let d = _mm512_loadu_ps(x.add(i + 48));
            _mm256_storeu_si256(y.add(i).cast(), _mm512_cvtps_ph::<RNE>(a));
            _mm256_storeu_si256(y.add(i + 16).cast(), _mm512_cvtps_ph::<RNE>(b));
            _mm256_storeu_si256(y.add(i + 32).cast(), _mm512_cvtps_ph::<RNE>(c));
            _mm256_storeu_si256(y.add(i + 48).cast(), _mm512_cvtps_ph::<RNE>(d));
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: elements i..i+16 are inside x[..n] and y[..n].
        unsafe {
            let a = _mm512_loadu_ps(x.add(i));
            _mm256_storeu_si256(y.add(i).cast(), _mm512_cvtps_ph::<RNE>(a));
        }
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: the mask selects elements i..n only; masked lanes are not accessed.
        unsafe {
            let a = _mm512_maskz_loadu_ps(m, x.add(i));
            _mm256_mask_storeu_epi16(y.add(i).cast(), m, _mm512_cvtps_ph::<RNE>(a));
        }
    }
}

/// `f16_f32_vcvt__avx512skx_u64`
///
/// # Safety
/// The CPU must support the Avx512 level; see the module contract in [`super`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
pub unsafe fn f16_f32(n: usize, x: *const u16, y: *mut f32) {
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: elements i..i+64 are inside x[..n] and y[..n].
        unsafe {
            let a = _mm256_loadu_si256(x.add(i).cast());
            let b = _mm256_loadu_si256(x.add(i + 16).cast());
            let c = _mm256_loadu_si256(x.add(i + 32).cast());
            let d = _mm256_loadu_si256(x.add(i + 48).cast());
            _mm512_storeu_ps(y.add(i), _mm512_cvtph_ps(a));
            _mm512_storeu_ps(y.add(i + 16), _mm512_cvtph_ps(b));
            _mm512_storeu_ps(y.add(i + 32), _mm512_cvtph_ps(c));
            _mm512_storeu_ps(y.add(i + 48), _mm512_cvtph_ps(d));
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: elements i..i+16 are inside x[..n] and y[..n].
        unsafe {
            _mm512_storeu_ps(
                y.add(i),
                _mm512_cvtph_ps(_mm256_loadu_si256(x.add(i).cast())),
            )
        }
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: the mask selects elements i..n only; masked lanes are not accessed.
        unsafe {
            let a = _mm256_maskz_loadu_epi16(m, x.add(i).cast());
            _mm512_mask_storeu_ps(y.add(i), m, _mm512_cvtph_ps(a));
        }
    }
}

/// `f32_bf16_vcvt__avx512skx_u64`
///
/// # Safety
/// The CPU must support the Avx512 level; see the module contract in [`super`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
pub unsafe fn f32_bf16(n: usize, x: *const f32, y: *mut u16) {
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: elements i..i+64 are inside x[..n] and y[..n].
        unsafe {
            let a = _mm512_loadu_ps(x.add(i));
            let b = _mm512_loadu_ps(x.add(i + 16));
            let c = _mm512_loadu_ps(x.add(i + 32));
            let d = _mm512_loadu_ps(x.add(i + 48));
            _mm256_storeu_si256(y.add(i).cast(), f32x16_to_bf16(a));
            _mm256_storeu_si256(y.add(i + 16).cast(), f32x16_to_bf16(b));
            _mm256_storeu_si256(y.add(i + 32).cast(), f32x16_to_bf16(c));
            _mm256_storeu_si256(y.add(i + 48).cast(), f32x16_to_bf16(d));
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: elements i..i+16 are inside x[..n] and y[..n].
        unsafe { _mm256_storeu_si256(y.add(i).cast(), f32x16_to_bf16(_mm512_loadu_ps(x.add(i)))) }
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: the mask selects elements i..n only; masked lanes are not accessed.
        unsafe {
            let a = _mm512_maskz_loadu_ps(m, x.add(i));
            _mm256_mask_storeu_epi16(y.add(i).cast(), m, f32x16_to_bf16(a));
        }
    }
}

/// `bf16_f32_vcvt__avx512skx_u64`
///
/// # Safety
/// The CPU must support the Avx512 level; see the module contract in [`super`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
pub unsafe fn bf16_f32(n: usize, x: *const u16, y: *mut f32) {
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: elements i..i+64 are inside x[..n] and y[..n].
        unsafe {
            let a = _mm256_loadu_si256(x.add(i).cast());
            let b = _mm256_loadu_si256(x.add(i + 16).cast());
            let c = _mm256_loadu_si256(x.add(i + 32).cast());
            let d = _mm256_loadu_si256(x.add(i + 48).cast());
            _mm512_storeu_ps(y.add(i), bf16x16_to_f32(a));
            _mm512_storeu_ps(y.add(i + 16), bf16x16_to_f32(b));
            _mm512_storeu_ps(y.add(i + 32), bf16x16_to_f32(c));
            _mm512_storeu_ps(y.add(i + 48), bf16x16_to_f32(d));
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: elements i..i+16 are inside x[..n] and y[..n].
        unsafe {
            _mm512_storeu_ps(
                y.add(i),
                bf16x16_to_f32(_mm256_loadu_si256(x.add(i).cast())),
            )
        }
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: the mask selects elements i..n only; masked lanes are not accessed.
        unsafe {
            let a = _mm256_maskz_loadu_epi16(m, x.add(i).cast());
            _mm512_mask_storeu_ps(y.add(i), m, bf16x16_to_f32(a));
        }
    }
}
