//! Operator objects (XNNPACK-style lifecycle): create (flags, kernel choice) → reshape (shape,
//! strides, batch) → setup (pointers) → run, any number of times. Reshape invalidates a previous
//! setup. The kernel is chosen at create from the ISA level in force then.

pub mod blocks;
pub mod blockwise;
pub mod buffer;
pub mod convert;
pub mod gating;
pub mod softmax;

use crate::isa::IsaLevel;
use crate::status::{Result, Status};
use crate::threadpool::Threadpool;

pub use convert::{ConvertKind, ConvertOp};

/// Where an operator is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Created; reshape next.
    NeedsReshape,
    /// Reshaped; setup next.
    NeedsSetup,
    /// Set up; may run.
    Ready,
}

/// A row-major `[batch][channels]` layout with element strides between rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowShape {
    /// Elements per row (>= 1).
    pub channels: usize,
    /// Elements between consecutive input rows (>= channels).
    pub input_stride: usize,
    /// Elements between consecutive output rows (>= channels).
    pub output_stride: usize,
    /// Number of rows (0 is allowed: run does nothing).
    pub batch: usize,
}

impl RowShape {
    /// Validates a shape for input elements of `I` and output elements of `O`: channels >= 1,
    /// strides >= channels, and both buffers' extents representable (no overflow).
    pub fn new<I, O>(
        channels: usize,
        input_stride: usize,
        output_stride: usize,
        batch: usize,
    ) -> Result<RowShape> {
        if channels == 0 || input_stride < channels || output_stride < channels {
            return Err(Status::InvalidParameter);
        }
        buffer::extent_bytes::<I>(batch, channels, input_stride)?;
        buffer::extent_bytes::<O>(batch, channels, output_stride)?;
        Ok(RowShape {
            channels,
            input_stride,
            output_stride,
            batch,
        })
    }
}

/// The shape and buffers of an operator: set by reshape and setup, read by run.
#[derive(Debug)]
pub struct Io<I, O> {
    shape: Option<RowShape>,
    input: *const I,
    output: *mut O,
}

impl<I, O> Io<I, O> {
    /// Nothing set yet.
    pub fn new() -> Self {
        Io {
            shape: None,
            input: std::ptr::null(),
            output: std::ptr::null_mut(),
        }
    }

    /// The shape, if reshaped.
    pub fn shape(&self) -> Option<RowShape> {
        self.shape
    }

    /// Stores a validated shape (buffers must be set up again).
    pub fn reshape(&mut self, shape: RowShape) {
        self.shape = Some(shape);
    }

    /// Checks the buffers against the shape with `check`, then stores them.
    pub fn setup(
        &mut self,
        input: *const I,
        output: *mut O,
        check: impl FnOnce(&RowShape, *const I, *mut O) -> Result<()>,
    ) -> Result<()> {
        let shape = self.shape.ok_or(Status::InvalidState)?;
        check(&shape, input, output)?;
        self.input = input;
        self.output = output;
        Ok(())
    }

    /// The shape and the buffers checked against it, for run.
    pub fn get(&self) -> Result<(RowShape, *const I, *mut O)> {
        Ok((
            self.shape.ok_or(Status::InvalidState)?,
            self.input,
            self.output,
        ))
    }
}

impl<I, O> Default for Io<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

/// Every operator type, with its body.
pub enum Body {
    /// f32 → f16 or bf16.
    ConvertNarrow(ConvertOp<f32, u16>),
    /// f16 or bf16 → f32.
    ConvertWiden(ConvertOp<u16, f32>),
    /// Softmax or log-softmax over f32 rows.
    SoftmaxF32(softmax::SoftmaxOp<crate::ukernels::simd::F32>),
    /// Softmax or log-softmax over f16 rows.
    SoftmaxF16(softmax::SoftmaxOp<crate::ukernels::simd::F16>),
    /// Softmax or log-softmax over bf16 rows.
    SoftmaxBf16(softmax::SoftmaxOp<crate::ukernels::simd::Bf16>),
    /// Top-K gating of f32 logits.
    GatingF32(gating::GatingOp<crate::ukernels::simd::F32>),
    /// Top-K gating of f16 logits.
    GatingF16(gating::GatingOp<crate::ukernels::simd::F16>),
    /// Top-K gating of bf16 logits.
    GatingBf16(gating::GatingOp<crate::ukernels::simd::Bf16>),
    /// GGUF block quantize / dequantize with f32 elements.
    BlocksF32(blocks::BlocksOp<crate::ukernels::simd::F32>),
    /// GGUF block quantize / dequantize with f16 elements.
    BlocksF16(blocks::BlocksOp<crate::ukernels::simd::F16>),
    /// GGUF block quantize / dequantize with bf16 elements.
    BlocksBf16(blocks::BlocksOp<crate::ukernels::simd::Bf16>),
    /// Split-scale blockwise quantize / dequantize with f32 elements.
    BlockwiseF32(blockwise::BlockwiseOp<crate::ukernels::simd::F32>),
    /// Split-scale blockwise quantize / dequantize with f16 elements.
    BlockwiseF16(blockwise::BlockwiseOp<crate::ukernels::simd::F16>),
    /// Split-scale blockwise quantize / dequantize with bf16 elements.
    BlockwiseBf16(blockwise::BlockwiseOp<crate::ukernels::simd::Bf16>),
}

