//! The block kernels, written once over [`V16`] + [`Q16`] (16 elements per vector) and
//! instantiated per ISA by `instantiate!` in the parent module.
//!
//! Why the lane-wise formulations give the reference's bytes:
//! - per-element steps (`x·id + 8.5`, `roundf(x·id)`, `nearest_int(...)`, the dequantize
//!   products) are the same single IEEE operations, each lane doing what one loop iteration
//!   does; no FMA is formed (`V16::mul` then `V16::add`);
//! - block maxima and minima are exact selections, so the order in which lanes are compared
//!   does not change the value; where the reference keeps the *first* element on a tie (the
//!   signed max; a min or max of ±0) the kernel looks that element up by position;
//! - integer sums (Q8_1's `s`, Q8_K's `bsums`) are of small integers, exact in any order;
//! - float → integer conversions go through [`c_trunc`] / `Q16::store_*`, which reproduce
//!   x86's C conversions including NaN and out-of-range values, so even non-finite input gives
//!   the scalar kernel's bytes.

use super::Format;
use super::lanes::{Q16, c_trunc, prefetch, roundf};
use super::reference as r;
use super::reference::{KVALUES_MXFP4, QK, QK_K};
use crate::ukernels::cvt::f16_to_f32;
use crate::ukernels::simd::Elem;

/// Loads `N` vectors (16·N elements) starting at `x`.
///
/// # Safety
/// `16 * N` readable elements at `x`.
#[inline(always)]
unsafe fn load<V: Q16, E: Elem, const N: usize>(x: *const E::S) -> [V; N] {
    let mut v = [V::splat(0.0); N];
    for (i, v) in v.iter_mut().enumerate() {
        // SAFETY: vector i covers elements 16i..16i+16 < 16N (caller).
        *v = unsafe { E::load::<V>(x.add(16 * i)) };
    }
    v
}

/// Writes a little-endian u16 at `p`.
///
/// # Safety
/// 2 writable bytes at `p`.
#[inline(always)]
unsafe fn put_u16(p: *mut u8, v: u16) {
    // SAFETY: 2 writable bytes (caller).
    unsafe { p.cast::<[u8; 2]>().write_unaligned(v.to_le_bytes()) }
}

/// Reads a little-endian f16 at `p` as f32.
///
/// # Safety
/// 2 readable bytes at `p`.
#[inline(always)]
unsafe fn get_f16(p: *const u8) -> f32 {
    // SAFETY: 2 readable bytes (caller).
    f16_to_f32(u16::from_le_bytes(unsafe {
        p.cast::<[u8; 2]>().read_unaligned()
    }))
}

/// The element at flat position `i` of `v`.
#[inline(always)]
fn lane<V: Q16>(v: &[V], i: usize) -> f32 {
    let mut a = [0.0f32; 16];
    // SAFETY: `a` holds 16 elements.
    unsafe { v[i / 16].store_f32(a.as_mut_ptr()) };
    a[i % 16]
}

/// The first element (in memory order) whose bit is set in `masks[k]` (one mask per vector).
/// (Masks, not a closure: a closure would not inherit the kernel's target features, and the
/// intrinsics in it would become calls.)
#[inline(always)]
fn first<V: Q16>(v: &[V], masks: &[u32]) -> Option<f32> {
    masks
        .iter()
        .enumerate()
        .find_map(|(k, &bits)| (bits != 0).then(|| 16 * k + bits.trailing_zeros() as usize))
        .map(|i| lane(v, i))
}

/// The first element with |x| >= t.
#[inline(always)]
fn first_abs_ge<V: Q16>(v: &[V], t: f32) -> Option<f32> {
    let mut masks = [0u32; 16];
    for (m, &x) in masks.iter_mut().zip(v) {
        *m = x.abs().mask_ge(V::splat(t));
    }
    first(v, &masks[..v.len()])
}

/// The first element equal to `t` (for t = 0: the first zero, with its sign).
#[inline(always)]
fn first_eq<V: Q16>(v: &[V], t: f32) -> Option<f32> {
    let mut masks = [0u32; 16];
    for (m, &x) in masks.iter_mut().zip(v) {
        let t = V::splat(t);
        *m = x.mask_ge(t) & !x.mask_gt(t);
    }
    first(v, &masks[..v.len()])
}

/// The largest |x|, NaN ignored (the reference's `if (amax < fabsf(v)) amax = fabsf(v)`).
#[inline(always)]
fn amax<V: Q16>(v: &[V]) -> f32 {
    let mut acc = V::splat(0.0);
    for &x in v {
        let a = x.abs();
        acc = V::select_lt(acc, a, a, acc);
    }
    acc.hmax()
}

/// ggml's signed max: the first element with the largest |x| (0.0 if there is none).
#[inline(always)]
fn signed_max<V: Q16>(v: &[V]) -> (f32, f32) {
    let amax = amax(v);
    if amax == 0.0 {
        return (0.0, 0.0);
    }
    (first_abs_ge(v, amax).unwrap_or(0.0), amax)
}

/// `m`, or for m = ±0 the first zero of `v` (its sign is the one a sequential scan keeps).
#[inline(always)]
fn first_zero<V: Q16>(v: &[V], m: f32) -> f32 {
    if m == 0.0 {
        first_eq(v, m).unwrap_or(m)
    } else {
        m
    }
}

/// `min(cap, (int)((x - m)·id + add))` lane-wise: the Q4/Q5 level of ggml's
/// `MIN(cap, (int8_t)((x - m)*id + add))` (x - 0 is exact, so Q4_0/Q5_0 pass m = 0).
#[inline(always)]
fn level<V: Q16>(x: V, id: V, m: V, add: f32, cap: f32) -> V {
    V::splat(cap).min(c_trunc(x.sub(m).mul(id).add(V::splat(add))))
}

// ---------------------------------------------------------------------------------------------
// The 32-element formats work on groups of up to 16 blocks: each block's statistics (max, min,
// scale, inverse scale, f16 scale) are computed with one lane per block, so the divisions and
// f16 conversions are vector operations shared by 16 blocks instead of scalar ones per block.

