//! Split-scale blockwise kernel tables: per element type, the quantizer and dequantizer at each
//! ISA level. Every level gives the reference's bytes, so the choice only affects speed.

use super::{Kernel, KernelTable, x86_kernel};
use crate::isa::IsaLevel;
use crate::ukernels::blockwise::{self as bw, DequantizeFn, QuantizeFn};
use crate::ukernels::simd::{Bf16, Bf16Hw, Elem, F16, F32};

/// One element type's kernels.
pub struct BlockwiseKernels<E: Elem> {
    /// Elements → codes, scales, zero points.
    pub quantize: QuantizeFn<E::S>,
    /// Codes, scales, zero points → elements.
    pub dequantize: DequantizeFn<E::S>,
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $E:ty, $scalar:literal, $avx2:literal, $avx512:literal) => {
        table!($(#[$doc])* $name, $E, $scalar, $avx2, $avx512, avx512 $E);
    };
    ($(#[$doc:meta])* $name:ident, $E:ty, $scalar:literal, $avx2:literal, $avx512:literal,
     $dm:ident $dE:ty) => {
        $(#[$doc])*
        pub static $name: KernelTable<BlockwiseKernels<$E>> = KernelTable {
            scalar: Kernel {
                name: $scalar,
                isa: IsaLevel::Scalar,
                func: BlockwiseKernels {
                    quantize: bw::reference::quantize::<$E>,
                    dequantize: bw::reference::dequantize::<$E>,
                },
            },
            avx2: x86_kernel!($avx2, Avx2, BlockwiseKernels {
                quantize: bw::kernels::avx2::quantize::<$E>,
                dequantize: bw::kernels::avx2::dequantize::<$E>,
            }),
            avx512: x86_kernel!($avx512, Avx512, BlockwiseKernels {
                quantize: bw::kernels::avx512::quantize::<$E>,
                dequantize: bw::kernels::$dm::dequantize::<$dE>,
            }),
        };
    };
}

table!(
    /// f32 sources and destinations.
    F32_BLOCKWISE, F32,
    c"f32_blockwise__scalar", c"f32_blockwise__avx2_u16", c"f32_blockwise__avx512skx_u16"
);
table!(
    /// f16 sources and destinations.
    F16_BLOCKWISE, F16,
    c"f16_blockwise__scalar", c"f16_blockwise__f16c_u16", c"f16_blockwise__avx512skx_u16"
);
table!(
    /// bf16 sources and destinations.
    BF16_BLOCKWISE, Bf16,
    c"bf16_blockwise__scalar", c"bf16_blockwise__avx2_u16", c"bf16_blockwise__avx512skx_u16"
);
table!(
    /// bf16 sources and destinations where the CPU also has AVX512_BF16
    /// (`isa::extras().avx512bf16`): the AVX-512 dequantizer stores with `vcvtneps2bf16`; the
    /// avx512 entry must not be used otherwise.
    BF16_BLOCKWISE_AVX512BF16, Bf16,
    c"bf16_blockwise__scalar", c"bf16_blockwise__avx2_u16", c"bf16_blockwise__avx512bf16_u16",
    avx512bf16 Bf16Hw
);

/// The table of an element type.
pub trait BlockwiseElem: Elem {
    /// This type's table.
    fn table() -> &'static KernelTable<BlockwiseKernels<Self>>
    where
        Self: Sized;
}

impl BlockwiseElem for F32 {
    fn table() -> &'static KernelTable<BlockwiseKernels<F32>> {
        &F32_BLOCKWISE
    }
}
impl BlockwiseElem for F16 {
    fn table() -> &'static KernelTable<BlockwiseKernels<F16>> {
        &F16_BLOCKWISE
    }
}
impl BlockwiseElem for Bf16 {
    fn table() -> &'static KernelTable<BlockwiseKernels<Bf16>> {
        if crate::isa::extras().avx512bf16 {
            &BF16_BLOCKWISE_AVX512BF16
        } else {
            &BF16_BLOCKWISE
        }
    }
}
