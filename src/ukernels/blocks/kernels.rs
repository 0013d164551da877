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

use super::lanes::{Q16, c_trunc, roundf};
use super::reference as r;
use super::reference::{KVALUES_MXFP4, QK, QK_K};
use crate::ukernels::cvt::{f16_to_f32, f32_to_f16};
use crate::ukernels::simd::Elem;

/// Loads `N` vectors (16·N elements) starting at `x`.
///
/// # Safety
/// `16 * N` readable elements at `x`.
#[inline(always)]
unsafe fn load<V: Q16, E: Elem, const N: usize>(x: *const E::S) -> [V; N] {
    // SAFETY: vector i covers elements 16i..16i+16 < 16N (caller).
    std::array::from_fn(|i| unsafe { E::load::<V>(x.add(16 * i)) })
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

/// The first element (in memory order) whose bit is set in the per-vector masks `m(v)`.
#[inline(always)]
fn first<V: Q16>(v: &[V], m: impl Fn(V) -> u32) -> Option<f32> {
    v.iter()
        .enumerate()
        .find_map(|(k, &x)| {
            let bits = m(x);
            (bits != 0).then(|| 16 * k + bits.trailing_zeros() as usize)
        })
        .map(|i| lane(v, i))
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
    let t = V::splat(amax);
    (first(v, |x| x.abs().mask_ge(t)).unwrap_or(0.0), amax)
}

/// The reference's `min` and `max` (strict comparisons from ±FLT_MAX, NaN ignored; on ±0 ties
/// the first element in memory order, as the sequential scan keeps).
#[inline(always)]
fn min_max<V: Q16>(v: &[V]) -> (f32, f32) {
    let (mut lo, mut hi) = (V::splat(f32::MAX), V::splat(-f32::MAX));
    for &x in v {
        lo = V::select_lt(x, lo, x, lo);
        hi = V::select_lt(hi, x, x, hi);
    }
    let zero = V::splat(0.0);
    let min = -zero.sub(lo).hmax();
    let max = hi.hmax();
    let pick = |m: f32| {
        if m == 0.0 {
            let t = V::splat(m);
            first(v, |x| x.mask_ge(t) & !x.mask_gt(t)).unwrap_or(m)
        } else {
            m
        }
    };
    (pick(min), pick(max))
}

/// Q4_0: per block the signed max, then `min(15, (int8)(x·id + 8.5))` lane-wise.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q4_0<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        let (v, out) = unsafe { (load::<V, E, 2>(x.add(QK * b)), q.add(18 * b)) };
        let (max, _) = signed_max(&v);
        let d = max / -8.0;
        let id = V::splat(if d != 0.0 { 1.0 / d } else { 0.0 });
        let t = |x: V| V::splat(15.0).min(c_trunc(x.mul(id).add(V::splat(8.5))));
        // SAFETY: 18 bytes at out.
        unsafe {
            put_u16(out, f32_to_f16(d));
            V::store_nibbles(t(v[0]), t(v[1]), out.add(2));
        }
    }
}

/// Q4_1: min/max, then `min(15, (int8)((x - min)·id + 0.5))` lane-wise.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q4_1<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        let (v, out) = unsafe { (load::<V, E, 2>(x.add(QK * b)), q.add(20 * b)) };
        let (min, max) = min_max(&v);
        let d = (max - min) / 15.0;
        let id = V::splat(if d != 0.0 { 1.0 / d } else { 0.0 });
        let m = V::splat(min);
        let t = |x: V| V::splat(15.0).min(c_trunc(x.sub(m).mul(id).add(V::splat(0.5))));
        // SAFETY: 20 bytes at out.
        unsafe {
            put_u16(out, f32_to_f16(d));
            put_u16(out.add(2), f32_to_f16(min));
            V::store_nibbles(t(v[0]), t(v[1]), out.add(4));
        }
    }
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

/// Q5_0: as Q4_0 with `min(31, (int8)(x·id + 16.5))`, bit 4 into `qh`.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q5_0<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        let (v, out) = unsafe { (load::<V, E, 2>(x.add(QK * b)), q.add(22 * b)) };
        let (max, _) = signed_max(&v);
        let d = max / -16.0;
        let id = V::splat(if d != 0.0 { 1.0 / d } else { 0.0 });
        let t = |x: V| V::splat(31.0).min(c_trunc(x.mul(id).add(V::splat(16.5))));
        let (lo, hi, qh) = split5(t(v[0]), t(v[1]));
        // SAFETY: 22 bytes at out.
        unsafe {
            put_u16(out, f32_to_f16(d));
            out.add(2)
                .cast::<[u8; 4]>()
                .write_unaligned(qh.to_le_bytes());
            V::store_nibbles(lo, hi, out.add(6));
        }
    }
}

/// Q5_1: as Q4_1 with `(uint8)((x - min)·id + 0.5)`, bit 4 into `qh`.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q5_1<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        let (v, out) = unsafe { (load::<V, E, 2>(x.add(QK * b)), q.add(24 * b)) };
        let (min, max) = min_max(&v);
        let d = (max - min) / 31.0;
        let id = V::splat(if d != 0.0 { 1.0 / d } else { 0.0 });
        let m = V::splat(min);
        let t = |x: V| c_trunc(x.sub(m).mul(id).add(V::splat(0.5)));
        let (lo, hi, qh) = split5(t(v[0]), t(v[1]));
        // SAFETY: 24 bytes at out.
        unsafe {
            put_u16(out, f32_to_f16(d));
            put_u16(out.add(2), f32_to_f16(min));
            out.add(4)
                .cast::<[u8; 4]>()
                .write_unaligned(qh.to_le_bytes());
            V::store_nibbles(lo, hi, out.add(8));
        }
    }
}