/// Blocks per group.
const GROUP: usize = 16;

/// The 32-element blocks of one group, read from the caller's memory where they are used
/// (blocks `n..16` read as zeros). Not a loaded copy: a 2 KB array of vectors went through
/// the stack (zeroed, stored, moved: a fifth of Q4_0's quantize profile in memset/memmove
/// alone); the second read of a block comes from L1.
struct Group<E: Elem> {
    x: *const E::S,
    n: usize,
}

// Manual impls: a derive would require `E: Copy`.
impl<E: Elem> Clone for Group<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Elem> Copy for Group<E> {}

impl<E: Elem> Group<E> {
    /// The `n <= 16` blocks of 32 elements at `x`.
    ///
    /// # Safety
    /// `32 * n` readable elements at `x` for as long as the group is used.
    #[inline(always)]
    unsafe fn new(x: *const E::S, n: usize) -> Self {
        debug_assert!(n <= GROUP);
        Self { x, n }
    }

    /// Hints block `k` of the next group into L1, for the statistics passes to call per block.
    #[inline(always)]
    fn prefetch_next<V: Q16>(self, k: usize) {
        prefetch::<V, E>(self.x.wrapping_add(QK * (GROUP + k)), QK);
    }

    /// Block `k` (zeros for `k >= n`).
    #[inline(always)]
    fn block<V: Q16>(self, k: usize) -> [V; 2] {
        if k < self.n {
            // SAFETY: block k < n is readable (`new`'s contract).
            unsafe { load::<V, E, 2>(self.x.add(QK * k)) }
        } else {
            [V::splat(0.0); 2]
        }
    }
}

/// A vector from 16 scalars.
#[inline(always)]
fn from_lanes<V: Q16>(a: &[f32; GROUP]) -> V {
    // SAFETY: 16 elements.
    unsafe { V::load_f32(a.as_ptr()) }
}

/// The lanes of a vector.
#[inline(always)]
fn lanes<V: Q16>(v: V) -> [f32; GROUP] {
    let mut a = [0.0f32; GROUP];
    // SAFETY: 16 elements.
    unsafe { v.store_f32(a.as_mut_ptr()) };
    a
}

/// The f16 bits of 16 lanes (round to nearest even, as ggml's `GGML_FP32_TO_FP16` and F16C).
#[inline(always)]
fn f16_lanes<V: Q16>(v: V) -> [u16; GROUP] {
    let mut a = [0u16; GROUP];
    // SAFETY: 16 elements.
    unsafe { v.store_f16(a.as_mut_ptr()) };
    a
}

/// `d != 0 ? 1 / d : 0` lane-wise (d is never NaN here: every maximum skips NaN).
#[inline(always)]
fn inverse<V: Q16>(d: V) -> V {
    V::blend(
        d.abs().mask_gt(V::splat(0.0)),
        V::splat(1.0).div(d),
        V::splat(0.0),
    )
}

/// Per block (lane k): the largest x and 0, and the smallest x and 0, NaN skipped (x86 `max`
/// returns its second operand when the first is NaN, and the accumulator is always second).
/// Their magnitudes' maximum is the block's amax (the reference's `amax < fabsf(v)` scan).
#[inline(always)]
fn group_extremes<V: Q16, E: Elem>(g: Group<E>) -> (V, V) {
    let zero = V::splat(0.0);
    let (mut hi, mut lo) = ([zero; GROUP], [zero; GROUP]);
    for k in 0..GROUP {
        g.prefetch_next::<V>(k);
        let [a, b] = g.block::<V>(k);
        hi[k] = b.max(a.max(zero));
        lo[k] = zero.sub(b).max(zero.sub(a).max(zero));
    }
    (V::hmax16(&hi), zero.sub(V::hmax16(&lo)))
}

/// Per block (lane k): the largest |x|, NaN skipped.
#[inline(always)]
fn group_amax<V: Q16, E: Elem>(g: Group<E>) -> V {
    let zero = V::splat(0.0);
    let mut m = [zero; GROUP];
    for (k, m) in m.iter_mut().enumerate() {
        g.prefetch_next::<V>(k);
        let [a, b] = g.block::<V>(k);
        *m = b.abs().max(a.abs().max(zero));
    }
    V::hmax16(&m)
}

/// Per block (lane k): ggml's signed max, the first element with the largest |x| (+0.0 when
/// every |x| is 0). Only a block where both +amax and -amax occur needs the position.
#[inline(always)]
fn group_signed_max<V: Q16, E: Elem>(g: Group<E>) -> V {
    let zero = V::splat(0.0);
    let (hi, lo) = group_extremes::<V, E>(g);
    let amax = hi.max(zero.sub(lo));
    let nonzero = amax.mask_gt(zero);
    let pos = hi.mask_ge(amax);
    let neg = zero.sub(lo).mask_ge(amax);
    let max = V::blend(nonzero, V::blend(pos, hi, lo), zero);
    let both = pos & neg & nonzero & ((1u32 << g.n) - 1);
    if both == 0 {
        return max;
    }
    let mut m = lanes(max);
    let mut bits = both;
    while bits != 0 {
        let k = bits.trailing_zeros() as usize;
        m[k] = first_abs_ge(&g.block::<V>(k), m[k].abs()).unwrap_or(0.0);
        bits &= bits - 1;
    }
    from_lanes(&m)
}

