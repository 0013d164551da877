//! The split-scale schemes written once over [`V16`] + [`Q16`] and instantiated per ISA.
//!
//! Each lane performs the reference's f32 operations in the reference's order (see
//! [`super::reference`]): divisions stay divisions, the MX scaling multiplies by the same two
//! powers of two, the rounding uses the same 1.5·2^23 addition, and the comparisons used for
//! clamping pick the same operand on equal values and on NaN (`maxps`/`minps` return their
//! second operand when either is NaN; the reference's `if a < b` forms are written to match).
//! Block statistics are maxima and minima, exact in any order. So the bytes equal the
//! reference's for every input. Block sizes that are not a multiple of 16 (possible only for
//! the ONNX integers) run the reference.

use super::reference::{self as r, bnb_clamp, int_scale, mx_scale_byte, nvfp4_scale_byte};
use super::tables::{self, CodeBook, pow2};
use super::{FpFormat, Kind, Params};
use crate::ukernels::blocks::lanes::{Q16, prefetch};
use crate::ukernels::simd::{Elem, V16};

const MAGIC: f32 = 12582912.0;

/// How far ahead (bytes of input) the quantizers hint their input into L1. Measured on this
/// machine, AVX-512 f32 quantize of 2^24 elements, ms (none / 512 / 1024 / 2048 / 4096 bytes):
/// int8 11.7 / 8.1 / 6.9 / 5.8-6.1 / 5.6, mxfp8_e4m3 18.1 / 9.8 / 8.4 / 7.8-8.0 / 7.8, nvfp4
/// 13.9 / 11.5 / 9.2 / 8.1-8.4 / 8.0; 2048 and 4096 within noise of each other.
const PREFETCH_BYTES: usize = 2048;

/// [`r::rne`] lane-wise.
#[inline(always)]
fn rne<V: Q16>(v: V) -> V {
    v.add(V::splat(MAGIC)).sub(V::splat(MAGIC))
}

/// NaN lanes become 0.
#[inline(always)]
fn nan_to_zero<V: Q16>(v: V) -> V {
    V::blend(v.mask_ge(v), v, V::splat(0.0))
}

/// Lanes `0..cnt` set.
#[inline(always)]
fn first(cnt: usize) -> u32 {
    (1u32 << cnt) - 1
}

/// [`r::fp_encode`] lane-wise; `neg` holds 1 where the sign bit is to be set, else 0.
#[inline(always)]
fn fp_encode<V: Q16>(f: FpFormat, v: V, neg: V) -> V {
    let a = v.abs().min(V::splat(f.max));
    let emin = pow2(f.emin());
    let p = a.and_bits(0x7F80_0000).max(V::splat(emin));
    let c = p.mul(V::splat(pow2(23 - f.m as i32)));
    let rounded = a.add(c).sub(c);
    let sub = V::splat(emin).mask_gt(rounded);
    let cs = rounded.mul(V::splat(pow2(f.m as i32 - f.emin())));
    let cn = rounded
        .bits_shr(23 - f.m)
        .sub(V::splat((((127 - f.bias) as u32) << f.m) as f32));
    V::blend(sub, cs, cn).add(neg.mul(V::splat((1u32 << (f.e + f.m)) as f32)))
}

/// [`tables::fp_decode`] lane-wise, for integer-valued codes `c` (no table, no gather):
/// sign, exponent field and mantissa split with exact float arithmetic, the power of two built
/// from its bits, subnormals as `mantissa · 2^(emin - m)`, E4M3's NaN and E5M2's Inf/NaN blended
/// in. Every product is exact.
#[inline(always)]
fn fp_decode<V: Q16>(f: FpFormat, c: V) -> V {
    let top = (1u32 << (f.e + f.m)) as f32;
    let one_m = (1u32 << f.m) as f32;
    let neg = c.mask_ge(V::splat(top));
    let mag = c.sub(V::bits(neg, top));
    let ex = mag.mul(V::splat(1.0 / one_m)).trunc();
    let man = mag.sub(ex.mul(V::splat(one_m)));
    let k = (127 - f.bias - f.m as i32) as f32;
    let p2 = ex.add(V::splat(k)).mul(V::splat(8388608.0)).int_to_bits();
    let normal = V::splat(one_m).add(man).mul(p2);
    let sub = man.mul(V::splat(pow2(f.emin() - f.m as i32)));
    let mut v = V::blend(ex.mask_ge(V::splat(1.0)), normal, sub);
    if f.e == 4 && f.m == 3 {
        v = V::blend(mag.mask_ge(V::splat(127.0)), V::splat(f32::NAN), v);
    } else if f.e == 5 {
        let special = V::blend(
            man.mask_ge(V::splat(1.0)),
            V::splat(f32::NAN),
            V::splat(f32::INFINITY),
        );
        v = V::blend(ex.mask_ge(V::splat(31.0)), special, v);
    }
    v.mul(V::blend(neg, V::splat(-1.0), V::splat(1.0)))
}

