//! GGUF block quantization (the ggml family: Q4_0 … Q8_K, the K-quants, MXFP4): one block of
//! 32 or 256 elements with its scales inside, byte-identical to ggml's reference quantizers
//! and exact dequantization.
//!
//! [`reference`] is the readable statement of each format and the scalar kernel; [`kernels`]
//! holds the same algorithms written once over the 16-lane vector traits
//! ([`V16`](crate::ukernels::simd::V16) and [`Q16`](lanes::Q16)), instantiated for AVX2 and
//! AVX-512 (and, for testing, the portable vector). Where a SIMD kernel computes lane-wise what the reference computes in a
//! loop, each lane performs the reference's IEEE operations in the reference's order (no FMA,
//! sequential sums), so the bytes are the same; the comments at each kernel say why.

pub mod kernels;
pub mod lanes;
#[cfg(target_arch = "x86_64")]
mod lanes_avx2;
#[cfg(target_arch = "x86_64")]
mod lanes_avx512;
pub mod reference;

use crate::ukernels::simd::Elem;

/// A block format. Built only from a validated ggml type id ([`Format::from_ggml`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// 32 elements, 4-bit, one f16 scale (ggml id 2).
    Q4_0,
    /// 32 elements, 4-bit, f16 scale and min (3).
    Q4_1,
    /// 32 elements, 5-bit, f16 scale (6).
    Q5_0,
    /// 32 elements, 5-bit, f16 scale and min (7).
    Q5_1,
    /// 32 elements, 8-bit, f16 scale (8).
    Q8_0,
    /// 32 elements, 8-bit, f16 scale and f16 scale·sum (9).
    Q8_1,
    /// 256 elements, 4-bit, 6-bit sub-block scales and mins (12).
    Q4K,
    /// 256 elements, 5-bit, 6-bit sub-block scales and mins (13).
    Q5K,
    /// 256 elements, 6-bit, 8-bit sub-block scales (14).
    Q6K,
    /// 256 elements, 8-bit, f32 scale and 16-element sums (15).
    Q8K,
    /// 32 E2M1 elements with one E8M0 scale byte, ggml's layout (39).
    Mxfp4,
}

/// Number of formats (the length of the per-format kernel arrays).
pub const FORMATS: usize = 11;

impl Format {
    /// Every format, in kernel-array order.
    pub const ALL: [Format; FORMATS] = [
        Format::Q4_0,
        Format::Q4_1,
        Format::Q5_0,
        Format::Q5_1,
        Format::Q8_0,
        Format::Q8_1,
        Format::Q4K,
        Format::Q5K,
        Format::Q6K,
        Format::Q8K,
        Format::Mxfp4,
    ];

    /// The format with ggml type id `id`, if nnkern supports it.
    pub fn from_ggml(id: u32) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.ggml_id() == id)
    }

    /// ggml's type id.
    pub const fn ggml_id(self) -> u32 {
        match self {
            Format::Q4_0 => 2,
            Format::Q4_1 => 3,
            Format::Q5_0 => 6,
            Format::Q5_1 => 7,
            Format::Q8_0 => 8,
            Format::Q8_1 => 9,
            Format::Q4K => 12,
            Format::Q5K => 13,
            Format::Q6K => 14,
            Format::Q8K => 15,
            Format::Mxfp4 => 39,
        }
    }

    /// Position in [`Format::ALL`] and the kernel arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Elements per block.
    pub const fn block_size(self) -> usize {
        match self {
            Format::Q4K | Format::Q5K | Format::Q6K | Format::Q8K => 256,
            _ => 32,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
            Format::Q8_1 => 36,
            Format::Q4K => 144,
            Format::Q5K => 176,
            Format::Q6K => 210,
            Format::Q8K => 292,
            Format::Mxfp4 => 17,
        }
    }

    /// The name ggml gives the format ("q4_0", "q4_K", "mxfp4", ...).
    pub const fn name(self) -> &'static str {
        match self {
            Format::Q4_0 => "q4_0",
            Format::Q4_1 => "q4_1",
            Format::Q5_0 => "q5_0",
            Format::Q5_1 => "q5_1",
            Format::Q8_0 => "q8_0",
            Format::Q8_1 => "q8_1",
            Format::Q4K => "q4_K",
            Format::Q5K => "q5_K",
            Format::Q6K => "q6_K",
            Format::Q8K => "q8_K",
            Format::Mxfp4 => "mxfp4",
        }
    }

    /// The reference quantizer of one block of f32.
    pub fn quantize_ref(self) -> fn(&[f32], &mut [u8]) {
        use reference as r;
        match self {
            Format::Q4_0 => r::quantize_q4_0,
            Format::Q4_1 => r::quantize_q4_1,
            Format::Q5_0 => r::quantize_q5_0,
            Format::Q5_1 => r::quantize_q5_1,
            Format::Q8_0 => r::quantize_q8_0,
            Format::Q8_1 => r::quantize_q8_1,
            Format::Q4K => r::quantize_q4_k,
            Format::Q5K => r::quantize_q5_k,
            Format::Q6K => r::quantize_q6_k,
            Format::Q8K => r::quantize_q8_k,
            Format::Mxfp4 => r::quantize_mxfp4,
        }
    }

    /// The reference dequantizer of one block to f32.
    pub fn dequantize_ref(self) -> fn(&[u8], &mut [f32]) {
        use reference as r;
        match self {
            Format::Q4_0 => r::dequantize_q4_0,
            Format::Q4_1 => r::dequantize_q4_1,
            Format::Q5_0 => r::dequantize_q5_0,
            Format::Q5_1 => r::dequantize_q5_1,
            Format::Q8_0 => r::dequantize_q8_0,
            Format::Q8_1 => r::dequantize_q8_1,
            Format::Q4K => r::dequantize_q4_k,
            Format::Q5K => r::dequantize_q5_k,
            Format::Q6K => r::dequantize_q6_k,
            Format::Q8K => r::dequantize_q8_k,
            Format::Mxfp4 => r::dequantize_mxfp4,
        }
    }
}

