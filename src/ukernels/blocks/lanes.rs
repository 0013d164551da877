//! The byte and integer operations the block kernels need on top of [`V16`]: [`Q16`], for the
//! portable [`S16`] here and for AVX2 and AVX-512 in `lanes_avx2` / `lanes_avx512`.
//!
//! Integers travel in f32 lanes (every level and quant is a small integer, exact in f32), so the
//! block algorithms stay one generic code path over [`V16`] + [`Q16`]. Every operation is defined
//! lane-wise with the semantics of the scalar reference, including on NaN and infinities: the
//! SIMD kernels give the same bytes as `reference` for every input.

use super::reference::c_int;
use crate::ukernels::blockwise::tables::Buckets;
use crate::ukernels::simd::scalar::S16;
use crate::ukernels::simd::{Elem, V16};

/// Block-format lane operations.
pub trait Q16: V16 {
    /// Lane-wise |x|.
    fn abs(self) -> Self;
    /// Lane-wise truncation toward zero (NaN and infinities unchanged).
    fn trunc(self) -> Self;
    /// Lane-wise ggml `nearest_int` (the 1.5·2^23 bit trick), exactly as the reference
    /// computes it for every input.
    fn nearest_int(self) -> Self;
    /// Lanes whose bit is set in `mask` from `a`, the others from `b`.
    fn blend(mask: u32, a: Self, b: Self) -> Self;
    /// Lane `i` is `v` if bit `i` of `bits` is set, else 0.
    fn bits(bits: u32, v: f32) -> Self;
    /// Lane `i` is `table[idx[i]]` for integer-valued `idx` in 0..16.
    fn permute(table: Self, idx: Self) -> Self;
    /// Lane `i` is `(p[i] >> shift) & mask` of 16 bytes.
    ///
    /// # Safety
    /// 16 readable bytes at `p`.
    unsafe fn load_field(p: *const u8, shift: u32, mask: u32) -> Self;
    /// Lane `i` is the 5-bit value `(lo[i] >> shift) & 15 | ((hi[i] >> bit) & 1) << 4` of 16
    /// bytes at `lo` and 16 at `hi` (Q5_K's low nibble and high bit).
    ///
    /// # Safety
    /// 16 readable bytes at `lo` and at `hi`.
    #[inline(always)]
    unsafe fn load_field5(lo: *const u8, shift: u32, hi: *const u8, bit: u32) -> Self {
        // SAFETY: forwarded contract.
        let (l, h) = unsafe {
            (
                Self::load_field(lo, shift, 15),
                Self::load_field(hi, bit, 1),
            )
        };
        // l + 16·h: small integers, exact fused or not (one op fused).
        Self::fmadd::<true>(h, Self::splat(16.0), l)
    }
    /// Lane `i` is the signed byte `p[i]`.
    ///
    /// # Safety
    /// 16 readable bytes at `p`.
    unsafe fn load_i8(p: *const u8) -> Self;
    /// Lane `i` is `p[i * stride]`.
    ///
    /// # Safety
    /// `p[i * stride]` readable for i in 0..16; `15 * stride` fits in i32.
    unsafe fn gather(p: *const f32, stride: usize) -> Self;
    /// Stores the low byte of C's `(int)lane` (x86 `cvttss2si`: NaN and out-of-range lanes
    /// give `INT_MIN`, low byte 0) for each of the 16 lanes.
    ///
    /// # Safety
    /// 16 writable bytes at `p`.
    unsafe fn store_i8(self, p: *mut u8);
    /// Lane `k` is the largest lane of `v[k]`, for NaN-free vectors (a maximum is an exact
    /// selection, so the reduction order only decides the sign of a zero result).
    #[inline(always)]
    fn hmax16(v: &[Self; 16]) -> Self {
        let mut m = [0.0f32; 16];
        for (m, x) in m.iter_mut().zip(v) {
            *m = x.hmax();
        }
        // SAFETY: 16 elements.
        unsafe { Self::load_f32(m.as_ptr()) }
    }
    /// Lane `k` is the sum of the lanes of `v[k]`, for vectors whose lane sums are exact in
    /// any order (small integers): the order is the implementation's.
    #[inline(always)]
    fn hsum16(v: &[Self; 16]) -> Self {
        let mut m = [0.0f32; 16];
        for (m, &x) in m.iter_mut().zip(v) {
            *m = Self::dsum(Self::dadd(Self::dzero(), x)) as f32;
        }
        // SAFETY: 16 elements.
        unsafe { Self::load_f32(m.as_ptr()) }
    }
    /// Stores byte `i` = low byte of `(int)lo[i] | (int)hi[i] << 4` (C conversions as in
    /// [`Q16::store_i8`]).
    ///
    /// # Safety
    /// 16 writable bytes at `p`.
    unsafe fn store_nibbles(lo: Self, hi: Self, p: *mut u8);
    /// Lane-wise maximum of the bit patterns as integers (the float maximum for lanes with the
    /// sign bit clear, where a NaN ranks above +inf).
    fn max_bits(self, o: Self) -> Self;
    /// The largest lane's bit pattern as an integer (for lanes with the sign bit clear).
    #[inline(always)]
    fn hmax_bits(self) -> u32 {
        let mut l = [0.0f32; 16];
        // SAFETY: 16 elements.
        unsafe { self.store_f32(l.as_mut_ptr()) };
        l.iter().map(|v| v.to_bits()).max().unwrap_or(0)
    }
    /// Lane-wise `from_bits(to_bits(lane) & mask)`.
    fn and_bits(self, mask: u32) -> Self;
    /// Lane-wise `(to_bits(lane) >> shift) as f32` for `shift` >= 1.
    #[inline(always)]
    fn bits_shr(self, shift: u32) -> Self {
        self.bits_sub_shr(0, shift)
    }
    /// Lane-wise `(to_bits(lane).wrapping_sub(sub) >> shift) as f32` for `shift` >= 1 (`sub` 1:
    /// for a positive normal lane, the bits of the float just below it).
    fn bits_sub_shr(self, sub: u32, shift: u32) -> Self;
    /// Lane-wise count of the ascending `mids[0..15]` (lane 15 unused) below `v`, as f32 lanes
    /// (NaN lanes: any count): a binary search of four steps in registers.
    #[inline(always)]
    fn search16(mids: Self, v: Self) -> Self {
        let mut pos = Self::splat(0.0);
        for step in [8u8, 4, 2, 1] {
            let m = Self::permute(mids, pos.add(Self::splat(f32::from(step - 1))));
            pos = pos.add(Self::bits(v.mask_gt(m), f32::from(step)));
        }
        pos
    }
    /// [`Buckets::search`] lane-wise, as f32 lanes (NaN lanes: any count).
    #[inline(always)]
    fn search_buckets(t: &Buckets, v: Self) -> Self {
        let mut a = [0.0f32; 16];
        // SAFETY: `a` holds 16 elements.
        unsafe {
            v.store_f32(a.as_mut_ptr());
            Self::load_f32(a.map(|x| t.search(x) as f32).as_ptr())
        }
    }
    /// Lane-wise `from_bits(lane as i32 as u32)` for integer-valued lanes in i32's range.
    fn int_to_bits(self) -> Self;
    /// Lane `i` is `table[idx[i]]` for integer-valued `idx`.
    ///
    /// # Safety
    /// Every index is inside `table`.
    unsafe fn lookup(table: *const f32, idx: Self) -> Self;
    /// Stores 8 bytes, byte `i` holding the low 4 bits of the integer lanes `2i` and `2i + 1`:
    /// lane `2i` in the low nibble, or in the high one if `high_first`.
    ///
    /// # Safety
    /// 8 writable bytes at `p`.
    unsafe fn store_nibble_pairs(self, p: *mut u8, high_first: bool);
    /// Stores the low 6 bits of the 16 integer lanes in 12 bytes: lane `i` in bits
    /// `[6i, 6i + 6)`, little-endian (four lanes per three bytes).
    ///
    /// # Safety
    /// 12 writable bytes at `p`.
    #[inline(always)]
    unsafe fn store_6bit(self, p: *mut u8) {
        let mut c = [0u8; 16];
        // SAFETY: 16 writable bytes.
        unsafe { self.store_i8(c.as_mut_ptr()) };
        for g in 0..4 {
            let w = (0..4).fold(0u32, |w, j| w | u32::from(c[4 * g + j] & 63) << (6 * j));
            // SAFETY: bytes 3g..3g + 3 of the 12 (caller).
            unsafe { std::ptr::copy_nonoverlapping(w.to_le_bytes().as_ptr(), p.add(3 * g), 3) };
        }
    }
    /// The inverse of [`Q16::store_6bit`].
    ///
    /// # Safety
    /// 12 readable bytes at `p`.
    #[inline(always)]
    unsafe fn load_6bit(p: *const u8) -> Self {
        let mut c = [0u8; 16];
        for g in 0..4 {
            let mut b = [0u8; 4];
            // SAFETY: bytes 3g..3g + 3 of the 12 (caller).
            unsafe { std::ptr::copy_nonoverlapping(p.add(3 * g), b.as_mut_ptr(), 3) };
            let w = u32::from_le_bytes(b);
            for j in 0..4 {
                c[4 * g + j] = (w >> (6 * j) & 63) as u8;
            }
        }
        // SAFETY: 16 readable bytes.
        unsafe { Self::load_field(c.as_ptr(), 0, 0xFF) }
    }
    /// The inverse of [`Q16::store_nibble_pairs`]: 8 bytes to 16 lanes of nibbles.
    ///
    /// # Safety
    /// 8 readable bytes at `p`.
    unsafe fn load_nibble_pairs(p: *const u8, high_first: bool) -> Self;
}

