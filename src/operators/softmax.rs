//! Softmax and log-softmax operators over `[batch][channels]` rows of f32, f16 or bf16.
//!
//! A row is processed in chunks whose size depends only on the row length (at most
//! [`MAX_CHUNKS`] chunks, each a multiple of the kernels' block), and chunk results are merged
//! in chunk order. Whether the chunks of a row run on one thread or on many, and whichever row
//! goes to which thread, every output is computed by the same operations in the same order: the
//! results do not depend on the thread count (and, with `NNK_FLAG_CONSISTENT_ARITHMETIC`, not on
//! the ISA either).
//!
//! Algorithms (see `ukernels::softmax` for the kernels):
//! - three-pass: max; exp stored (f32 softmax) or only summed; then scale (f32 softmax),
//!   recompute-and-scale (16-bit softmax) or `(x - max) - ln(sum)` (log-softmax). f32 softmax
//!   rows up to [`BLOCKED_MAX_ROW`] elements, not in place, run it per block of `MAX_BLOCK`
//!   (blocked three-pass): each block's max, then its exp relative to that max, stored and summed while
//!   the block is in L1, then each block scaled by its own factor. That reads the row from
//!   memory once instead of twice. AVX-512, 1 thread, ns/element, the unblocked build and this
//!   one run alternately twice on a loaded machine: 4096x1000 0.547/0.541 -> 0.502/0.517,
//!   64x32000 0.580/0.568 -> 0.530/0.474, in cache (1x10000, 16x4096) within noise (an
//!   earlier, quieter pair of runs: 4096x1000 0.548 -> 0.390, 1x10000 0.319 -> 0.270);
//! - two-pass: extended-exponent sum with the max in one pass, then recompute-and-scale or
//!   `(x - max) - ln(sum)`. Rows with NaN, infinities or |max| >= 1024 fall back to three-pass
//!   (unblocked).
//!
//! The blocked passes prefetch the next block while they compute one, and the last block of a
//! chunk prefetches the next chunk, or the next row of the same task (on contiguous 4096x1000
//! rows that measured no change, the hardware prefetcher already follows them; it is there
//! for strided rows).
//!
//! Special rows (max NaN or infinite) are handled exactly: NaN anywhere gives a NaN row, `+inf`
//! entries share the mass equally, a row of only `-inf` gives zeros (log: `-inf`), or NaN with
//! `FLAG_NAN_ON_EMPTY_ROW`.

use std::mem::MaybeUninit;

use super::{Io, RowShape, SharedPtr, buffer};
use crate::config::softmax::{SoftmaxElem, SoftmaxKernels};
use crate::config::{Kernel, KernelTable};
use crate::isa::IsaLevel;
use crate::status::{Result, Status};
use crate::threadpool::{self, Threadpool};
use crate::ukernels::softmax::{
    Ahead, BLOCKED_MAX_BLOCKS, BlockRefs, ExpParams, ExtSum, MAX_BLOCK,
};

/// Bit-identical results on every ISA level (unfused arithmetic).
pub const FLAG_CONSISTENT_ARITHMETIC: u32 = 0x1;
/// A row of only `-inf` gives NaN instead of zeros (log-softmax: NaN instead of `-inf`).
pub const FLAG_NAN_ON_EMPTY_ROW: u32 = 0x2;
/// Force the three-pass algorithm.
pub const FLAG_THREE_PASS: u32 = 0x4;
/// Force the two-pass algorithm.
pub const FLAG_TWO_PASS: u32 = 0x8;
const KNOWN_FLAGS: u32 =
    FLAG_CONSISTENT_ARITHMETIC | FLAG_NAN_ON_EMPTY_ROW | FLAG_THREE_PASS | FLAG_TWO_PASS;

/// Smallest chunk a row is split into (elements).
pub const CHUNK_MIN: usize = 16 * 1024;
/// Most chunks per row.
pub const MAX_CHUNKS: usize = 256;
/// Most chunks of a row on the blocked three-pass path.
const BLOCKED_MAX_CHUNKS: usize = 16;
/// The longest f32 softmax row on the blocked three-pass path (see [`Exec::row`]): its chunks
/// are [`CHUNK_MIN`] long, at most [`BLOCKED_MAX_BLOCKS`] blocks each.
pub const BLOCKED_MAX_ROW: usize = BLOCKED_MAX_CHUNKS * CHUNK_MIN;
const _: () = assert!(CHUNK_MIN == BLOCKED_MAX_BLOCKS * MAX_BLOCK);

