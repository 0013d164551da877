//! Microkernels. Each family is a module named for what it computes, with one submodule per ISA
//! level (`scalar`, `avx2`, `avx512`). Kernels take raw pointers and an element count; they read
//! exactly `n` input elements and write exactly `n` output elements (tails use masked loads and
//! stores or a stack copy, never an over-read).

/// `$body` as it is (optimized builds, where the locals of a function's inlined helpers share
/// stack slots and a `#[target_feature]` kernel's features reach every helper inlined into it).
/// Used for the arms of a kernel's dispatch on its variants (exp mode, scheme, score function).
#[cfg(not(debug_assertions))]
macro_rules! own_frame {
    ($body:expr) => {
        $body
    };
}
/// `$body` in a closure called at once, in builds with debug assertions (usually unoptimized).
/// Unoptimized code honours `#[inline(always)]` but gives every inlined helper's locals their
/// own stack slots, so a kernel that inlines all its variants into one function had frames of
/// 0.6-2.7 MB (softmax's scalar `vscaleexp` 2.7 MB, blockwise AVX2 `quantize` 1.2 MB, gating's
/// scalar row kernel 0.9 MB): past the 2 MiB stack of a pool worker or of any thread std
/// spawns, a Rust program built in the dev profile overflowed its stack. In a closure each
/// variant's frame is only its own. The closure's parent is a generic function, not the
/// `#[target_feature]` kernel, so it does not inherit the kernel's features: in an optimized
/// build that turns debug assertions on, the variants call their intrinsics out of line (same
/// results, several times slower).
#[cfg(debug_assertions)]
macro_rules! own_frame {
    ($body:expr) => {{
        #[allow(clippy::redundant_closure_call)]
        let r = (|| $body)();
        r
    }};
}
pub(crate) use own_frame;

pub mod blocks;
pub mod blockwise;
pub mod cvt;
pub mod gating;
pub mod simd;
pub mod softmax;
pub mod vcvt;
