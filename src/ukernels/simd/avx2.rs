//! The AVX2 + FMA + F16C 16-lane vector: two `__m256` (lanes 0..8 and 8..16). Partial loads and
//! stores go through a stack copy (AVX2 has no 16-bit masked moves).

use std::arch::x86_64::*;

use super::V16;
use crate::ukernels::vcvt::avx2 as cvt;

/// Lanes 0..8 in `.0`, 8..16 in `.1`.
#[derive(Clone, Copy, Debug)]
pub struct A16(pub __m256, pub __m256);

// SAFETY (every `unsafe` block in this impl that only calls intrinsics): `A16` is only used
// inside functions compiled with `#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]` (or more),
// which check or are given a CPU with those features; these methods inline into them.
impl V16 for A16 {
    type D = [__m256d; 4];

    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_set1_ps(v), _mm256_set1_ps(v)) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_add_ps(self.0, o.0), _mm256_add_ps(self.1, o.1)) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_sub_ps(self.0, o.0), _mm256_sub_ps(self.1, o.1)) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_mul_ps(self.0, o.0), _mm256_mul_ps(self.1, o.1)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: see the impl comment. (`maxps a, b` is `a > b ? a : b`.)
        unsafe { A16(_mm256_max_ps(self.0, o.0), _mm256_max_ps(self.1, o.1)) }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        // SAFETY: see the impl comment. (`minps a, b` is `a < b ? a : b`.)
        unsafe { A16(_mm256_min_ps(self.0, o.0), _mm256_min_ps(self.1, o.1)) }
    }
    #[inline(always)]
    fn fmadd<const FUSED: bool>(a: Self, b: Self, c: Self) -> Self {
        if FUSED {
            // SAFETY: see the impl comment.
            unsafe {
                A16(
                    _mm256_fmadd_ps(a.0, b.0, c.0),
                    _mm256_fmadd_ps(a.1, b.1, c.1),
                )
            }
        } else {
            a.mul(b).add(c)
        }
    }
    #[inline(always)]
    fn pow2_scale<const FUSED: bool>(p: Self, k: Self) -> Self {
        #[inline(always)]
        fn half(p: __m256, k: __m256) -> __m256 {
            // SAFETY: see the impl comment.
            unsafe {
                let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
                    _mm256_cvttps_epi32(k),
                    _mm256_set1_epi32(127),
                ));
                let scaled = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
                let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(k, _mm256_set1_ps(-126.0));
                _mm256_andnot_ps(tiny, scaled)
            }
        }
        A16(half(p.0, k.0), half(p.1, k.1))
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_div_ps(self.0, o.0), _mm256_div_ps(self.1, o.1)) }
    }
    #[inline(always)]
    fn recip<const FUSED: bool>(self) -> Self {
        #[inline(always)]
        fn half(a: __m256) -> __m256 {
            // SAFETY: see the impl comment. 12-bit estimate r, then r + r*(1 - a*r).
            unsafe {
                let r = _mm256_rcp_ps(a);
                let e = _mm256_fnmadd_ps(a, r, _mm256_set1_ps(1.0));
                _mm256_fmadd_ps(r, e, r)
            }
        }
        if FUSED {
            A16(half(self.0), half(self.1))
        } else {
            Self::splat(1.0).div(self)
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_sqrt_ps(self.0), _mm256_sqrt_ps(self.1)) }
    }
    #[inline(always)]
    fn mask_ge(self, t: Self) -> u32 {
        // SAFETY: see the impl comment.
        unsafe {
            let lo = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(self.0, t.0)) as u32;
            let hi = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(self.1, t.1)) as u32;
            lo | (hi << 8)
        }
    }
    #[inline(always)]
    fn mask_gt(self, t: Self) -> u32 {
        // SAFETY: see the impl comment.
        unsafe {
            let lo = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(self.0, t.0)) as u32;
            let hi = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(self.1, t.1)) as u32;
            lo | (hi << 8)
        }
    }
    #[inline(always)]
    unsafe fn compress_store(self, mask: u32, out: *mut f32) -> usize {
        #[inline(always)]
        fn half(v: __m256, m: u32) -> __m256 {
            // SAFETY: see the impl comment; the table row has 8 bytes.
            unsafe {
                let idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                    COMPRESS8[(m & 0xFF) as usize].as_ptr().cast(),
                ));
                _mm256_permutevar8x32_ps(v, idx)
            }
        }
        let (lo, hi) = (mask & 0xFF, (mask >> 8) & 0xFF);
        let c = lo.count_ones() as usize;
        // SAFETY: 16 writable elements at out (caller); c + 8 <= 16.
        unsafe {
            _mm256_storeu_ps(out, half(self.0, lo));
            _mm256_storeu_ps(out.add(c), half(self.1, hi));
        }
        c + hi.count_ones() as usize
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            A16(
                _mm256_blendv_ps(y.0, x.0, _mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0)),
                _mm256_blendv_ps(y.1, x.1, _mm256_cmp_ps::<_CMP_LT_OQ>(a.1, b.1)),
            )
        }
    }
    #[inline(always)]
    fn hmax(self) -> f32 {
        // SAFETY: see the impl comment.
        unsafe {
            hmax8(_mm256_max_ps(self.0, self.1)) // (i, i+8), then the 8-lane tree
        }
    }
    #[inline(always)]
    fn dzero() -> Self::D {
        // SAFETY: see the impl comment.
        unsafe { [_mm256_setzero_pd(); 4] }
    }
    #[inline(always)]
    fn dadd(acc: Self::D, v: Self) -> Self::D {
        // SAFETY: see the impl comment.
        unsafe {
            [
                _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v.0))),
                _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v.0))),
                _mm256_add_pd(acc[2], _mm256_cvtps_pd(_mm256_castps256_ps128(v.1))),
                _mm256_add_pd(acc[3], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v.1))),
            ]
        }
    }
    #[inline(always)]
    fn dsum(acc: Self::D) -> f64 {
        // SAFETY: see the impl comment.
        unsafe {
            let e0 = _mm256_add_pd(acc[0], acc[2]); // (i, i+8), lanes 0..4
            let e1 = _mm256_add_pd(acc[1], acc[3]); // (i, i+8), lanes 4..8
            dsum4(_mm256_add_pd(e0, e1)) // (i, i+4), then (i, i+2), (0, 1)
        }
    }
    #[inline(always)]
    fn pair_blocks<const W: usize>(a: Self, b: Self) -> (Self, Self) {
        const { assert!(W == 1 || W == 2 || W == 4 || W == 8) };
        // SAFETY: see the impl comment. Blocks of 8 are the halves; of 4, 128-bit lanes; of 2
        // and 1, `shufps` within 128-bit lanes (then `[a0, a2, b0, b2]` reordered).
        unsafe {
            match W {
                8 => (A16(a.0, b.0), A16(a.1, b.1)),
                4 => (
                    A16(
                        _mm256_permute2f128_ps::<0x20>(a.0, b.0),
                        _mm256_permute2f128_ps::<0x20>(a.1, b.1),
                    ),
                    A16(
                        _mm256_permute2f128_ps::<0x31>(a.0, b.0),
                        _mm256_permute2f128_ps::<0x31>(a.1, b.1),
                    ),
                ),
                2 => (
                    A16(
                        _mm256_shuffle_ps::<0x44>(a.0, b.0),
                        _mm256_shuffle_ps::<0x44>(a.1, b.1),
                    ),
                    A16(
                        _mm256_shuffle_ps::<0xEE>(a.0, b.0),
                        _mm256_shuffle_ps::<0xEE>(a.1, b.1),
                    ),
                ),
                _ => (
                    A16(
                        _mm256_permute_ps::<0xD8>(_mm256_shuffle_ps::<0x88>(a.0, b.0)),
                        _mm256_permute_ps::<0xD8>(_mm256_shuffle_ps::<0x88>(a.1, b.1)),
                    ),
                    A16(
                        _mm256_permute_ps::<0xD8>(_mm256_shuffle_ps::<0xDD>(a.0, b.0)),
                        _mm256_permute_ps::<0xD8>(_mm256_shuffle_ps::<0xDD>(a.1, b.1)),
                    ),
                ),
            }
        }
    }
    #[inline(always)]
    fn transpose16(rows: [Self; 16]) -> [Self; 16] {
        // Four 8 x 8 transposes: column c < 8 comes from the rows' low halves, c >= 8 from
        // the high halves; lanes 0..8 from rows 0..8, lanes 8..16 from rows 8..16.
        let lo = |r: &A16| r.0;
        let hi = |r: &A16| r.1;
        let (a, b) = rows.split_at(8);
        let (c0, c1) = (transpose8(a, lo), transpose8(b, lo));
        let (c2, c3) = (transpose8(a, hi), transpose8(b, hi));
        std::array::from_fn(|i| {
            if i < 8 {
                A16(c0[i], c1[i])
            } else {
                A16(c2[i - 8], c3[i - 8])
            }
        })
    }
    #[inline(always)]
    fn dlanes(acc: Self::D) -> [f64; 16] {
        let mut out = [0.0; 16];
        for (i, a) in acc.iter().enumerate() {
            // SAFETY: 4 lanes at 4 * i inside `out`; see the impl comment.
            unsafe { _mm256_storeu_pd(out.as_mut_ptr().add(4 * i), *a) };
        }
        out
    }

    #[inline(always)]
    unsafe fn load_f32(p: *const f32) -> Self {
        // SAFETY: 16 readable elements (caller); see the impl comment.
        unsafe { A16(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
    }
    #[inline(always)]
    unsafe fn load_f32_partial(p: *const f32, n: usize, fill: f32) -> Self {
        let mut buf = [fill; 16];
        // SAFETY: n readable elements (caller); the buffer holds 16.
        unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            Self::load_f32(buf.as_ptr())
        }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> Self {
        // SAFETY: 16 readable elements (caller); see the impl comment.
        unsafe {
            A16(
                _mm256_cvtph_ps(_mm_loadu_si128(p.cast())),
                _mm256_cvtph_ps(_mm_loadu_si128(p.add(8).cast())),
            )
        }
    }
    #[inline(always)]
    unsafe fn load_f16_partial(p: *const u16, n: usize, fill: f32) -> Self {
        let mut buf = [0u16; 16];
        // SAFETY: n readable elements (caller); the buffer holds 16.
        let v = unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            Self::load_f16(buf.as_ptr())
        };
        fill_from(v, n, fill)
    }
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> Self {
        // SAFETY: 16 readable elements (caller); see the impl comment.
        unsafe {
            A16(
                cvt::bf16x8_to_f32(_mm_loadu_si128(p.cast())),
                cvt::bf16x8_to_f32(_mm_loadu_si128(p.add(8).cast())),
            )
        }
    }
    #[inline(always)]
    unsafe fn load_bf16_partial(p: *const u16, n: usize, fill: f32) -> Self {
        let mut buf = [0u16; 16];
        // SAFETY: n readable elements (caller); the buffer holds 16.
        let v = unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            Self::load_bf16(buf.as_ptr())
        };
        fill_from(v, n, fill)
    }
    #[inline(always)]
    unsafe fn store_f32(self, p: *mut f32) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe {
            _mm256_storeu_ps(p, self.0);
            _mm256_storeu_ps(p.add(8), self.1);
        }
    }
    #[inline(always)]
    unsafe fn stream_f32(self, p: *mut f32) {
        // SAFETY: 16 writable elements, 64-byte aligned (caller); see the impl comment.
        unsafe {
            _mm256_stream_ps(p, self.0);
            _mm256_stream_ps(p.add(8), self.1);
        }
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
        let mut buf = [0f32; 16];
        // SAFETY: n writable elements (caller); the buffer holds 16.
        unsafe {
            self.store_f32(buf.as_mut_ptr());
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
    #[inline(always)]
    unsafe fn store_f16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe {
            _mm_storeu_si128(
                p.cast(),
                _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(self.0),
            );
            _mm_storeu_si128(
                p.add(8).cast(),
                _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(self.1),
            );
        }
    }
    #[inline(always)]
    unsafe fn store_f16_partial(self, p: *mut u16, n: usize) {
        let mut buf = [0u16; 16];
        // SAFETY: n writable elements (caller); the buffer holds 16.
        unsafe {
            self.store_f16(buf.as_mut_ptr());
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
    #[inline(always)]
    unsafe fn store_bf16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe { _mm256_storeu_si256(p.cast(), cvt::f32x16_to_bf16(self.0, self.1)) }
    }
    #[inline(always)]
    unsafe fn store_bf16_partial(self, p: *mut u16, n: usize) {
        let mut buf = [0u16; 16];
        // SAFETY: n writable elements (caller); the buffer holds 16.
        unsafe {
            self.store_bf16(buf.as_mut_ptr());
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
}

/// `v` with lanes `n..16` replaced by `fill`.
#[inline(always)]
fn fill_from(v: A16, n: usize, fill: f32) -> A16 {
    // SAFETY: see the impl comment on `V16 for A16`.
    unsafe {
        let nf = _mm256_set1_ps(n as f32);
        let lo = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_setr_ps(0., 1., 2., 3., 4., 5., 6., 7.), nf);
        let hi =
            _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_setr_ps(8., 9., 10., 11., 12., 13., 14., 15.), nf);
        let f = _mm256_set1_ps(fill);
        A16(_mm256_blendv_ps(f, v.0, lo), _mm256_blendv_ps(f, v.1, hi))
    }
}

/// The max of 8 lanes by the tree (i, i+4), (i, i+2), (0, 1), shared with AVX-512.
#[inline(always)]
pub(crate) fn hmax8(m: __m256) -> f32 {
    // SAFETY: only reached from kernels compiled with (at least) this module's features.
    unsafe {
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m)); // (i, i+4)
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m)); // (i, i+2)
        let m = _mm_max_ss(m, _mm_movehdup_ps(m)); // (0, 1)
        _mm_cvtss_f32(m)
    }
}

