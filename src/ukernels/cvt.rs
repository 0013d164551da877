//! Scalar precision conversions between f32 and the 16-bit float formats, bit-exact with IEEE
//! round-to-nearest-even. These are the readable statement of each conversion; the SIMD kernels
//! must produce the same bits.
//!
//! NaN handling (same as F16C and the `half` crate): a NaN stays a NaN of the same sign, becomes
//! quiet (the top mantissa bit is set) and keeps the top bits of its payload.

/// f32 → IEEE binary16 bits, round to nearest even; overflow gives ±inf.
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let abs = bits & 0x7FFF_FFFF;
    if abs > 0x7F80_0000 {
        // NaN: quiet, top 10 payload bits kept.
        return sign | 0x7E00 | ((abs >> 13) & 0x03FF) as u16;
    }
    if abs >= 0x477F_F000 {
        // >= 65520 = halfway between 65504 (max f16) and 65536: rounds (ties-to-even) to inf.
        return sign | 0x7C00;
    }
    if abs >= 0x3880_0000 {
        // Normal f16 (>= 2^-14): rebias the exponent (127 - 15 = 112), round the low 13 bits.
        let r = abs - 0x3800_0000;
        let r = r + 0x0FFF + ((r >> 13) & 1);
        return sign | (r >> 13) as u16;
    }
    let e = abs >> 23;
    if e < 102 {
        // Below 2^-25, half the smallest subnormal: rounds to zero.
        return sign;
    }
    // Subnormal f16: value = m * 2^(e - 150); the f16 unit is 2^-24, so the result is
    // m >> (126 - e), rounded to nearest even. A carry into bit 10 gives the smallest normal.
    let m = (abs & 0x007F_FFFF) | 0x0080_0000;
    let shift = 126 - e;
    let q = m >> shift;
    let rem = m & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    let up = u32::from(rem > half || (rem == half && (q & 1) == 1));
    sign | (q + up) as u16
}

/// IEEE binary16 bits → f32 (exact).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let e = (h >> 10) & 0x1F;
    let m = h & 0x03FF;
    let bits = if e == 0x1F {
        let quiet = if m != 0 { 0x0040_0000 } else { 0 };
        sign | 0x7F80_0000 | quiet | (m << 13)
    } else if e != 0 {
        sign | ((e + 112) << 23) | (m << 13)
    } else if m == 0 {
        sign
    } else {
        // Subnormal: m * 2^-24. Normalize so the leading one lands on bit 10.
        let shift = m.leading_zeros() - 21;
        sign | ((113 - shift) << 23) | (((m << shift) & 0x03FF) << 13)
    };
    f32::from_bits(bits)
}

/// f32 → bfloat16 bits, round to nearest even; overflow gives ±inf.
#[inline]
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if bits & 0x7FFF_FFFF > 0x7F80_0000 {
        return ((bits >> 16) | 0x0040) as u16;
    }
    // Adding 0x7FFF plus the result's lowest bit carries into bit 16 exactly when the dropped
    // half is above one half, or equal to it with an odd result. Cannot overflow u32: the
    // largest non-NaN magnitude is 0x7F80_0000.
    ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// bfloat16 bits → f32 (exact).
#[inline]
pub fn bf16_to_f32(h: u16) -> f32 {
    let bits = u32::from(h) << 16;
    if h & 0x7FFF > 0x7F80 {
        f32::from_bits(bits | 0x0040_0000)
    } else {
        f32::from_bits(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_16_bit_pattern_matches_half() {
        for h in 0..=u16::MAX {
            let a = f16_to_f32(h).to_bits();
            let b = half::f16::from_bits(h).to_f32().to_bits();
            assert_eq!(a, b, "f16 {h:#06x}");
            let a = bf16_to_f32(h).to_bits();
            let b = half::bf16::from_bits(h).to_f32().to_bits();
            assert_eq!(a, b, "bf16 {h:#06x}");
        }
    }

    #[test]
    fn f32_samples_match_half() {
        // Every exponent and sign with mantissas that stress the rounding bits.
        let mantissas = [
            0u32, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001,
            0x18000, 0x7F_FFFF, 0x40_0000, 0x40_1000, 0x7F_E000, 0x7F_F000,
        ];
        for sign in [0u32, 0x8000_0000] {
            for e in 0..=255u32 {
                for &m in &mantissas {
                    let x = f32::from_bits(sign | (e << 23) | m);
                    assert_eq!(f32_to_f16(x), half::f16::from_f32(x).to_bits(), "{x:e}");
                    assert_eq!(f32_to_bf16(x), half::bf16::from_f32(x).to_bits(), "{x:e}");
                }
            }
        }
    }
}
