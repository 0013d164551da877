//! The readable statement of every split-scale scheme, and the scalar kernel.
//!
//! Every operation is an IEEE f32 operation in the order written here; the SIMD kernels do the
//! same operations lane by lane, so they give the same bytes for every input, NaN and
//! infinities included. What each scheme computes:
//!
//! - **ONNX int8/uint8/int4/uint4.** `q = saturate(rne(x / scale) + zero_point)` with the
//!   division in f32, as `onnx.reference` QuantizeLinear-21; a NaN quotient gives the zero
//!   point (ONNX leaves it undefined). Dequantize `(q - zp) · scale`. Computed scales: signed,
//!   `amax / qmax` (127 or 7) and zero point 0; unsigned, ONNX DynamicQuantizeLinear per block
//!   (`lo = min(0, min x)`, `hi = max(0, max x)`, `scale = (hi - lo) / qmax`,
//!   `zp = saturate(rne(-lo / scale))`). A computed scale of 0 becomes 1 (an all-zero block).
//!   NaN elements are skipped by the block statistics.
//! - **OCP MX.** Scale byte `floor(log2 amax) - emax_elem + 127` from the exponent bits (amax 0
//!   counts as 2^-126, as microxcaling does), clamped below at 0; a block holding NaN or ±inf
//!   gets the NaN scale 0xFF and codes 0. Elements `x / 2^shared` rounded to nearest even on the
//!   format's grid, saturated to ± the largest normal; the sign bit is kept (−0 encodes as −0).
//!   MXINT8: `saturate(rne(v · 64), ±127)`.
//! - **NVFP4** (modelopt's `NVFP4QTensor`). Block scale `e4m3(amax / (6 · tensor_scale))`, a
//!   zero scale replaced by 1 and small ones raised to E4M3's smallest subnormal 2^-9, rounded to
//!   nearest even and saturated at 448. Elements `x / (f32(scale) · tensor_scale)` to E2M1,
//!   nearest even, saturated at 6; the sign bit is set for negative quotients only.
//! - **bitsandbytes** (its default backend, exact nearest code). `absmax` is the block's
//!   NaN-propagating max |x|; whole blocks scale by `x · (1 / max(absmax, 1e-38))`, the trailing
//!   partial block by `x / max(absmax, 1e-38)` (which it then stores), as bitsandbytes does;
//!   the code is the count of midpoints below the scaled value (ties to the lower code, NaN the
//!   last). Dequantize `code[q] · absmax`.

use super::tables::{self, pow2};
use super::{FpFormat, Kind, Params};
use crate::ukernels::simd::Elem;

/// Round to nearest even for |v| < 2^22 (the 1.5·2^23 trick; every caller clamps first).
#[inline(always)]
pub fn rne(v: f32) -> f32 {
    const M: f32 = 12582912.0;
    (v + M) - M
}

/// The code of `v` in `f`: |v| rounded to nearest even on the format's grid, saturated at its
/// largest finite value (NaN saturates too), with the sign bit set if `neg`.
///
/// The grid step at |v| is `p · 2^-m` with `p = 2^max(floor(log2 |v|), emin)`, so adding and
/// subtracting `c = p · 2^(23 - m)` (whose f32 ulp is that step; |v| < 2p <= c) rounds |v| to
/// nearest even on the grid, exactly. The code is then read from the f32 bits (normal) or is
/// the count of steps (subnormal).
#[inline(always)]
pub fn fp_encode(f: FpFormat, v: f32, neg: bool) -> u32 {
    let a = v.abs();
    let a = if a < f.max { a } else { f.max };
    let emin = pow2(f.emin());
    let p = f32::from_bits(a.to_bits() & 0x7F80_0000);
    let p = if p > emin { p } else { emin };
    let c = p * pow2(23 - f.m as i32);
    let r = (a + c) - c;
    let mag = if r < emin {
        (r * pow2(f.m as i32 - f.emin())) as u32
    } else {
        (r.to_bits() >> (23 - f.m)) - (((127 - f.bias) as u32) << f.m)
    };
    mag | (neg as u32) << (f.e + f.m)
}

/// The MX scale byte of a block whose largest |x| has bits `amax_bits`.
#[inline(always)]
pub fn mx_scale_byte(amax_bits: u32, emax: i32) -> u8 {
    if amax_bits >= 0x7F80_0000 {
        return 0xFF;
    }
    let e = (amax_bits >> 23) as i32;
    let floor_log2 = match (amax_bits, e) {
        (0, _) => -126,
        (_, 0) => -127, // subnormal: below -126, and the result clamps anyway
        _ => e - 127,
    };
    ((floor_log2 - emax).max(-127) + 127) as u8
}