/// C's truncating float → int conversion in an f32 lane: `trunc(x)` where `(int)x` is defined,
/// NaN (which every store turns into the indefinite integer's low byte, 0) elsewhere; so a later
/// `splat(k).min(_)` keeps it and the bytes match the reference's `(int8_t)x` on every input.
#[inline(always)]
pub fn c_trunc<V: Q16>(x: V) -> V {
    let in_range = V::splat(2147483648.0).mask_gt(x.abs());
    V::blend(in_range, x.trunc(), V::splat(f32::NAN))
}

/// C's `roundf` (half away from zero) lane-wise: `t = trunc(x)`; the fraction `f = x - t` is
/// exact and in (-1, 1), so `trunc(2f)` is ±1 exactly when |f| >= 1/2 (with the sign of x) and
/// 0 otherwise. NaN and ±inf give NaN, which stores as the reference's `(int8_t)` of them.
#[inline(always)]
pub fn roundf<V: Q16>(x: V) -> V {
    let t = x.trunc();
    let f = x.sub(t);
    t.add(f.add(f).trunc())
}

/// Hints the lines of `n` elements at `x` into L1. The quantizers (GGUF and split-scale) hint
/// the input they read next: with the hardware prefetchers alone, compute and memory reads did
/// not overlap (out-of-cache time was in-cache time plus read time). `x` may lie past the
/// caller's buffer: a prefetch is never dereferenced and never faults.
#[inline(always)]
pub fn prefetch<V: Q16, E: Elem>(x: *const E::S, n: usize) {
    let p = x.cast::<u8>();
    for line in (0..n * std::mem::size_of::<E::S>()).step_by(64) {
        V::prefetch::<false>(p.wrapping_add(line));
    }
}