/// An operator: type-specific body plus the lifecycle state shared by all.
pub struct Operator {
    state: State,
    isa: IsaLevel,
    body: Body,
}

impl Operator {
    /// A new operator in state [`State::NeedsReshape`].
    pub fn new(isa: IsaLevel, body: Body) -> Operator {
        Operator {
            state: State::NeedsReshape,
            isa,
            body,
        }
    }

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The ISA level in force when the operator was created.
    pub fn isa(&self) -> IsaLevel {
        self.isa
    }

    /// The body, for typed calls.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Registry name of the kernel that runs.
    pub fn kernel_name(&self) -> &'static std::ffi::CStr {
        match &self.body {
            Body::ConvertNarrow(c) => c.kernel_name(),
            Body::ConvertWiden(c) => c.kernel_name(),
            Body::SoftmaxF32(o) => o.kernel_name(),
            Body::SoftmaxF16(o) => o.kernel_name(),
            Body::SoftmaxBf16(o) => o.kernel_name(),
            Body::GatingF32(o) => o.kernel_name(),
            Body::GatingF16(o) => o.kernel_name(),
            Body::GatingBf16(o) => o.kernel_name(),
            Body::BlocksF32(o) => o.kernel_name(),
            Body::BlocksF16(o) => o.kernel_name(),
            Body::BlocksBf16(o) => o.kernel_name(),
            Body::BlockwiseF32(o) => o.kernel_name(),
            Body::BlockwiseF16(o) => o.kernel_name(),
            Body::BlockwiseBf16(o) => o.kernel_name(),
        }
    }

    /// A typed reshape: `pick` selects the body if the operator has the caller's type
    /// (otherwise [`Status::InvalidParameter`]), `f` validates and stores the shape. On success
    /// the operator needs setup again.
    pub fn reshape<T>(
        &mut self,
        pick: impl FnOnce(&mut Body) -> Option<&mut T>,
        f: impl FnOnce(&mut T) -> Result<()>,
    ) -> Result<()> {
        let body = pick(&mut self.body).ok_or(Status::InvalidParameter)?;
        f(body)?;
        self.state = State::NeedsSetup;
        Ok(())
    }

    /// A typed setup, as [`Operator::reshape`]; [`Status::InvalidState`] before a reshape.
    pub fn setup<T>(
        &mut self,
        pick: impl FnOnce(&mut Body) -> Option<&mut T>,
        f: impl FnOnce(&mut T) -> Result<()>,
    ) -> Result<()> {
        let state = self.state;
        let body = pick(&mut self.body).ok_or(Status::InvalidParameter)?;
        if state == State::NeedsReshape {
            return Err(Status::InvalidState);
        }
        f(body)?;
        self.state = State::Ready;
        Ok(())
    }

    /// Runs the operator on `tp` (or the caller's thread).
    pub fn run(&mut self, tp: Option<&Threadpool>) -> Result<()> {
        if self.state != State::Ready {
            return Err(Status::InvalidState);
        }
        match &self.body {
            Body::ConvertNarrow(c) => c.run(tp),
            Body::ConvertWiden(c) => c.run(tp),
            Body::SoftmaxF32(o) => o.run(tp),
            Body::SoftmaxF16(o) => o.run(tp),
            Body::SoftmaxBf16(o) => o.run(tp),
            Body::GatingF32(o) => o.run(tp),
            Body::GatingF16(o) => o.run(tp),
            Body::GatingBf16(o) => o.run(tp),
            Body::BlocksF32(o) => o.run(tp),
            Body::BlocksF16(o) => o.run(tp),
            Body::BlocksBf16(o) => o.run(tp),
            Body::BlockwiseF32(o) => o.run(tp),
            Body::BlockwiseF16(o) => o.run(tp),
            Body::BlockwiseBf16(o) => o.run(tp),
        }
    }
}

/// A raw pointer that may be shared with pool threads. Whoever builds one promises that the
/// tasks touch disjoint parts of the pointee.
#[derive(Debug)]
pub(crate) struct SharedPtr<T>(pub *mut T);

impl<T> Clone for SharedPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedPtr<T> {}

impl<T> SharedPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not the field).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}
// SAFETY: only used to hand buffer addresses to tasks that access disjoint element ranges.
unsafe impl<T> Send for SharedPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SharedPtr<T> {}