/// Loads elements `g..g + cnt` of a block (zeros after `cnt`).
///
/// # Safety
/// `cnt` (<= 16) readable elements at `x`.
#[inline(always)]
unsafe fn load<V: Q16, E: Elem>(x: *const E::S, cnt: usize) -> V {
    // SAFETY: forwarded contract.
    unsafe {
        if cnt == 16 {
            E::load::<V>(x)
        } else {
            E::load_partial::<V>(x, cnt, 0.0)
        }
    }
}

/// Block statistics, each over `len` elements at `x`.
struct Stats;

impl Stats {
    /// NaN-skipping max |x|.
    #[inline(always)]
    unsafe fn amax<V: Q16, E: Elem>(x: *const E::S, len: usize) -> f32 {
        let mut acc = V::splat(0.0);
        let mut g = 0;
        while g < len {
            // SAFETY: inside the block (caller).
            let v = unsafe { load::<V, E>(x.add(g), (len - g).min(16)) };
            acc = v.abs().max(acc);
            g += 16;
        }
        acc.hmax()
    }

    /// NaN-skipping (min(0, min x), max(0, max x)).
    #[inline(always)]
    unsafe fn min_max<V: Q16, E: Elem>(x: *const E::S, len: usize) -> (f32, f32) {
        let (mut lo, mut hi) = (V::splat(0.0), V::splat(0.0));
        let mut g = 0;
        while g < len {
            // SAFETY: inside the block (caller).
            let v = unsafe { load::<V, E>(x.add(g), (len - g).min(16)) };
            lo = V16::min(v, lo);
            hi = v.max(hi);
            g += 16;
        }
        // Lanes of lo are <= +0 and never -0, so max of the negation is the negated min.
        (-V::splat(0.0).sub(lo).hmax(), hi.hmax())
    }

    /// Bits of the NaN-propagating max |x| (NaN payloads rank above +inf).
    #[inline(always)]
    unsafe fn amax_bits<V: Q16, E: Elem>(x: *const E::S, len: usize) -> u32 {
        let mut acc = V::splat(0.0);
        let mut g = 0;
        while g < len {
            // SAFETY: inside the block (caller).
            let v = unsafe { load::<V, E>(x.add(g), (len - g).min(16)) };
            acc = v.and_bits(0x7FFF_FFFF).max_bits(acc);
            g += 16;
        }
        acc.hmax_bits()
    }
}

/// One block's element coder.
trait Encode<V: Q16> {
    /// Integer codes of 16 elements (any integer; the packers keep the low bits).
    fn encode(&self, x: V) -> V;
}

struct IntEnc<V> {
    scale: V,
    zp: V,
    lo: V,
    hi: V,
}

impl<V: Q16> Encode<V> for IntEnc<V> {
    #[inline(always)]
    fn encode(&self, x: V) -> V {
        let v = nan_to_zero(x.div(self.scale));
        let v = V16::min(v.max(self.lo), self.hi);
        rne(v).add(self.zp)
    }
}

struct MxEnc<V> {
    m1: V,
    m2: V,
    nan: bool,
    fmt: Option<FpFormat>,
}

impl<V: Q16> Encode<V> for MxEnc<V> {
    #[inline(always)]
    fn encode(&self, x: V) -> V {
        if self.nan {
            return V::splat(0.0);
        }
        let v = x.mul(self.m1).mul(self.m2);
        match self.fmt {
            Some(f) => fp_encode(f, v, v.bits_shr(31)),
            None => {
                let t = nan_to_zero(v.mul(V::splat(64.0)));
                rne(V16::min(t.max(V::splat(-127.0)), V::splat(127.0)))
            }
        }
    }
}

struct NvEnc<V> {
    d: V,
}

impl<V: Q16> Encode<V> for NvEnc<V> {
    #[inline(always)]
    fn encode(&self, x: V) -> V {
        let v = x.div(self.d);
        let neg = V::bits(V::splat(0.0).mask_gt(v), 1.0);
        fp_encode(FpFormat::E2M1, v, neg)
    }
}