/// Softmax or log-softmax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    /// `exp(x - max) / sum`.
    Softmax,
    /// `x - max - ln(sum)`.
    LogSoftmax,
}

/// Row algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// max, exp-sum, scale.
    ThreePass,
    /// extended-exponent sum, scale.
    TwoPass,
}

/// Checks flag bits: unknown bits or both algorithm flags are [`Status::InvalidParameter`].
pub fn check_flags(flags: u32) -> Result<()> {
    let both = FLAG_THREE_PASS | FLAG_TWO_PASS;
    if flags & !KNOWN_FLAGS != 0 || flags & both == both {
        return Err(Status::InvalidParameter);
    }
    Ok(())
}

/// The kernels for `flags` at `isa`.
pub fn kernels<T: SoftmaxElem>(flags: u32, isa: IsaLevel) -> &'static Kernel<SoftmaxKernels<T>> {
    let table: &'static KernelTable<SoftmaxKernels<T>> = if flags & FLAG_CONSISTENT_ARITHMETIC != 0
    {
        T::CONSISTENT
    } else {
        T::FUSED
    };
    table.get(isa)
}

/// The algorithm for rows of `channels` elements of `elem_size` bytes (see
/// `two_pass_min_bytes` for the measured crossover).
pub fn choose_algorithm(
    kind: SoftmaxKind,
    flags: u32,
    channels: usize,
    elem_size: usize,
) -> Algorithm {
    if flags & FLAG_THREE_PASS != 0 {
        return Algorithm::ThreePass;
    }
    if flags & FLAG_TWO_PASS != 0 {
        return Algorithm::TwoPass;
    }
    // Log-softmax computes exp once either way, and two-pass reads the row once less: measured
    // faster from 4096x1000 up (AVX-512, ns/element three- vs two-pass: 4096x1000 0.685 vs
    // 0.545, 8x128000 0.655 vs 0.523), within 5% below. Softmax: see two_pass_min_bytes (f16
    // and bf16 behave like f32 there: f16 1x10000 0.508 vs 0.552, 1x2^24 0.592 vs 0.566).
    if kind == SoftmaxKind::LogSoftmax {
        return Algorithm::TwoPass;
    }
    if channels.saturating_mul(2 * elem_size) >= two_pass_min_bytes() {
        Algorithm::TwoPass
    } else {
        Algorithm::ThreePass
    }
}

/// f32 softmax rows whose input + output bytes exceed the L2 cache (CPUID) use two-pass.
///
/// Measured on the development machine (Xeon, AVX-512, 2 MiB L2, single thread, criterion
/// medians, `NNK_BENCH_SHAPES=1x262144,1x1048576,1x4194304 cargo bench --bench softmax`), ns per
/// element three-pass vs two-pass: 2^18 elements (2 MiB in + out) 0.399 vs 0.546; 2^20 (8 MiB)
/// 0.689 vs 0.602; 2^22 (32 MiB) 0.641 vs 0.633; 2^24 0.949 vs 1.019 on one thread but 0.422 vs
/// 0.400 on two. In cache the second exp costs more than the reload; once the row leaves L2
/// the two are within noise, two-pass ahead where memory is the tighter bound.
fn two_pass_min_bytes() -> usize {
    crate::isa::caches().l2 + 1
}

/// Whether the last pass (of softmax's two-pass path, and of log-softmax) streams a row of
/// `bytes` output past the caches: rows beyond the L2 cache (CPUID). Such an output is
/// written once and not read back, so streaming saves the read-for-ownership of every line.
/// Measured (AVX-512, 1x2^24 f32, criterion medians, one run): 0.955 -> 0.604 ns/element on
/// one thread, 0.399 -> 0.307 on two; the same run's streaming bound was 0.153 (read) + 0.495
/// (read and write).
fn stream_output(bytes: usize) -> bool {
    bytes > crate::isa::caches().l2
}

/// Elements per chunk for a row of `n`.
pub fn chunk_len(n: usize) -> usize {
    CHUNK_MIN
        .max(n.div_ceil(MAX_CHUNKS))
        .next_multiple_of(MAX_BLOCK)
}

