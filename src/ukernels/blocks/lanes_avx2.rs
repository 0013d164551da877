//! [`Q16`] for the AVX2 vector [`A16`] (two `__m256`).

use std::arch::x86_64::*;

use super::lanes::Q16;
use crate::ukernels::blockwise::tables::{
    BUCKET_BASE_SHIFT, BUCKET_LOW, BUCKET_SHIFT, BUCKETS, Buckets,
};
use crate::ukernels::simd::avx2::A16;

/// Lane `i` all ones where bit `i` of `bits` (8 lanes) is set.
#[inline(always)]
fn expand(bits: u32) -> __m256 {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        let b = _mm256_set1_epi32(bits as i32);
        let sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(b, sel), sel))
    }
}

/// The low bytes of 16 i32 lanes (`a` lanes 0..8, `b` lanes 8..16), in order.
#[inline(always)]
fn narrow(a: __m256i, b: __m256i) -> __m128i {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        let m = _mm256_set1_epi32(0xFF);
        // [a0..3 b0..3 | a4..7 b4..7] as u16 (values <= 255, so no saturation).
        let w = _mm256_packus_epi32(_mm256_and_si256(a, m), _mm256_and_si256(b, m));
        let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(w); // [a0..7 | b0..7]
        let bytes = _mm256_packus_epi16(w, w); // [a0..7 a0..7 | b0..7 b0..7]
        _mm_unpacklo_epi64(
            _mm256_castsi256_si128(bytes),
            _mm256_extracti128_si256::<1>(bytes),
        )
    }
}

/// Lane-wise integer max of the bit patterns of 8 lanes.
#[inline(always)]
fn max_bits8(a: __m256, b: __m256) -> __m256 {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        _mm256_castsi256_ps(_mm256_max_epi32(
            _mm256_castps_si256(a),
            _mm256_castps_si256(b),
        ))
    }
}

/// 4 bytes of nibble pairs of 8 integer lanes (see [`Q16::store_nibble_pairs`]): each 64-bit
/// lane's low byte gets both nibbles; a byte shuffle and two extracts collect the four.
#[inline(always)]
fn nibble_pairs8(v: __m256, high_first: bool) -> u32 {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        let v = _mm256_and_si256(_mm256_cvttps_epi32(v), _mm256_set1_epi32(15));
        let t = if high_first {
            _mm256_or_si256(_mm256_slli_epi64::<4>(v), _mm256_srli_epi64::<32>(v))
        } else {
            _mm256_or_si256(v, _mm256_srli_epi64::<28>(v))
        };
        let sel = _mm256_setr_epi8(
            0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 8, -1, -1, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let s = _mm256_shuffle_epi8(t, sel);
        (_mm256_extract_epi16::<0>(s) as u32 & 0xFFFF) | (_mm256_extract_epi16::<8>(s) as u32) << 16
    }
}

/// 8 lanes of nibbles from 4 bytes (the inverse of [`nibble_pairs8`]).
#[inline(always)]
fn unpack_nibble_pairs8(bytes: u32, high_first: bool) -> __m256 {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        let b = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(bytes as i32));
        let (lo, hi) = (
            _mm256_and_si256(b, _mm256_set1_epi64x(15)),
            _mm256_srli_epi64::<4>(b),
        );
        let (first, second) = if high_first { (hi, lo) } else { (lo, hi) };
        _mm256_cvtepi32_ps(_mm256_or_si256(first, _mm256_slli_epi64::<32>(second)))
    }
}

/// [`Buckets::search`] for 8 lanes, as f32 lanes.
#[inline(always)]
fn search_buckets8(t: &Buckets, v: __m256) -> __m256 {
    // SAFETY: only reached from kernels compiled with the AVX2 level's features; the gather
    // indices are below 2 · BUCKETS, inside `t.entries` (the key is clamped to BUCKETS values,
    // the sign adds BUCKETS or 0).
    unsafe {
        let b = _mm256_castps_si256(v);
        let a = _mm256_and_si256(b, _mm256_set1_epi32(0x7FFF_FFFF));
        let sign = _mm256_srai_epi32::<31>(b);
        let key = _mm256_min_epu32(
            _mm256_max_epu32(
                _mm256_srli_epi32::<{ BUCKET_SHIFT as i32 }>(a),
                _mm256_set1_epi32(t.lo as i32),
            ),
            _mm256_set1_epi32((t.lo + BUCKETS as u32 - 1) as i32),
        );
        let idx = _mm256_add_epi32(
            _mm256_sub_epi32(key, _mm256_set1_epi32(t.lo as i32)),
            _mm256_and_si256(sign, _mm256_set1_epi32(BUCKETS as i32)),
        );
        // Eight scalar loads, not vpgatherdd: under qemu 7.2's AVX2 emulation (CI's Haswell
        // run) the gather returned wrong entries here, while this machine's hardware agreed
        // with the reference (as for `gather` below).
        let mut i = [0u32; 8];
        _mm256_storeu_si256(i.as_mut_ptr().cast(), idx);
        let e = _mm256_loadu_si256(i.map(|i| t.entries[i as usize]).as_ptr().cast());
        let low = _mm256_and_si256(
            _mm256_xor_si256(a, sign),
            _mm256_set1_epi32(BUCKET_LOW as i32),
        );
        let above = _mm256_cmpgt_epi32(
            low,
            _mm256_and_si256(e, _mm256_set1_epi32(BUCKET_LOW as i32)),
        );
        // `above` is -1 where one more midpoint lies below.
        _mm256_cvtepi32_ps(_mm256_sub_epi32(
            _mm256_srli_epi32::<{ BUCKET_BASE_SHIFT as i32 }>(e),
            above,
        ))
    }
}

