//! GGUF block quantize / dequantize: validation, the optional finiteness check, and the split
//! of whole blocks across the threadpool.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{SharedPtr, buffer};
use crate::config::Kernel;
use crate::config::blocks::{BlockElem, BlockKernels};
use crate::isa::IsaLevel;
use crate::status::{Result, Status};
use crate::threadpool::{self, MIN_ELEMENTS_PER_TASK, Threadpool};
use crate::ukernels::blocks::{self as bk, Format};
use crate::ukernels::cvt::f16_to_f32;

/// Also accepted (results never depend on the ISA or thread count).
pub const FLAG_CONSISTENT: u32 = 0x1;
/// Fail with [`Status::InvalidParameter`], writing nothing, if an input element (quantize) or a
/// block scale (dequantize) is NaN or infinite.
pub const FLAG_CHECK_FINITE: u32 = 0x10;

/// Which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Elements → blocks.
    Quantize,
    /// Blocks → elements.
    Dequantize,
}

/// The format of a ggml type id, or [`Status::InvalidParameter`].
pub fn format(id: u32) -> Result<Format> {
    Format::from_ggml(id).ok_or(Status::InvalidParameter)
}

fn check_flags(flags: u32) -> Result<()> {
    if flags & !(FLAG_CONSISTENT | FLAG_CHECK_FINITE) != 0 {
        return Err(Status::InvalidParameter);
    }
    Ok(())
}

/// A validated problem: format, element count (a multiple of the block size), flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The format.
    pub format: Format,
    /// Elements (a multiple of the block size).
    pub n: usize,
}

impl Shape {
    /// Validates `n` for `format`, with extents that fit the address space for elements of
    /// `S`.
    pub fn new<S>(format: Format, n: usize) -> Result<Shape> {
        if !n.is_multiple_of(format.block_size()) {
            return Err(Status::InvalidParameter);
        }
        buffer::extent_bytes::<S>(1, n, n)?;
        Ok(Shape { format, n })
    }

    /// Whole blocks.
    pub fn blocks(&self) -> usize {
        self.n / self.format.block_size()
    }

    /// Bytes of the block side.
    pub fn bytes(&self) -> usize {
        self.blocks() * self.format.block_bytes()
    }
}

/// Checks the element and block buffers of `shape`: non-NULL unless empty, elements aligned,
/// no shared byte.
pub fn check_buffers<S>(shape: &Shape, elems: *const S, blocks: *const u8) -> Result<()> {
    let e = buffer::region(elems, 1, shape.n, shape.n)?;
    let b = buffer::region(blocks, 1, shape.bytes(), shape.bytes())?;
    buffer::disjoint(&e, &b)
}

/// Whether every element of `x[..n]` is finite, checked in parallel.
///
/// # Safety
/// `n` readable elements at `x`.
unsafe fn elements_finite<E: BlockElem>(
    n: usize,
    x: *const E::S,
    tp: Option<&Threadpool>,
) -> Result<bool> {
    let ok = AtomicBool::new(true);
    let x = SharedPtr(x.cast_mut());
    let tasks = split(n, 1, threadpool::threads(tp));
    threadpool::parallel_for(tp, tasks.1, &|t| {
        let r = tasks.range(t);
        // SAFETY: r lies inside 0..n (caller).
        if !unsafe { bk::all_finite::<E>(r.len(), x.get().add(r.start).cast_const()) } {
            ok.store(false, Ordering::Relaxed);
        }
    })?;
    Ok(ok.load(Ordering::Relaxed))
}

/// Whether every scale stored in the `blocks` blocks at `q` is finite.
///
/// # Safety
/// `blocks` whole blocks of `format` readable at `q`.
unsafe fn scales_finite(format: Format, blocks: usize, q: *const u8) -> bool {
    let f16_at: &[usize] = match format {
        Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => &[0],
        Format::Q4_1 | Format::Q5_1 | Format::Q8_1 | Format::Q4K | Format::Q5K => &[0, 2],
        Format::Q6K => &[208],
        // E8M0 bytes are all finite powers of two in ggml's MXFP4; Q8_K's scale is an f32.
        Format::Mxfp4 | Format::Q8K => &[],
    };
    let bb = format.block_bytes();
    // SAFETY: `blocks` whole blocks readable (caller).
    let bytes = unsafe { std::slice::from_raw_parts(q, blocks * bb) };
    bytes.chunks_exact(bb).all(|b| {
        f16_at
            .iter()
            .all(|&at| f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]])).is_finite())
            && (format != Format::Q8K || f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
    })
}

/// (blocks per task, tasks) for `blocks` blocks of `block_size` elements on `threads` threads.
#[derive(Clone, Copy)]
struct Split(usize, usize, usize);

impl Split {
    fn range(&self, t: usize) -> std::ops::Range<usize> {
        let start = t * self.0;
        start..(start + self.0).min(self.2)
    }
}

fn split(blocks: usize, block_size: usize, threads: usize) -> Split {
    let tasks = if threads > 1 {
        (blocks * block_size / MIN_ELEMENTS_PER_TASK).clamp(1, threads * 4)
    } else {
        1
    };
    let per = blocks.div_ceil(tasks).max(1);
    Split(per, blocks.div_ceil(per), blocks)
}