/// Per block (lane k): the reference's `min` and `max` (from ±FLT_MAX, NaN skipped; a ±0
/// result carries the sign of the block's first zero, as the sequential scan keeps it).
#[inline(always)]
fn group_min_max<V: Q16, E: Elem>(g: Group<E>) -> (V, V) {
    let zero = V::splat(0.0);
    let small = V::splat(-f32::MAX);
    let (mut hi, mut lo) = ([zero; GROUP], [zero; GROUP]);
    for k in 0..GROUP {
        g.prefetch_next::<V>(k);
        let [a, b] = g.block::<V>(k);
        hi[k] = b.max(a.max(small));
        lo[k] = zero.sub(b).max(zero.sub(a).max(small));
    }
    let (mnv, mxv) = (zero.sub(V::hmax16(&lo)), V::hmax16(&hi));
    // A ±0 extreme takes the sign of the block's first zero (below); without one (real data,
    // full groups) the lanes are final. The scalar fix-up stored every lane back one by one,
    // and the vector reload of those stores stalled: ~10% of Q5_1's quantize profile.
    let is_zero = |v: V| v.mask_ge(zero) & zero.mask_ge(v);
    let valid = (1u32 << g.n) - 1; // g.n <= 16
    if (is_zero(mnv) | is_zero(mxv)) & valid == 0 {
        return (mnv, mxv);
    }
    let (mut mn, mut mx) = (lanes(mnv), lanes(mxv));
    for k in 0..g.n {
        let b = g.block::<V>(k);
        mn[k] = first_zero(&b, mn[k]);
        mx[k] = first_zero(&b, mx[k]);
    }
    (from_lanes(&mn), from_lanes(&mx))
}

/// Writes a little-endian u32 at `p`.
///
/// # Safety
/// 4 writable bytes at `p`.
#[inline(always)]
unsafe fn put_u32(p: *mut u8, v: u32) {
    // SAFETY: 4 writable bytes (caller).
    unsafe { p.cast::<[u8; 4]>().write_unaligned(v.to_le_bytes()) }
}

/// Q4_0 / Q5_0: d = (signed max) / -2^(bits-1), exactly `max * -2^-(bits-1)` (a division by a
/// power of two and the product by its inverse round the same real number); then
/// `min(2^bits - 1, (int8)(x·id + 2^(bits-1) + 0.5))` lane-wise.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
unsafe fn quantize_sym<V: Q16, E: Elem, const BITS: u32>(
    blocks: usize,
    x: *const E::S,
    q: *mut u8,
) {
    let half = (1u32 << (BITS - 1)) as f32;
    let cap = ((1u32 << BITS) - 1) as f32;
    let bb = if BITS == 4 {
        Format::Q4_0
    } else {
        Format::Q5_0
    }
    .block_bytes();
    for g0 in (0..blocks).step_by(GROUP) {
        let n = GROUP.min(blocks - g0);
        // SAFETY: blocks g0..g0 + n are inside the caller's buffer.
        let g = unsafe { Group::<E>::new(x.add(QK * g0), n) };
        let d = group_signed_max::<V, E>(g).mul(V::splat(-1.0 / half));
        let (id, d16) = (lanes(inverse(d)), f16_lanes(d));
        for k in 0..n {
            let (idk, [a, b]) = (V::splat(id[k]), g.block::<V>(k));
            let l0 = level::<V>(a, idk, V::splat(0.0), half + 0.5, cap);
            let l1 = level::<V>(b, idk, V::splat(0.0), half + 0.5, cap);
            // SAFETY: block g0 + k is inside the caller's buffer.
            unsafe {
                let out = q.add(bb * (g0 + k));
                put_u16(out, d16[k]);
                if BITS == 4 {
                    V::store_nibbles(l0, l1, out.add(2));
                } else {
                    let (lo, hi, qh) = split5(l0, l1);
                    put_u32(out.add(2), qh);
                    V::store_nibbles(lo, hi, out.add(6));
                }
            }
        }
    }
}

/// Q4_1 / Q5_1: min and max, d = (max - min) / (2^bits - 1), levels
/// `(int)((x - min)·id + 0.5)` (Q4_1 capped at 15; Q5_1 uncapped, as in ggml).
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
unsafe fn quantize_affine<V: Q16, E: Elem, const BITS: u32>(
    blocks: usize,
    x: *const E::S,
    q: *mut u8,
) {
    let steps = ((1u32 << BITS) - 1) as f32;
    // Q5_1's `(uint8_t)` has no MIN: a cap of 2^31 leaves every defined conversion alone.
    let cap = if BITS == 4 { 15.0 } else { 2147483648.0 };
    let bb = if BITS == 4 {
        Format::Q4_1
    } else {
        Format::Q5_1
    }
    .block_bytes();
    for g0 in (0..blocks).step_by(GROUP) {
        let n = GROUP.min(blocks - g0);
        // SAFETY: blocks g0..g0 + n are inside the caller's buffer.
        let g = unsafe { Group::<E>::new(x.add(QK * g0), n) };
        let (min, max) = group_min_max::<V, E>(g);
        let d = max.sub(min).div(V::splat(steps));
        let (id, d16, m16, mins) = (lanes(inverse(d)), f16_lanes(d), f16_lanes(min), lanes(min));
        for k in 0..n {
            let (idk, mk, [a, b]) = (V::splat(id[k]), V::splat(mins[k]), g.block::<V>(k));
            let l0 = level::<V>(a, idk, mk, 0.5, cap);
            let l1 = level::<V>(b, idk, mk, 0.5, cap);
            // SAFETY: block g0 + k is inside the caller's buffer.
            unsafe {
                let out = q.add(bb * (g0 + k));
                put_u16(out, d16[k]);
                put_u16(out.add(2), m16[k]);
                if BITS == 4 {
                    V::store_nibbles(l0, l1, out.add(4));
                } else {
                    let (lo, hi, qh) = split5(l0, l1);
                    put_u32(out.add(4), qh);
                    V::store_nibbles(lo, hi, out.add(8));
                }
            }
        }
    }
}

/// Q4_0.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q4_0<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_sym::<V, E, 4>(blocks, x, q) }
}

/// Q5_0.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q5_0<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_sym::<V, E, 5>(blocks, x, q) }
}

/// Q4_1.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q4_1<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_affine::<V, E, 4>(blocks, x, q) }
}

/// Q5_1.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q5_1<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_affine::<V, E, 5>(blocks, x, q) }
}

