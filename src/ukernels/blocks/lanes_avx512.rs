//! [`Q16`] for the AVX-512 vector [`Z16`].

use std::arch::x86_64::*;

use super::lanes::Q16;
use crate::ukernels::blockwise::tables::{
    BUCKET_BASE_SHIFT, BUCKET_LOW, BUCKET_SHIFT, BUCKETS, Buckets,
};
use crate::ukernels::simd::avx512::Z16;

// SAFETY (every `unsafe` block in this impl that only calls intrinsics): `Z16` is only used
// inside functions compiled with the Avx512 level's target features, which are only called on
// CPUs that have them; these methods inline into them.
impl Q16 for Z16 {
    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_abs_ps(self.0)) }
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            Z16(_mm512_roundscale_ps::<
                { _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC },
            >(self.0))
        }
    }
    #[inline(always)]
    fn nearest_int(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let v = _mm512_castps_si512(_mm512_add_ps(self.0, _mm512_set1_ps(12582912.0)));
            let i = _mm512_sub_epi32(
                _mm512_and_si512(v, _mm512_set1_epi32(0x007F_FFFF)),
                _mm512_set1_epi32(0x0040_0000),
            );
            Z16(_mm512_cvtepi32_ps(i))
        }
    }
    #[inline(always)]
    fn blend(mask: u32, a: Self, b: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_mask_blend_ps(mask as __mmask16, b.0, a.0)) }
    }
    #[inline(always)]
    fn bits(bits: u32, v: f32) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_maskz_mov_ps(bits as __mmask16, _mm512_set1_ps(v))) }
    }
    #[inline(always)]
    fn permute(table: Self, idx: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_permutexvar_ps(_mm512_cvttps_epi32(idx.0), table.0)) }
    }
    #[inline(always)]
    unsafe fn load_field(p: *const u8, shift: u32, mask: u32) -> Self {
        // SAFETY: 16 readable bytes (caller); see the impl comment.
        unsafe { Z16(_mm512_cvtepi32_ps(field(p, shift, mask))) }
    }
    #[inline(always)]
    unsafe fn load_field5(lo: *const u8, shift: u32, hi: *const u8, bit: u32) -> Self {
        // SAFETY: 16 readable bytes at each (caller); see the impl comment.
        unsafe {
            let (l, h) = (field(lo, shift, 15), field(hi, bit, 1));
            Z16(_mm512_cvtepi32_ps(_mm512_or_si512(
                l,
                _mm512_slli_epi32::<4>(h),
            )))
        }
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const u8) -> Self {
        // SAFETY: 16 readable bytes (caller); see the impl comment.
        unsafe {
            Z16(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                p.cast(),
            ))))
        }
    }
    #[inline(always)]
    unsafe fn gather(p: *const f32, stride: usize) -> Self {
        // SAFETY: the 16 gathered elements are readable (caller); see the impl comment.
        unsafe {
            let idx = _mm512_mullo_epi32(
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                _mm512_set1_epi32(stride as i32),
            );
            Z16(_mm512_i32gather_ps::<4>(idx, p.cast()))
        }
    }
    #[inline(always)]
    unsafe fn store_i8(self, p: *mut u8) {
        // SAFETY: 16 writable bytes (caller); see the impl comment. `vpmovdb` truncates.
        unsafe { _mm_storeu_si128(p.cast(), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(self.0))) }
    }
    #[inline(always)]
    fn hmax16(v: &[Self; 16]) -> Self {
        reduce16::<false>(v)
    }
    #[inline(always)]
    fn hsum16(v: &[Self; 16]) -> Self {
        reduce16::<true>(v)
    }
    #[inline(always)]
    unsafe fn store_nibbles(lo: Self, hi: Self, p: *mut u8) {
        // SAFETY: 16 writable bytes (caller); see the impl comment.
        unsafe {
            let v = _mm512_or_si512(
                _mm512_cvttps_epi32(lo.0),
                _mm512_slli_epi32::<4>(_mm512_cvttps_epi32(hi.0)),
            );
            _mm_storeu_si128(p.cast(), _mm512_cvtepi32_epi8(v))
        }
    }
    #[inline(always)]
    fn max_bits(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            Z16(_mm512_castsi512_ps(_mm512_max_epi32(
                _mm512_castps_si512(self.0),
                _mm512_castps_si512(o.0),
            )))
        }
    }
    #[inline(always)]
    unsafe fn store_6bit(self, p: *mut u8) {
        // SAFETY: 12 writable bytes (caller; the masked store touches only those); see the
        // impl comment. Each lane's code is shifted to its place in its group of four, the
        // groups ORed together in each 128-bit lane, the four 24-bit groups collected.
        unsafe {
            let v = _mm512_and_si512(_mm512_cvttps_epi32(self.0), _mm512_set1_epi32(63));
            let sh = _mm512_setr_epi32(0, 6, 12, 18, 0, 6, 12, 18, 0, 6, 12, 18, 0, 6, 12, 18);
            let t = _mm512_sllv_epi32(v, sh);
            let t = _mm512_or_si512(t, _mm512_srli_epi64::<32>(t));
            let t = _mm512_or_si512(t, _mm512_bsrli_epi128::<8>(t));
            let idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            let w = _mm512_castsi512_si128(_mm512_permutexvar_epi32(idx, t));
            let sel = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
            _mm_mask_storeu_epi8(p.cast(), 0x0FFF, _mm_shuffle_epi8(w, sel))
        }
    }
    #[inline(always)]
    unsafe fn load_6bit(p: *const u8) -> Self {
        // SAFETY: 12 readable bytes (caller; the masked load reads only those); see the impl
        // comment.
        unsafe {
            let b = _mm_maskz_loadu_epi8(0x0FFF, p.cast());
            let sel = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
            let w = _mm512_castsi128_si512(_mm_shuffle_epi8(b, sel));
            let idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            let sh = _mm512_setr_epi32(0, 6, 12, 18, 0, 6, 12, 18, 0, 6, 12, 18, 0, 6, 12, 18);
            let c = _mm512_and_si512(
                _mm512_srlv_epi32(_mm512_permutexvar_epi32(idx, w), sh),
                _mm512_set1_epi32(63),
            );
            Z16(_mm512_cvtepi32_ps(c))
        }
    }
    #[inline(always)]
    fn search16(mids: Self, v: Self) -> Self {
        // The positions stay integers: each step is an add, a permute, a compare and a masked
        // add (the float default converts the index at every step).
        // SAFETY: see the impl comment.
        unsafe {
            let mut pos = _mm512_setzero_si512();
            for step in [8, 4, 2, 1] {
                let idx = _mm512_add_epi32(pos, _mm512_set1_epi32(step - 1));
                let m = _mm512_permutexvar_ps(idx, mids.0);
                let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v.0, m);
                pos = _mm512_mask_add_epi32(pos, gt, pos, _mm512_set1_epi32(step));
            }
            Z16(_mm512_cvtepi32_ps(pos))
        }
    }
    #[inline(always)]
    fn search_buckets(t: &Buckets, v: Self) -> Self {
        // SAFETY: see the impl comment; the gather indices are below 2 · BUCKETS, inside
        // `t.entries` (the key is clamped to BUCKETS values, the sign adds BUCKETS or 0).
        unsafe {
            let b = _mm512_castps_si512(v.0);
            let a = _mm512_and_si512(b, _mm512_set1_epi32(0x7FFF_FFFF));
            let sign = _mm512_srai_epi32::<31>(b);
            let key = _mm512_min_epu32(
                _mm512_max_epu32(
                    _mm512_srli_epi32::<BUCKET_SHIFT>(a),
                    _mm512_set1_epi32(t.lo as i32),
                ),
                _mm512_set1_epi32((t.lo + BUCKETS as u32 - 1) as i32),
            );
            let idx = _mm512_add_epi32(
                _mm512_sub_epi32(key, _mm512_set1_epi32(t.lo as i32)),
                _mm512_and_si512(sign, _mm512_set1_epi32(BUCKETS as i32)),
            );
            let e = _mm512_i32gather_epi32::<4>(idx, t.entries.as_ptr().cast());
            let low = _mm512_and_si512(
                _mm512_xor_si512(a, sign),
                _mm512_set1_epi32(BUCKET_LOW as i32),
            );
            let above = _mm512_cmpgt_epi32_mask(
                low,
                _mm512_and_si512(e, _mm512_set1_epi32(BUCKET_LOW as i32)),
            );
            let base = _mm512_srli_epi32::<BUCKET_BASE_SHIFT>(e);
            Z16(_mm512_cvtepi32_ps(_mm512_mask_add_epi32(
                base,
                above,
                base,
                _mm512_set1_epi32(1),
            )))
        }
    }
    #[inline(always)]
    fn int_to_bits(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Z16(_mm512_castsi512_ps(_mm512_cvttps_epi32(self.0))) }
    }
    #[inline(always)]
    fn hmax_bits(self) -> u32 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_reduce_max_epi32(_mm512_castps_si512(self.0)) as u32 }
    }
    #[inline(always)]
    fn and_bits(self, mask: u32) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            Z16(_mm512_castsi512_ps(_mm512_and_si512(
                _mm512_castps_si512(self.0),
                _mm512_set1_epi32(mask as i32),
            )))
        }
    }
    #[inline(always)]
    fn bits_sub_shr(self, sub: u32, shift: u32) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            Z16(_mm512_cvtepi32_ps(_mm512_srl_epi32(
                _mm512_sub_epi32(_mm512_castps_si512(self.0), _mm512_set1_epi32(sub as i32)),
                _mm_cvtsi32_si128(shift as i32),
            )))
        }
    }
    #[inline(always)]
    unsafe fn lookup(table: *const f32, idx: Self) -> Self {
        // SAFETY: every index inside the table (caller); see the impl comment.
        unsafe {
            Z16(_mm512_i32gather_ps::<4>(
                _mm512_cvttps_epi32(idx.0),
                table.cast(),
            ))
        }
    }
    #[inline(always)]
    unsafe fn store_nibble_pairs(self, p: *mut u8, high_first: bool) {
        // SAFETY: 8 writable bytes (caller); see the impl comment. Lanes 2i and 2i + 1 form
        // one 64-bit lane; its low byte gets both nibbles, `vpmovqb` keeps it.
        unsafe {
            let v = _mm512_and_si512(_mm512_cvttps_epi32(self.0), _mm512_set1_epi32(15));
            let t = if high_first {
                _mm512_or_si512(_mm512_slli_epi64::<4>(v), _mm512_srli_epi64::<32>(v))
            } else {
                _mm512_or_si512(v, _mm512_srli_epi64::<28>(v))
            };
            _mm_storel_epi64(p.cast(), _mm512_cvtepi64_epi8(t))
        }
    }
    #[inline(always)]
    unsafe fn load_nibble_pairs(p: *const u8, high_first: bool) -> Self {
        // SAFETY: 8 readable bytes (caller); see the impl comment.
        unsafe {
            let b = _mm512_cvtepu8_epi64(_mm_loadl_epi64(p.cast()));
            let (lo, hi) = (
                _mm512_and_si512(b, _mm512_set1_epi64(15)),
                _mm512_srli_epi64::<4>(b),
            );
            let (first, second) = if high_first { (hi, lo) } else { (lo, hi) };
            Z16(_mm512_cvtepi32_ps(_mm512_or_si512(
                first,
                _mm512_slli_epi64::<32>(second),
            )))
        }
    }
}

