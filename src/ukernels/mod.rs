//! Microkernels. Each family is a module named for what it computes, with one submodule per ISA
//! level (`scalar`, `avx2`, `avx512`). Kernels take raw pointers and an element count; they read
//! exactly `n` input elements and write exactly `n` output elements (tails use masked loads and
//! stores or a stack copy, never an over-read).

pub mod blocks;
pub mod blockwise;
pub mod cvt;
pub mod gating;
pub mod simd;
pub mod softmax;
pub mod vcvt;
