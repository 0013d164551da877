//! Conversion kernel tables: regular stores, and non-temporal (`_NT`) for data beyond the cache
//! (see `operators::convert::use_streaming_stores`).

use super::{Kernel, KernelTable, x86_kernel};
use crate::isa::IsaLevel;
use crate::ukernels::vcvt::{self, VcvtFn};

/// One table: the registry name and function of each level's kernel.
macro_rules! vcvt_table {
    ($(#[$doc:meta])* $table:ident: $in:ty => $out:ty,
     $scalar:literal $scalar_fn:path, $avx2:literal $avx2_fn:path, $avx512:literal $avx512_fn:path) => {
        $(#[$doc])*
        pub static $table: KernelTable<VcvtFn<$in, $out>> = KernelTable {
            scalar: Kernel { name: $scalar, isa: IsaLevel::Scalar, func: $scalar_fn },
            avx2: x86_kernel!($avx2, Avx2, $avx2_fn as VcvtFn<$in, $out>),
            avx512: x86_kernel!($avx512, Avx512, $avx512_fn as VcvtFn<$in, $out>),
        };
    };
}

vcvt_table!(
    /// f32 → f16.
    F32_F16: f32 => u16,
    c"f32_f16_vcvt__scalar_u1" vcvt::scalar::f32_f16,
    c"f32_f16_vcvt__f16c_u32" vcvt::avx2::f32_f16,
    c"f32_f16_vcvt__avx512skx_u64" vcvt::avx512::f32_f16
);
vcvt_table!(
    /// f16 → f32.
    F16_F32: u16 => f32,
    c"f16_f32_vcvt__scalar_u1" vcvt::scalar::f16_f32,
    c"f16_f32_vcvt__f16c_u32" vcvt::avx2::f16_f32,
    c"f16_f32_vcvt__avx512skx_u64" vcvt::avx512::f16_f32
);
vcvt_table!(
    /// f32 → bf16.
    F32_BF16: f32 => u16,
    c"f32_bf16_vcvt__scalar_u1" vcvt::scalar::f32_bf16,
    c"f32_bf16_vcvt__avx2_u32" vcvt::avx2::f32_bf16,
    c"f32_bf16_vcvt__avx512skx_u64" vcvt::avx512::f32_bf16
);
vcvt_table!(
    /// bf16 → f32.
    BF16_F32: u16 => f32,
    c"bf16_f32_vcvt__scalar_u1" vcvt::scalar::bf16_f32,
    c"bf16_f32_vcvt__avx2_u32" vcvt::avx2::bf16_f32,
    c"bf16_f32_vcvt__avx512skx_u64" vcvt::avx512::bf16_f32
);
vcvt_table!(
    /// f32 → f16, non-temporal stores.
    F32_F16_NT: f32 => u16,
    c"f32_f16_vcvt__scalar_u1" vcvt::scalar::f32_f16,
    c"f32_f16_vcvt__f16c_u16_nt" vcvt::avx2::f32_f16_nt,
    c"f32_f16_vcvt__avx512skx_u64_nt" vcvt::avx512::f32_f16_nt
);
vcvt_table!(
    /// f16 → f32, non-temporal stores.
    F16_F32_NT: u16 => f32,
    c"f16_f32_vcvt__scalar_u1" vcvt::scalar::f16_f32,
    c"f16_f32_vcvt__f16c_u16_nt" vcvt::avx2::f16_f32_nt,
    c"f16_f32_vcvt__avx512skx_u64_nt" vcvt::avx512::f16_f32_nt
);
vcvt_table!(
    /// f32 → bf16, non-temporal stores.
    F32_BF16_NT: f32 => u16,
    c"f32_bf16_vcvt__scalar_u1" vcvt::scalar::f32_bf16,
    c"f32_bf16_vcvt__avx2_u16_nt" vcvt::avx2::f32_bf16_nt,
    c"f32_bf16_vcvt__avx512skx_u64_nt" vcvt::avx512::f32_bf16_nt
);
vcvt_table!(
    /// bf16 → f32, non-temporal stores.
    BF16_F32_NT: u16 => f32,
    c"bf16_f32_vcvt__scalar_u1" vcvt::scalar::bf16_f32,
    c"bf16_f32_vcvt__avx2_u16_nt" vcvt::avx2::bf16_f32_nt,
    c"bf16_f32_vcvt__avx512skx_u64_nt" vcvt::avx512::bf16_f32_nt
);
vcvt_table!(
    /// f32 → bf16 where the CPU also has AVX512_BF16 (`isa::extras().avx512bf16`); the
    /// avx512 entry must not be used otherwise.
    F32_BF16_AVX512BF16: f32 => u16,
    c"f32_bf16_vcvt__scalar_u1" vcvt::scalar::f32_bf16,
    c"f32_bf16_vcvt__avx2_u32" vcvt::avx2::f32_bf16,
    c"f32_bf16_vcvt__avx512bf16_u64" vcvt::avx512::f32_bf16_hw
);
vcvt_table!(
    /// f32 → bf16, non-temporal stores, where the CPU also has AVX512_BF16.
    F32_BF16_NT_AVX512BF16: f32 => u16,
    c"f32_bf16_vcvt__scalar_u1" vcvt::scalar::f32_bf16,
    c"f32_bf16_vcvt__avx2_u16_nt" vcvt::avx2::f32_bf16_nt,
    c"f32_bf16_vcvt__avx512bf16_u64_nt" vcvt::avx512::f32_bf16_hw_nt
);