/// A code book in registers (16 codes) or memory (256).
struct Book<V> {
    mids: V,
    order: V,
    /// Whether sorted positions map to codes through `order` (not the identity).
    reorder: bool,
    book: &'static CodeBook,
}

impl<V: Q16> Book<V> {
    #[inline(always)]
    fn new(book: &'static CodeBook) -> Self {
        let mut m = [0.0f32; 16];
        let mut o = [0.0f32; 16];
        // Books without buckets are searched in registers: 16 codes.
        debug_assert!(book.buckets.is_some() || book.order.len() == 16);
        if book.order.len() == 16 {
            m[..15].copy_from_slice(book.mids);
            for (o, &c) in o.iter_mut().zip(book.order) {
                *o = f32::from(c);
            }
        }
        // SAFETY: 16 elements each.
        unsafe {
            Book {
                mids: V::load_f32(m.as_ptr()),
                order: V::load_f32(o.as_ptr()),
                reorder: book.order.len() == 16 && book.order[1] != 1,
                book,
            }
        }
    }

    /// [`CodeBook::encode`] lane-wise: the count of midpoints below `v`, by a binary search in
    /// registers (16 codes) or one bucket lookup (256, [`tables::Buckets`]).
    #[inline(always)]
    fn encode(&self, v: V) -> V {
        let (pos, last) = if let Some(t) = self.book.buckets {
            (V::search_buckets(t, v), self.book.order.len() - 1)
        } else {
            // 16 codes, four unrolled steps (a loop over the book's length ran as a loop, with a
            // scalar conversion per step: 1.3x slower overall).
            (V::search16(self.mids, v), 15)
        };
        let pos = V::blend(v.mask_ge(v), pos, V::splat(last as f32));
        if self.reorder {
            V::permute(self.order, pos)
        } else {
            pos
        }
    }
}

struct BnbEnc<'a, V> {
    book: &'a Book<V>,
    inv: V,
    am: V,
    whole: bool,
}

impl<V: Q16> Encode<V> for BnbEnc<'_, V> {
    #[inline(always)]
    fn encode(&self, x: V) -> V {
        let v = if self.whole {
            x.mul(self.inv)
        } else {
            x.div(self.am)
        };
        self.book.encode(v)
    }
}

/// How codes are packed: bits per code, 4-bit order, the code padding an odd count.
#[derive(Clone, Copy)]
struct Packing {
    bits: usize,
    high: bool,
    pad: f32,
}

/// Encodes `len` elements at `x` and packs their codes from element `e0` (a multiple of 16)
/// of `q`.
///
/// # Safety
/// `len` readable elements at `x`; the codes' bytes writable.
#[inline(always)]
unsafe fn encode_block<V: Q16, E: Elem, K: Encode<V>>(
    k: &K,
    x: *const E::S,
    len: usize,
    q: *mut u8,
    e0: usize,
    pk: &Packing,
) {
    // SAFETY (each arm): forwarded contract.
    unsafe {
        match (pk.bits, pk.high) {
            (8, _) => own_frame!(encode_run::<V, E, K, 8, false>(k, x, len, q, e0, pk.pad)),
            (4, false) => own_frame!(encode_run::<V, E, K, 4, false>(k, x, len, q, e0, pk.pad)),
            (4, true) => own_frame!(encode_run::<V, E, K, 4, true>(k, x, len, q, e0, pk.pad)),
            _ => own_frame!(encode_run::<V, E, K, 6, false>(k, x, len, q, e0, pk.pad)),
        }
    }
}

/// Encodes the 32 elements `v` (in registers) and packs their codes from element `e0` (a
/// multiple of 16) of `q`.
///
/// # Safety
/// The codes' bytes writable.
#[inline(always)]
unsafe fn encode_pair<V: Q16, K: Encode<V>>(k: &K, v: [V; 2], q: *mut u8, e0: usize, pk: &Packing) {
    // No closures here: inside `#[target_feature]` kernels they need not inline.
    let (c0, c1) = (k.encode(v[0]), k.encode(v[1]));
    // SAFETY (each arm): forwarded contract.
    unsafe {
        match (pk.bits, pk.high) {
            (8, _) => {
                store_codes::<V, 8, false>(c0, q, e0);
                store_codes::<V, 8, false>(c1, q, e0 + 16);
            }
            (4, false) => {
                store_codes::<V, 4, false>(c0, q, e0);
                store_codes::<V, 4, false>(c1, q, e0 + 16);
            }
            (4, true) => {
                store_codes::<V, 4, true>(c0, q, e0);
                store_codes::<V, 4, true>(c1, q, e0 + 16);
            }
            _ => {
                store_codes::<V, 6, false>(c0, q, e0);
                store_codes::<V, 6, false>(c1, q, e0 + 16);
            }
        }
    }
}