/// MXINT8 code of the scaled value `v` (NaN: 0), as a two's complement byte.
#[inline(always)]
pub fn mxint8_code(v: f32) -> u32 {
    let t = v * 64.0;
    let t = if t.is_nan() {
        0.0
    } else {
        t.clamp(-127.0, 127.0)
    };
    rne(t) as i32 as u32 & 0xFF
}

/// `2^k` as two normal factors (k in -127..=127; 2^-127 alone would be subnormal).
#[inline(always)]
pub fn pow2_pair(k: i32) -> (f32, f32) {
    let h = k / 2;
    (pow2(h), pow2(k - h))
}

/// The NVFP4 scale byte of a block with largest |x| `amax` (NaN-free).
#[inline(always)]
pub fn nvfp4_scale_byte(amax: f32, tensor_scale: f32) -> u8 {
    let v = amax / (6.0 * tensor_scale);
    let v = if v == 0.0 {
        1.0
    } else if v > pow2(-9) {
        v
    } else {
        pow2(-9)
    };
    fp_encode(FpFormat::E4M3, v, false) as u8
}

/// bitsandbytes' clamp of absmax.
#[inline(always)]
pub fn bnb_clamp(absmax: f32) -> f32 {
    // torch.clamp(min=1e-38): NaN stays NaN.
    if absmax < 1e-38 { 1e-38 } else { absmax }
}

/// ONNX computed scale and zero point of a block for `[qmin, qmax]`, from its NaN-skipping
/// statistics: `amax` (max |x|), `lo` (min(0, min x)), `hi` (max(0, max x)).
#[inline(always)]
pub fn int_scale(qmin: i32, qmax: i32, amax: f32, lo: f32, hi: f32) -> (f32, f32) {
    let nonzero = |s: f32| if s == 0.0 { 1.0 } else { s };
    if qmin < 0 {
        (nonzero(amax / qmax as f32), 0.0)
    } else {
        let s = nonzero((hi - lo) / qmax as f32);
        let z = -lo / s;
        let z = if z.is_nan() { 0.0 } else { z };
        (s, rne(z.clamp(0.0, qmax as f32)))
    }
}

/// ONNX element code (an integer in `[qmin, qmax]`).
#[inline(always)]
pub fn int_code(x: f32, scale: f32, zp: f32, qmin: i32, qmax: i32) -> i32 {
    let v = x / scale;
    let v = if v.is_nan() { 0.0 } else { v };
    let (lo, hi) = (qmin as f32 - zp, qmax as f32 - zp);
    let v = if v < lo { lo } else { v };
    let v = if v > hi { hi } else { v };
    (rne(v) + zp) as i32
}

/// Writes codes of `bits` bits one after another.
struct Packer {
    q: *mut u8,
    bits: u32,
    high_first: bool,
    word: u32,
    count: u32,
}

impl Packer {
    fn new(q: *mut u8, bits: usize, high_first: bool) -> Packer {
        Packer {
            q,
            bits: bits as u32,
            high_first,
            word: 0,
            count: 0,
        }
    }

    /// Elements per whole group of bytes: 1 (8-bit), 2 (4-bit), 4 (6-bit).
    fn group(&self) -> u32 {
        match self.bits {
            8 => 1,
            4 => 2,
            _ => 4,
        }
    }

    /// # Safety
    /// The byte holding this code is writable.
    unsafe fn put(&mut self, code: u32) {
        let code = code & ((1 << self.bits) - 1);
        let shift = if self.high_first {
            4 * (1 - self.count)
        } else {
            self.count * self.bits
        };
        self.word |= code << shift;
        self.count += 1;
        if self.count == self.group() {
            // SAFETY: forwarded contract.
            unsafe { self.flush() }
        }
    }

    /// Writes the bytes the pending codes touch.
    ///
    /// # Safety
    /// Those bytes writable.
    unsafe fn flush(&mut self) {
        let bytes = (self.count * self.bits).div_ceil(8) as usize;
        for i in 0..bytes {
            // SAFETY: forwarded contract.
            unsafe { self.q.add(i).write((self.word >> (8 * i)) as u8) };
        }
        // SAFETY: moving past the written bytes (at most one past the end).
        self.q = unsafe { self.q.add(bytes) };
        self.word = 0;
        self.count = 0;
    }
}

