//! Split-scale blockwise quantize / dequantize: parameter and buffer validation, and the split
//! of whole blocks across the threadpool.

use std::ops::Range;

use super::blocks::Direction;
use super::{SharedPtr, buffer};
use crate::config::Kernel;
use crate::config::blockwise::{BlockwiseElem, BlockwiseKernels};
use crate::isa::IsaLevel;
use crate::status::{Result, Status};
use crate::threadpool::{self, MIN_ELEMENTS_PER_TASK, Threadpool};
use crate::ukernels::blockwise::{Kind, Params, Scheme};

/// Quantize with the caller's scales (and zero points).
pub const SCALES_GIVEN: u32 = 0x1;

/// Validates the C parameters.
pub fn params(scheme: u32, block_size: u32, flags: u32, tensor_scale: f32) -> Result<Params> {
    let scheme = Scheme::from_id(scheme).ok_or(Status::InvalidParameter)?;
    let block_size = block_size as usize;
    if !scheme.block_size_ok(block_size) || flags & !SCALES_GIVEN != 0 {
        return Err(Status::InvalidParameter);
    }
    let tensor_scale = if scheme == Scheme::Nvfp4 {
        if !(tensor_scale.is_finite() && tensor_scale > 0.0) {
            return Err(Status::InvalidParameter);
        }
        tensor_scale
    } else {
        1.0
    };
    Ok(Params {
        scheme,
        block_size,
        scales_given: flags & SCALES_GIVEN != 0,
        tensor_scale,
    })
}

/// The four buffers of a call.
#[derive(Clone, Copy, Debug)]
pub struct Buffers<S> {
    /// Elements (read by quantize, written by dequantize).
    pub elems: *mut S,
    /// Element codes.
    pub q: *mut u8,
    /// Scales.
    pub s: *mut u8,
    /// Zero points, or NULL.
    pub z: *mut u8,
}

/// Checks `n` and the buffers: non-NULL (the zero points may be NULL unless quantize computes
/// an unsigned scheme's zero points; they must be NULL for schemes without them), elements
/// aligned, extents that fit, no two buffers sharing a byte.
pub fn check<S>(p: &Params, dir: Direction, n: usize, b: &Buffers<S>) -> Result<()> {
    buffer::extent_bytes::<S>(1, n, n)?;
    let has_zp = p.scheme.has_zero_points();
    let needs_zp = dir == Direction::Quantize
        && !p.scales_given
        && matches!(p.scheme.kind(), Kind::Int { qmin: 0, .. });
    if (!b.z.is_null() && !has_zp) || (b.z.is_null() && needs_zp && n > 0) {
        return Err(Status::InvalidParameter);
    }
    let e = buffer::region(b.elems.cast_const(), 1, n, n)?;
    let bytes = |ptr: *mut u8, len: usize| buffer::region(ptr.cast_const(), 1, len, len);
    let q = bytes(b.q, p.q_bytes(n))?;
    let s = bytes(b.s, p.scale_bytes(n))?;
    let z = if b.z.is_null() {
        None
    } else {
        bytes(b.z, p.zero_point_bytes(n))?
    };
    buffer::pairwise_disjoint(&[&e, &q, &s, &z])
}

/// Blocks per task (a multiple of 4, so every task starts on a byte of every packing) and the
/// task count.
fn split(p: &Params, n: usize, threads: usize) -> (usize, usize) {
    let blocks = p.blocks(n);
    let tasks = if threads > 1 {
        (n / MIN_ELEMENTS_PER_TASK).clamp(1, threads * 4)
    } else {
        1
    };
    let per = blocks.div_ceil(tasks).next_multiple_of(4).max(4);
    (per, blocks.div_ceil(per))
}

/// Element range and block range of task `t`.
fn task(p: &Params, n: usize, per: usize, t: usize) -> (Range<usize>, usize) {
    let b0 = t * per;
    let e0 = b0 * p.block_size;
    (e0..(e0 + per * p.block_size).min(n), b0)
}

