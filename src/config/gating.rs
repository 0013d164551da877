//! Top-K gating kernel tables: for each logit type, the row kernel at each ISA level, with FMA
//! (`FUSED`, the default) or without (`CONSISTENT`: bit-identical on every level).

use super::{Kernel, KernelTable, x86_kernel};
use crate::isa::IsaLevel;
use crate::ukernels::gating as g;
use crate::ukernels::simd::{Bf16, Elem, F16, F32};

pub use crate::ukernels::gating::GateFn;

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $T:ty, $fused:literal, $scalar:literal, $avx2:literal, $avx512:literal) => {
        $(#[$doc])*
        pub static $name: KernelTable<GateFn<<$T as Elem>::S>> = KernelTable {
            scalar: Kernel { name: $scalar, isa: IsaLevel::Scalar, func: g::scalar::gate::<$T, false> },
            avx2: x86_kernel!($avx2, Avx2, g::avx2::gate::<$T, $fused> as GateFn<<$T as Elem>::S>),
            avx512: x86_kernel!($avx512, Avx512, g::avx512::gate::<$T, $fused> as GateFn<<$T as Elem>::S>),
        };
    };
}

table!(
    /// f32 logits.
    F32_GATING, F32, true,
    c"f32_topk_gating__scalar_u16", c"f32_topk_gating__avx2_u16", c"f32_topk_gating__avx512skx_u16"
);
table!(
    /// f32 logits, consistent arithmetic.
    F32_GATING_CONSISTENT, F32, false,
    c"f32_topk_gating__scalar_u16", c"f32_topk_gating__avx2_u16_consistent", c"f32_topk_gating__avx512skx_u16_consistent"
);
table!(
    /// f16 logits.
    F16_GATING, F16, true,
    c"f16_topk_gating__scalar_u16", c"f16_topk_gating__f16c_u16", c"f16_topk_gating__avx512skx_u16"
);
table!(
    /// f16 logits, consistent arithmetic.
    F16_GATING_CONSISTENT, F16, false,
    c"f16_topk_gating__scalar_u16", c"f16_topk_gating__f16c_u16_consistent", c"f16_topk_gating__avx512skx_u16_consistent"
);
table!(
    /// bf16 logits.
    BF16_GATING, Bf16, true,
    c"bf16_topk_gating__scalar_u16", c"bf16_topk_gating__avx2_u16", c"bf16_topk_gating__avx512skx_u16"
);
table!(
    /// bf16 logits, consistent arithmetic.
    BF16_GATING_CONSISTENT, Bf16, false,
    c"bf16_topk_gating__scalar_u16", c"bf16_topk_gating__avx2_u16_consistent", c"bf16_topk_gating__avx512skx_u16_consistent"
);

/// Logit types with gating tables.
pub trait GatingElem: Elem + Sized {
    /// The default (FMA) table.
    const FUSED: &'static KernelTable<GateFn<Self::S>>;
    /// The consistent-arithmetic table.
    const CONSISTENT: &'static KernelTable<GateFn<Self::S>>;
}

impl GatingElem for F32 {
    const FUSED: &'static KernelTable<GateFn<f32>> = &F32_GATING;
    const CONSISTENT: &'static KernelTable<GateFn<f32>> = &F32_GATING_CONSISTENT;
}
impl GatingElem for F16 {
    const FUSED: &'static KernelTable<GateFn<u16>> = &F16_GATING;
    const CONSISTENT: &'static KernelTable<GateFn<u16>> = &F16_GATING_CONSISTENT;
}
impl GatingElem for Bf16 {
    const FUSED: &'static KernelTable<GateFn<u16>> = &BF16_GATING;
    const CONSISTENT: &'static KernelTable<GateFn<u16>> = &BF16_GATING_CONSISTENT;
}
