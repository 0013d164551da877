//! The AVX-512 (F+BW+DQ+VL) 16-lane vector: one `__m512`, masked partial loads and stores.

use std::arch::x86_64::*;

use super::V16;
use crate::ukernels::vcvt::avx512 as cvt;

/// 16 lanes in one register.
#[derive(Clone, Copy, Debug)]
pub struct Z16(pub __m512);

/// The `_mm512_permutex2var_ps` indices of [`V16::pair_blocks`] for W = 1, 2, 4, 8 (even
/// result, odd result).
const PAIR_BLOCKS: [[[i32; 16]; 2]; 4] = {
    const fn idx(w: usize, odd: usize) -> [i32; 16] {
        let mut a = [0; 16];
        let mut i = 0;
        while i < 16 {
            a[i] = super::pair_blocks_source(w, i, odd) as i32;
            i += 1;
        }
        a
    }
    [
        [idx(1, 0), idx(1, 1)],
        [idx(2, 0), idx(2, 1)],
        [idx(4, 0), idx(4, 1)],
        [idx(8, 0), idx(8, 1)],
    ]
};

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

// SAFETY (every `unsafe` block in this impl that only calls intrinsics): `Z16` is only used
// inside functions compiled with the Avx512 level's target features, which are only called on
// CPUs that have them; these methods inline into them.
impl V16 for Z16 {
    type D = [__m512d; 2];
    const FUSED_POW2_ANY_EXPONENT: bool = true;
    const RANKS_IN_REGISTER: bool = false;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_set1_ps(v)) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_add_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_sub_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_mul_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: see the impl comment. (`vmaxps a, b` is `a > b ? a : b`.)
        unsafe { Z16(_mm512_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        // SAFETY: see the impl comment. (`vminps a, b` is `a < b ? a : b`.)
        unsafe { Z16(_mm512_min_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn fmadd<const FUSED: bool>(a: Self, b: Self, c: Self) -> Self {
        if FUSED {
            // SAFETY: see the impl comment.
            unsafe { Z16(_mm512_fmadd_ps(a.0, b.0, c.0)) }
        } else {
            a.mul(b).add(c)
        }
    }
    #[inline(always)]
    fn pow2_scale<const FUSED: bool>(p: Self, k: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            if FUSED {
                Z16(_mm512_scalef_ps(p.0, k.0))
            } else {
                let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(
                    _mm512_cvttps_epi32(k.0),
                    _mm512_set1_epi32(127),
                ));
                let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(k.0, _mm512_set1_ps(-126.0));
                Z16(_mm512_maskz_mul_ps(keep, p.0, _mm512_castsi512_ps(bits)))
            }
        }
    }
    #[inline(always)]
    fn pow2_scale_exact<const FUSED: bool>(p: Self, k: Self) -> Self {
        // SAFETY: see the impl comment. `scalef` rounds once, like the generic two-step form.
        unsafe { Z16(_mm512_scalef_ps(p.0, k.0)) }
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_div_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn recip<const FUSED: bool>(self) -> Self {
        if FUSED {
            // SAFETY: see the impl comment. 14-bit estimate r, then r + r*(1 - a*r).
            unsafe {
                let r = _mm512_rcp14_ps(self.0);
                let e = _mm512_fnmadd_ps(self.0, r, _mm512_set1_ps(1.0));
                Z16(_mm512_fmadd_ps(r, e, r))
            }
        } else {
            Self::splat(1.0).div(self)
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_sqrt_ps(self.0)) }
    }
    #[inline(always)]
    fn mask_ge(self, t: Self) -> u32 {
        // SAFETY: see the impl comment.
        unsafe { u32::from(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(self.0, t.0)) }
    }
    #[inline(always)]
    fn mask_gt(self, t: Self) -> u32 {
        // SAFETY: see the impl comment.
        unsafe { u32::from(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, t.0)) }
    }
    #[inline(always)]
    unsafe fn compress_store(self, mask: u32, out: *mut f32) -> usize {
        // SAFETY: 16 writable elements (caller); see the impl comment. (The register form plus
        // a full store: `vcompressps` to memory is microcoded on Intel cores.)
        unsafe {
            let m = mask as __mmask16;
            _mm512_storeu_ps(out, _mm512_maskz_compress_ps(m, self.0));
            m.count_ones() as usize
        }
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0);
            Z16(_mm512_mask_blend_ps(m, y.0, x.0))
        }
    }
    #[inline(always)]
    fn hmax(self) -> f32 {
        // SAFETY: see the impl comment.
        unsafe {
            let lo = _mm512_castps512_ps256(self.0);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
            super::avx2::hmax8(_mm256_max_ps(lo, hi)) // (i, i+8), then the 8-lane tree
        }
    }
    #[inline(always)]
    fn dzero() -> Self::D {
        // SAFETY: see the impl comment.
        unsafe { [_mm512_setzero_pd(); 2] }
    }
    #[inline(always)]
    fn dadd(acc: Self::D, v: Self) -> Self::D {
        // SAFETY: see the impl comment.
        unsafe {
            let lo = _mm512_castps512_ps256(v.0);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v.0)));
            [
                _mm512_add_pd(acc[0], _mm512_cvtps_pd(lo)),
                _mm512_add_pd(acc[1], _mm512_cvtps_pd(hi)),
            ]
        }
    }
    #[inline(always)]
    fn dsum(acc: Self::D) -> f64 {
        // SAFETY: see the impl comment.
        unsafe {
            let e = _mm512_add_pd(acc[0], acc[1]); // (i, i+8)
            let f = _mm256_add_pd(_mm512_castpd512_pd256(e), _mm512_extractf64x4_pd::<1>(e)); // (i, i+4)
            super::avx2::dsum4(f) // (i, i+2), (0, 1)
        }
    }
    #[inline(always)]
    fn pair_blocks<const W: usize>(a: Self, b: Self) -> (Self, Self) {
        const { assert!(W == 1 || W == 2 || W == 4 || W == 8) };
        let t = &PAIR_BLOCKS[W.trailing_zeros() as usize & 3];
        // SAFETY: see the impl comment; each index row holds 16 i32.
        unsafe {
            let (i0, i1) = (
                _mm512_loadu_si512(t[0].as_ptr().cast()),
                _mm512_loadu_si512(t[1].as_ptr().cast()),
            );
            (
                Z16(_mm512_permutex2var_ps(a.0, i0, b.0)),
                Z16(_mm512_permutex2var_ps(a.0, i1, b.0)),
            )
        }
    }
    #[inline(always)]
    fn transpose16(rows: [Self; 16]) -> [Self; 16] {
        // SAFETY: see the impl comment.
        unsafe {
            let r = rows.map(|r| r.0);
            // Pairs of rows interleaved, then 4 x 4 blocks within each 128-bit lane:
            // u[4i + p] lane L = column 4L + p of rows 4i..4i + 4.
            let t: [__m512; 16] = std::array::from_fn(|i| {
                let (a, b) = (r[i & !1], r[i | 1]);
                if i & 1 == 0 {
                    _mm512_unpacklo_ps(a, b)
                } else {
                    _mm512_unpackhi_ps(a, b)
                }
            });
            let u: [__m512; 16] = std::array::from_fn(|i| {
                let (q, p) = (i / 4, i % 4);
                let (a, b) = (t[4 * q + p / 2], t[4 * q + 2 + p / 2]);
                if p % 2 == 0 {
                    _mm512_shuffle_ps::<0x44>(a, b)
                } else {
                    _mm512_shuffle_ps::<0xEE>(a, b)
                }
            });
            // Column 4L + p = lane L of u[p], u[4 + p], u[8 + p], u[12 + p]: a 4 x 4
            // transpose of 128-bit lanes, two rounds of shuffle_f32x4.
            let mut out = [Z16(_mm512_setzero_ps()); 16];
            for p in 0..4 {
                let (a, b, c, d) = (u[p], u[4 + p], u[8 + p], u[12 + p]);
                let s0 = _mm512_shuffle_f32x4::<0x88>(a, b);
                let s1 = _mm512_shuffle_f32x4::<0xDD>(a, b);
                let s2 = _mm512_shuffle_f32x4::<0x88>(c, d);
                let s3 = _mm512_shuffle_f32x4::<0xDD>(c, d);
                out[p] = Z16(_mm512_shuffle_f32x4::<0x88>(s0, s2));
                out[4 + p] = Z16(_mm512_shuffle_f32x4::<0x88>(s1, s3));
                out[8 + p] = Z16(_mm512_shuffle_f32x4::<0xDD>(s0, s2));
                out[12 + p] = Z16(_mm512_shuffle_f32x4::<0xDD>(s1, s3));
            }
            out
        }
    }
    #[inline(always)]
    fn dlanes(acc: Self::D) -> [f64; 16] {
        let mut out = [0.0; 16];
        // SAFETY: 8 lanes at 0 and at 8 inside `out`; see the impl comment.
        unsafe {
            _mm512_storeu_pd(out.as_mut_ptr(), acc[0]);
            _mm512_storeu_pd(out.as_mut_ptr().add(8), acc[1]);
        }
        out
    }

    #[inline(always)]
    unsafe fn load_f32(p: *const f32) -> Self {
        // SAFETY: 16 readable elements (caller); see the impl comment.
        unsafe { Z16(_mm512_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn load_f32_partial(p: *const f32, n: usize, fill: f32) -> Self {
        // SAFETY: the mask selects the n readable elements only (caller); see the impl comment.
        unsafe { Z16(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask(n), p)) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> Self {
        // SAFETY: 16 readable elements (caller); see the impl comment.
        unsafe { Z16(_mm512_cvtph_ps(_mm256_loadu_si256(p.cast()))) }
    }
    #[inline(always)]
    unsafe fn load_f16_partial(p: *const u16, n: usize, fill: f32) -> Self {
        // SAFETY: the mask selects the n readable elements only (caller); see the impl comment.
        unsafe {
            let v = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask(n), p.cast()));
            Z16(_mm512_mask_blend_ps(mask(n), _mm512_set1_ps(fill), v))
        }
    }
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> Self {
        // SAFETY: 16 readable elements (caller); see the impl comment.
        unsafe { Z16(cvt::bf16x16_to_f32(_mm256_loadu_si256(p.cast()))) }
    }
    #[inline(always)]
    unsafe fn load_bf16_partial(p: *const u16, n: usize, fill: f32) -> Self {
        // SAFETY: the mask selects the n readable elements only (caller); see the impl comment.
        unsafe {
            let v = cvt::bf16x16_to_f32(_mm256_maskz_loadu_epi16(mask(n), p.cast()));
            Z16(_mm512_mask_blend_ps(mask(n), _mm512_set1_ps(fill), v))
        }
    }
    #[inline(always)]
    fn permute_lanes(self, idx: &[u32; 16]) -> Self {
        // SAFETY: `idx` holds 16 elements; see the impl comment.
        unsafe {
            Z16(_mm512_permutexvar_ps(
                _mm512_loadu_si512(idx.as_ptr().cast()),
                self.0,
            ))
        }
    }
    #[inline(always)]
    unsafe fn store_f32(self, p: *mut f32) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn stream_f32(self, p: *mut f32) {
        // SAFETY: 16 writable elements, 64-byte aligned (caller); see the impl comment.
        unsafe { _mm512_stream_ps(p, self.0) }
    }
    #[inline(always)]
    fn stream_fence() {
        // SAFETY: see the impl comment.
        unsafe { _mm_sfence() }
    }
    #[inline(always)]
    fn prefetch<const WRITE: bool>(p: *const u8) {
        super::x86_prefetch::<WRITE>(p)
    }
    #[inline(always)]
    unsafe fn store_f32_partial(self, p: *mut f32, n: usize) {
        // SAFETY: the mask selects the n writable elements only (caller); see the impl comment.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), self.0) }
    }
    #[inline(always)]
    unsafe fn store_f16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe { _mm256_storeu_si256(p.cast(), cvt::f32x16_to_f16(self.0)) }
    }
    #[inline(always)]
    unsafe fn store_f16_partial(self, p: *mut u16, n: usize) {
        // SAFETY: the mask selects the n writable elements only (caller); see the impl comment.
        unsafe { _mm256_mask_storeu_epi16(p.cast(), mask(n), cvt::f32x16_to_f16(self.0)) }
    }
    #[inline(always)]
    unsafe fn store_bf16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe { _mm256_storeu_si256(p.cast(), cvt::f32x16_to_bf16(self.0)) }
    }
    #[inline(always)]
    unsafe fn store_bf16_partial(self, p: *mut u16, n: usize) {
        // SAFETY: the mask selects the n writable elements only (caller); see the impl comment.
        unsafe { _mm256_mask_storeu_epi16(p.cast(), mask(n), cvt::f32x16_to_bf16(self.0)) }
    }
    #[inline(always)]
    unsafe fn store_bf16_hw(self, p: *mut u16) {
        // SAFETY: 16 writable elements, and the caller has AVX512_BF16 (caller).
        unsafe { _mm256_storeu_si256(p.cast(), cvt::f32x16_to_bf16_hw(self.0)) }
    }
    #[inline(always)]
    unsafe fn store_bf16_hw_partial(self, p: *mut u16, n: usize) {
        // SAFETY: the mask selects the n writable elements only, and the caller has
        // AVX512_BF16 (caller).
        unsafe { _mm256_mask_storeu_epi16(p.cast(), mask(n), cvt::f32x16_to_bf16_hw(self.0)) }
    }
}