// SAFETY (every `unsafe` block in this impl that only calls intrinsics): `A16` is only used
// inside functions compiled with the AVX2 level's target features (or more), which are only
// called on CPUs that have them; these methods inline into them.
impl Q16 for A16 {
    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
            A16(_mm256_and_ps(self.0, m), _mm256_and_ps(self.1, m))
        }
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        const M: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
        // SAFETY: see the impl comment.
        unsafe { A16(_mm256_round_ps::<M>(self.0), _mm256_round_ps::<M>(self.1)) }
    }
    #[inline(always)]
    fn nearest_int(self) -> Self {
        A16(nearest_int8(self.0), nearest_int8(self.1))
    }
    #[inline(always)]
    fn blend(mask: u32, a: Self, b: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            A16(
                _mm256_blendv_ps(b.0, a.0, expand(mask & 0xFF)),
                _mm256_blendv_ps(b.1, a.1, expand((mask >> 8) & 0xFF)),
            )
        }
    }
    #[inline(always)]
    fn bits(bits: u32, v: f32) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let v = _mm256_set1_ps(v);
            A16(
                _mm256_and_ps(v, expand(bits & 0xFF)),
                _mm256_and_ps(v, expand((bits >> 8) & 0xFF)),
            )
        }
    }
    #[inline(always)]
    fn permute(table: Self, idx: Self) -> Self {
        A16(permute8(table, idx.0), permute8(table, idx.1))
    }
    #[inline(always)]
    unsafe fn load_field(p: *const u8, shift: u32, mask: u32) -> Self {
        // SAFETY: 16 readable bytes (caller).
        unsafe { A16(field8(p, shift, mask), field8(p.add(8), shift, mask)) }
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const u8) -> Self {
        // SAFETY: 16 readable bytes (caller); see the impl comment.
        unsafe {
            A16(
                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast()))),
                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(8).cast()))),
            )
        }
    }
    #[inline(always)]
    unsafe fn gather(p: *const f32, stride: usize) -> Self {
        // Sixteen scalar loads, not vgatherdps: qemu 7.2's AVX2 emulation (Debian bookworm's
        // qemu-user, which CI runs the Haswell checks on) returned wrong lanes for the two
        // strided gathers in the Q6_K quantizer, while this machine's hardware agreed with the
        // reference; and the gathers were no faster here (2^24 elements, 1 thread: Q4_K 217
        // vs 216 ms, Q6_K 126 vs 128 ms with the loads).
        let mut t = [0.0f32; 16];
        for (k, e) in t.iter_mut().enumerate() {
            // SAFETY: the 16 elements p[k·stride] are readable (caller).
            *e = unsafe { *p.add(k * stride) };
        }
        // SAFETY: see the impl comment; `t` holds 16 elements.
        unsafe {
            A16(
                _mm256_loadu_ps(t.as_ptr()),
                _mm256_loadu_ps(t.as_ptr().add(8)),
            )
        }
    }
    #[inline(always)]
    unsafe fn store_i8(self, p: *mut u8) {
        // SAFETY: 16 writable bytes (caller); see the impl comment.
        unsafe {
            let b = narrow(_mm256_cvttps_epi32(self.0), _mm256_cvttps_epi32(self.1));
            _mm_storeu_si128(p.cast(), b)
        }
    }
    #[inline(always)]
    unsafe fn store_nibbles(lo: Self, hi: Self, p: *mut u8) {
        // SAFETY: 16 writable bytes (caller); see the impl comment.
        unsafe {
            let a = _mm256_or_si256(
                _mm256_cvttps_epi32(lo.0),
                _mm256_slli_epi32::<4>(_mm256_cvttps_epi32(hi.0)),
            );
            let b = _mm256_or_si256(
                _mm256_cvttps_epi32(lo.1),
                _mm256_slli_epi32::<4>(_mm256_cvttps_epi32(hi.1)),
            );
            _mm_storeu_si128(p.cast(), narrow(a, b))
        }
    }
    #[inline(always)]
    fn max_bits(self, o: Self) -> Self {
        A16(max_bits8(self.0, o.0), max_bits8(self.1, o.1))
    }
    #[inline(always)]
    fn search_buckets(t: &Buckets, v: Self) -> Self {
        A16(search_buckets8(t, v.0), search_buckets8(t, v.1))
    }
    #[inline(always)]
    fn int_to_bits(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            A16(
                _mm256_castsi256_ps(_mm256_cvttps_epi32(self.0)),
                _mm256_castsi256_ps(_mm256_cvttps_epi32(self.1)),
            )
        }
    }
    #[inline(always)]
    fn hmax_bits(self) -> u32 {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm256_castps_si256(max_bits8(self.0, self.1));
            let m = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256::<1>(m));
            let m = _mm_max_epi32(m, _mm_shuffle_epi32::<0b01_00_11_10>(m));
            let m = _mm_max_epi32(m, _mm_shuffle_epi32::<0b10_11_00_01>(m));
            _mm_cvtsi128_si32(m) as u32
        }
    }
    #[inline(always)]
    fn and_bits(self, mask: u32) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm256_castsi256_ps(_mm256_set1_epi32(mask as i32));
            A16(_mm256_and_ps(self.0, m), _mm256_and_ps(self.1, m))
        }
    }
    #[inline(always)]
    fn bits_sub_shr(self, sub: u32, shift: u32) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let (s, sub) = (
                _mm_cvtsi32_si128(shift as i32),
                _mm256_set1_epi32(sub as i32),
            );
            let (a, b) = (_mm256_castps_si256(self.0), _mm256_castps_si256(self.1));
            A16(
                _mm256_cvtepi32_ps(_mm256_srl_epi32(_mm256_sub_epi32(a, sub), s)),
                _mm256_cvtepi32_ps(_mm256_srl_epi32(_mm256_sub_epi32(b, sub), s)),
            )
        }
    }
    #[inline(always)]
    unsafe fn lookup(table: *const f32, idx: Self) -> Self {
        // SAFETY: every index inside the table (caller); see the impl comment.
        unsafe {
            A16(
                _mm256_i32gather_ps::<4>(table, _mm256_cvttps_epi32(idx.0)),
                _mm256_i32gather_ps::<4>(table, _mm256_cvttps_epi32(idx.1)),
            )
        }
    }
    #[inline(always)]
    unsafe fn store_nibble_pairs(self, p: *mut u8, high_first: bool) {
        // SAFETY: 8 writable bytes (caller); see the impl comment. As for AVX-512: each 64-bit
        // lane's low byte gets both nibbles; a byte shuffle and two extracts collect the four.
        unsafe {
            let w = u64::from(nibble_pairs8(self.0, high_first))
                | u64::from(nibble_pairs8(self.1, high_first)) << 32;
            p.cast::<u64>().write_unaligned(w.to_le())
        }
    }
    #[inline(always)]
    unsafe fn load_nibble_pairs(p: *const u8, high_first: bool) -> Self {
        // SAFETY: 8 readable bytes (caller); see the impl comment.
        unsafe {
            let w = u64::from_le(p.cast::<u64>().read_unaligned());
            A16(
                unpack_nibble_pairs8(w as u32, high_first),
                unpack_nibble_pairs8((w >> 32) as u32, high_first),
            )
        }
    }
}

