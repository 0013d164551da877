//! GGUF block-format kernel tables: for each element type (the quantize source and the
//! dequantize destination), every format's quantizer and dequantizer at each ISA level. The
//! results are identical at every level (the kernels reproduce the reference's bytes), so the
//! choice only affects speed.

use super::{Kernel, KernelTable, x86_kernel};
use crate::isa::IsaLevel;
use crate::ukernels::blocks::{self as bk, DequantizeFn, FORMATS, QuantizeFn};
use crate::ukernels::simd::{Bf16, Bf16Hw, Elem, F16, F32};

/// Every format's kernels for one element type, indexed by `Format::index`.
pub struct BlockKernels<E: Elem> {
    /// Quantizers (elements → blocks).
    pub quantize: [QuantizeFn<E::S>; FORMATS],
    /// Dequantizers (blocks → elements).
    pub dequantize: [DequantizeFn<E::S>; FORMATS],
}

macro_rules! simd_bundle {
    ($m:ident, $E:ty) => {
        simd_bundle!($m, $E, $m $E)
    };
    // Quantizers from `$m` for `$E`, dequantizers from `$dm` for `$dE` (same storage type).
    ($m:ident, $E:ty, $dm:ident $dE:ty) => {
        BlockKernels::<$E> {
            quantize: [
                bk::$m::quantize_q4_0::<$E> as QuantizeFn<<$E as Elem>::S>,
                bk::$m::quantize_q4_1::<$E>,
                bk::$m::quantize_q5_0::<$E>,
                bk::$m::quantize_q5_1::<$E>,
                bk::$m::quantize_q8_0::<$E>,
                bk::$m::quantize_q8_1::<$E>,
                bk::$m::quantize_q4_k::<$E>,
                bk::$m::quantize_q5_k::<$E>,
                bk::$m::quantize_q6_k::<$E>,
                bk::$m::quantize_q8_k::<$E>,
                bk::$m::quantize_mxfp4::<$E>,
            ],
            dequantize: [
                bk::$dm::dequantize_q4_0::<$dE> as DequantizeFn<<$E as Elem>::S>,
                bk::$dm::dequantize_q4_1::<$dE>,
                bk::$dm::dequantize_q5_0::<$dE>,
                bk::$dm::dequantize_q5_1::<$dE>,
                bk::$dm::dequantize_q8_0::<$dE>,
                bk::$dm::dequantize_q8_1::<$dE>,
                bk::$dm::dequantize_q4_k::<$dE>,
                bk::$dm::dequantize_q5_k::<$dE>,
                bk::$dm::dequantize_q6_k::<$dE>,
                bk::$dm::dequantize_q8_k::<$dE>,
                bk::$dm::dequantize_mxfp4::<$dE>,
            ],
        }
    };
}

macro_rules! scalar_bundle {
    ($E:ty) => {
        BlockKernels::<$E> {
            quantize: [
                bk::scalar::quantize::<$E, 0> as QuantizeFn<<$E as Elem>::S>,
                bk::scalar::quantize::<$E, 1>,
                bk::scalar::quantize::<$E, 2>,
                bk::scalar::quantize::<$E, 3>,
                bk::scalar::quantize::<$E, 4>,
                bk::scalar::quantize::<$E, 5>,
                bk::scalar::quantize::<$E, 6>,
                bk::scalar::quantize::<$E, 7>,
                bk::scalar::quantize::<$E, 8>,
                bk::scalar::quantize::<$E, 9>,
                bk::scalar::quantize::<$E, 10>,
            ],
            dequantize: [
                bk::scalar::dequantize::<$E, 0> as DequantizeFn<<$E as Elem>::S>,
                bk::scalar::dequantize::<$E, 1>,
                bk::scalar::dequantize::<$E, 2>,
                bk::scalar::dequantize::<$E, 3>,
                bk::scalar::dequantize::<$E, 4>,
                bk::scalar::dequantize::<$E, 5>,
                bk::scalar::dequantize::<$E, 6>,
                bk::scalar::dequantize::<$E, 7>,
                bk::scalar::dequantize::<$E, 8>,
                bk::scalar::dequantize::<$E, 9>,
                bk::scalar::dequantize::<$E, 10>,
            ],
        }
    };
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $E:ty, $scalar:literal, $avx2:literal, $avx512:literal) => {
        table!($(#[$doc])* $name, $E, $scalar, $avx2, $avx512, avx512 $E);
    };
    ($(#[$doc:meta])* $name:ident, $E:ty, $scalar:literal, $avx2:literal, $avx512:literal,
     $dm:ident $dE:ty) => {
        $(#[$doc])*
        pub static $name: KernelTable<BlockKernels<$E>> = KernelTable {
            scalar: Kernel { name: $scalar, isa: IsaLevel::Scalar, func: scalar_bundle!($E) },
            avx2: x86_kernel!($avx2, Avx2, simd_bundle!(avx2, $E)),
            avx512: x86_kernel!($avx512, Avx512, simd_bundle!(avx512, $E, $dm $dE)),
        };
    };
}

table!(
    /// f32 sources and destinations.
    F32_BLOCKS, F32,
    c"f32_gguf_blocks__scalar", c"f32_gguf_blocks__avx2_u16", c"f32_gguf_blocks__avx512skx_u16"
);
table!(
    /// f16 sources and destinations.
    F16_BLOCKS, F16,
    c"f16_gguf_blocks__scalar", c"f16_gguf_blocks__f16c_u16", c"f16_gguf_blocks__avx512skx_u16"
);
table!(
    /// bf16 sources and destinations.
    BF16_BLOCKS, Bf16,
    c"bf16_gguf_blocks__scalar", c"bf16_gguf_blocks__avx2_u16", c"bf16_gguf_blocks__avx512skx_u16"
);
table!(
    /// bf16 sources and destinations where the CPU also has AVX512_BF16
    /// (`isa::extras().avx512bf16`): the AVX-512 dequantizers store with `vcvtneps2bf16`; the
    /// avx512 entry must not be used otherwise.
    BF16_BLOCKS_AVX512BF16, Bf16,
    c"bf16_gguf_blocks__scalar", c"bf16_gguf_blocks__avx2_u16",
    c"bf16_gguf_blocks__avx512bf16_u16",
    avx512bf16 Bf16Hw
);

/// The table of an element type.
pub trait BlockElem: Elem {
    /// This type's table.
    fn table() -> &'static KernelTable<BlockKernels<Self>>
    where
        Self: Sized;
}

impl BlockElem for F32 {
    fn table() -> &'static KernelTable<BlockKernels<F32>> {
        &F32_BLOCKS
    }
}
impl BlockElem for F16 {
    fn table() -> &'static KernelTable<BlockKernels<F16>> {
        &F16_BLOCKS
    }
}
impl BlockElem for Bf16 {
    fn table() -> &'static KernelTable<BlockKernels<Bf16>> {
        if crate::isa::extras().avx512bf16 {
            &BF16_BLOCKS_AVX512BF16
        } else {
            &BF16_BLOCKS
        }
    }
}