/// Runs the kernel of `dir` on checked buffers.
///
/// # Safety
/// `elems` valid for `shape.n` elements and `blocks` for `shape.bytes()` bytes (read or written
/// by direction), not overlapping.
pub unsafe fn execute<E: BlockElem>(
    kernels: &BlockKernels<E>,
    dir: Direction,
    shape: &Shape,
    flags: u32,
    elems: *mut E::S,
    blocks: *mut u8,
    tp: Option<&Threadpool>,
) -> Result<()> {
    if shape.n == 0 {
        return Ok(());
    }
    let f = shape.format;
    let nb = shape.blocks();
    if flags & FLAG_CHECK_FINITE != 0 {
        // SAFETY: forwarded contract.
        let finite = unsafe {
            match dir {
                Direction::Quantize => elements_finite::<E>(shape.n, elems, tp)?,
                Direction::Dequantize => scales_finite(f, nb, blocks),
            }
        };
        if !finite {
            return Err(Status::InvalidParameter);
        }
    }
    let (bs, bb) = (f.block_size(), f.block_bytes());
    let s = split(nb, bs, threadpool::threads(tp));
    let (x, q) = (SharedPtr(elems), SharedPtr(blocks));
    let quantize = kernels.quantize[f.index()];
    let dequantize = kernels.dequantize[f.index()];
    threadpool::parallel_for(tp, s.1, &|t| {
        let r = s.range(t);
        // SAFETY: blocks r lie inside the caller's buffers; tasks get disjoint blocks.
        unsafe {
            let (e, b) = (x.get().add(r.start * bs), q.get().add(r.start * bb));
            match dir {
                Direction::Quantize => quantize(r.len(), e.cast_const(), b),
                Direction::Dequantize => dequantize(r.len(), b.cast_const(), e),
            }
        }
    })
}

/// One-shot quantize or dequantize: validates everything before touching memory.
///
/// # Safety
/// If the checks pass, `elems` must be valid for `n` elements and `blocks` for the blocks'
/// bytes (readable or writable by direction).
#[allow(clippy::too_many_arguments)]
pub unsafe fn one_shot<E: BlockElem>(
    isa: IsaLevel,
    dir: Direction,
    format_id: u32,
    n: usize,
    elems: *mut E::S,
    blocks: *mut u8,
    flags: u32,
    tp: Option<&Threadpool>,
) -> Result<()> {
    let f = format(format_id)?;
    check_flags(flags)?;
    let shape = Shape::new::<E::S>(f, n)?;
    check_buffers(&shape, elems.cast_const(), blocks.cast_const())?;
    // SAFETY: just checked; forwarded contract.
    unsafe {
        execute(
            &E::table().get(isa).func,
            dir,
            &shape,
            flags,
            elems,
            blocks,
            tp,
        )
    }
}

/// The operator form: format and flags at create, `n` at reshape, pointers at setup.
pub struct BlocksOp<E: BlockElem> {
    dir: Direction,
    format: Format,
    flags: u32,
    kernel: &'static Kernel<BlockKernels<E>>,
    shape: Option<Shape>,
    elems: *mut E::S,
    blocks: *mut u8,
}

impl<E: BlockElem> BlocksOp<E> {
    /// A new operator; `format_id` and `flags` validated.
    pub fn new(isa: IsaLevel, dir: Direction, format_id: u32, flags: u32) -> Result<Self> {
        check_flags(flags)?;
        Ok(BlocksOp {
            dir,
            format: format(format_id)?,
            flags,
            kernel: E::table().get(isa),
            shape: None,
            elems: std::ptr::null_mut(),
            blocks: std::ptr::null_mut(),
        })
    }

    /// Direction of this operator.
    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// Registry name of the kernel bundle.
    pub fn kernel_name(&self) -> &'static std::ffi::CStr {
        self.kernel.name
    }

    /// Sets `n` (a multiple of the block size).
    pub fn reshape(&mut self, n: usize) -> Result<()> {
        self.shape = Some(Shape::new::<E::S>(self.format, n)?);
        Ok(())
    }

    /// Sets the buffers, checked against the shape.
    pub fn setup(&mut self, elems: *mut E::S, blocks: *mut u8) -> Result<()> {
        let shape = self.shape.ok_or(Status::InvalidState)?;
        check_buffers(&shape, elems.cast_const(), blocks.cast_const())?;
        self.elems = elems;
        self.blocks = blocks;
        Ok(())
    }

    /// Runs on the buffers given at setup.
    pub fn run(&self, tp: Option<&Threadpool>) -> Result<()> {
        let shape = self.shape.ok_or(Status::InvalidState)?;
        // SAFETY: setup checked the buffers against this shape; the caller keeps them valid.
        unsafe {
            execute(
                &self.kernel.func,
                self.dir,
                &shape,
                self.flags,
                self.elems,
                self.blocks,
                tp,
            )
        }
    }
}