/// Stores the codes of 16 elements from element `e` (a multiple of 16).
///
/// # Safety
/// Their bytes writable.
#[inline(always)]
unsafe fn store_codes<V: Q16, const BITS: usize, const HIGH: bool>(c: V, q: *mut u8, e: usize) {
    // SAFETY: forwarded contract.
    unsafe {
        match BITS {
            8 => c.store_i8(q.add(e)),
            4 => c.store_nibble_pairs(q.add(e / 2), HIGH),
            _ => c.store_6bit(q.add(e / 4 * 3)),
        }
    }
}

/// [`encode_block`] for one packing: whole groups of 16, then the tail through a stack copy.
///
/// # Safety
/// As [`encode_block`].
#[inline(always)]
unsafe fn encode_run<V: Q16, E: Elem, K: Encode<V>, const BITS: usize, const HIGH: bool>(
    k: &K,
    x: *const E::S,
    len: usize,
    q: *mut u8,
    e0: usize,
    pad: f32,
) {
    let mut g = 0;
    // Two groups per step: their (long, independent) dependency chains overlap.
    while g + 32 <= len {
        // SAFETY: elements g..g + 32 of the block and their code bytes (caller).
        unsafe {
            let c0 = k.encode(E::load::<V>(x.add(g)));
            let c1 = k.encode(E::load::<V>(x.add(g + 16)));
            store_codes::<V, BITS, HIGH>(c0, q, e0 + g);
            store_codes::<V, BITS, HIGH>(c1, q, e0 + g + 16);
        }
        g += 32;
    }
    if g + 16 <= len {
        // SAFETY: elements g..g + 16 of the block and their code bytes (caller).
        unsafe { store_codes::<V, BITS, HIGH>(k.encode(E::load::<V>(x.add(g))), q, e0 + g) };
        g += 16;
    }
    if g < len {
        let cnt = len - g;
        // SAFETY: the tail's elements and code bytes (caller); the stack copy holds 16 codes.
        unsafe {
            let c = k.encode(E::load_partial::<V>(x.add(g), cnt, 0.0));
            let c = V::blend(first(cnt), c, V::splat(pad));
            let mut t = [0u8; 16];
            store_codes::<V, BITS, HIGH>(c, t.as_mut_ptr(), 0);
            let bytes = (BITS * cnt).div_ceil(8);
            std::ptr::copy_nonoverlapping(t.as_ptr(), q.add((e0 + g) / 8 * BITS), bytes);
        }
    }
}

/// Codes of the 16 elements from `e` (a multiple of 16) as unsigned integers.
///
/// # Safety
/// Their bytes readable.
#[inline(always)]
unsafe fn load_codes<V: Q16, const BITS: usize, const HIGH: bool>(q: *const u8, e: usize) -> V {
    // SAFETY: reads only the bytes of these codes (caller).
    unsafe {
        match BITS {
            8 => V::load_field(q.add(e), 0, 0xFF),
            4 => V::load_nibble_pairs(q.add(e / 2), HIGH),
            _ => V::load_6bit(q.add(e / 4 * 3)),
        }
    }
}

/// Two's complement value of `bits`-bit codes.
#[inline(always)]
fn sign_extend<V: Q16>(c: V, bits: usize) -> V {
    let half = (1u32 << (bits - 1)) as f32;
    c.sub(V::bits(c.mask_ge(V::splat(half)), 2.0 * half))
}

