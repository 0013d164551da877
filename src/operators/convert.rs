//! Precision conversion operators (`convert_nc_f32_f16` and friends) and the shared elementwise
//! execution: contiguous data is split into cache-line-aligned chunks, strided rows into groups
//! of rows, across the threadpool.

use super::{Io, RowShape, SharedPtr, buffer};
use crate::config::vcvt;
use crate::config::{Kernel, KernelTable};
use crate::isa::IsaLevel;
use crate::status::Result;
use crate::threadpool::{self, Chunks, MIN_ELEMENTS_PER_TASK, Threadpool};
use crate::ukernels::vcvt::VcvtFn;

/// Which conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertKind {
    /// f32 → IEEE half.
    F32F16,
    /// IEEE half → f32.
    F16F32,
    /// f32 → bfloat16.
    F32Bf16,
    /// bfloat16 → f32.
    Bf16F32,
}

/// The two kernel tables of a conversion: regular stores, and non-temporal stores for data
/// that does not fit in the cache.
pub struct Tables<I: 'static, O: 'static> {
    /// Regular stores: the output stays in cache for whoever reads it next.
    pub regular: &'static KernelTable<VcvtFn<I, O>>,
    /// Non-temporal stores: no read-for-ownership, no eviction of useful lines.
    pub streaming: &'static KernelTable<VcvtFn<I, O>>,
}

impl<I, O> Clone for Tables<I, O> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<I, O> Copy for Tables<I, O> {}

/// Tables of a narrowing (f32 → 16-bit) conversion.
pub fn narrow_tables(kind: ConvertKind) -> Option<Tables<f32, u16>> {
    match kind {
        ConvertKind::F32F16 => Some(Tables {
            regular: &vcvt::F32_F16,
            streaming: &vcvt::F32_F16_NT,
        }),
        ConvertKind::F32Bf16 if crate::isa::extras().avx512bf16 => Some(Tables {
            regular: &vcvt::F32_BF16_AVX512BF16,
            streaming: &vcvt::F32_BF16_NT_AVX512BF16,
        }),
        ConvertKind::F32Bf16 => Some(Tables {
            regular: &vcvt::F32_BF16,
            streaming: &vcvt::F32_BF16_NT,
        }),
        _ => None,
    }
}

/// Tables of a widening (16-bit → f32) conversion.
pub fn widen_tables(kind: ConvertKind) -> Option<Tables<u16, f32>> {
    match kind {
        ConvertKind::F16F32 => Some(Tables {
            regular: &vcvt::F16_F32,
            streaming: &vcvt::F16_F32_NT,
        }),
        ConvertKind::Bf16F32 => Some(Tables {
            regular: &vcvt::BF16_F32,
            streaming: &vcvt::BF16_F32_NT,
        }),
        _ => None,
    }
}

/// Whether a conversion touching `bytes` (input + output) should use non-temporal stores:
/// when it does not fit in the per-core L2 cache.
///
/// Measured on the development machine (Xeon, AVX-512, 2 MiB L2, criterion, single thread,
/// `cargo bench --bench convert`, GiB/s of bytes read + written), regular vs non-temporal:
/// f16→f32 at 2^18 elements (1.5 MiB) 42.9 vs 31.4, at 2^19 (3 MiB) 24.0 vs 31.3;
/// f32→bf16 at 2^18 51.8 vs 43.6, at 2^19 27.1 vs 37.2; at 2^26 (384 MiB) regular stores
/// reach 9-12 and non-temporal 16-22 (memcpy 21). The crossover is where the data leaves L2.
pub fn use_streaming_stores(bytes: usize) -> bool {
    bytes > crate::isa::caches().l2
}

/// The kernel for `shape`: streaming when its data does not fit in L2.
fn choose<I, O>(
    regular: &'static Kernel<VcvtFn<I, O>>,
    streaming: &'static Kernel<VcvtFn<I, O>>,
    shape: &RowShape,
) -> &'static Kernel<VcvtFn<I, O>> {
    let bytes = shape.batch * shape.channels * (size_of::<I>() + size_of::<O>());
    if use_streaming_stores(bytes) {
        streaming
    } else {
        regular
    }
}

/// A conversion operator from `I` to `O` elements.
pub struct ConvertOp<I: 'static, O: 'static> {
    kind: ConvertKind,
    regular: &'static Kernel<VcvtFn<I, O>>,
    streaming: &'static Kernel<VcvtFn<I, O>>,
    io: Io<I, O>,
}

impl<I, O> ConvertOp<I, O> {
    /// A new operator of `kind` using the kernels of `tables` for `isa`.
    pub fn new(kind: ConvertKind, tables: Tables<I, O>, isa: IsaLevel) -> Self {
        ConvertOp {
            kind,
            regular: tables.regular.get(isa),
            streaming: tables.streaming.get(isa),
            io: Io::new(),
        }
    }

