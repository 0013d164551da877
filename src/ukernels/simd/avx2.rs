//! The AVX2 + FMA + F16C 16-lane vector: two `__m256` (lanes 0..8 and 8..16). Partial loads and
//! stores move whole 32, 16 and 8-byte pieces, then 4, 2 and 1 bytes (see [`load_bytes`]).

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
    const BLEND_STORES_MASKED: bool = true;

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
        // SAFETY: n < 16 readable elements (caller): 4n bytes, the first 32 to lanes 0..8.
        let v = unsafe {
            let (p, nb) = (p.cast::<u8>(), 4 * n);
            let lo = load_bytes(p, nb.min(32));
            let hi = if nb > 32 {
                load_bytes(p.add(32), nb - 32)
            } else {
                _mm256_setzero_si256()
            };
            A16(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi))
        };
        fill_from(v, n, fill)
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
        // SAFETY: n < 16 readable elements (caller): 2n < 32 bytes.
        let v = unsafe {
            let b = load_bytes(p.cast(), 2 * n);
            A16(
                _mm256_cvtph_ps(_mm256_castsi256_si128(b)),
                _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(b)),
            )
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
        // SAFETY: n < 16 readable elements (caller): 2n < 32 bytes.
        let v = unsafe {
            let b = load_bytes(p.cast(), 2 * n);
            A16(
                cvt::bf16x8_to_f32(_mm256_castsi256_si128(b)),
                cvt::bf16x8_to_f32(_mm256_extracti128_si256::<1>(b)),
            )
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
        // SAFETY: n < 16 writable elements (caller): 4n bytes, the first 32 from lanes 0..8.
        unsafe {
            let (p, nb) = (p.cast::<u8>(), 4 * n);
            store_bytes(_mm256_castps_si256(self.0), p, nb.min(32));
            if nb > 32 {
                store_bytes(_mm256_castps_si256(self.1), p.add(32), nb - 32);
            }
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
        // SAFETY: n < 16 writable elements (caller): 2n < 32 bytes; see the impl comment.
        unsafe {
            let b = _mm256_set_m128i(
                _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(self.1),
                _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(self.0),
            );
            store_bytes(b, p.cast(), 2 * n);
        }
    }
    #[inline(always)]
    unsafe fn store_bf16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller); see the impl comment.
        unsafe { _mm256_storeu_si256(p.cast(), cvt::f32x16_to_bf16(self.0, self.1)) }
    }
    #[inline(always)]
    unsafe fn store_bf16_partial(self, p: *mut u16, n: usize) {
        // SAFETY: n < 16 writable elements (caller): 2n < 32 bytes; see the impl comment.
        unsafe { store_bytes(cvt::f32x16_to_bf16(self.0, self.1), p.cast(), 2 * n) }
    }
}

/// `n <= 8` bytes at `p` in the low bytes of a `u64`, the others 0: reads of 8, or of 4, 2 and
/// 1 bytes, none past `p + n`.
///
/// # Safety
/// `n` readable bytes at `p`.
#[inline(always)]
unsafe fn read_upto8(p: *const u8, n: usize) -> u64 {
    // SAFETY: each read lies inside the n bytes (caller).
    unsafe {
        if n == 8 {
            return p.cast::<u64>().read_unaligned();
        }
        let (mut v, mut o) = (0u64, 0);
        if n & 4 != 0 {
            v = u64::from(p.cast::<u32>().read_unaligned());
            o = 4;
        }
        if n & 2 != 0 {
            v |= u64::from(p.add(o).cast::<u16>().read_unaligned()) << (8 * o);
            o += 2;
        }
        if n & 1 != 0 {
            v |= u64::from(p.add(o).read()) << (8 * o);
        }
        v
    }
}

/// Writes the low `n < 8` bytes of `v` at `p` (writes of 4, 2 and 1 bytes).
///
/// # Safety
/// `n` writable bytes at `p`.
#[inline(always)]
unsafe fn write_upto7(p: *mut u8, n: usize, v: u64) {
    // SAFETY: each write lies inside the n bytes (caller).
    unsafe {
        let (mut v, mut p) = (v, p);
        if n & 4 != 0 {
            p.cast::<u32>().write_unaligned(v as u32);
            (v, p) = (v >> 32, p.add(4));
        }
        if n & 2 != 0 {
            p.cast::<u16>().write_unaligned(v as u16);
            (v, p) = (v >> 16, p.add(2));
        }
        if n & 1 != 0 {
            p.write(v as u8);
        }
    }
}