/// Runs the kernel of `dir` on checked buffers.
///
/// # Safety
/// The buffers valid for what [`check`] checked (read or written by direction).
pub unsafe fn execute<E: BlockwiseElem>(
    kernels: &BlockwiseKernels<E>,
    dir: Direction,
    p: &Params,
    n: usize,
    b: &Buffers<E::S>,
    tp: Option<&Threadpool>,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let (per, tasks) = split(p, n, threadpool::threads(tp));
    let (x, q, s, z) = (
        SharedPtr(b.elems),
        SharedPtr(b.q),
        SharedPtr(b.s),
        SharedPtr(b.z),
    );
    let (quantize, dequantize) = (kernels.quantize, kernels.dequantize);
    let bits = p.scheme.element_bits();
    threadpool::parallel_for(tp, tasks, &|t| {
        let (r, b0) = task(p, n, per, t);
        // SAFETY: task t covers blocks b0.. and elements r, inside the checked buffers; tasks
        // are disjoint and start on whole bytes (b0 and r.start are multiples of 4 blocks).
        unsafe {
            let e = x.get().add(r.start);
            let qq = q.get().add(p.q_bytes(r.start));
            let ss = s.get().add(b0 * p.scheme.scale_bytes());
            let zz = if z.get().is_null() {
                z.get()
            } else {
                z.get().add(if bits == 4 { b0 / 2 } else { b0 })
            };
            match dir {
                Direction::Quantize => quantize(p, r.len(), e.cast_const(), qq, ss, zz),
                Direction::Dequantize => dequantize(p, r.len(), qq, ss, zz, e),
            }
        }
    })
}

/// One-shot quantize or dequantize: validates everything before touching memory.
///
/// # Safety
/// If the checks pass, the buffers must be valid as [`check`] describes.
pub unsafe fn one_shot<E: BlockwiseElem>(
    isa: IsaLevel,
    dir: Direction,
    p: &Params,
    n: usize,
    b: &Buffers<E::S>,
    tp: Option<&Threadpool>,
) -> Result<()> {
    check(p, dir, n, b)?;
    // SAFETY: just checked; forwarded contract.
    unsafe { execute(&E::table().get(isa).func, dir, p, n, b, tp) }
}

/// The operator form: parameters at create, `n` at reshape, buffers at setup.
pub struct BlockwiseOp<E: BlockwiseElem> {
    dir: Direction,
    params: Params,
    kernel: &'static Kernel<BlockwiseKernels<E>>,
    n: Option<usize>,
    buffers: Option<Buffers<E::S>>,
}

impl<E: BlockwiseElem> BlockwiseOp<E> {
    /// A new operator for validated `params`.
    pub fn new(isa: IsaLevel, dir: Direction, params: Params) -> Self {
        BlockwiseOp {
            dir,
            params,
            kernel: E::table().get(isa),
            n: None,
            buffers: None,
        }
    }

    /// Direction of this operator.
    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// Registry name of the kernel bundle.
    pub fn kernel_name(&self) -> &'static std::ffi::CStr {
        self.kernel.name
    }

    /// Sets `n`.
    pub fn reshape(&mut self, n: usize) -> Result<()> {
        buffer::extent_bytes::<E::S>(1, n, n)?;
        self.n = Some(n);
        self.buffers = None;
        Ok(())
    }

    /// Sets the buffers, checked against `n`.
    pub fn setup(&mut self, b: Buffers<E::S>) -> Result<()> {
        let n = self.n.ok_or(Status::InvalidState)?;
        check(&self.params, self.dir, n, &b)?;
        self.buffers = Some(b);
        Ok(())
    }

    /// Runs on the buffers given at setup.
    pub fn run(&self, tp: Option<&Threadpool>) -> Result<()> {
        let (Some(n), Some(b)) = (self.n, self.buffers) else {
            return Err(Status::InvalidState);
        };
        // SAFETY: setup checked the buffers for this n; the caller keeps them valid.
        unsafe { execute(&self.kernel.func, self.dir, &self.params, n, &b, tp) }
    }
}
