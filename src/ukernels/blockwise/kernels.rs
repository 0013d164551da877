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
use crate::ukernels::blocks::lanes::Q16;
use crate::ukernels::simd::Elem;

const MAGIC: f32 = 12582912.0;

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
            lo = Q16::min(v, lo);
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
        let mut l = [0.0f32; 16];
        // SAFETY: 16 elements.
        unsafe { acc.store_f32(l.as_mut_ptr()) };
        l.iter().map(|v| v.to_bits()).max().unwrap_or(0)
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
        let v = Q16::min(v.max(self.lo), self.hi);
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
                rne(Q16::min(t.max(V::splat(-127.0)), V::splat(127.0)))
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
    book: &'static CodeBook,
}

impl<V: Q16> Book<V> {
    #[inline(always)]
    fn new(book: &'static CodeBook) -> Self {
        let mut m = [0.0f32; 16];
        let mut o = [0.0f32; 16];
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
                book,
            }
        }
    }

    /// [`CodeBook::encode`] lane-wise: a binary search for the count of midpoints below `v`.
    #[inline(always)]
    fn encode(&self, v: V) -> V {
        let n = self.book.order.len();
        let mut pos = V::splat(0.0);
        let mut step = n / 2;
        while step > 0 {
            let at = pos.add(V::splat((step - 1) as f32));
            let m = if n == 16 {
                V::permute(self.mids, at)
            } else {
                // SAFETY: at <= n - 2, inside the n - 1 midpoints.
                unsafe { V::lookup(self.book.mids.as_ptr(), at) }
            };
            pos = pos.add(V::bits(v.mask_gt(m), step as f32));
            step /= 2;
        }
        let pos = V::blend(v.mask_ge(v), pos, V::splat((n - 1) as f32));
        if n == 16 && self.book.order[1] != 1 {
            V::permute(self.order, pos)
        } else {
            pos
        }
    }

    /// Values of codes `c`.
    #[inline(always)]
    fn decode(&self, c: V) -> V {
        // SAFETY: codes are below the table length (4 or 8 bits).
        unsafe { V::lookup(self.book.values.as_ptr(), c) }
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

/// Packs 16 six-bit codes (low bits of `c`) into 12 bytes, little-endian bit order.
#[inline(always)]
fn pack6(c: &[u8; 16]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for g in 0..4 {
        let w = (0..4).fold(0u32, |w, j| w | u32::from(c[4 * g + j] & 63) << (6 * j));
        out[3 * g..3 * g + 3].copy_from_slice(&w.to_le_bytes()[..3]);
    }
    out
}

/// Unpacks 12 bytes into 16 six-bit codes.
#[inline(always)]
fn unpack6(b: &[u8; 12]) -> [u8; 16] {
    let mut c = [0u8; 16];
    for g in 0..4 {
        let w = u32::from_le_bytes([b[3 * g], b[3 * g + 1], b[3 * g + 2], 0]);
        for j in 0..4 {
            c[4 * g + j] = (w >> (6 * j) & 63) as u8;
        }
    }
    c
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
    let Packing { bits, high, pad } = *pk;
    let mut g = 0;
    while g < len {
        let cnt = (len - g).min(16);
        let e = e0 + g;
        // SAFETY: elements g..g + cnt of the block, and their code bytes (caller).
        unsafe {
            let c = k.encode(load::<V, E>(x.add(g), cnt));
            let c = if cnt < 16 {
                V::blend(first(cnt), c, V::splat(pad))
            } else {
                c
            };
            match bits {
                8 if cnt == 16 => c.store_i8(q.add(e)),
                4 if cnt == 16 => c.store_nibble_pairs(q.add(e / 2), high),
                8 => {
                    let mut t = [0u8; 16];
                    c.store_i8(t.as_mut_ptr());
                    std::ptr::copy_nonoverlapping(t.as_ptr(), q.add(e), cnt);
                }
                4 => {
                    let mut t = [0u8; 8];
                    c.store_nibble_pairs(t.as_mut_ptr(), high);
                    std::ptr::copy_nonoverlapping(t.as_ptr(), q.add(e / 2), cnt.div_ceil(2));
                }
                _ => {
                    let mut t = [0u8; 16];
                    c.store_i8(t.as_mut_ptr());
                    let b = pack6(&t);
                    std::ptr::copy_nonoverlapping(
                        b.as_ptr(),
                        q.add(e / 4 * 3),
                        (6 * cnt).div_ceil(8),
                    );
                }
            }
        }
        g += 16;
    }
}

/// Codes of elements `e..e + cnt` (`e` a multiple of 16) as unsigned integers.
///
/// # Safety
/// Their bytes readable.
#[inline(always)]
unsafe fn load_codes<V: Q16>(q: *const u8, e: usize, cnt: usize, bits: usize, high: bool) -> V {
    // SAFETY: reads only the bytes of these codes (caller).
    unsafe {
        match bits {
            8 if cnt == 16 => V::load_field(q.add(e), 0, 0xFF),
            4 if cnt == 16 => V::load_nibble_pairs(q.add(e / 2), high),
            8 => {
                let mut t = [0u8; 16];
                std::ptr::copy_nonoverlapping(q.add(e), t.as_mut_ptr(), cnt);
                V::load_field(t.as_ptr(), 0, 0xFF)
            }
            4 => {
                let mut t = [0u8; 8];
                std::ptr::copy_nonoverlapping(q.add(e / 2), t.as_mut_ptr(), cnt.div_ceil(2));
                V::load_nibble_pairs(t.as_ptr(), high)
            }
            _ => {
                let mut t = [0u8; 12];
                std::ptr::copy_nonoverlapping(
                    q.add(e / 4 * 3),
                    t.as_mut_ptr(),
                    (6 * cnt).div_ceil(8),
                );
                let c = unpack6(&t);
                V::load_field(c.as_ptr(), 0, 0xFF)
            }
        }
    }
}

/// Two's complement value of `bits`-bit codes.
#[inline(always)]
fn sign_extend<V: Q16>(c: V, bits: usize) -> V {
    let half = (1u32 << (bits - 1)) as f32;
    c.sub(V::bits(c.mask_ge(V::splat(half)), 2.0 * half))
}

/// Zero point of block `b` (as [`r`] reads it).
///
/// # Safety
/// `z` NULL or holding it.
#[inline(always)]
unsafe fn read_zp(z: *const u8, b: usize, bits: usize, signed: bool) -> f32 {
    if z.is_null() {
        return 0.0;
    }
    // SAFETY: forwarded contract.
    let c = unsafe { r::code_at(z, b, bits, false) };
    let s = 32 - bits as u32;
    (if signed {
        ((c << s) as i32) >> s
    } else {
        c as i32
    }) as f32
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
    let book = match p.scheme.kind() {
        Kind::Bnb(b) => Some(Book::<V>::new(b)),
        _ => None,
    };
    for b in 0..n.div_ceil(bs) {
        let len = bs.min(n - b * bs);
        // SAFETY (every access below): block b, its codes, scale and zero point are inside the
        // caller's buffers.
        unsafe {
            let xb = x.add(b * bs);
            match p.scheme.kind() {
                Kind::Int { qmin, qmax } => {
                    let (scale, zp) = if p.scales_given {
                        let scale = r::scale_f32(s, b);
                        (scale, read_zp(z, b, bits, qmin < 0))
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
                }
                Kind::MxFp(_) | Kind::MxInt8 => {
                    let fmt = match p.scheme.kind() {
                        Kind::MxFp(f) => Some(f),
                        _ => None,
                    };
                    let byte = if p.scales_given {
                        s.add(b).read()
                    } else {
                        let amax = Stats::amax_bits::<V, E>(xb, len);
                        let byte = mx_scale_byte(amax, fmt.map_or(0, FpFormat::emax));
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
                    encode_block::<V, E, _>(&k, xb, len, q, b * bs, &pk);
                }
                Kind::Nvfp4 => {
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
                }
                Kind::Bnb(_) => {
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
                }
            }
        }
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
    let kind = p.scheme.kind();
    let book = match kind {
        Kind::Bnb(b) => Some(Book::<V>::new(b)),
        _ => None,
    };
    // 16-entry tables stay in a register.
    let small = match kind {
        Kind::Nvfp4 => Some(&tables::NVFP4_E2M1[..]),
        Kind::MxFp(f) if f == FpFormat::E2M1 => Some(&tables::E2M1[..]),
        Kind::Bnb(b) if b.values.len() == 16 => Some(b.values),
        _ => None,
    };
    // SAFETY: 16 elements.
    let small = small.map(|t| unsafe { V::load_f32(t.as_ptr()) });
    for b in 0..n.div_ceil(bs) {
        let len = bs.min(n - b * bs);
        // SAFETY (every access below): block b's codes, scale, zero point and outputs are
        // inside the caller's buffers.
        unsafe {
            // Per block: value = (code - sub) · mul1 · mul2, or table[code] · mul1 · mul2.
            let (sub, m1, m2) = match kind {
                Kind::Int { qmin, .. } => (read_zp(z, b, bits, qmin < 0), r::scale_f32(s, b), 1.0),
                Kind::MxFp(_) | Kind::MxInt8 => {
                    let byte = s.add(b).read();
                    let (m1, m2) = r::pow2_pair(i32::from(byte) - 127);
                    if byte == 0xFF {
                        (0.0, f32::NAN, 1.0)
                    } else {
                        (0.0, m1, m2)
                    }
                }
                Kind::Nvfp4 => (
                    0.0,
                    tables::E4M3[usize::from(s.add(b).read())] * p.tensor_scale,
                    1.0,
                ),
                Kind::Bnb(_) => (0.0, r::scale_f32(s, b), 1.0),
            };
            let (sub, m1, m2) = (V::splat(sub), V::splat(m1), V::splat(m2));
            let mut g = 0;
            while g < len {
                let cnt = (len - g).min(16);
                let e = b * bs + g;
                let c: V = load_codes(q, e, cnt, bits, high);
                let v = match kind {
                    Kind::Int { qmin, .. } => {
                        let c = if qmin < 0 { sign_extend(c, bits) } else { c };
                        c.sub(sub).mul(m1)
                    }
                    Kind::MxInt8 => sign_extend(c, 8).mul(V::splat(1.0 / 64.0)).mul(m1).mul(m2),
                    Kind::MxFp(f) => {
                        let t = match small {
                            Some(t) => V::permute(t, c),
                            None => V::lookup(tables::fp_values(f).as_ptr(), c),
                        };
                        t.mul(m1).mul(m2)
                    }
                    Kind::Nvfp4 => V::permute(small.unwrap_or(m1), c).mul(m1),
                    Kind::Bnb(_) => {
                        let t = match (small, &book) {
                            (Some(t), _) => V::permute(t, c),
                            (None, Some(bk)) => bk.decode(c),
                            (None, None) => m1,
                        };
                        t.mul(m1)
                    }
                };
                if cnt == 16 {
                    E::store::<V>(v, y.add(e));
                } else {
                    E::store_partial::<V>(v, y.add(e), cnt);
                }
                g += 16;
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