/// Quantizes `n` elements (see [`super::QuantizeFn`]).
///
/// # Safety
/// As [`r::quantize`].
#[inline(always)]
pub unsafe fn quantize<V: Q16, E: Elem>(
    p: &Params,
    n: usize,
    x: *const E::S,
    q: *mut u8,
    s: *mut u8,
    z: *mut u8,
) {
    let bs = p.block_size;
    if !bs.is_multiple_of(16) {
        // SAFETY: forwarded contract.
        return unsafe { r::quantize::<E>(p, n, x, q, s, z) };
    }
    let bits = p.scheme.element_bits();
    let pk = Packing {
        bits,
        high: p.scheme.high_nibble_first(),
        pad: p.pad_code() as f32,
    };
    let kind = p.scheme.kind();
    let book = match kind {
        Kind::Bnb(b) => Some(Book::<V>::new(b)),
        _ => None,
    };
    let fmt = match kind {
        Kind::MxFp(f) => Some(f),
        _ => None,
    };
    let emax = fmt.map_or(0, FpFormat::emax);
    let mut first = 0;
    if kind == Kind::Nvfp4 && !p.scales_given {
        // SAFETY: whole blocks first..first + 16 lie inside the buffers (caller).
        unsafe {
            while first + 16 <= n / 16 {
                prefetch::<V, E>(
                    x.wrapping_add(16 * first + PREFETCH_BYTES / size_of::<E::S>()),
                    256,
                );
                nvfp4_16_blocks::<V, E>(p, x.add(16 * first), q, s.add(first), first, &pk);
                first += 16;
            }
        }
    }
    // The input of the block about PREFETCH_BYTES ahead is hinted into L1 per block (as the
    // GGUF quantizers do; see `prefetch`).
    let ahead = bs * (PREFETCH_BYTES / (bs * size_of::<E::S>())).max(1);
    for b in first..n.div_ceil(bs) {
        let len = bs.min(n - b * bs);
        prefetch::<V, E>(x.wrapping_add(b * bs + ahead), bs);
        // SAFETY (every access below): block b, its codes, scale and zero point are inside the
        // caller's buffers.
        unsafe {
            let xb = x.add(b * bs);
            match kind {
                Kind::Int { qmin, qmax } => own_frame!({
                    let (scale, zp) = if p.scales_given {
                        let scale = r::scale_f32(s, b);
                        (scale, r::zero_point(z, b, bits, qmin < 0))
                    } else {
                        let (amax, lo, hi) = if qmin < 0 {
                            (Stats::amax::<V, E>(xb, len), 0.0, 0.0)
                        } else {
                            let (lo, hi) = Stats::min_max::<V, E>(xb, len);
                            (0.0, lo, hi)
                        };
                        let (scale, zp) = int_scale(qmin, qmax, amax, lo, hi);
                        s.add(4 * b).cast::<f32>().write_unaligned(scale);
                        if !z.is_null() {
                            let c = zp as u8;
                            if bits == 8 {
                                z.add(b).write(c);
                            } else if b % 2 == 0 {
                                z.add(b / 2).write(c & 15);
                            } else {
                                *z.add(b / 2) |= c << 4;
                            }
                        }
                        (scale, zp)
                    };
                    let k = IntEnc {
                        scale: V::splat(scale),
                        zp: V::splat(zp),
                        lo: V::splat(qmin as f32 - zp),
                        hi: V::splat(qmax as f32 - zp),
                    };
                    encode_block::<V, E, _>(&k, xb, len, q, b * bs, &pk);
                }),
                Kind::MxFp(_) | Kind::MxInt8 => own_frame!({
                    // A whole block whose scale is computed is loaded once, for the scale and
                    // the codes (16-bit sources were converted twice).
                    let pair = if len == 32 && !p.scales_given {
                        Some([E::load::<V>(xb), E::load::<V>(xb.add(16))])
                    } else {
                        None
                    };
                    let byte = if p.scales_given {
                        s.add(b).read()
                    } else {
                        let amax = match pair {
                            Some([a, c]) => a
                                .and_bits(0x7FFF_FFFF)
                                .max_bits(c.and_bits(0x7FFF_FFFF))
                                .hmax_bits(),
                            None => Stats::amax_bits::<V, E>(xb, len),
                        };
                        let byte = mx_scale_byte(amax, emax);
                        s.add(b).write(byte);
                        byte
                    };
                    let (m1, m2) = r::pow2_pair(127 - i32::from(byte));
                    let k = MxEnc {
                        m1: V::splat(m1),
                        m2: V::splat(m2),
                        nan: byte == 0xFF,
                        fmt,
                    };
                    match pair {
                        Some(v) => encode_pair(&k, v, q, b * bs, &pk),
                        None => encode_block::<V, E, _>(&k, xb, len, q, b * bs, &pk),
                    }
                }),
                Kind::Nvfp4 => own_frame!({
                    let byte = if p.scales_given {
                        s.add(b).read()
                    } else {
                        let byte = nvfp4_scale_byte(Stats::amax::<V, E>(xb, len), p.tensor_scale);
                        s.add(b).write(byte);
                        byte
                    };
                    let d = tables::E4M3[usize::from(byte)] * p.tensor_scale;
                    let k = NvEnc { d: V::splat(d) };
                    encode_block::<V, E, _>(&k, xb, len, q, b * bs, &pk);
                }),
                Kind::Bnb(_) => own_frame!({
                    let absmax = if p.scales_given {
                        r::scale_f32(s, b)
                    } else {
                        f32::from_bits(Stats::amax_bits::<V, E>(xb, len))
                    };
                    let am = bnb_clamp(absmax);
                    let whole = len == bs;
                    if !p.scales_given {
                        let stored = if whole { absmax } else { am };
                        s.add(4 * b).cast::<f32>().write_unaligned(stored);
                    }
                    let Some(book) = &book else { return };
                    let k = BnbEnc {
                        book,
                        inv: V::splat(1.0 / am),
                        am: V::splat(am),
                        whole,
                    };
                    encode_block::<V, E, _>(&k, xb, len, q, b * bs, &pk);
                }),
            }
        }
    }
}