/// Code `i` of `bits`-bit codes packed at `q`.
///
/// # Safety
/// The bytes holding code `i` readable.
#[inline(always)]
pub unsafe fn code_at(q: *const u8, i: usize, bits: usize, high_first: bool) -> u32 {
    // SAFETY: forwarded contract (each case reads only the bytes of code i).
    unsafe {
        match bits {
            8 => u32::from(q.add(i).read()),
            4 => {
                let b = u32::from(q.add(i / 2).read());
                let high = (i % 2 == 1) != high_first;
                if high { b >> 4 } else { b & 15 }
            }
            _ => {
                let bit = 6 * i;
                let at = q.add(bit / 8);
                let lo = u32::from(at.read());
                let hi = if bit % 8 > 2 {
                    u32::from(at.add(1).read())
                } else {
                    0
                };
                ((lo | hi << 8) >> (bit % 8)) & 63
            }
        }
    }
}

/// Signed value of an int4 or int8 code of `bits`.
fn sign_extend(c: u32, bits: usize) -> i32 {
    let s = 32 - bits as u32;
    ((c << s) as i32) >> s
}

/// Zero point of block `b` of `bits`-bit zero points (0 when `z` is NULL).
///
/// # Safety
/// `z` NULL or holding block `b`'s zero point.
#[inline(always)]
pub unsafe fn zero_point(z: *const u8, b: usize, bits: usize, signed: bool) -> f32 {
    if z.is_null() {
        return 0.0;
    }
    // SAFETY: forwarded contract.
    let c = unsafe { code_at(z, b, bits, false) };
    (if signed {
        sign_extend(c, bits)
    } else {
        c as i32
    }) as f32
}

/// f32 scale `b` (unaligned little-endian).
///
/// # Safety
/// Readable.
#[inline(always)]
pub unsafe fn scale_f32(s: *const u8, b: usize) -> f32 {
    // SAFETY: forwarded contract.
    unsafe { s.add(4 * b).cast::<f32>().read_unaligned() }
}

/// Quantizes `n` elements: see the module documentation and [`super::QuantizeFn`].
///
/// # Safety
/// `x` readable for `n` elements; `q` writable for `p.q_bytes(n)` bytes; `s` readable (scales
/// given) or writable for `p.scale_bytes(n)`; `z` NULL or readable (given) / writable for
/// `p.zero_point_bytes(n)`.
pub unsafe fn quantize<E: Elem>(
    p: &Params,
    n: usize,
    x: *const E::S,
    q: *mut u8,
    s: *mut u8,
    z: *mut u8,
) {
    let bs = p.block_size;
    let mut codes = Packer::new(q, p.scheme.element_bits(), p.scheme.high_nibble_first());
    let mut zps = Packer::new(z, p.scheme.element_bits(), false);
    for b in 0..n.div_ceil(bs) {
        let len = bs.min(n - b * bs);
        // SAFETY: block b lies inside the n elements at x.
        let xb = unsafe { std::slice::from_raw_parts(x.add(b * bs), len) };
        let xs = xb.iter().map(|&v| E::to_f32(v));
        // SAFETY (every access below): block b's scale, zero point and codes are inside the
        // buffers (caller).
        unsafe {
            match p.scheme.kind() {
                Kind::Int { qmin, qmax } => {
                    let (scale, zp) = if p.scales_given {
                        let bits = p.scheme.element_bits();
                        (scale_f32(s, b), zero_point(z, b, bits, qmin < 0))
                    } else {
                        let (mut amax, mut lo, mut hi) = (0.0f32, 0.0f32, 0.0f32);
                        for v in xs.clone() {
                            amax = if v.abs() > amax { v.abs() } else { amax };
                            lo = if v < lo { v } else { lo };
                            hi = if v > hi { v } else { hi };
                        }
                        let (scale, zp) = int_scale(qmin, qmax, amax, lo, hi);
                        s.add(4 * b).cast::<f32>().write_unaligned(scale);
                        if !z.is_null() {
                            zps.put(zp as i32 as u32);
                        }
                        (scale, zp)
                    };
                    for v in xs {
                        codes.put(int_code(v, scale, zp, qmin, qmax) as u32);
                    }
                }
                Kind::MxFp(_) | Kind::MxInt8 => {
                    let emax = match p.scheme.kind() {
                        Kind::MxFp(f) => f.emax(),
                        _ => 0,
                    };
                    let byte = if p.scales_given {
                        s.add(b).read()
                    } else {
                        let amax = xs.clone().map(|v| v.to_bits() & 0x7FFF_FFFF).max();
                        let byte = mx_scale_byte(amax.unwrap_or(0), emax);
                        s.add(b).write(byte);
                        byte
                    };
                    let (m1, m2) = pow2_pair(127 - i32::from(byte));
                    for v in xs {
                        let v = (v * m1) * m2;
                        codes.put(match (byte, p.scheme.kind()) {
                            (0xFF, _) => 0,
                            (_, Kind::MxFp(f)) => fp_encode(f, v, v.is_sign_negative()),
                            _ => mxint8_code(v),
                        });
                    }
                }
                Kind::Nvfp4 => {
                    let byte = if p.scales_given {
                        s.add(b).read()
                    } else {
                        let amax = xs
                            .clone()
                            .fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
                        let byte = nvfp4_scale_byte(amax, p.tensor_scale);
                        s.add(b).write(byte);
                        byte
                    };
                    let d = tables::E4M3[usize::from(byte)] * p.tensor_scale;
                    for v in xs {
                        let v = v / d;
                        codes.put(fp_encode(FpFormat::E2M1, v, v < 0.0));
                    }
                }
                Kind::Bnb(book) => {
                    let absmax = if p.scales_given {
                        scale_f32(s, b)
                    } else {
                        let bits = xs.clone().map(|v| v.to_bits() & 0x7FFF_FFFF).max();
                        f32::from_bits(bits.unwrap_or(0))
                    };
                    let am = bnb_clamp(absmax);
                    let whole = len == bs;
                    if !p.scales_given {
                        let stored = if whole { absmax } else { am };
                        s.add(4 * b).cast::<f32>().write_unaligned(stored);
                    }
                    let inv = 1.0 / am;
                    for v in xs {
                        let v = if whole { v * inv } else { v / am };
                        codes.put(u32::from(book.encode(v)));
                    }
                }
            }
        }
    }
    // SAFETY: the trailing partial group's bytes are inside the buffers.
    unsafe {
        if codes.count > 0 {
            if codes.bits == 4 {
                codes.put(p.pad_code());
            }
            codes.flush();
        }
        if zps.count > 0 && !z.is_null() {
            zps.flush();
        }
    }
}