// Helpers are functions, not closures: a closure does not inherit the kernel's target
// features, so the intrinsics in it would not inline.

/// ggml's `nearest_int` on 8 lanes.
#[inline(always)]
fn nearest_int8(x: __m256) -> __m256 {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        let v = _mm256_castps_si256(_mm256_add_ps(x, _mm256_set1_ps(12582912.0)));
        _mm256_cvtepi32_ps(_mm256_sub_epi32(
            _mm256_and_si256(v, _mm256_set1_epi32(0x007F_FFFF)),
            _mm256_set1_epi32(0x0040_0000),
        ))
    }
}

/// `table[i]` for 8 integer-valued lanes `i` in 0..16.
#[inline(always)]
fn permute8(table: A16, i: __m256) -> __m256 {
    // SAFETY: only reached from kernels compiled with (at least) the AVX2 level's features.
    unsafe {
        let i = _mm256_cvttps_epi32(i);
        let lo = _mm256_permutevar8x32_ps(table.0, i);
        let hi = _mm256_permutevar8x32_ps(table.1, i);
        let upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(7)));
        _mm256_blendv_ps(lo, hi, upper)
    }
}

/// `(p[i] >> shift) & mask` of 8 bytes as f32.
///
/// # Safety
/// 8 readable bytes at `p`.
#[inline(always)]
unsafe fn field8(p: *const u8, shift: u32, mask: u32) -> __m256 {
    // SAFETY: 8 readable bytes (caller); only reached from kernels compiled with (at least)
    // the AVX2 level's features.
    unsafe {
        let b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast()));
        let f = _mm256_and_si256(
            _mm256_srl_epi32(b, _mm_cvtsi32_si128(shift as i32)),
            _mm256_set1_epi32(mask as i32),
        );
        _mm256_cvtepi32_ps(f)
    }
}