/// Splits 5-bit levels into their low nibbles and the `qh` word (bit j = bit 4 of element j).
#[inline(always)]
fn split5<V: Q16>(l0: V, l1: V) -> (V, V, u32) {
    let sixteen = V::splat(16.0);
    let (h0, h1) = (l0.mask_ge(sixteen), l1.mask_ge(sixteen));
    (
        l0.sub(V::bits(h0, 16.0)),
        l1.sub(V::bits(h1, 16.0)),
        h0 | (h1 << 16),
    )
}

/// Q8_0 / Q8_1: d = amax / 127, `roundf(x·id)` lane-wise; Q8_1 adds `s = f16(sum · d)` with
/// the f32 d (the sum of small integers is exact in any order).
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
unsafe fn quantize_q8<V: Q16, E: Elem, const SUM: bool>(blocks: usize, x: *const E::S, q: *mut u8) {
    let (bb, at) = if SUM {
        (Format::Q8_1.block_bytes(), 4)
    } else {
        (Format::Q8_0.block_bytes(), 2)
    };
    for g0 in (0..blocks).step_by(GROUP) {
        let n = GROUP.min(blocks - g0);
        // SAFETY: blocks g0..g0 + n are inside the caller's buffer.
        let g = unsafe { Group::<E>::new(x.add(QK * g0), n) };
        let d = group_amax::<V, E>(g).div(V::splat(127.0));
        let (id, d16) = (lanes(inverse(d)), f16_lanes(d));
        // Per block, the 16 pairwise sums of its two vectors of levels (lane sums below).
        let mut sums = [V::splat(0.0); GROUP];
        for k in 0..n {
            let (idk, [a, b]) = (V::splat(id[k]), g.block::<V>(k));
            // A NaN or out-of-range lane stores 0 (the reference's `(int8_t)` of it on x86)
            // and so adds 0 below.
            let l0 = roundf(a.mul(idk));
            let l1 = roundf(b.mul(idk));
            // SAFETY: block g0 + k is inside the caller's buffer.
            unsafe {
                let out = q.add(bb * (g0 + k));
                put_u16(out, d16[k]);
                l0.store_i8(out.add(at));
                l1.store_i8(out.add(at + 16));
            }
            if SUM {
                let (zero, lim) = (V::splat(0.0), V::splat(2147483648.0));
                let l0 = V::blend(lim.mask_gt(l0.abs()), l0, zero);
                let l1 = V::blend(lim.mask_gt(l1.abs()), l1, zero);
                sums[k] = l0.add(l1);
            }
        }
        if SUM {
            // Sums of at most 32 integers in [-127, 127]: exact in f32 in any order.
            let s16 = f16_lanes(V::hsum16(&sums).mul(d));
            for (k, &s) in s16.iter().enumerate().take(n) {
                // SAFETY: block g0 + k is inside the caller's buffer.
                unsafe { put_u16(q.add(bb * (g0 + k) + 2), s) };
            }
        }
    }
}

/// Q8_0.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q8_0<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_q8::<V, E, false>(blocks, x, q) }
}

/// Q8_1.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q8_1<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_q8::<V, E, true>(blocks, x, q) }
}

/// Q8_K: signed max of 256, `min(127, nearest_int(iscale·x))` lane-wise, exact 16-sums.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q8_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        prefetch::<V, E>(x.wrapping_add(QK_K * (b + 1)), QK_K);
        // SAFETY: block b is inside the caller's buffers.
        let (v, out) = unsafe { (load::<V, E, 16>(x.add(QK_K * b)), q.add(292 * b)) };
        let (max, amax) = signed_max(&v);
        if amax == 0.0 {
            // SAFETY: 292 bytes at out.
            unsafe { out.write_bytes(0, 292) };
            continue;
        }
        let iscale = -127.0 / max;
        let s = V::splat(iscale);
        for (k, &x) in v.iter().enumerate() {
            let l = V::splat(127.0).min(x.mul(s).nearest_int());
            let sum = V::dsum(V::dadd(V::dzero(), l)) as i32 as i16;
            // SAFETY: quants at 4.., sums at 260.. inside the 292 bytes.
            unsafe {
                l.store_i8(out.add(4 + 16 * k));
                put_u16(out.add(260 + 2 * k), sum as u16);
            }
        }
        // SAFETY: 4 bytes at out.
        unsafe {
            out.cast::<[u8; 4]>()
                .write_unaligned((1.0 / iscale).to_le_bytes())
        };
    }
}

/// The E2M1 codes of 16 elements at scale `d` (see [`quantize_mxfp4`]): the magnitude is the
/// number of midpoints `MID·d` strictly below |x| (0 for NaN), the sign bit is set for x < 0
/// with a nonzero magnitude.
///
/// Every midpoint is a boundary of the quarter-octave grid (1, 1.25, 1.5, 1.75 times a power
/// of two) scaled by the power of two `d`, so for `d/2` normal the magnitude follows from the
/// grid interval holding the float just below |x| (|x| > m exactly when that float is >= m):
/// its exponent and top two mantissa bits, an index counted from `d/2`'s, looked up in
/// `CODE`. That is 3 compares per 16 lanes instead of 8, and on AVX2 no mask-to-vector
/// expansions. Smaller `d` (blocks with amax < 2^-122) keeps the count of compares.
#[inline(always)]
fn mxfp4_code<V: Q16>(x: V, d: f32) -> V {
    /// The magnitude for grid intervals 4..20 above `d/2` (interval j covers
    /// `[1 + (j % 4)/4, 1 + (j % 4 + 1)/4) · 2^(j / 4) · d/2`; intervals 0..4 lie in `(d/2, d)`
    /// and share interval 4's code 1, and |x| < 16·d ends at interval 19).
    const CODE: [f32; 16] = [
        1., 1., 2., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6., 7., 7., 7.,
    ];
    const MID: [f32; 7] = [0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0];
    let (a, zero, half) = (x.abs(), V::splat(0.0), 0.5 * d);
    let above = a.mask_gt(V::splat(half));
    let c = if half >= f32::MIN_POSITIVE {
        let base = ((half.to_bits() >> 21) + 4) as f32;
        let j = a.bits_sub_shr(1, 21).sub(V::splat(base));
        let j = j.max(zero).min(V::splat(15.0));
        V::blend(above, V::permute(from_lanes(&CODE), j), zero)
    } else {
        let mut c = zero;
        for m in MID {
            c = c.add(V::bits(a.mask_gt(V::splat(m * d)), 1.0));
        }
        c
    };
    c.add(V::bits(zero.mask_gt(x) & above, 8.0))
}