/// Q8_0 / Q8_1 elements: stores the 32 quants at `qs`, returns (d, their sum).
///
/// # Safety
/// 32 writable bytes at `qs`.
#[inline(always)]
unsafe fn q8_elements<V: Q16>(v: &[V; 2], qs: *mut u8) -> (f32, f32) {
    let d = amax(v) / 127.0;
    let id = V::splat(if d != 0.0 { 1.0 / d } else { 0.0 });
    let mut sum = V::dzero();
    for (k, &x) in v.iter().enumerate() {
        let l = c_trunc(roundf(x.mul(id)));
        // A NaN lane stores 0 (the reference's `(int8_t)NaN` on x86) and so adds 0.
        let l = V::blend(l.abs().mask_ge(V::splat(0.0)), l, V::splat(0.0));
        // SAFETY: 32 bytes at qs (caller).
        unsafe { l.store_i8(qs.add(16 * k)) };
        sum = V::dadd(sum, l);
    }
    (d, V::dsum(sum) as f32)
}

/// Q8_0: d = amax / 127, `roundf(x·id)` lane-wise.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q8_0<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers (34 bytes at out).
        unsafe {
            let (v, out) = (load::<V, E, 2>(x.add(QK * b)), q.add(34 * b));
            let (d, _) = q8_elements(&v, out.add(2));
            put_u16(out, f32_to_f16(d));
        }
    }
}

/// Q8_1: Q8_0's elements plus `s = f16(sum · d)` with the f32 d.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q8_1<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers (36 bytes at out).
        unsafe {
            let (v, out) = (load::<V, E, 2>(x.add(QK * b)), q.add(36 * b));
            let (d, sum) = q8_elements(&v, out.add(4));
            put_u16(out, f32_to_f16(d));
            put_u16(out.add(2), f32_to_f16(sum * d));
        }
    }
}

/// Q8_K: signed max of 256, `min(127, nearest_int(iscale·x))` lane-wise, exact 16-sums.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q8_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    for b in 0..blocks {
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
    const MID: [f32; 7] = [0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0];
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        let (v, out) = unsafe { (load::<V, E, 2>(x.add(QK * b)), q.add(17 * b)) };
        let amax = amax(&v);
        if amax == f32::INFINITY {
            // An infinite element makes the scale tiny (e = 0) and the reference's errors
            // round together for ordinary values; only its scan gives its bytes.
            let mut buf = [0.0f32; QK];
            // SAFETY: `buf` holds 32 elements; 17 bytes at out.
            unsafe {
                v[0].store_f32(buf.as_mut_ptr());
                v[1].store_f32(buf.as_mut_ptr().add(16));
                r::quantize_mxfp4(&buf, std::slice::from_raw_parts_mut(out, 17));
            }
            continue;
        }
        let e = mxfp4_exponent(amax);
        let d = r::e8m0_half(e);
        let code = |x: V| {
            let a = x.abs();
            let mut c = V::splat(0.0);
            for m in MID {
                c = c.add(V::bits(a.mask_gt(V::splat(m * d)), 1.0));
            }
            let neg = V::splat(0.0).mask_gt(x) & c.mask_gt(V::splat(0.0));
            c.add(V::bits(neg, 8.0))
        };
        // SAFETY: 17 bytes at out.
        unsafe {
            out.write(e);
            V::store_nibbles(code(v[0]), code(v[1]), out.add(1));
        }
    }
}

/// The K-quant quantizers on this vector type: the reference per block (the search is
/// sequential per sub-block), with the source widened to f32 first.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
unsafe fn quantize_k_ref<E: Elem>(
    blocks: usize,
    x: *const E::S,
    q: *mut u8,
    bytes: usize,
    f: fn(&[f32], &mut [u8]),
) {
    let mut buf = [0.0f32; QK_K];
    for b in 0..blocks {
        // SAFETY: block b is inside the caller's buffers.
        let (src, dst) = unsafe {
            (
                std::slice::from_raw_parts(x.add(QK_K * b), QK_K),
                std::slice::from_raw_parts_mut(q.add(bytes * b), bytes),
            )
        };
        for (o, &s) in buf.iter_mut().zip(src) {
            *o = E::to_f32(s);
        }
        f(&buf, dst);
    }
}

/// Q4_K.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q4_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_k_ref::<E>(blocks, x, q, 144, r::quantize_q4_k) }
}

/// Q5_K.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q5_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_k_ref::<E>(blocks, x, q, 176, r::quantize_q5_k) }
}

/// Q6_K.
///
/// # Safety
/// `blocks` whole blocks readable at `x`, writable at `q`.
#[inline(always)]
pub unsafe fn quantize_q6_k<V: Q16, E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { quantize_k_ref::<E>(blocks, x, q, 210, r::quantize_q6_k) }
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
                    let mut l = V::load_field(qs.add(32 * c + 16 * h), shift, 15);
                    if let Some(qh) = qh {
                        l = l.add(V::load_field(qh.add(16 * h), s as u32, 1).mul(V::splat(16.0)));
                    }
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
                        let l = lo.add(hi.mul(V::splat(16.0))).sub(V::splat(32.0));
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