/// Value of code `c` of block `b` before the block scale for the code-book schemes, or the
/// full value for the others: see [`dequantize`].
///
/// # Safety
/// `s`, `z` hold block `b`'s scale and zero point (z may be NULL).
#[inline(always)]
unsafe fn dequantize_one(p: &Params, c: u32, s: *const u8, z: *const u8, b: usize) -> f32 {
    // SAFETY: forwarded contract.
    unsafe {
        match p.scheme.kind() {
            Kind::Int { qmin, .. } => {
                let bits = p.scheme.element_bits();
                let q = if qmin < 0 {
                    sign_extend(c, bits)
                } else {
                    c as i32
                };
                (q as f32 - zero_point(z, b, bits, qmin < 0)) * scale_f32(s, b)
            }
            Kind::MxFp(_) | Kind::MxInt8 => {
                let byte = s.add(b).read();
                if byte == 0xFF {
                    return f32::NAN;
                }
                let v = match p.scheme.kind() {
                    Kind::MxFp(f) => tables::fp_values(f)[c as usize],
                    _ => sign_extend(c, 8) as f32 * (1.0 / 64.0),
                };
                let (m1, m2) = pow2_pair(i32::from(byte) - 127);
                (v * m1) * m2
            }
            Kind::Nvfp4 => {
                tables::NVFP4_E2M1[c as usize]
                    * (tables::E4M3[usize::from(s.add(b).read())] * p.tensor_scale)
            }
            Kind::Bnb(book) => book.values[c as usize] * scale_f32(s, b),
        }
    }
}

/// Dequantizes `n` elements: see the module documentation and [`super::DequantizeFn`].
///
/// # Safety
/// `q`, `s` readable for `p.q_bytes(n)` and `p.scale_bytes(n)` bytes, `z` NULL or readable for
/// `p.zero_point_bytes(n)`; `y` writable for `n` elements.
pub unsafe fn dequantize<E: Elem>(
    p: &Params,
    n: usize,
    q: *const u8,
    s: *const u8,
    z: *const u8,
    y: *mut E::S,
) {
    let (bits, high) = (p.scheme.element_bits(), p.scheme.high_nibble_first());
    for i in 0..n {
        // SAFETY: element i's code, its block's scale and zero point, and y[i] are inside the
        // buffers (caller).
        unsafe {
            let c = code_at(q, i, bits, high);
            let v = dequantize_one(p, c, s, z, i / p.block_size);
            y.add(i).write(E::from_f32(v));
        }
    }
}