/// Quantizes `blocks` whole blocks from `x` (elements) to `q` (bytes).
pub type QuantizeFn<S> = unsafe fn(blocks: usize, x: *const S, q: *mut u8);
/// Dequantizes `blocks` whole blocks from `q` (bytes) to `y` (elements).
pub type DequantizeFn<S> = unsafe fn(blocks: usize, q: *const u8, y: *mut S);

/// The scalar kernels: the reference functions, with f16/bf16 sources widened and
/// destinations rounded (to nearest even) one block at a time.
pub mod scalar {
    use super::Format;
    use crate::ukernels::simd::Elem;

    /// Quantizes with [`Format::quantize_ref`] of format `F` (an index into [`Format::ALL`]).
    ///
    /// # Safety
    /// `blocks` whole blocks readable at `x` and writable at `q`.
    pub unsafe fn quantize<E: Elem, const F: usize>(blocks: usize, x: *const E::S, q: *mut u8) {
        let f = Format::ALL[F];
        let (bs, bb) = (f.block_size(), f.block_bytes());
        let quantize = f.quantize_ref();
        let mut buf = [0.0f32; 256];
        for b in 0..blocks {
            // SAFETY: block b lies inside the caller's buffers.
            let (src, dst) = unsafe {
                (
                    std::slice::from_raw_parts(x.add(b * bs), bs),
                    std::slice::from_raw_parts_mut(q.add(b * bb), bb),
                )
            };
            for (o, &s) in buf.iter_mut().zip(src) {
                *o = E::to_f32(s);
            }
            quantize(&buf[..bs], dst);
        }
    }

    /// Dequantizes with [`Format::dequantize_ref`] of format `F`.
    ///
    /// # Safety
    /// `blocks` whole blocks readable at `q` and writable at `y`.
    pub unsafe fn dequantize<E: Elem, const F: usize>(blocks: usize, q: *const u8, y: *mut E::S) {
        let f = Format::ALL[F];
        let (bs, bb) = (f.block_size(), f.block_bytes());
        let dequantize = f.dequantize_ref();
        let mut buf = [0.0f32; 256];
        for b in 0..blocks {
            // SAFETY: block b lies inside the caller's buffers.
            let (src, dst) = unsafe {
                (
                    std::slice::from_raw_parts(q.add(b * bb), bb),
                    std::slice::from_raw_parts_mut(y.add(b * bs), bs),
                )
            };
            dequantize(src, &mut buf[..bs]);
            for (o, &v) in dst.iter_mut().zip(&buf[..bs]) {
                *o = E::from_f32(v);
            }
        }
    }
}