/// MXFP4's shared exponent: [`r::mxfp4_exponent`], from the exponent bits where `log2f` cannot
/// round up to the next integer (mantissa below 2 - 2^-15: the gap to the next power of two is
/// then far more than half an ulp of the logarithm), the reference's formula otherwise.
#[inline(always)]
pub(crate) fn mxfp4_exponent(amax: f32) -> u8 {
    let bits = amax.to_bits();
    let (e, m) = (bits >> 23, bits & 0x007F_FFFF);
    if amax > 0.0 && (1..255).contains(&e) && m < 0x007F_FF00 {
        // floor(log2 amax) = e - 127; the byte is that - 2 + 127 (wrapping like the C cast).
        (e as i32 - 2) as u8
    } else {
        r::mxfp4_exponent(amax)
    }
}

/// MXFP4: the reference scans the 16 codes for the first strict minimum of |k·d - x|. Between
/// two neighbouring magnitudes a < b (b <= 2a, d a power of two) both |x| - a and b - |x| are
/// exact (Sterbenz), so the scan picks the upper one exactly when |x| > (a + b)/2: the code
/// magnitude is the number of midpoints below |x| (a tie stays low), the sign bit is set for
/// x < 0 unless the magnitude is 0 (code 0 comes before -0). Farther codes have larger exact
/// errors and cannot win. This needs |x| < 16·d, true whenever amax is finite; a block with an
/// infinity takes the reference's scan.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_mxfp4<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for g0 in (0..blocks).step_by(GROUP) {
        let n = GROUP.min(blocks - g0);
        // SAFETY: blocks g0..g0 + n are inside the caller's buffer.
        let g = unsafe { Group::<E>::new(x.add(QK * g0), n) };
        let amax = lanes(group_amax::<V, E>(g));
        for (k, &amax) in amax.iter().enumerate().take(n) {
            // SAFETY: block g0 + k is inside the caller's buffer (17 bytes at out).
            let out = unsafe { q.add(17 * (g0 + k)) };
            let [a, b] = g.block::<V>(k);
            if amax == f32::INFINITY {
                // An infinite element makes the scale tiny (e = 0) and the reference's errors
                // round together for ordinary values; only its scan gives its bytes.
                let mut buf = [0.0f32; QK];
                // SAFETY: `buf` holds 32 elements; 17 bytes at out.
                unsafe {
                    a.store_f32(buf.as_mut_ptr());
                    b.store_f32(buf.as_mut_ptr().add(16));
                    r::quantize_mxfp4(&buf, std::slice::from_raw_parts_mut(out, 17));
                }
                continue;
            }
            let e = mxfp4_exponent(amax);
            let d = r::e8m0_half(e);
            let (c0, c1) = (mxfp4_code(a, d), mxfp4_code(b, d));
            // SAFETY: 17 bytes at out.
            unsafe {
                out.write(e);
                V::store_nibbles(c0, c1, out.add(1));
            }
        }
    }
}

/// Copies `n` elements to f32.
///
/// # Safety
/// `n` (a multiple of 16) readable elements at `x`, `out` holds `n`.
#[inline(always)]
unsafe fn widen<V: Q16, E: Elem>(x: *const E::S, out: &mut [f32], n: usize) {
    for k in 0..n / 16 {
        // SAFETY: 16 elements at 16k on both sides (caller).
        unsafe { E::load::<V>(x.add(16 * k)).store_f32(out.as_mut_ptr().add(16 * k)) };
    }
}

/// `min(hi, max(lo, v))` for integer-valued, NaN-free lanes.
#[inline(always)]
fn clamp<V: Q16>(v: V, lo: f32, hi: f32) -> V {
    V::splat(hi).min(v.max(V::splat(lo)))
}

