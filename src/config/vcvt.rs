//! Conversion kernel tables.

use super::{Kernel, KernelTable, x86_kernel};
use crate::isa::IsaLevel;
use crate::ukernels::vcvt::{self, VcvtFn};

/// f32 → f16.
pub static F32_F16: KernelTable<VcvtFn<f32, u16>> = KernelTable {
    scalar: Kernel {
        name: c"f32_f16_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::f32_f16,
    },
    avx2: x86_kernel!(
        c"f32_f16_vcvt__f16c_u32",
        Avx2,
        vcvt::avx2::f32_f16 as VcvtFn<f32, u16>
    ),
    avx512: x86_kernel!(
        c"f32_f16_vcvt__avx512skx_u64",
        Avx512,
        vcvt::avx512::f32_f16 as VcvtFn<f32, u16>
    ),
};

/// f16 → f32.
pub static F16_F32: KernelTable<VcvtFn<u16, f32>> = KernelTable {
    scalar: Kernel {
        name: c"f16_f32_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::f16_f32,
    },
    avx2: x86_kernel!(
        c"f16_f32_vcvt__f16c_u32",
        Avx2,
        vcvt::avx2::f16_f32 as VcvtFn<u16, f32>
    ),
    avx512: x86_kernel!(
        c"f16_f32_vcvt__avx512skx_u64",
        Avx512,
        vcvt::avx512::f16_f32 as VcvtFn<u16, f32>
    ),
};

/// f32 → bf16.
pub static F32_BF16: KernelTable<VcvtFn<f32, u16>> = KernelTable {
    scalar: Kernel {
        name: c"f32_bf16_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::f32_bf16,
    },
    avx2: x86_kernel!(
        c"f32_bf16_vcvt__avx2_u32",
        Avx2,
        vcvt::avx2::f32_bf16 as VcvtFn<f32, u16>
    ),
    avx512: x86_kernel!(
        c"f32_bf16_vcvt__avx512skx_u64",
        Avx512,
        vcvt::avx512::f32_bf16 as VcvtFn<f32, u16>
    ),
};

/// bf16 → f32.
pub static BF16_F32: KernelTable<VcvtFn<u16, f32>> = KernelTable {
    scalar: Kernel {
        name: c"bf16_f32_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::bf16_f32,
    },
    avx2: x86_kernel!(
        c"bf16_f32_vcvt__avx2_u32",
        Avx2,
        vcvt::avx2::bf16_f32 as VcvtFn<u16, f32>
    ),
    avx512: x86_kernel!(
        c"bf16_f32_vcvt__avx512skx_u64",
        Avx512,
        vcvt::avx512::bf16_f32 as VcvtFn<u16, f32>
    ),
};

/// f32 → f16 with non-temporal stores, for outputs far larger than the cache.
pub static F32_F16_NT: KernelTable<VcvtFn<f32, u16>> = KernelTable {
    scalar: Kernel {
        name: c"f32_f16_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::f32_f16,
    },
    avx2: x86_kernel!(
        c"f32_f16_vcvt__f16c_u32",
        Avx2,
        vcvt::avx2::f32_f16 as VcvtFn<f32, u16>
    ),
    avx512: x86_kernel!(
        c"f32_f16_vcvt__avx512skx_u64_nt",
        Avx512,
        vcvt::avx512::f32_f16_nt as VcvtFn<f32, u16>
    ),
};

/// f16 → f32 with non-temporal stores, for outputs far larger than the cache.
pub static F16_F32_NT: KernelTable<VcvtFn<u16, f32>> = KernelTable {
    scalar: Kernel {
        name: c"f16_f32_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::f16_f32,
    },
    avx2: x86_kernel!(
        c"f16_f32_vcvt__f16c_u32",
        Avx2,
        vcvt::avx2::f16_f32 as VcvtFn<u16, f32>
    ),
    avx512: x86_kernel!(
        c"f16_f32_vcvt__avx512skx_u64_nt",
        Avx512,
        vcvt::avx512::f16_f32_nt as VcvtFn<u16, f32>
    ),
};

/// f32 → bf16 with non-temporal stores, for outputs far larger than the cache.
pub static F32_BF16_NT: KernelTable<VcvtFn<f32, u16>> = KernelTable {
    scalar: Kernel {
        name: c"f32_bf16_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::f32_bf16,
    },
    avx2: x86_kernel!(
        c"f32_bf16_vcvt__avx2_u32",
        Avx2,
        vcvt::avx2::f32_bf16 as VcvtFn<f32, u16>
    ),
    avx512: x86_kernel!(
        c"f32_bf16_vcvt__avx512skx_u64_nt",
        Avx512,
        vcvt::avx512::f32_bf16_nt as VcvtFn<f32, u16>
    ),
};

/// bf16 → f32 with non-temporal stores, for outputs far larger than the cache.
pub static BF16_F32_NT: KernelTable<VcvtFn<u16, f32>> = KernelTable {
    scalar: Kernel {
        name: c"bf16_f32_vcvt__scalar_u1",
        isa: IsaLevel::Scalar,
        func: vcvt::scalar::bf16_f32,
    },
    avx2: x86_kernel!(
        c"bf16_f32_vcvt__avx2_u32",
        Avx2,
        vcvt::avx2::bf16_f32 as VcvtFn<u16, f32>
    ),
    avx512: x86_kernel!(
        c"bf16_f32_vcvt__avx512skx_u64_nt",
        Avx512,
        vcvt::avx512::bf16_f32_nt as VcvtFn<u16, f32>
    ),
};