/// Everything a row needs besides its pointers.
pub struct Exec<T: SoftmaxElem + 'static> {
    /// Softmax or log-softmax.
    pub kind: SoftmaxKind,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Algorithm.
    pub algo: Algorithm,
    /// Kernels.
    pub k: &'static SoftmaxKernels<T>,
}

/// Runs `f(c)` for `c` in `0..chunks` on `tp` (or here).
fn for_chunks(tp: Option<&Threadpool>, chunks: usize, f: &(dyn Fn(usize) + Sync)) -> Result<()> {
    threadpool::parallel_for(tp, chunks, f)
}

impl<T: SoftmaxElem> Exec<T> {
    /// One row of `n >= 1` elements, its chunks spread over `tp`.
    ///
    /// # Safety
    /// `n` elements readable at `x`, writable at `y`; `x == y` or no overlap.
    pub unsafe fn row(
        &self,
        n: usize,
        x: *const T::S,
        y: *mut T::S,
        tp: Option<&Threadpool>,
        next: Ahead,
    ) -> Result<()> {
        let c = chunk_len(n);
        let chunks = n.div_ceil(c);
        let (xs, ys) = (SharedPtr(x.cast_mut()), SharedPtr(y));
        let span = move |i: usize| (i * c, c.min(n - i * c));
        // What chunk i prefetches at its end: the next chunk's start, or `next` for the last.
        let ahead = move |i: usize| {
            let e = (i + 1) * c;
            if e < n {
                Ahead::new(xs.get().wrapping_add(e), ys.get().wrapping_add(e), n - e)
            } else {
                next
            }
        };
        let k = self.k;
        if self.algo == Algorithm::TwoPass {
            // Uninitialized (no per-row cost); every entry below `chunks` is written before it
            // is read, or for_chunks fails and nothing is read.
            let mut parts = [const { MaybeUninit::<ExtSum>::uninit() }; MAX_CHUNKS];
            let out = SharedPtr(parts.as_mut_ptr().cast::<ExtSum>());
            for_chunks(tp, chunks, &|i| {
                let (s, len) = span(i);
                // SAFETY: chunk i is inside the row; each task writes only parts[i].
                unsafe {
                    out.get()
                        .add(i)
                        .write((k.rblockexp)(len, xs.get().add(s), ahead(i)))
                }
            })?;
            let mut total = ExtSum::EMPTY;
            for p in &parts[..chunks] {
                // SAFETY: written by task i (see above).
                total.merge(unsafe { p.assume_init_ref() });
            }
            if !total.special && total.max.is_finite() {
                let max = total.max;
                return match self.kind {
                    SoftmaxKind::Softmax => {
                        let p = ExpParams {
                            lo: max - crate::ukernels::softmax::UNDERFLOW_SPAN,
                            shift: 0.0,
                            n_ref: total.n_ref,
                        }
                        .with_min(total.min);
                        let s = (1.0 / total.acc) as f32;
                        let stream = stream_output(n * size_of::<T::S>());
                        for_chunks(tp, chunks, &|i| {
                            let (o, len) = span(i);
                            // SAFETY: chunk i is inside the row; chunks are disjoint.
                            unsafe {
                                (k.vscaleexp)(len, xs.get().add(o), ys.get().add(o), &p, s, stream)
                            }
                        })
                    }
                    SoftmaxKind::LogSoftmax => {
                        let lse = total.acc.ln() + f64::from(total.n_ref) * std::f64::consts::LN_2
                            - f64::from(max);
                        self.logsub(tp, chunks, &span, xs, ys, max, lse as f32, n)
                    }
                };
            }
            // NaN, infinities, or a huge max: the three-pass path below handles them exactly.
        }

        if self.algo == Algorithm::ThreePass
            && self.kind == SoftmaxKind::Softmax
            && size_of::<T::S>() == 4
            && n <= BLOCKED_MAX_ROW
            && !std::ptr::eq(x, y.cast_const())
        {
            // Blocked three-pass (f32 softmax rows of at most BLOCKED_MAX_ROW elements: chunks
            // of CHUNK_MIN, one reference per block). Not in place: a block found special
            // (NaN, infinities, a huge or all -inf max) sends the row to the unblocked path
            // below, which reads the input again, and by then the earlier blocks' outputs are
            // written. Entries below `chunks` are written before they are read, as above.
            let mut parts =
                [const { MaybeUninit::<(ExtSum, BlockRefs)>::uninit() }; BLOCKED_MAX_CHUNKS];
            let out = SharedPtr(parts.as_mut_ptr().cast::<(ExtSum, BlockRefs)>());
            for_chunks(tp, chunks, &|i| {
                let (s, len) = span(i);
                // SAFETY: chunk i is inside the row (f32: T::S is f32, see the condition);
                // each task writes only parts[i]. The prefetch hints are never dereferenced.
                unsafe {
                    let mut refs = [0.0; BLOCKED_MAX_BLOCKS];
                    let sum = (k.rblockstoreexp)(
                        len,
                        xs.get().add(s).cast(),
                        ys.get().add(s).cast(),
                        &mut refs,
                        ahead(i),
                    );
                    out.get().add(i).write((sum, refs));
                }
            })?;
            let mut total = ExtSum::EMPTY;
            for p in &parts[..chunks] {
                // SAFETY: written by task i.
                total.merge(unsafe { &p.assume_init_ref().0 });
            }
            if !total.special && total.max.is_finite() {
                let inv = 1.0 / total.acc;
                return for_chunks(tp, chunks, &|i| {
                    let (o, len) = span(i);
                    // SAFETY: chunk i is inside the row; chunks are disjoint; parts[i] was
                    // written by task i above.
                    unsafe {
                        let refs = &(*out.get().add(i)).1;
                        (k.vscaleblocks)(len, ys.get().add(o).cast(), refs, inv, total.n_ref)
                    }
                });
            }
            // NaN, infinities, a huge max: the unblocked three-pass path below.
        }

        let mut maxes = [const { MaybeUninit::<(f32, f32)>::uninit() }; MAX_CHUNKS];
        let out = SharedPtr(maxes.as_mut_ptr().cast::<(f32, f32)>());
        for_chunks(tp, chunks, &|i| {
            let (s, len) = span(i);
            // SAFETY: chunk i is inside the row; each task writes only maxes[i].
            unsafe { out.get().add(i).write((k.rminmax)(len, xs.get().add(s))) }
        })?;
        let (mut max, mut min) = (f32::NEG_INFINITY, f32::INFINITY);
        for m in &maxes[..chunks] {
            // SAFETY: written by task i.
            let (m, lo) = unsafe { m.assume_init() };
            if m > max || m.is_nan() {
                max = m;
            }
            if lo < min || lo.is_nan() {
                min = lo;
            }
        }
        if !max.is_finite() {
            // SAFETY: forwarded contract.
            unsafe { self.special_row(n, x, y) };
            return Ok(());
        }
        let p = match self.kind {
            SoftmaxKind::Softmax => ExpParams::for_max(max),
            SoftmaxKind::LogSoftmax => ExpParams::shifted(max),
        }
        .with_min(min);
        let store = self.kind == SoftmaxKind::Softmax && size_of::<T::S>() == 4;
        let mut sums = [const { MaybeUninit::<f64>::uninit() }; MAX_CHUNKS];
        let out = SharedPtr(sums.as_mut_ptr().cast::<f64>());
        for_chunks(tp, chunks, &|i| {
            let (s, len) = span(i);
            // SAFETY: chunk i is inside the row; each task writes only sums[i]. When `store`,
            // T is f32 (size 4 and a SoftmaxElem), so the casts are identities.
            unsafe {
                let sum = if store {
                    (k.raddstoreexp)(len, xs.get().add(s).cast(), ys.get().add(s).cast(), &p)
                } else {
                    (k.raddexp)(len, xs.get().add(s), &p)
                };
                out.get().add(i).write(sum);
            }
        })?;
        // SAFETY: each entry below `chunks` was written by its task.
        let total: f64 = sums[..chunks]
            .iter()
            .map(|s| unsafe { s.assume_init() })
            .sum();
        match self.kind {
            SoftmaxKind::Softmax => {
                let s = (1.0 / total) as f32;
                for_chunks(tp, chunks, &|i| {
                    let (o, len) = span(i);
                    // SAFETY: chunk i is inside the row; chunks are disjoint.
                    unsafe {
                        if store {
                            (k.vscale)(len, ys.get().add(o).cast(), s)
                        } else {
                            (k.vscaleexp)(len, xs.get().add(o), ys.get().add(o), &p, s, false)
                        }
                    }
                })
            }
            SoftmaxKind::LogSoftmax => {
                let lse = total.ln() + p.log_offset(max);
                self.logsub(tp, chunks, &span, xs, ys, max, lse as f32, n)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn logsub(
        &self,
        tp: Option<&Threadpool>,
        chunks: usize,
        span: &(dyn Fn(usize) -> (usize, usize) + Sync),
        xs: SharedPtr<T::S>,
        ys: SharedPtr<T::S>,
        max: f32,
        lse: f32,
        n: usize,
    ) -> Result<()> {
        let k = self.k;
        let stream = stream_output(n * size_of::<T::S>());
        for_chunks(tp, chunks, &|i| {
            let (o, len) = span(i);
            // SAFETY: chunk i is inside the row (the caller's contract); chunks are disjoint.
            unsafe { (k.vlogsub)(len, xs.get().add(o), ys.get().add(o), max, lse, stream) }
        })
    }

    /// A row whose max is NaN or infinite, exactly (scalar; such rows are rare).
    ///
    /// # Safety
    /// As for [`Exec::row`].
    unsafe fn special_row(&self, n: usize, x: *const T::S, y: *mut T::S) {
        let mut nan = false;
        let mut pos_inf = 0usize;
        for i in 0..n {
            // SAFETY: i < n.
            let v = T::to_f32(unsafe { x.add(i).read() });
            nan |= v.is_nan();
            pos_inf += usize::from(v == f32::INFINITY);
        }
        let log = self.kind == SoftmaxKind::LogSoftmax;
        let share = if log {
            -(pos_inf as f32).ln()
        } else {
            1.0 / pos_inf as f32
        };
        let other = if log { f32::NEG_INFINITY } else { 0.0 };
        let empty = if self.flags & FLAG_NAN_ON_EMPTY_ROW != 0 {
            f32::NAN
        } else {
            other
        };
        for i in 0..n {
            // SAFETY: i < n; x[i] is read before y[i] is written (in-place safe).
            unsafe {
                let v = T::to_f32(x.add(i).read());
                let out = if nan {
                    f32::NAN
                } else if pos_inf > 0 {
                    if v == f32::INFINITY { share } else { other }
                } else {
                    empty
                };
                y.add(i).write(T::from_f32(out));
            }
        }
    }

    /// All rows of `shape`: rows spread over `tp` when there are enough of them, otherwise
    /// each row's chunks.
    ///
    /// # Safety
    /// `x`, `y` valid for `shape` (see [`check_buffers`]).
    pub unsafe fn run(
        &self,
        shape: &RowShape,
        x: *const T::S,
        y: *mut T::S,
        tp: Option<&Threadpool>,
    ) -> Result<()> {
        let threads = threadpool::threads(tp);
        let (xs, ys) = (SharedPtr(x.cast_mut()), SharedPtr(y));
        if threads > 1 && shape.batch < threads {
            for r in 0..shape.batch {
                // SAFETY: row r is inside the buffers.
                unsafe {
                    self.row(
                        shape.channels,
                        x.add(r * shape.input_stride),
                        y.add(r * shape.output_stride),
                        tp,
                        Ahead::NONE,
                    )?
                };
            }
            return Ok(());
        }
        // Rows in groups of at least ~16K elements per task.
        let rows_per_task = if threads > 1 {
            (CHUNK_MIN / shape.channels).clamp(1, shape.batch.div_ceil(threads))
        } else {
            shape.batch
        };
        let tasks = shape.batch.div_ceil(rows_per_task.max(1));
        let failed = std::sync::atomic::AtomicBool::new(false);
        threadpool::parallel_for(tp, tasks, &|t| {
            let end = ((t + 1) * rows_per_task).min(shape.batch);
            for r in t * rows_per_task..end {
                // SAFETY: row r is inside the buffers; rows of different tasks are disjoint
                // (in-place rows coincide only with themselves).
                let res = unsafe {
                    self.row(
                        shape.channels,
                        xs.get().add(r * shape.input_stride),
                        ys.get().add(r * shape.output_stride),
                        None,
                        // The next row of this task, prefetched while this one ends.
                        if r + 1 < end {
                            Ahead::new(
                                xs.get().wrapping_add((r + 1) * shape.input_stride),
                                ys.get().wrapping_add((r + 1) * shape.output_stride),
                                shape.channels,
                            )
                        } else {
                            Ahead::NONE
                        },
                    )
                };
                if res.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })?;
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            Err(Status::InternalError)
        } else {
            Ok(())
        }
    }
}

/// Checks buffers for `shape`: non-NULL and aligned unless empty, extents in range, and either
/// the same buffer with equal strides (in-place) or no shared byte.
pub fn check_buffers<S>(shape: &RowShape, x: *const S, y: *mut S) -> Result<()> {
    let rx = buffer::region(x, shape.batch, shape.channels, shape.input_stride)?;
    let ry = buffer::region(
        y.cast_const(),
        shape.batch,
        shape.channels,
        shape.output_stride,
    )?;
    if std::ptr::eq(x, y.cast_const()) && shape.input_stride == shape.output_stride {
        return Ok(());
    }
    buffer::disjoint(&rx, &ry)
}

/// A softmax or log-softmax operator for element type `T`.
pub struct SoftmaxOp<T: SoftmaxElem + 'static> {
    kind: SoftmaxKind,
    flags: u32,
    kernel: &'static Kernel<SoftmaxKernels<T>>,
    algo: Algorithm,
    io: Io<T::S, T::S>,
}

impl<T: SoftmaxElem> SoftmaxOp<T> {
    /// A new operator (flags already checked).
    pub fn new(kind: SoftmaxKind, flags: u32, isa: IsaLevel) -> Self {
        SoftmaxOp {
            kind,
            flags,
            kernel: kernels::<T>(flags, isa),
            algo: Algorithm::ThreePass,
            io: Io::new(),
        }
    }

    /// Softmax or log-softmax.
    pub fn kind(&self) -> SoftmaxKind {
        self.kind
    }

    /// The kernel bundle's registry name.
    pub fn kernel_name(&self) -> &'static std::ffi::CStr {
        self.kernel.name
    }

    /// The algorithm chosen at reshape.
    pub fn algorithm(&self) -> Algorithm {
        self.algo
    }

    /// Sets the shape.
    pub fn reshape(
        &mut self,
        channels: usize,
        input_stride: usize,
        output_stride: usize,
        batch: usize,
    ) -> Result<()> {
        let shape = RowShape::new::<T::S, T::S>(channels, input_stride, output_stride, batch)?;
        self.algo = choose_algorithm(self.kind, self.flags, channels, size_of::<T::S>());
        self.io.reshape(shape);
        Ok(())
    }

    /// Sets the buffers.
    pub fn setup(&mut self, input: *const T::S, output: *mut T::S) -> Result<()> {
        self.io.setup(input, output, check_buffers)
    }

    /// Runs on the buffers given at setup.
    pub fn run(&self, tp: Option<&Threadpool>) -> Result<()> {
        let (shape, input, output) = self.io.get()?;
        let exec = Exec {
            kind: self.kind,
            flags: self.flags,
            algo: self.algo,
            k: &self.kernel.func,
        };
        // SAFETY: setup checked the buffers for this shape; the caller keeps them valid.
        unsafe { exec.run(&shape, input, output, tp) }
    }
}

/// One-shot softmax / log-softmax with the same checks and kernels as the operator.
///
/// # Safety
/// If the checks pass, the buffers must be valid for the shape.
#[allow(clippy::too_many_arguments)]
pub unsafe fn one_shot<T: SoftmaxElem>(
    kind: SoftmaxKind,
    isa: IsaLevel,
    batch: usize,
    channels: usize,
    x: *const T::S,
    input_stride: usize,
    y: *mut T::S,
    output_stride: usize,
    flags: u32,
    tp: Option<&Threadpool>,
) -> Result<()> {
    check_flags(flags)?;
    let shape = RowShape::new::<T::S, T::S>(channels, input_stride, output_stride, batch)?;
    check_buffers(&shape, x, y)?;
    let kernel = kernels::<T>(flags, isa);
    let algo = choose_algorithm(kind, flags, channels, size_of::<T::S>());
    let exec = Exec {
        kind,
        flags,
        algo,
        k: &kernel.func,
    };
    // SAFETY: checked above; the caller guarantees validity.
    unsafe { exec.run(&shape, x, y, tp) }
}