/// Lane `k` is the maximum (`SUM`: the sum) of the lanes of `v[k]`: a shuffle network of
/// four stages, one shuffle pair and one operation serving two vectors per stage (sums in
/// this order, so the callers' sums must be exact in any order).
#[inline(always)]
fn reduce16<const SUM: bool>(v: &[Z16; 16]) -> Z16 {
    // SAFETY: as in the impl comment of `Q16 for Z16`: called only from its methods.
    unsafe {
        // 16 → 8: each vector's 256-bit halves (then quarters, pairs, lanes) are combined
        // with the same stage of its neighbours. After the last stage lane 4c + j holds
        // vector c + 4j.
        let mut w = [_mm512_setzero_ps(); 8];
        for i in 0..8 {
            let (a, b) = (v[2 * i].0, v[2 * i + 1].0);
            w[i] = op::<SUM>(
                _mm512_shuffle_f32x4::<0x44>(a, b),
                _mm512_shuffle_f32x4::<0xEE>(a, b),
            );
        }
        let mut x = [_mm512_setzero_ps(); 4];
        for i in 0..4 {
            let (a, b) = (w[2 * i], w[2 * i + 1]);
            x[i] = op::<SUM>(
                _mm512_shuffle_f32x4::<0x88>(a, b),
                _mm512_shuffle_f32x4::<0xDD>(a, b),
            );
        }
        let mut y = [_mm512_setzero_ps(); 2];
        for i in 0..2 {
            let (a, b) = (x[2 * i], x[2 * i + 1]);
            y[i] = op::<SUM>(
                _mm512_shuffle_ps::<0x88>(a, b),
                _mm512_shuffle_ps::<0xDD>(a, b),
            );
        }
        let z = op::<SUM>(
            _mm512_shuffle_ps::<0x88>(y[0], y[1]),
            _mm512_shuffle_ps::<0xDD>(y[0], y[1]),
        );
        // Lane k of the result is lane 4(k % 4) + k / 4 of z.
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        Z16(_mm512_permutexvar_ps(idx, z))
    }
}

/// `a + b` (`SUM`) or `max(a, b)`.
#[inline(always)]
fn op<const SUM: bool>(a: __m512, b: __m512) -> __m512 {
    // SAFETY: as in the impl comment of `Q16 for Z16`: called only from `reduce16`.
    unsafe {
        if SUM {
            _mm512_add_ps(a, b)
        } else {
            _mm512_max_ps(a, b)
        }
    }
}

/// Lane `i` is `(p[i] >> shift) & mask`, as 32-bit integers.
///
/// # Safety
/// 16 readable bytes at `p`; AVX-512 F available.
#[inline(always)]
unsafe fn field(p: *const u8, shift: u32, mask: u32) -> __m512i {
    // SAFETY: 16 readable bytes (caller); the CPU has AVX-512 F (caller).
    unsafe {
        let b = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast()));
        _mm512_and_si512(
            _mm512_srl_epi32(b, _mm_cvtsi32_si128(shift as i32)),
            _mm512_set1_epi32(mask as i32),
        )
    }
}