/// `n <= 32` bytes at `p`, the other bytes 0, read in registers: no byte past `p + n`, and no
/// stack copy or `memcpy` call (which cost a call, a `vzeroupper` and a failed store-forward
/// per partial vector). `vmaskmovps` would be shorter, but QEMU 7.2's `-cpu Haswell` faults on
/// its masked-off lanes at a guard page, where the tests run the AVX2 path.
///
/// # Safety
/// `n` readable bytes at `p`; AVX2.
#[inline(always)]
unsafe fn load_bytes(p: *const u8, n: usize) -> __m256i {
    // SAFETY: the reads stay inside the n bytes (caller); see the impl comment on `V16 for A16`.
    unsafe {
        if n == 32 {
            return _mm256_loadu_si256(p.cast());
        }
        if n >= 16 {
            _mm256_set_m128i(load_upto16(p.add(16), n - 16), _mm_loadu_si128(p.cast()))
        } else {
            _mm256_zextsi128_si256(load_upto16(p, n))
        }
    }
}

/// `n < 16` bytes at `p`, the other bytes 0 (a function, not a closure: closures do not
/// inherit the caller's target features).
///
/// # Safety
/// `n` readable bytes at `p`.
#[inline(always)]
unsafe fn load_upto16(p: *const u8, n: usize) -> __m128i {
    // SAFETY: the reads stay inside the n bytes (caller); SSE2 is baseline on x86-64.
    unsafe {
        if n >= 8 {
            _mm_set_epi64x(read_upto8(p.add(8), n - 8) as i64, read_upto8(p, 8) as i64)
        } else {
            _mm_cvtsi64_si128(read_upto8(p, n) as i64)
        }
    }
}

/// Writes the first `n <= 32` bytes of `v` at `p` (no byte past `p + n`; see [`load_bytes`]).
///
/// # Safety
/// `n` writable bytes at `p`; AVX2.
#[inline(always)]
unsafe fn store_bytes(v: __m256i, p: *mut u8, n: usize) {
    // SAFETY: the writes stay inside the n bytes (caller); see the impl comment on `V16 for A16`.
    unsafe {
        if n == 32 {
            return _mm256_storeu_si256(p.cast(), v);
        }
        let (mut x, mut p, mut n) = (_mm256_castsi256_si128(v), p, n);
        if n >= 16 {
            _mm_storeu_si128(p.cast(), x);
            (x, p, n) = (_mm256_extracti128_si256::<1>(v), p.add(16), n - 16);
        }
        if n >= 8 {
            _mm_storel_epi64(p.cast(), x);
            (x, p, n) = (_mm_unpackhi_epi64(x, x), p.add(8), n - 8);
        }
        write_upto7(p, n, _mm_cvtsi128_si64(x) as u64);
    }
}

