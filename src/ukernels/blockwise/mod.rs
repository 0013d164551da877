//! Split-scale blockwise quantization: elements in one array, one scale per block in another
//! (plus zero points for the ONNX affine integers). The schemes are ONNX's blocked
//! QuantizeLinear/DequantizeLinear (int8, uint8, int4, uint4), OCP Microscaling v1.0 (FP8 E4M3
//! and E5M2, FP6 E2M3 and E3M2, FP4 E2M1, INT8), NVIDIA's NVFP4 and bitsandbytes' blockwise
//! dynamic 8-bit, NF4 and FP4.
//!
//! [`reference`] is the readable statement of every scheme and the scalar kernel; [`kernels`]
//! writes the same arithmetic once over the 16-lane vector traits, lane for lane, so every ISA
//! gives the reference's bytes.

pub mod kernels;
pub mod reference;
pub mod tables;

/// A scheme, built only from a validated id ([`Scheme::from_id`]). The discriminants are the
/// C API's `NNK_SCHEME_*` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Scheme {
    /// ONNX int8, symmetric when computed.
    Int8 = 1,
    /// ONNX uint8, min/max affine when computed.
    Uint8 = 2,
    /// ONNX int4 (two per byte, earlier element low).
    Int4 = 3,
    /// ONNX uint4.
    Uint4 = 4,
    /// OCP MXFP8 E4M3.
    MxE4M3 = 16,
    /// OCP MXFP8 E5M2.
    MxE5M2 = 17,
    /// OCP MXFP6 E2M3.
    MxE2M3 = 18,
    /// OCP MXFP6 E3M2.
    MxE3M2 = 19,
    /// OCP MXFP4 E2M1.
    MxE2M1 = 20,
    /// OCP MXINT8 (fixed point 1.6).
    MxInt8 = 21,
    /// NVIDIA NVFP4: E2M1 elements, E4M3 block scale, f32 tensor scale.
    Nvfp4 = 24,
    /// bitsandbytes signed dynamic 8-bit map.
    BnbDynamic8 = 32,
    /// bitsandbytes NF4.
    BnbNf4 = 33,
    /// bitsandbytes FP4.
    BnbFp4 = 34,
}

/// A small float format (no infinities unless `E5M2`), as OCP and OFP8 define them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FpFormat {
    /// Mantissa bits.
    pub m: u32,
    /// Exponent bits.
    pub e: u32,
    /// Exponent bias.
    pub bias: i32,
    /// Largest finite value.
    pub max: f32,
}

impl FpFormat {
    /// OFP8 E4M3 (448; S.1111.111 is NaN).
    pub const E4M3: FpFormat = FpFormat {
        m: 3,
        e: 4,
        bias: 7,
        max: 448.0,
    };
    /// OFP8 E5M2 (57344; exponent 31 is Inf/NaN).
    pub const E5M2: FpFormat = FpFormat {
        m: 2,
        e: 5,
        bias: 15,
        max: 57344.0,
    };
    /// FP6 E2M3 (7.5).
    pub const E2M3: FpFormat = FpFormat {
        m: 3,
        e: 2,
        bias: 1,
        max: 7.5,
    };
    /// FP6 E3M2 (28).
    pub const E3M2: FpFormat = FpFormat {
        m: 2,
        e: 3,
        bias: 3,
        max: 28.0,
    };
    /// FP4 E2M1 (6).
    pub const E2M1: FpFormat = FpFormat {
        m: 1,
        e: 2,
        bias: 1,
        max: 6.0,
    };

    /// Exponent of the smallest normal.
    pub const fn emin(self) -> i32 {
        1 - self.bias
    }
    /// Exponent of the largest normal (OCP's `emax_elem`).
    pub const fn emax(self) -> i32 {
        // The top binade of every format here holds its max (E4M3's NaN shares it, E5M2's
        // Inf/NaN binade sits above).
        let mut e = 0;
        let mut p = 1.0f32;
        while p * 2.0 <= self.max {
            p *= 2.0;
            e += 1;
        }
        e
    }
    /// Bits per code (sign included).
    pub const fn bits(self) -> u32 {
        1 + self.e + self.m
    }
}