/// NVFP4 with computed scales for 16 whole blocks (starting at block `b0`): the 16 block
/// maxima by one shuffle network, the 16 scales as one vector (the reference's
/// [`nvfp4_scale_byte`] lane-wise: the same division, clamps and E4M3 rounding), then each
/// block's elements.
///
/// # Safety
/// 256 readable elements at `x`; the blocks' codes and 16 scale bytes at `s` writable.
#[inline(always)]
unsafe fn nvfp4_16_blocks<V: Q16, E: Elem>(
    p: &Params,
    x: *const E::S,
    q: *mut u8,
    s: *mut u8,
    b0: usize,
    pk: &Packing,
) {
    let zero = V::splat(0.0);
    let mut v = [zero; 16];
    for (j, v) in v.iter_mut().enumerate() {
        // SAFETY: block j's 16 elements (caller). `max(|x|, 0)` drops NaN like the
        // reference's `if |x| > m` and leaves the maxima exact.
        *v = unsafe { E::load::<V>(x.add(16 * j)) }.abs().max(zero);
    }
    let amax = V::hmax16(&v);
    let t = amax.div(V::splat(6.0 * p.tensor_scale));
    let t = V::blend(t.mask_gt(zero), t.max(V::splat(pow2(-9))), V::splat(1.0));
    let codes = fp_encode(FpFormat::E4M3, t, zero);
    let mut d = [0.0f32; 16];
    // SAFETY: 16 scale bytes writable (caller); 16 floats in d.
    unsafe {
        codes.store_i8(s);
        fp_decode(FpFormat::E4M3, codes)
            .mul(V::splat(p.tensor_scale))
            .store_f32(d.as_mut_ptr());
    }
    for (j, &d) in d.iter().enumerate() {
        let k = NvEnc { d: V::splat(d) };
        // SAFETY: block j's elements and codes (caller).
        unsafe { encode_block::<V, E, _>(&k, x.add(16 * j), 16, q, (b0 + j) * 16, pk) };
    }
}

/// Dequantizes `n` elements (see [`super::DequantizeFn`]).
///
/// # Safety
/// As [`r::dequantize`].
#[inline(always)]
pub unsafe fn dequantize<V: Q16, E: Elem>(
    p: &Params,
    n: usize,
    q: *const u8,
    s: *const u8,
    z: *const u8,
    y: *mut E::S,
) {
    let bs = p.block_size;
    if !bs.is_multiple_of(16) {
        // SAFETY: forwarded contract.
        return unsafe { r::dequantize::<E>(p, n, q, s, z, y) };
    }
    let (bits, high) = (p.scheme.element_bits(), p.scheme.high_nibble_first());
    let pk = Packing {
        bits,
        high,
        pad: 0.0,
    };
    // One monomorphic loop per family, so each keeps only its own constants in registers.
    // SAFETY (each call): forwarded contract.
    unsafe {
        match p.scheme.kind() {
            Kind::Int { qmin, .. } => {
                let d = IntDec {
                    s,
                    z,
                    bits,
                    signed: qmin < 0,
                };
                decode_blocks::<V, E, _>(&d, n, bs, q, y, &pk)
            }
            Kind::MxInt8 => decode_blocks::<V, E, _>(&MxDec { s, fmt: None }, n, bs, q, y, &pk),
            Kind::MxFp(f) if f == FpFormat::E2M1 => {
                let d = TableDec::<V> {
                    s,
                    table: V::load_f32(tables::E2M1.as_ptr()),
                    pow2: true,
                    ts: 1.0,
                };
                decode_blocks::<V, E, _>(&d, n, bs, q, y, &pk)
            }
            Kind::MxFp(f) => decode_blocks::<V, E, _>(&MxDec { s, fmt: Some(f) }, n, bs, q, y, &pk),
            Kind::Nvfp4 => {
                let d = TableDec::<V> {
                    s,
                    table: V::load_f32(tables::NVFP4_E2M1.as_ptr()),
                    pow2: false,
                    ts: p.tensor_scale,
                };
                decode_blocks::<V, E, _>(&d, n, bs, q, y, &pk)
            }
            Kind::Bnb(b) if b.values.len() == 16 => {
                let d = BnbDec::<V> {
                    s,
                    table: Some(V::load_f32(b.values.as_ptr())),
                    book: b,
                };
                decode_blocks::<V, E, _>(&d, n, bs, q, y, &pk)
            }
            Kind::Bnb(b) => {
                let d = BnbDec::<V> {
                    s,
                    table: None,
                    book: b,
                };
                decode_blocks::<V, E, _>(&d, n, bs, q, y, &pk)
            }
        }
    }
}