/// `v`, whose lanes `n..16` are +0.0, with those lanes replaced by `fill`.
#[inline(always)]
fn fill_from(v: A16, n: usize, fill: f32) -> A16 {
    if fill.to_bits() == 0 {
        return v; // lanes n..16 hold +0.0 already (callers pass zero bytes there)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ukernels::cvt;

    /// A writable page with an inaccessible page on each side.
    struct Guarded(*mut u8);
    const PAGE: usize = 4096;
    impl Guarded {
        fn new() -> Self {
            // SAFETY: a fresh anonymous mapping of 3 pages; the outer two made inaccessible.
            unsafe {
                let m = libc::mmap(
                    std::ptr::null_mut(),
                    3 * PAGE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(m, libc::MAP_FAILED);
                let m = m.cast::<u8>();
                assert_eq!(libc::mprotect(m.cast(), PAGE, libc::PROT_NONE), 0);
                assert_eq!(
                    libc::mprotect(m.add(2 * PAGE).cast(), PAGE, libc::PROT_NONE),
                    0
                );
                Guarded(m.add(PAGE))
            }
        }
    }
    impl Drop for Guarded {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`.
            unsafe { libc::munmap(self.0.sub(PAGE).cast(), 3 * PAGE) };
        }
    }

    fn lanes(v: A16) -> [f32; 16] {
        let mut o = [0f32; 16];
        // SAFETY: 16 writable elements; only called when the CPU has AVX2 (checked below).
        unsafe { v.store_f32(o.as_mut_ptr()) };
        o
    }

    /// Every partial load and store for n = 0..16 with the n elements touching the guard page
    /// after them and, in a second run, the one before them: lanes 0..n loaded, the others
    /// `fill` (±0 kept bit for bit), exactly n elements stored, nothing read or written
    /// outside (a stray access faults).
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn partial_moves() {
        let g = Guarded::new();
        let vals: [f32; 16] = std::array::from_fn(|i| 1.5 + i as f32 * 0.25);
        let h16: [u16; 16] = vals.map(cvt::f32_to_f16);
        let b16: [u16; 16] = vals.map(cvt::f32_to_bf16);
        for n in 0..16 {
            for at_end in [true, false] {
                let base = |bytes: usize| if at_end { PAGE - bytes } else { 0 };
                for fill in [0.0f32, -0.0, -7.0, f32::NEG_INFINITY] {
                    let want: [f32; 16] =
                        std::array::from_fn(|i| if i < n { vals[i] } else { fill });
                    // SAFETY: n elements inside the writable page.
                    let got = unsafe {
                        let p = g.0.add(base(4 * n)).cast::<f32>();
                        p.copy_from_nonoverlapping(vals.as_ptr(), n);
                        let f = lanes(A16::load_f32_partial(p, n, fill));
                        let p = g.0.add(base(2 * n)).cast::<u16>();
                        p.copy_from_nonoverlapping(h16.as_ptr(), n);
                        let h = lanes(A16::load_f16_partial(p, n, fill));
                        p.copy_from_nonoverlapping(b16.as_ptr(), n);
                        let b = lanes(A16::load_bf16_partial(p, n, fill));
                        [f, h, b]
                    };
                    for (kind, got) in ["f32", "f16", "bf16"].iter().zip(got) {
                        assert_eq!(
                            got.map(f32::to_bits),
                            want.map(f32::to_bits),
                            "load_{kind}_partial n={n} fill={fill} at_end={at_end}"
                        );
                    }
                }
                // Stores: the page filled with 0xAB, n elements written, the rest untouched.
                // SAFETY: 16 readable elements; the stores cover n elements inside the page.
                unsafe {
                    let v = A16::load_f32(vals.as_ptr());
                    let page = std::slice::from_raw_parts_mut(g.0, PAGE);
                    for (bytes, kind) in [(4, "f32"), (2, "f16"), (2, "bf16")] {
                        page.fill(0xAB);
                        let off = base(bytes * n);
                        let p = g.0.add(off);
                        let mut want = vec![0u8; bytes * n];
                        match kind {
                            "f32" => {
                                v.store_f32_partial(p.cast(), n);
                                want.copy_from_slice(&le_bytes_f32(&vals[..n]));
                            }
                            "f16" => {
                                v.store_f16_partial(p.cast(), n);
                                want.copy_from_slice(&le_bytes_u16(&h16[..n]));
                            }
                            _ => {
                                v.store_bf16_partial(p.cast(), n);
                                want.copy_from_slice(&le_bytes_u16(&b16[..n]));
                            }
                        }
                        assert_eq!(
                            &page[off..off + bytes * n],
                            &want[..],
                            "store_{kind}_partial n={n}"
                        );
                        let outside = page[..off].iter().chain(&page[off + bytes * n..]);
                        assert!(
                            outside.into_iter().all(|&b| b == 0xAB),
                            "store_{kind}_partial n={n} wrote outside its elements"
                        );
                    }
                }
            }
        }
    }

    /// `load_bytes` / `store_bytes` for every n = 0..=32 bytes (odd counts included, which the
    /// element moves never make) against both guard pages.
    #[target_feature(enable = "avx2")]
    unsafe fn byte_moves() {
        let g = Guarded::new();
        let src: [u8; 32] = std::array::from_fn(|i| 0x40 + i as u8);
        for n in 0..=32 {
            for off in [PAGE - n, 0] {
                let mut got = [0u8; 32];
                let mut want = [0u8; 32];
                want[..n].copy_from_slice(&src[..n]);
                // SAFETY: n bytes inside the writable page; `got` holds 32.
                unsafe {
                    let page = std::slice::from_raw_parts_mut(g.0, PAGE);
                    page.fill(0xAB);
                    page[off..off + n].copy_from_slice(&src[..n]);
                    _mm256_storeu_si256(got.as_mut_ptr().cast(), load_bytes(g.0.add(off), n));
                    assert_eq!(got, want, "load_bytes n={n} off={off}");
                    page.fill(0xAB);
                    store_bytes(_mm256_loadu_si256(src.as_ptr().cast()), g.0.add(off), n);
                    assert_eq!(&page[off..off + n], &src[..n], "store_bytes n={n}");
                    let outside = page[..off].iter().chain(&page[off + n..]);
                    assert!(
                        outside.into_iter().all(|&b| b == 0xAB),
                        "store_bytes n={n} off={off}"
                    );
                }
            }
        }
    }

    fn le_bytes_f32(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
    fn le_bytes_u16(v: &[u16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn partial_loads_and_stores_stay_inside_their_elements() {
        if !(is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c"))
        {
            eprintln!("skipped: no AVX2/FMA/F16C");
            return;
        }
        // SAFETY: the features were checked above.
        unsafe {
            byte_moves();
            partial_moves();
        }
    }
}