/// ggml's `nearest_int` on a scalar, exactly (the reference's function).
#[inline(always)]
fn nearest_int1(f: f32) -> f32 {
    super::reference::nearest_int(f) as f32
}

impl Q16 for S16 {
    #[inline(always)]
    fn abs(self) -> Self {
        S16(self.0.map(f32::abs))
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        S16(self.0.map(f32::trunc))
    }
    #[inline(always)]
    fn nearest_int(self) -> Self {
        S16(self.0.map(nearest_int1))
    }
    #[inline(always)]
    fn blend(mask: u32, a: Self, b: Self) -> Self {
        S16(std::array::from_fn(|i| {
            if mask >> i & 1 != 0 { a.0[i] } else { b.0[i] }
        }))
    }
    #[inline(always)]
    fn bits(bits: u32, v: f32) -> Self {
        S16(std::array::from_fn(|i| {
            if bits >> i & 1 != 0 { v } else { 0.0 }
        }))
    }
    #[inline(always)]
    fn permute(table: Self, idx: Self) -> Self {
        S16(idx.0.map(|i| table.0[(c_int(i) & 15) as usize]))
    }
    #[inline(always)]
    unsafe fn load_field(p: *const u8, shift: u32, mask: u32) -> Self {
        // SAFETY: 16 readable bytes (caller).
        let b = unsafe { p.cast::<[u8; 16]>().read_unaligned() };
        S16(b.map(|b| ((u32::from(b) >> shift) & mask) as f32))
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const u8) -> Self {
        // SAFETY: 16 readable bytes (caller).
        let b = unsafe { p.cast::<[u8; 16]>().read_unaligned() };
        S16(b.map(|b| f32::from(b as i8)))
    }
    #[inline(always)]
    unsafe fn gather(p: *const f32, stride: usize) -> Self {
        // SAFETY: the caller guarantees these 16 elements readable.
        S16(std::array::from_fn(|i| unsafe { p.add(i * stride).read() }))
    }
    #[inline(always)]
    unsafe fn store_i8(self, p: *mut u8) {
        let b = self.0.map(|v| c_int(v) as u8);
        // SAFETY: 16 writable bytes (caller).
        unsafe { p.cast::<[u8; 16]>().write_unaligned(b) }
    }
    #[inline(always)]
    unsafe fn store_nibbles(lo: Self, hi: Self, p: *mut u8) {
        let b: [u8; 16] = std::array::from_fn(|i| (c_int(lo.0[i]) | (c_int(hi.0[i]) << 4)) as u8);
        // SAFETY: 16 writable bytes (caller).
        unsafe { p.cast::<[u8; 16]>().write_unaligned(b) }
    }
    #[inline(always)]
    fn max_bits(self, o: Self) -> Self {
        S16(std::array::from_fn(|i| {
            f32::from_bits((self.0[i].to_bits() as i32).max(o.0[i].to_bits() as i32) as u32)
        }))
    }
    #[inline(always)]
    fn and_bits(self, mask: u32) -> Self {
        S16(self.0.map(|v| f32::from_bits(v.to_bits() & mask)))
    }
    #[inline(always)]
    fn bits_sub_shr(self, sub: u32, shift: u32) -> Self {
        S16(self
            .0
            .map(|v| (v.to_bits().wrapping_sub(sub) >> shift) as f32))
    }
    #[inline(always)]
    fn int_to_bits(self) -> Self {
        S16(self.0.map(|v| f32::from_bits(v as i32 as u32)))
    }
    #[inline(always)]
    unsafe fn lookup(table: *const f32, idx: Self) -> Self {
        // SAFETY: every index inside the table (caller).
        S16(idx.0.map(|i| unsafe { table.add(i as usize).read() }))
    }
    #[inline(always)]
    unsafe fn store_nibble_pairs(self, p: *mut u8, high_first: bool) {
        let c = self.0.map(|v| c_int(v) as u8 & 15);
        let b: [u8; 8] = std::array::from_fn(|i| {
            let (a, b) = (c[2 * i], c[2 * i + 1]);
            if high_first { a << 4 | b } else { a | b << 4 }
        });
        // SAFETY: 8 writable bytes (caller).
        unsafe { p.cast::<[u8; 8]>().write_unaligned(b) }
    }
    #[inline(always)]
    unsafe fn load_nibble_pairs(p: *const u8, high_first: bool) -> Self {
        // SAFETY: 8 readable bytes (caller).
        let b = unsafe { p.cast::<[u8; 8]>().read_unaligned() };
        S16(std::array::from_fn(|i| {
            let (lo, hi) = (b[i / 2] & 15, b[i / 2] >> 4);
            f32::from(if (i % 2 == 1) != high_first { hi } else { lo })
        }))
    }
}