/// One family's decoder: per-block constants, then values of 16 codes.
trait Decode<V: Q16> {
    /// Block `b`'s constants.
    ///
    /// # Safety
    /// Block `b`'s scale (and zero point) readable.
    unsafe fn block(&self, b: usize) -> [V; 2];
    /// Values of the integer-valued codes `c` under the block constants `k`.
    fn value(&self, c: V, k: &[V; 2]) -> V;
}

struct IntDec {
    s: *const u8,
    z: *const u8,
    bits: usize,
    signed: bool,
}

impl<V: Q16> Decode<V> for IntDec {
    #[inline(always)]
    unsafe fn block(&self, b: usize) -> [V; 2] {
        // SAFETY: forwarded contract.
        unsafe {
            [
                V::splat(r::zero_point(self.z, b, self.bits, self.signed)),
                V::splat(r::scale_f32(self.s, b)),
            ]
        }
    }
    #[inline(always)]
    fn value(&self, c: V, k: &[V; 2]) -> V {
        let c = if self.signed {
            sign_extend(c, self.bits)
        } else {
            c
        };
        c.sub(k[0]).mul(k[1])
    }
}

/// MX scale byte → the two exact power-of-two factors (NaN for byte 0xFF).
#[inline(always)]
unsafe fn mx_factors<V: Q16>(s: *const u8, b: usize) -> [V; 2] {
    // SAFETY: forwarded contract.
    let byte = unsafe { s.add(b).read() };
    if byte == 0xFF {
        return [V::splat(f32::NAN), V::splat(1.0)];
    }
    let (m1, m2) = r::pow2_pair(i32::from(byte) - 127);
    [V::splat(m1), V::splat(m2)]
}

struct MxDec {
    s: *const u8,
    fmt: Option<FpFormat>,
}

impl<V: Q16> Decode<V> for MxDec {
    #[inline(always)]
    unsafe fn block(&self, b: usize) -> [V; 2] {
        // SAFETY: forwarded contract.
        unsafe { mx_factors(self.s, b) }
    }
    #[inline(always)]
    fn value(&self, c: V, k: &[V; 2]) -> V {
        let v = match self.fmt {
            Some(f) => fp_decode(f, c),
            None => sign_extend(c, 8).mul(V::splat(1.0 / 64.0)),
        };
        v.mul(k[0]).mul(k[1])
    }
}

/// 4-bit codes through a 16-entry table in a register: MXFP4 (times the E8M0 factors) and
/// NVFP4 (times `f32(e4m3 scale) · tensor_scale`).
struct TableDec<V> {
    s: *const u8,
    table: V,
    pow2: bool,
    ts: f32,
}

impl<V: Q16> Decode<V> for TableDec<V> {
    #[inline(always)]
    unsafe fn block(&self, b: usize) -> [V; 2] {
        // SAFETY: forwarded contract.
        unsafe {
            if self.pow2 {
                mx_factors(self.s, b)
            } else {
                let d = tables::E4M3[usize::from(self.s.add(b).read())] * self.ts;
                [V::splat(d), V::splat(1.0)]
            }
        }
    }
    #[inline(always)]
    fn value(&self, c: V, k: &[V; 2]) -> V {
        let v = V::permute(self.table, c).mul(k[0]);
        if self.pow2 { v.mul(k[1]) } else { v }
    }
}

struct BnbDec<V> {
    s: *const u8,
    table: Option<V>,
    book: &'static CodeBook,
}

impl<V: Q16> Decode<V> for BnbDec<V> {
    #[inline(always)]
    unsafe fn block(&self, b: usize) -> [V; 2] {
        // SAFETY: forwarded contract.
        unsafe { [V::splat(r::scale_f32(self.s, b)), V::splat(1.0)] }
    }
    #[inline(always)]
    fn value(&self, c: V, k: &[V; 2]) -> V {
        let t = match self.table {
            Some(t) => V::permute(t, c),
            // SAFETY: 8-bit codes index the 256 values.
            None => unsafe { V::lookup(self.book.values.as_ptr(), c) },
        };
        t.mul(k[0])
    }
}