/// Declares, in an ISA module, one `#[target_feature]` wrapper per format and direction around
/// the generic kernels of [`kernels`] for vector type `$V`.
macro_rules! instantiate {
    ($V:ty $(, $features:literal)?) => {
        use crate::ukernels::blocks::kernels as k;
        use crate::ukernels::simd::Elem;

        instantiate!(@q $V, [$(#[target_feature(enable = $features)])?]; quantize_q4_0
            quantize_q4_1 quantize_q5_0 quantize_q5_1 quantize_q8_0 quantize_q8_1 quantize_q4_k
            quantize_q5_k quantize_q6_k quantize_q8_k quantize_mxfp4);
        instantiate!(@d $V, [$(#[target_feature(enable = $features)])?]; dequantize_q4_0
            dequantize_q4_1 dequantize_q5_0 dequantize_q5_1 dequantize_q8_0 dequantize_q8_1
            dequantize_q4_k dequantize_q5_k dequantize_q6_k dequantize_q8_k dequantize_mxfp4);
    };
    (@q $V:ty, $attrs:tt;) => {};
    (@q $V:ty, [$($attr:tt)*]; $name:ident $($rest:ident)*) => {
        /// Quantizes `blocks` blocks (see the generic kernel of the same name).
        ///
        /// # Safety
        /// `blocks` whole blocks readable at `x` and writable at `q`; the CPU has this
        /// module's ISA.
        $($attr)*
        pub unsafe fn $name<E: Elem>(blocks: usize, x: *const E::S, q: *mut u8) {
            // SAFETY: forwarded contract.
            unsafe { k::$name::<$V, E>(blocks, x, q) }
        }
        instantiate!(@q $V, [$($attr)*]; $($rest)*);
    };
    (@d $V:ty, $attrs:tt;) => {};
    (@d $V:ty, [$($attr:tt)*]; $name:ident $($rest:ident)*) => {
        /// Dequantizes `blocks` blocks (see the generic kernel of the same name).
        ///
        /// # Safety
        /// `blocks` whole blocks readable at `q` and writable at `y`; the CPU has this
        /// module's ISA.
        $($attr)*
        pub unsafe fn $name<E: Elem>(blocks: usize, q: *const u8, y: *mut E::S) {
            // SAFETY: forwarded contract.
            unsafe { k::$name::<$V, E>(blocks, q, y) }
        }
        instantiate!(@d $V, [$($attr)*]; $($rest)*);
    };
}

/// The generic kernels on the portable vector (tests check them against the reference: they
/// are what the SIMD kernels compute, lane for lane).
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

/// Whether every element of `x[..n]` is finite.
///
/// # Safety
/// `n` readable elements at `x`.
pub unsafe fn all_finite<E: Elem>(n: usize, x: *const E::S) -> bool {
    // SAFETY: n readable elements (caller).
    let s = unsafe { std::slice::from_raw_parts(x, n) };
    s.iter().all(|&v| E::to_f32(v).is_finite())
}

/// The scalar quantize kernel of `f` for source elements `E`.
pub fn scalar_quantize<E: Elem>(f: Format) -> QuantizeFn<E::S> {
    use scalar::quantize as q;
    match f {
        Format::Q4_0 => q::<E, 0>,
        Format::Q4_1 => q::<E, 1>,
        Format::Q5_0 => q::<E, 2>,
        Format::Q5_1 => q::<E, 3>,
        Format::Q8_0 => q::<E, 4>,
        Format::Q8_1 => q::<E, 5>,
        Format::Q4K => q::<E, 6>,
        Format::Q5K => q::<E, 7>,
        Format::Q6K => q::<E, 8>,
        Format::Q8K => q::<E, 9>,
        Format::Mxfp4 => q::<E, 10>,
    }
}

/// The scalar dequantize kernel of `f` for destination elements `E`.
pub fn scalar_dequantize<E: Elem>(f: Format) -> DequantizeFn<E::S> {
    use scalar::dequantize as d;
    match f {
        Format::Q4_0 => d::<E, 0>,
        Format::Q4_1 => d::<E, 1>,
        Format::Q5_0 => d::<E, 2>,
        Format::Q5_1 => d::<E, 3>,
        Format::Q8_0 => d::<E, 4>,
        Format::Q8_1 => d::<E, 5>,
        Format::Q4K => d::<E, 6>,
        Format::Q5K => d::<E, 7>,
        Format::Q6K => d::<E, 8>,
        Format::Q8K => d::<E, 9>,
        Format::Mxfp4 => d::<E, 10>,
    }
}

#[cfg(test)]
pub(crate) mod tests;