/// The 8 x 8 transpose of the halves `half` picks from 8 rows.
#[inline(always)]
fn transpose8(rows: &[A16], half: impl Fn(&A16) -> __m256) -> [__m256; 8] {
    // SAFETY: only reached from kernels compiled with (at least) this module's features.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| half(&rows[i]));
        // As the AVX-512 transpose: u[4i + p] lane L = column 4L + p of rows 4i..4i + 4.
        let t: [__m256; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i & 1 == 0 {
                _mm256_unpacklo_ps(a, b)
            } else {
                _mm256_unpackhi_ps(a, b)
            }
        });
        let u: [__m256; 8] = std::array::from_fn(|i| {
            let (q, p) = (i / 4, i % 4);
            let (a, b) = (t[4 * q + p / 2], t[4 * q + 2 + p / 2]);
            if p % 2 == 0 {
                _mm256_shuffle_ps::<0x44>(a, b)
            } else {
                _mm256_shuffle_ps::<0xEE>(a, b)
            }
        });
        std::array::from_fn(|c| {
            let (l, p) = (c / 4, c % 4);
            if l == 0 {
                _mm256_permute2f128_ps::<0x20>(u[p], u[4 + p])
            } else {
                _mm256_permute2f128_ps::<0x31>(u[p], u[4 + p])
            }
        })
    }
}

/// The sum of 4 f64 lanes by the tree (i, i+2), (0, 1), shared with AVX-512.
#[inline(always)]
pub(crate) fn dsum4(f: __m256d) -> f64 {
    // SAFETY: only reached from kernels compiled with (at least) this module's features.
    unsafe {
        let g = _mm_add_pd(_mm256_castpd256_pd128(f), _mm256_extractf128_pd::<1>(f)); // (i, i+2)
        _mm_cvtsd_f64(_mm_add_sd(g, _mm_unpackhi_pd(g, g))) // (0, 1)
    }
}

/// For each 8-bit mask, the lane indices of its set bits in order (then zeros): the
/// `permutevar8x32` control that packs those lanes to the front.
static COMPRESS8: [[u8; 8]; 256] = {
    let mut t = [[0u8; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let mut c = 0;
        let mut l = 0;
        while l < 8 {
            if m & (1 << l) != 0 {
                t[m][c] = l as u8;
                c += 1;
            }
            l += 1;
        }
        m += 1;
    }
    t
};