    /// Which conversion this is.
    pub fn kind(&self) -> ConvertKind {
        self.kind
    }

    fn kernel(&self) -> &'static Kernel<VcvtFn<I, O>> {
        match &self.io.shape() {
            Some(shape) => choose(self.regular, self.streaming, shape),
            None => self.regular,
        }
    }

    /// The registry name of the kernel that runs for the current shape.
    pub fn kernel_name(&self) -> &'static std::ffi::CStr {
        self.kernel().name
    }

    /// Sets the shape (validated by [`RowShape::new`]).
    pub fn reshape(
        &mut self,
        channels: usize,
        input_stride: usize,
        output_stride: usize,
        batch: usize,
    ) -> Result<()> {
        self.io.reshape(RowShape::new::<I, O>(
            channels,
            input_stride,
            output_stride,
            batch,
        )?);
        Ok(())
    }

    /// Sets the buffers, checked against the shape.
    pub fn setup(&mut self, input: *const I, output: *mut O) -> Result<()> {
        self.io.setup(input, output, check_buffers)
    }

    /// Runs on the buffers given at setup.
    pub fn run(&self, tp: Option<&Threadpool>) -> Result<()> {
        let (shape, input, output) = self.io.get()?;
        // SAFETY: setup checked the buffers against this shape (the caller keeps them valid
        // until run returns, as the C API documents).
        unsafe { execute(self.kernel().func, &shape, input, output, tp) }
    }
}

/// Checks `input` and `output` against `shape`: non-NULL and aligned unless empty, extents in
/// range, no shared byte.
pub fn check_buffers<I, O>(shape: &RowShape, input: *const I, output: *mut O) -> Result<()> {
    let x = buffer::region(input, shape.batch, shape.channels, shape.input_stride)?;
    let y = buffer::region(
        output.cast_const(),
        shape.batch,
        shape.channels,
        shape.output_stride,
    )?;
    buffer::disjoint(&x, &y)
}

/// Applies `kernel` to every row of `shape`, split over `tp`.
///
/// # Safety
/// `input` and `output` must describe valid, disjoint buffers for `shape` (see
/// [`check_buffers`]).
pub unsafe fn execute<I, O>(
    kernel: VcvtFn<I, O>,
    shape: &RowShape,
    input: *const I,
    output: *mut O,
    tp: Option<&Threadpool>,
) -> Result<()> {
    if shape.batch == 0 {
        return Ok(());
    }
    let x = SharedPtr(input.cast_mut());
    let y = SharedPtr(output);
    let threads = threadpool::threads(tp);
    let contiguous = shape.input_stride == shape.channels && shape.output_stride == shape.channels;
    if contiguous || shape.batch == 1 {
        let n = shape.batch * shape.channels;
        let chunks = Chunks::new(n, threads, output as usize, size_of::<O>());
        threadpool::parallel_for(tp, chunks.count(), &|t| {
            let r = chunks.range(t);
            // SAFETY: r lies inside 0..n, which the caller guarantees valid for both buffers;
            // tasks get disjoint ranges.
            unsafe {
                kernel(
                    r.len(),
                    x.get().add(r.start).cast_const(),
                    y.get().add(r.start),
                )
            }
        })
    } else {
        // Groups of whole rows, at least MIN_ELEMENTS_PER_TASK elements each when threaded.
        let min_rows = MIN_ELEMENTS_PER_TASK.div_ceil(shape.channels);
        let tasks = if threads > 1 {
            shape.batch.div_ceil(min_rows)
        } else {
            1
        };
        let rows_per_task = shape.batch.div_ceil(tasks.max(1)).max(1);
        threadpool::parallel_for(tp, shape.batch.div_ceil(rows_per_task), &|t| {
            let end = ((t + 1) * rows_per_task).min(shape.batch);
            for row in t * rows_per_task..end {
                // SAFETY: row < batch; the caller guarantees each row's `channels` elements
                // valid at these strides, and rows of different tasks are disjoint.
                unsafe {
                    kernel(
                        shape.channels,
                        x.get().add(row * shape.input_stride).cast_const(),
                        y.get().add(row * shape.output_stride),
                    )
                }
            }
        })
    }
}

/// One-shot conversion of `n` contiguous elements with the kernels of `tables` for `isa`.
/// Pointers are checked (NULL, alignment, overlap) before anything is touched.
///
/// # Safety
/// If the checks pass, `input` must be readable and `output` writable for `n` elements.
pub unsafe fn convert_vector<I, O>(
    tables: Tables<I, O>,
    isa: IsaLevel,
    n: usize,
    input: *const I,
    output: *mut O,
    tp: Option<&Threadpool>,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let shape = RowShape::new::<I, O>(n, n, n, 1)?;
    check_buffers(&shape, input, output)?;
    let kernel = choose(tables.regular.get(isa), tables.streaming.get(isa), &shape);
    // SAFETY: just checked.
    unsafe { execute(kernel.func, &shape, input, output, tp) }
}