/// What a scheme does, for the kernels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// ONNX affine integer: `[qmin, qmax]`, bits.
    Int {
        /// Smallest code.
        qmin: i32,
        /// Largest code.
        qmax: i32,
    },
    /// OCP MX small float.
    MxFp(FpFormat),
    /// OCP MXINT8.
    MxInt8,
    /// NVFP4.
    Nvfp4,
    /// bitsandbytes code book (sorted midpoints, code of each sorted position).
    Bnb(&'static tables::CodeBook),
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 14] = [
        Scheme::Int8,
        Scheme::Uint8,
        Scheme::Int4,
        Scheme::Uint4,
        Scheme::MxE4M3,
        Scheme::MxE5M2,
        Scheme::MxE2M3,
        Scheme::MxE3M2,
        Scheme::MxE2M1,
        Scheme::MxInt8,
        Scheme::Nvfp4,
        Scheme::BnbDynamic8,
        Scheme::BnbNf4,
        Scheme::BnbFp4,
    ];

    /// The scheme with C id `id`.
    pub fn from_id(id: u32) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| *s as u32 == id)
    }

    /// Lower-case name (benchmarks, diagnostics).
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Int8 => "int8",
            Scheme::Uint8 => "uint8",
            Scheme::Int4 => "int4",
            Scheme::Uint4 => "uint4",
            Scheme::MxE4M3 => "mxfp8_e4m3",
            Scheme::MxE5M2 => "mxfp8_e5m2",
            Scheme::MxE2M3 => "mxfp6_e2m3",
            Scheme::MxE3M2 => "mxfp6_e3m2",
            Scheme::MxE2M1 => "mxfp4_e2m1",
            Scheme::MxInt8 => "mxint8",
            Scheme::Nvfp4 => "nvfp4",
            Scheme::BnbDynamic8 => "bnb_dynamic8",
            Scheme::BnbNf4 => "bnb_nf4",
            Scheme::BnbFp4 => "bnb_fp4",
        }
    }

    /// What the scheme computes.
    pub const fn kind(self) -> Kind {
        match self {
            Scheme::Int8 => Kind::Int {
                qmin: -128,
                qmax: 127,
            },
            Scheme::Uint8 => Kind::Int { qmin: 0, qmax: 255 },
            Scheme::Int4 => Kind::Int { qmin: -8, qmax: 7 },
            Scheme::Uint4 => Kind::Int { qmin: 0, qmax: 15 },
            Scheme::MxE4M3 => Kind::MxFp(FpFormat::E4M3),
            Scheme::MxE5M2 => Kind::MxFp(FpFormat::E5M2),
            Scheme::MxE2M3 => Kind::MxFp(FpFormat::E2M3),
            Scheme::MxE3M2 => Kind::MxFp(FpFormat::E3M2),
            Scheme::MxE2M1 => Kind::MxFp(FpFormat::E2M1),
            Scheme::MxInt8 => Kind::MxInt8,
            Scheme::Nvfp4 => Kind::Nvfp4,
            Scheme::BnbDynamic8 => Kind::Bnb(&tables::DYNAMIC8),
            Scheme::BnbNf4 => Kind::Bnb(&tables::NF4),
            Scheme::BnbFp4 => Kind::Bnb(&tables::FP4),
        }
    }

    /// Bits per element code: 8, 6 or 4.
    pub const fn element_bits(self) -> usize {
        match self {
            Scheme::Int4
            | Scheme::Uint4
            | Scheme::MxE2M1
            | Scheme::Nvfp4
            | Scheme::BnbNf4
            | Scheme::BnbFp4 => 4,
            Scheme::MxE2M3 | Scheme::MxE3M2 => 6,
            _ => 8,
        }
    }

    /// Whether 4-bit codes go earlier-element-high (bitsandbytes) rather than low.
    pub const fn high_nibble_first(self) -> bool {
        matches!(self, Scheme::BnbNf4 | Scheme::BnbFp4)
    }

    /// Bytes per block scale: 4 (f32) or 1 (E8M0, E4M3).
    pub const fn scale_bytes(self) -> usize {
        match self.kind() {
            Kind::MxFp(_) | Kind::MxInt8 | Kind::Nvfp4 => 1,
            _ => 4,
        }
    }

    /// Whether the scheme has zero points.
    pub const fn has_zero_points(self) -> bool {
        matches!(self.kind(), Kind::Int { .. })
    }

    /// Whether `bs` is a valid block size.
    pub const fn block_size_ok(self, bs: usize) -> bool {
        match self {
            Scheme::Int8 | Scheme::Uint8 | Scheme::Int4 | Scheme::Uint4 => bs >= 1,
            Scheme::Nvfp4 => bs == 16,
            Scheme::BnbDynamic8 => bs.is_power_of_two() && bs >= 64 && bs <= 4096,
            Scheme::BnbNf4 | Scheme::BnbFp4 => bs.is_power_of_two() && bs >= 32 && bs <= 4096,
            _ => bs == 32,
        }
    }
}

/// A validated problem description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The scheme.
    pub scheme: Scheme,
    /// Elements per block (valid for the scheme).
    pub block_size: usize,
    /// Quantize with the caller's scales (and zero points).
    pub scales_given: bool,
    /// NVFP4's tensor scale (finite, > 0); 1 otherwise.
    pub tensor_scale: f32,
}

impl Params {
    /// Blocks of `n` elements (the last may be partial).
    pub fn blocks(&self, n: usize) -> usize {
        n.div_ceil(self.block_size)
    }
    /// Bytes of the element codes of `n` elements.
    pub fn q_bytes(&self, n: usize) -> usize {
        // n * bits / 8 rounded up, without overflowing for n near usize::MAX / 8.
        let b = self.scheme.element_bits();
        n / 8 * b + (n % 8 * b).div_ceil(8)
    }
    /// Bytes of the scales of `n` elements.
    pub fn scale_bytes(&self, n: usize) -> usize {
        self.blocks(n) * self.scheme.scale_bytes()
    }
    /// The code filling the unused nibble after an odd number of 4-bit codes: that of +0 for
    /// bitsandbytes (which pads the scaled values with 0 before encoding), 0 otherwise.
    pub fn pad_code(&self) -> u32 {
        match self.scheme.kind() {
            Kind::Bnb(book) => u32::from(book.encode(0.0)),
            _ => 0,
        }
    }
    /// Bytes of the zero points of `n` elements (0 for schemes without them).
    pub fn zero_point_bytes(&self, n: usize) -> usize {
        match self.scheme.element_bits() {
            _ if !self.scheme.has_zero_points() => 0,
            4 => self.blocks(n).div_ceil(2),
            _ => self.blocks(n),
        }
    }
}

/// Quantizes `n` elements (a run of whole blocks but the last, which may be partial) at `x`
/// into codes at `q`, scales at `s` and zero points at `z` (NULL or as the scheme needs).
pub type QuantizeFn<S> =
    unsafe fn(p: &Params, n: usize, x: *const S, q: *mut u8, s: *mut u8, z: *mut u8);
/// Dequantizes `n` elements from codes `q`, scales `s`, zero points `z` (NULL: 0) into `y`.
pub type DequantizeFn<S> =
    unsafe fn(p: &Params, n: usize, q: *const u8, s: *const u8, z: *const u8, y: *mut S);

#[cfg(test)]
mod tests;