/// ggml's `make_qkx2_quants` on 16 sub-blocks of 32 at once, one lane per sub-block (`x[i]`
/// holds element i of every sub-block), with the Q4_K/Q5_K weights `sqrt(Σx²/32) + |x|`. Each
/// lane performs the reference's operations in its order: the sums run over i sequentially,
/// and the branches become per-lane blends. Returns (scales, -mins, levels[i]).
#[inline(always)]
fn qkx2_lanes<V: Q16>(x: &[V; 32], nmax: f32, rmin: f32, nstep: i32) -> (V, V, [V; 32]) {
    let zero = V::splat(0.0);
    let mut sum_x2 = zero;
    for &v in x {
        sum_x2 = sum_x2.add(v.mul(v));
    }
    let av_x = sum_x2.div(V::splat(32.0)).sqrt();
    let mut w = [zero; 32];
    for i in 0..32 {
        w[i] = av_x.add(x[i].abs());
    }
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = w[0];
    let mut sum_x = sum_w.mul(x[0]);
    for i in 1..32 {
        min = V::select_lt(x[i], min, x[i], min);
        max = V::select_lt(max, x[i], x[i], max);
        sum_w = sum_w.add(w[i]);
        sum_x = sum_x.add(w[i].mul(x[i]));
    }
    min = V::select_lt(zero, min, zero, min);
    let flat = max.mask_ge(min) & !max.mask_gt(min);
    let iscale = V::splat(nmax).div(max.sub(min));
    let mut scale = V::splat(1.0).div(iscale);
    let mut l = [zero; 32];
    let mut best = zero;
    for i in 0..32 {
        l[i] = clamp(iscale.mul(x[i].sub(min)).nearest_int(), 0.0, nmax);
        let diff = scale.mul(l[i]).add(min).sub(x[i]);
        best = best.add(w[i].mul(diff.mul(diff)));
    }
    let mut aux = [zero; 32];
    for is in 0..=nstep {
        // As in ggml, `min` is the best candidate's so far, not the data's.
        let iscale = V::splat(rmin + 0.1 * is as f32 + nmax).div(max.sub(min));
        let (mut sl, mut sl2, mut sxl) = (zero, zero, zero);
        for i in 0..32 {
            let li = clamp(iscale.mul(x[i].sub(min)).nearest_int(), 0.0, nmax);
            aux[i] = li;
            let wl = w[i].mul(li);
            sl = sl.add(wl);
            sl2 = sl2.add(wl.mul(li));
            sxl = sxl.add(wl.mul(x[i]));
        }
        let det = sum_w.mul(sl2).sub(sl.mul(sl));
        let mut this_scale = sum_w.mul(sxl).sub(sum_x.mul(sl)).div(det);
        let mut this_min = sl2.mul(sum_x).sub(sl.mul(sxl)).div(det);
        let clip = this_min.mask_gt(zero);
        this_min = V::blend(clip, zero, this_min);
        this_scale = V::blend(clip, sxl.div(sl2), this_scale);
        let mut err = zero;
        for i in 0..32 {
            let diff = this_scale.mul(aux[i]).add(this_min).sub(x[i]);
            err = err.add(w[i].mul(diff.mul(diff)));
        }
        let take = det.mask_gt(zero) & best.mask_gt(err);
        if take != 0 {
            for i in 0..32 {
                l[i] = V::blend(take, aux[i], l[i]);
            }
            best = V::blend(take, err, best);
            scale = V::blend(take, this_scale, scale);
            min = V::blend(take, this_min, min);
        }
    }
    // A flat sub-block (max == min after clamping min to 0): scale 0, levels 0.
    for v in l.iter_mut() {
        *v = V::blend(flat, zero, *v);
    }
    (V::blend(flat, zero, scale), zero.sub(min), l)
}

#[cfg(test)]
thread_local! {
    /// Pairs of Q4_K/Q5_K blocks this thread sent to the reference (tests check that finite
    /// data never is).
    pub(crate) static K4_FALLBACKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Q4_K / Q5_K: the sub-block searches of two super-blocks run in the 16 lanes together
/// ([`qkx2_lanes`]); the super-block part is the reference's [`r::k4_finish`].
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
unsafe fn quantize_k4<V: Q16, E: Elem, const FIVE: bool>(
    blocks: usize,
    x: *const E::S,
    q: *mut u8,
) {
    let (nmax, rmin, nstep, f) = if FIVE {
        (31, -0.5, 15, Format::Q5K)
    } else {
        (15, -1.0, 20, Format::Q4K)
    };
    let bb = f.block_bytes();
    let mut buf = [0.0f32; 2 * QK_K];
    for b0 in (0..blocks).step_by(2) {
        let pair = (blocks - b0).min(2);
        // SAFETY: blocks b0..b0 + pair are readable; a lone block is searched twice.
        unsafe {
            widen::<V, E>(x.add(QK_K * b0), &mut buf, QK_K * pair);
        }
        if pair == 1 {
            buf.copy_within(..QK_K, QK_K);
        }
        let mut xv = [V::splat(0.0); 32];
        let mut wild = 0u32;
        for (i, v) in xv.iter_mut().enumerate() {
            // SAFETY: lane s reads buf[32 s + i] < 512.
            *v = unsafe { V::gather(buf.as_ptr().add(i), 32) };
            let a = v.abs();
            // (NaN fails `a >= 0`; the complement keeps the 16 lane bits only: a bare `!` set
            // the upper 16 bits too and sent every block to the reference.)
            wild |= a.mask_ge(V::splat(1e18)) | (!a.mask_ge(V::splat(0.0)) & 0xFFFF);
        }
        #[cfg(test)]
        if wild != 0 {
            K4_FALLBACKS.with(|c| c.set(c.get() + 1));
        }
        if wild != 0 {
            // NaN, infinities or |x| >= 1e18 (where x² and the weighted sums overflow): the
            // lanes would follow the same IEEE operations, but the reference's sequential
            // search is the one statement of what those non-finite paths give.
            for h in 0..pair {
                let xs = &buf[QK_K * h..QK_K * (h + 1)];
                // SAFETY: block b0 + h is inside the caller's buffer.
                let out = unsafe { std::slice::from_raw_parts_mut(q.add(bb * (b0 + h)), bb) };
                if FIVE {
                    r::quantize_q5_k(xs, out);
                } else {
                    r::quantize_q4_k(xs, out);
                }
            }
            continue;
        }
        let (scale, min, l) = qkx2_lanes(&xv, nmax as f32, rmin, nstep);
        let (scale, min) = (lanes(scale), lanes(min));
        let mut lv = [[0.0f32; GROUP]; 32];
        for (o, &v) in lv.iter_mut().zip(&l) {
            *o = lanes(v);
        }
        let l = lv;
        for h in 0..pair {
            let mut search = r::K4Search {
                scales: [0.0; 8],
                mins: [0.0; 8],
                levels: [0; QK_K],
            };
            for j in 0..8 {
                search.scales[j] = scale[8 * h + j];
                search.mins[j] = min[8 * h + j];
                for (i, li) in l.iter().enumerate() {
                    search.levels[32 * j + i] = li[8 * h + j] as u8;
                }
            }
            let xs = &buf[QK_K * h..QK_K * (h + 1)];
            // SAFETY: block b0 + h is inside the caller's buffer.
            let out = unsafe { std::slice::from_raw_parts_mut(q.add(bb * (b0 + h)), bb) };
            let levels = r::k4_finish(xs, &search, nmax, out);
            if FIVE {
                r::pack_q5_k(&levels, out);
            } else {
                r::pack_q4_k(&levels, out);
            }
        }
    }
}

/// Q4_K.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q4_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_k4::<V, E, false>(blocks, x, q) }
}