/// The block loop of [`dequantize`] for one decoder.
///
/// # Safety
/// As [`dequantize`].
#[inline(always)]
unsafe fn decode_blocks<V: Q16, E: Elem, D: Decode<V>>(
    d: &D,
    n: usize,
    bs: usize,
    q: *const u8,
    y: *mut E::S,
    pk: &Packing,
) {
    // SAFETY (each arm): forwarded contract.
    unsafe {
        match (pk.bits, pk.high) {
            (8, _) => own_frame!(decode_run::<V, E, D, 8, false>(d, n, bs, q, y)),
            (4, false) => own_frame!(decode_run::<V, E, D, 4, false>(d, n, bs, q, y)),
            (4, true) => own_frame!(decode_run::<V, E, D, 4, true>(d, n, bs, q, y)),
            _ => own_frame!(decode_run::<V, E, D, 6, false>(d, n, bs, q, y)),
        }
    }
}

/// [`decode_blocks`] for one packing.
///
/// # Safety
/// As [`dequantize`].
#[inline(always)]
unsafe fn decode_run<V: Q16, E: Elem, D: Decode<V>, const BITS: usize, const HIGH: bool>(
    d: &D,
    n: usize,
    bs: usize,
    q: *const u8,
    y: *mut E::S,
) {
    for b in 0..n.div_ceil(bs) {
        let len = bs.min(n - b * bs);
        // SAFETY: block b's codes, scale, zero point and outputs are inside the buffers.
        unsafe {
            let k = d.block(b);
            let e0 = b * bs;
            let mut g = 0;
            while g + 16 <= len {
                let v = d.value(load_codes::<V, BITS, HIGH>(q, e0 + g), &k);
                E::store::<V>(v, y.add(e0 + g));
                g += 16;
            }
            if g < len {
                let cnt = len - g;
                let mut t = [0u8; 16];
                let at = (e0 + g) / 8 * BITS;
                std::ptr::copy_nonoverlapping(q.add(at), t.as_mut_ptr(), (BITS * cnt).div_ceil(8));
                let v = d.value(load_codes::<V, BITS, HIGH>(t.as_ptr(), 0), &k);
                E::store_partial::<V>(v, y.add(e0 + g), cnt);
            }
        }
    }
}

macro_rules! instantiate {
    ($V:ty $(, $features:literal)?) => {
        use crate::ukernels::blockwise::{Params, kernels as k};
        use crate::ukernels::simd::Elem;

        /// Quantizes `n` elements (see the generic kernel).
        ///
        /// # Safety
        /// As [`crate::ukernels::blockwise::reference::quantize`]; the CPU has this module's
        /// ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn quantize<E: Elem>(
            p: &Params,
            n: usize,
            x: *const E::S,
            q: *mut u8,
            s: *mut u8,
            z: *mut u8,
        ) {
            // SAFETY: forwarded contract.
            unsafe { k::quantize::<$V, E>(p, n, x, q, s, z) }
        }

        /// Dequantizes `n` elements (see the generic kernel).
        ///
        /// # Safety
        /// As [`crate::ukernels::blockwise::reference::dequantize`]; the CPU has this
        /// module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn dequantize<E: Elem>(
            p: &Params,
            n: usize,
            q: *const u8,
            s: *const u8,
            z: *const u8,
            y: *mut E::S,
        ) {
            // SAFETY: forwarded contract.
            unsafe { k::dequantize::<$V, E>(p, n, q, s, z, y) }
        }
    };
}

/// The generic kernels on the portable vector (tests compare them with the reference).
pub mod portable {
    instantiate!(crate::ukernels::simd::scalar::S16);
}

/// AVX2 + FMA + F16C kernels.
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    instantiate!(
        crate::ukernels::simd::avx2::A16,
        "avx2,fma,f16c,bmi1,bmi2,popcnt"
    );
}

/// AVX-512 (F+BW+DQ+VL) kernels.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    instantiate!(
        crate::ukernels::simd::avx512::Z16,
        "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl"
    );
}

/// The AVX-512 kernels compiled with AVX512_BF16 as well, for the bf16 destinations
/// ([`crate::ukernels::simd::Bf16Hw`]); only where `isa::extras().avx512bf16` holds.
#[cfg(target_arch = "x86_64")]
pub mod avx512bf16 {
    instantiate!(
        crate::ukernels::simd::avx512::Z16,
        "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16"
    );
}
