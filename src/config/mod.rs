//! Kernel tables: for each family, the kernel of every ISA level that has one. A level without a
//! kernel uses the next lower one (the waterfall rule); the scalar kernel always exists.

use std::ffi::CStr;

use crate::isa::IsaLevel;

pub mod blocks;
pub mod blockwise;
pub mod gating;
pub mod softmax;
pub mod vcvt;

/// One microkernel: its registry name (XNNPACK's readable form, returned by
/// `nnk_operator_kernel_name`), the level it needs, and the function.
#[derive(Debug)]
pub struct Kernel<F: 'static> {
    /// Registry name, e.g. `f32_f16_vcvt__avx512skx_u64`.
    pub name: &'static CStr,
    /// The level whose features the kernel uses.
    pub isa: IsaLevel,
    /// The kernel.
    pub func: F,
}

/// The kernels of one family by level.
#[derive(Debug)]
pub struct KernelTable<F: 'static> {
    /// Portable kernel, always present.
    pub scalar: Kernel<F>,
    /// AVX2 + FMA + F16C kernel, if the family has one.
    pub avx2: Option<Kernel<F>>,
    /// AVX-512 kernel, if the family has one.
    pub avx512: Option<Kernel<F>>,
}

impl<F> KernelTable<F> {
    /// The best kernel at or below `level`.
    pub fn get(&'static self, level: IsaLevel) -> &'static Kernel<F> {
        let avx512 = if level >= IsaLevel::Avx512 {
            self.avx512.as_ref()
        } else {
            None
        };
        let avx2 = if level >= IsaLevel::Avx2 {
            self.avx2.as_ref()
        } else {
            None
        };
        avx512.or(avx2).unwrap_or(&self.scalar)
    }
}

/// `Some(kernel)` on x86-64, `None` elsewhere: SIMD table entries.
macro_rules! x86_kernel {
    ($name:literal, $isa:ident, $func:expr) => {{
        #[cfg(target_arch = "x86_64")]
        let k = Some($crate::config::Kernel {
            name: $name,
            isa: $crate::isa::IsaLevel::$isa,
            func: $func,
        });
        #[cfg(not(target_arch = "x86_64"))]
        let k = None;
        k
    }};
}
pub(crate) use x86_kernel;
