//! Softmax / log-softmax kernel tables: for each element type, the bundle of per-pass kernels at
//! each ISA level, with FMA (`FUSED`, the default) or without (`CONSISTENT`: bit-identical on
//! every level, `NNK_FLAG_CONSISTENT_ARITHMETIC`).

use super::{Kernel, KernelTable, x86_kernel};
use crate::isa::IsaLevel;
use crate::ukernels::simd::{Bf16, Elem, F16, F32};
use crate::ukernels::softmax::{self as sm, Ahead, BlockRefs, ExpParams, ExtSum};

/// The passes a softmax or log-softmax row is built from (see `operators::softmax`).
pub struct SoftmaxKernels<T: Elem> {
    /// Row max and min.
    pub rminmax: unsafe fn(usize, *const T::S) -> (f32, f32),
    /// Sum of exp (three-pass pass 2 when the exp is not stored).
    pub raddexp: unsafe fn(usize, *const T::S, &ExpParams) -> f64,
    /// f32 three-pass pass 2: store exp and sum it.
    pub raddstoreexp: unsafe fn(usize, *const f32, *mut f32, &ExpParams) -> f64,
    /// f32 three-pass pass 3: scale in place.
    pub vscale: unsafe fn(usize, *mut f32, f32),
    /// Recompute exp, scale, store as `T` (with the flag: stream the stores past the caches).
    pub vscaleexp: unsafe fn(usize, *const T::S, *mut T::S, &ExpParams, f32, bool),
    /// Log-softmax output pass.
    pub vlogsub: unsafe fn(usize, *const T::S, *mut T::S, f32, f32, bool),
    /// Two-pass pass 1: extended-exponent sum and max (prefetching the given next region).
    pub rblockexp: unsafe fn(usize, *const T::S, Ahead) -> ExtSum,
    /// f32 blocked three-pass passes 1 and 2: per-block max, exp stored and summed.
    pub rblockstoreexp: unsafe fn(usize, *const f32, *mut f32, &mut BlockRefs, Ahead) -> ExtSum,
    /// f32 blocked three-pass pass 3: scale each block in place.
    pub vscaleblocks: unsafe fn(usize, *mut f32, &BlockRefs, f64, f32),
}

macro_rules! bundle {
    ($isa:ident, $T:ty, $fused:literal) => {
        SoftmaxKernels::<$T> {
            rminmax: sm::$isa::rminmax::<$T>,
            raddexp: sm::$isa::raddexp::<$T, $fused>,
            raddstoreexp: sm::$isa::raddstoreexp::<$fused>,
            vscale: sm::$isa::vscale,
            vscaleexp: sm::$isa::vscaleexp::<$T, $fused>,
            vlogsub: sm::$isa::vlogsub::<$T>,
            rblockexp: sm::$isa::rblockexp::<$T, $fused>,
            rblockstoreexp: sm::$isa::rblockstoreexp::<$fused>,
            vscaleblocks: sm::$isa::vscaleblocks,
        }
    };
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $T:ty, $fused:literal, $scalar:literal, $avx2:literal, $avx512:literal) => {
        $(#[$doc])*
        pub static $name: KernelTable<SoftmaxKernels<$T>> = KernelTable {
            scalar: Kernel { name: $scalar, isa: IsaLevel::Scalar, func: bundle!(scalar, $T, false) },
            avx2: x86_kernel!($avx2, Avx2, bundle!(avx2, $T, $fused)),
            avx512: x86_kernel!($avx512, Avx512, bundle!(avx512, $T, $fused)),
        };
    };
}

table!(
    /// f32 rows.
    F32_SOFTMAX, F32, true,
    c"f32_softmax__scalar_rr2_p6_u16", c"f32_softmax__avx2_rr2_p6_u64", c"f32_softmax__avx512skx_rr2_p6_u64"
);
table!(
    /// f32 rows, consistent arithmetic.
    F32_SOFTMAX_CONSISTENT, F32, false,
    c"f32_softmax__scalar_rr2_p6_u16", c"f32_softmax__avx2_rr2_p6_u64_consistent", c"f32_softmax__avx512skx_rr2_p6_u64_consistent"
);
table!(
    /// f16 rows.
    F16_SOFTMAX, F16, true,
    c"f16_softmax__scalar_rr2_p6_u16", c"f16_softmax__f16c_rr2_p6_u64", c"f16_softmax__avx512skx_rr2_p6_u64"
);
table!(
    /// f16 rows, consistent arithmetic.
    F16_SOFTMAX_CONSISTENT, F16, false,
    c"f16_softmax__scalar_rr2_p6_u16", c"f16_softmax__f16c_rr2_p6_u64_consistent", c"f16_softmax__avx512skx_rr2_p6_u64_consistent"
);
table!(
    /// bf16 rows.
    BF16_SOFTMAX, Bf16, true,
    c"bf16_softmax__scalar_rr2_p6_u16", c"bf16_softmax__avx2_rr2_p6_u64", c"bf16_softmax__avx512skx_rr2_p6_u64"
);
table!(
    /// bf16 rows, consistent arithmetic.
    BF16_SOFTMAX_CONSISTENT, Bf16, false,
    c"bf16_softmax__scalar_rr2_p6_u16", c"bf16_softmax__avx2_rr2_p6_u64_consistent", c"bf16_softmax__avx512skx_rr2_p6_u64_consistent"
);

/// Element types with softmax tables.
pub trait SoftmaxElem: Elem + Sized {
    /// The default (FMA) table.
    const FUSED: &'static KernelTable<SoftmaxKernels<Self>>;
    /// The consistent-arithmetic table.
    const CONSISTENT: &'static KernelTable<SoftmaxKernels<Self>>;
}

impl SoftmaxElem for F32 {
    const FUSED: &'static KernelTable<SoftmaxKernels<F32>> = &F32_SOFTMAX;
    const CONSISTENT: &'static KernelTable<SoftmaxKernels<F32>> = &F32_SOFTMAX_CONSISTENT;
}
impl SoftmaxElem for F16 {
    const FUSED: &'static KernelTable<SoftmaxKernels<F16>> = &F16_SOFTMAX;
    const CONSISTENT: &'static KernelTable<SoftmaxKernels<F16>> = &F16_SOFTMAX_CONSISTENT;
}
impl SoftmaxElem for Bf16 {
    const FUSED: &'static KernelTable<SoftmaxKernels<Bf16>> = &BF16_SOFTMAX;
    const CONSISTENT: &'static KernelTable<SoftmaxKernels<Bf16>> = &BF16_SOFTMAX_CONSISTENT;
}