/// Q5_K.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q5_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_k4::<V, E, true>(blocks, x, q) }
}

/// ggml's `make_qx_quants(16, 32, x, L, 1, NULL)` on the 16 sub-blocks of a Q6_K super-block,
/// one lane each (`x[i]` = element i of every sub-block), operations in the reference's order.
/// Returns the scales and the inverse scale whose levels were kept (NaN for all-zero lanes).
#[inline(always)]
fn qx_lanes<V: Q16>(x: &[V; 16]) -> (V, V, u32) {
    let zero = V::splat(0.0);
    let (mut amax, mut max) = (zero, zero);
    for &v in x {
        let a = v.abs();
        max = V::select_lt(amax, a, v, max);
        amax = V::select_lt(amax, a, a, amax);
    }
    let small = V::splat(1e-15).mask_gt(amax);
    let mut kept = V::splat(-32.0).div(max);
    let (slx, sl2) = qx_sums(x, kept);
    // `suml2 ? sumlx / suml2 : 0` (a NaN sum counts as non-zero, as in C).
    let is_zero = sl2.mask_ge(zero) & !sl2.mask_gt(zero);
    let mut scale = V::blend(!is_zero, slx.div(sl2), zero);
    let mut best = scale.mul(slx);
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        let iscale = V::splat(-(32.0 + 0.1 * is as f32)).div(max);
        let (slx, sl2) = qx_sums(x, iscale);
        let take = sl2.mask_gt(zero) & slx.mul(slx).mask_gt(best.mul(sl2));
        if take != 0 {
            let s = slx.div(sl2);
            scale = V::blend(take, s, scale);
            best = V::blend(take, s.mul(slx), best);
            kept = V::blend(take, iscale, kept);
        }
    }
    (V::blend(small, zero, scale), kept, small)
}

/// Σ (x²·x)·l and Σ (x²·l)·l over the 16 elements of each lane, sequentially.
#[inline(always)]
fn qx_sums<V: Q16>(x: &[V; 16], iscale: V) -> (V, V) {
    let zero = V::splat(0.0);
    let (mut slx, mut sl2) = (zero, zero);
    for &v in x {
        let l = clamp(iscale.mul(v).nearest_int(), -32.0, 31.0);
        let w = v.mul(v);
        slx = slx.add(w.mul(v).mul(l));
        sl2 = sl2.add(w.mul(l).mul(l));
    }
    (slx, sl2)
}

/// Q6_K: the 16 sub-block searches in the 16 lanes ([`qx_lanes`]); the super-block part is the
/// reference's [`r::q6_finish`]. Levels are only needed where a sub-block's 8-bit scale rounds
/// to 0; they are recomputed from the kept inverse scale, as the reference leaves them.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q6_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    let mut buf = [0.0f32; QK_K];
    for b in 0..blocks {
        // SAFETY: block b is readable.
        unsafe { widen::<V, E>(x.add(QK_K * b), &mut buf, QK_K) };
        let mut xv = [V::splat(0.0); 16];
        for (i, v) in xv.iter_mut().enumerate() {
            // SAFETY: lane s reads buf[16 s + i] < 256.
            *v = unsafe { V::gather(buf.as_ptr().add(i), 16) };
        }
        let (scale, kept, small) = qx_lanes(&xv);
        let scales = lanes(scale);
        let mut l = [0u8; QK_K];
        let mut lv = [0.0f32; GROUP];
        for (i, &v) in xv.iter().enumerate() {
            let li = clamp(kept.mul(v).nearest_int(), -32.0, 31.0).add(V::splat(32.0));
            // All-zero sub-blocks keep level 0 (make_qx_quants' early return).
            let li = V::blend(small, V::splat(0.0), li);
            // SAFETY: 16 elements.
            unsafe { li.store_f32(lv.as_mut_ptr()) };
            for s in 0..16 {
                l[16 * s + i] = lv[s] as u8;
            }
        }
        // SAFETY: block b is inside the caller's buffer.
        let out = unsafe { std::slice::from_raw_parts_mut(q.add(210 * b), 210) };
        r::q6_finish(&buf, &scales, l, out);
    }
}

// ---------------------------------------------------------------------------------------------
// Dequantization: every product is exact in f32 (see the reference), so any evaluation order
// gives the reference's values; f16/bf16 destinations round once on store.

/// Q4_0: (q - 8)·d.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q4_0<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let (p, out) = (q.add(18 * b), y.add(QK * b));
            let d = V::splat(get_f16(p));
            let eight = V::splat(8.0);
            let lo = V::load_field(p.add(2), 0, 15).sub(eight).mul(d);
            let hi = V::load_field(p.add(2), 4, 15).sub(eight).mul(d);
            E::store(lo, out);
            E::store(hi, out.add(16));
        }
    }
}

/// Q4_1: q·d + m.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q4_1<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let (p, out) = (q.add(20 * b), y.add(QK * b));
            let (d, m) = (V::splat(get_f16(p)), V::splat(get_f16(p.add(2))));
            let lo = V::load_field(p.add(4), 0, 15).mul(d).add(m);
            let hi = V::load_field(p.add(4), 4, 15).mul(d).add(m);
            E::store(lo, out);
            E::store(hi, out.add(16));
        }
    }
}

/// The two 16-lane halves of a Q5 block's levels (nibbles plus the `qh` bits).
///
/// # Safety
/// 4 readable bytes at `qh`, 16 at `qs`.
#[inline(always)]
unsafe fn q5_levels<V: Q16>(qh: *const u8, qs: *const u8) -> (V, V) {
    // SAFETY: forwarded contract.
    unsafe {
        let h = u32::from_le_bytes(qh.cast::<[u8; 4]>().read_unaligned());
        (
            V::load_field(qs, 0, 15).add(V::bits(h & 0xFFFF, 16.0)),
            V::load_field(qs, 4, 15).add(V::bits(h >> 16, 16.0)),
        )
    }
}

