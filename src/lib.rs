//! nnkern: memory-bound neural-network operators with a C ABI.
//!
//! The C API lives in [`capi`] (the only module with `extern "C"`), operator objects in
//! [`operators`], per-family kernel tables in [`config`], and the microkernels in [`ukernels`].
//! Internal entry points take an [`isa::IsaLevel`] so tests and benches can run every kernel
//! variant the machine supports.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod capi;
pub mod config;
pub mod isa;
pub mod operators;
pub mod status;
pub mod threadpool;
pub mod ukernels;

pub use isa::IsaLevel;
pub use status::{Result, Status};