/// Q5_0: (q - 16)·d.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q5_0<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let (p, out) = (q.add(22 * b), y.add(QK * b));
            let d = V::splat(get_f16(p));
            let (lo, hi) = q5_levels::<V>(p.add(2), p.add(6));
            let sixteen = V::splat(16.0);
            E::store(lo.sub(sixteen).mul(d), out);
            E::store(hi.sub(sixteen).mul(d), out.add(16));
        }
    }
}

/// Q5_1: q·d + m.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q5_1<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let (p, out) = (q.add(24 * b), y.add(QK * b));
            let (d, m) = (V::splat(get_f16(p)), V::splat(get_f16(p.add(2))));
            let (lo, hi) = q5_levels::<V>(p.add(4), p.add(8));
            E::store(lo.mul(d).add(m), out);
            E::store(hi.mul(d).add(m), out.add(16));
        }
    }
}

/// `n` signed bytes at `qs` times `d`, stored as `n` elements at `out` (`n` a multiple of 16).
///
/// # Safety
/// `n` readable bytes at `qs`, `n` writable elements at `out`.
#[inline(always)]
unsafe fn scale_i8<V: Q16, E: Elem>(n: usize, qs: *const u8, d: f32, out: *mut E::S) {
    let d = V::splat(d);
    for k in 0..n / 16 {
        // SAFETY: forwarded contract.
        unsafe { E::store(V::load_i8(qs.add(16 * k)).mul(d), out.add(16 * k)) };
    }
}

/// Q8_0: q·d.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q8_0<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let p = q.add(34 * b);
            scale_i8::<V, E>(QK, p.add(2), get_f16(p), y.add(QK * b));
        }
    }
}

/// Q8_1: q·d.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q8_1<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let p = q.add(36 * b);
            scale_i8::<V, E>(QK, p.add(4), get_f16(p), y.add(QK * b));
        }
    }
}

/// Q8_K: q·d with the f32 d.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q8_k<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let p = q.add(292 * b);
            let d = f32::from_le_bytes(p.cast::<[u8; 4]>().read_unaligned());
            scale_i8::<V, E>(QK_K, p.add(4), d, y.add(QK_K * b));
        }
    }
}

/// Q4_K / Q5_K: (d·sc)·q - dmin·m per 32-element sub-block.
///
/// # Safety
/// One block readable at `p` (`qh` inside it for Q5_K), 256 writable elements at `out`.
#[inline(always)]
unsafe fn dequantize_k4<V: Q16, E: Elem>(
    p: *const u8,
    qh: Option<*const u8>,
    qs: *const u8,
    out: *mut E::S,
) {
    // SAFETY: forwarded contract; every offset is inside the block / the 256 elements.
    unsafe {
        let (d, dmin) = (get_f16(p), get_f16(p.add(2)));
        let scales = &*p.add(4).cast::<[u8; 12]>();
        for c in 0..4 {
            for (s, shift) in [(2 * c, 0), (2 * c + 1, 4)] {
                let (sc, m) = r::get_scale_min_k4(s, scales);
                let (dl, ml) = (V::splat(d * f32::from(sc)), V::splat(dmin * f32::from(m)));
                for h in 0..2 {
                    let lo = qs.add(32 * c + 16 * h);
                    let l = match qh {
                        Some(qh) => V::load_field5(lo, shift, qh.add(16 * h), s as u32),
                        None => V::load_field(lo, shift, 15),
                    };
                    E::store(dl.mul(l).sub(ml), out.add(32 * s + 16 * h));
                }
            }
        }
    }
}

/// Q4_K.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q4_k<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let p = q.add(144 * b);
            dequantize_k4::<V, E>(p, None, p.add(16), y.add(QK_K * b));
        }
    }
}

/// Q5_K.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q5_k<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let p = q.add(176 * b);
            dequantize_k4::<V, E>(p, Some(p.add(16)), p.add(48), y.add(QK_K * b));
        }
    }
}

/// Q6_K: (d·sc)·(q - 32), q from a nibble of `ql` and 2 bits of `qh`.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_q6_k<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers; offsets stay inside the 210 bytes
        // and 256 elements.
        unsafe {
            let p = q.add(210 * b);
            let d = get_f16(p.add(208));
            let out = y.add(QK_K * b);
            for h in 0..2 {
                let (ql, qh, sc) = (p.add(64 * h), p.add(128 + 32 * h), p.add(192 + 8 * h));
                for k in 0..4 {
                    for s in 0..2 {
                        let lo =
                            V::load_field(ql.add(32 * (k & 1) + 16 * s), 4 * (k as u32 >> 1), 15);
                        let hi = V::load_field(qh.add(16 * s), 2 * k as u32, 3);
                        // 16·hi + (lo - 32): small integers, exact fused or not.
                        let l = V::fmadd::<true>(hi, V::splat(16.0), lo.sub(V::splat(32.0)));
                        let scale = d * f32::from(sc.add(s + 2 * k).read() as i8);
                        E::store(V::splat(scale).mul(l), out.add(128 * h + 32 * k + 16 * s));
                    }
                }
            }
        }
    }
}

/// MXFP4: kvalue·2^(e-128), the code looked up in a 16-lane table.
///
/// # Safety
/// `blocks` whole blocks readable at `q`, writable at `y`.
#[inline(always)]
pub unsafe fn dequantize_mxfp4<V: Q16, E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
    let table = KVALUES_MXFP4.map(f32::from);
    // SAFETY: 16 elements in `table`.
    let table = unsafe { V::load_f32(table.as_ptr()) };
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        unsafe {
            let (p, out) = (q.add(17 * b), y.add(QK * b));
            let d = V::splat(r::e8m0_half(p.read()));
            E::store(
                V::permute(table, V::load_field(p.add(1), 0, 15)).mul(d),
                out,
            );
            E::store(
                V::permute(table, V::load_field(p.add(1), 4, 15)).mul(d),
                out.add(16),
            );
        }
    }
}
