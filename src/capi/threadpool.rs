//! Threadpool handles: nnkern's own pool, or a wrapper around the host's parallel-for.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{guard, guard_or, nnk_status};
use crate::status::{Result, Status};
use crate::threadpool::{Scheduler, Threadpool, run_task};

const POOL_MAGIC: u64 = u64::from_le_bytes(*b"nnk_tp\0\x01");

/// A threadpool (opaque) that operators split their work over. Pass NULL wherever a pool is
/// accepted to run on the calling thread. One pool may be shared by many operators; calls that
/// use the same pool from several threads take turns.
pub struct nnk_threadpool {
    magic: u64,
    pool: Threadpool,
}

/// A task handed to the host: `task(ctx, i)` does work item `i`.
pub type nnk_task_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, i: usize)>;

/// The host's parallel-for: must call `task(ctx, i)` exactly once for every `i` in `[0, n)`,
/// from any threads, and return only when all calls have returned. `user` is the pointer given
/// to `nnk_threadpool_create_custom`.
pub type nnk_parallel_for_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, task: nnk_task_fn, ctx: *mut c_void, n: usize)>;

/// The pool behind a handle; NULL is `None` (the caller's thread).
///
/// # Safety
/// `tp` must be NULL or a live pool handle.
pub(crate) unsafe fn pool_ref<'a>(tp: *const nnk_threadpool) -> Result<Option<&'a Threadpool>> {
    // SAFETY: the caller guarantees a non-null `tp` points to a live nnk_threadpool.
    match unsafe { tp.as_ref() } {
        None => Ok(None),
        Some(h) if h.magic == POOL_MAGIC => Ok(Some(&h.pool)),
        Some(_) => Err(Status::InvalidParameter),
    }
}

/// Boxes `pool` and stores the handle in `*out`.
///
/// # Safety
/// `out` must be non-null and valid for a pointer write.
unsafe fn publish(pool: Threadpool, out: *mut *mut nnk_threadpool) -> Result<()> {
    let handle = Box::into_raw(Box::new(nnk_threadpool {
        magic: POOL_MAGIC,
        pool,
    }));
    // SAFETY: the caller guarantees `out` is valid for a write.
    unsafe { out.write(handle) };
    Ok(())
}

/// The most threads a pool may have; more is `NNK_STATUS_INVALID_PARAMETER`.
pub const NNK_MAX_THREADS: usize = 1024;

/// Creates a pool of `threads` threads in all, counting the thread that calls
/// `nnk_run_operator` (so `threads - 1` workers start now); 0 means one per logical CPU, more
/// than `NNK_MAX_THREADS` is `NNK_STATUS_INVALID_PARAMETER`. Writes the handle to `*out` on
/// success; `NNK_STATUS_OUT_OF_MEMORY` if the threads cannot be started. Free it with
/// `nnk_threadpool_destroy`.
///
/// # Safety
/// `out` must be NULL (rejected) or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_threadpool_create(
    threads: usize,
    out: *mut *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        if out.is_null() || threads > NNK_MAX_THREADS {
            return Err(Status::InvalidParameter);
        }
        // SAFETY: `out` is non-null; the C caller guarantees it is writable.
        unsafe { publish(Threadpool::new(threads)?, out) }
    })
}

struct HostScheduler {
    parallel_for: unsafe extern "C" fn(*mut c_void, nnk_task_fn, *mut c_void, usize),
    user: *mut c_void,
    concurrency: usize,
}

// SAFETY: the host promises (nnk_threadpool_create_custom's contract) that its parallel-for and
// `user` may be used from any thread.
unsafe impl Send for HostScheduler {}
// SAFETY: as above.
unsafe impl Sync for HostScheduler {}

struct HostJob<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    n: usize,
    ran: AtomicUsize,
    failed: AtomicBool,
}

/// Called by the host for each work item.
unsafe extern "C" fn host_task(ctx: *mut c_void, i: usize) {
    // SAFETY: `ctx` is the HostJob that `HostScheduler::run` passed to the host, alive until the
    // host's parallel-for returns, which is after every task call.
    let job = unsafe { &*ctx.cast_const().cast::<HostJob<'_>>() };
    if i >= job.n || run_task(job.task, i) {
        job.failed.store(true, Ordering::Relaxed);
    }
    job.ran.fetch_add(1, Ordering::Relaxed);
}

impl Scheduler for HostScheduler {
    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) -> Result<()> {
        let job = HostJob {
            task,
            n,
            ran: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        };
        let ctx = (&raw const job).cast_mut().cast::<c_void>();
        // SAFETY: the host's function was checked non-null at creation; it calls `host_task`
        // with `ctx` and returns when all calls are done.
        unsafe { (self.parallel_for)(self.user, Some(host_task), ctx, n) };
        // A host that skipped or repeated work items is reported, not trusted.
        if job.failed.load(Ordering::Relaxed) || job.ran.load(Ordering::Relaxed) != n {
            return Err(Status::InternalError);
        }
        Ok(())
    }
}

/// Wraps the host's own job system: operators call `parallel_for(user, task, ctx, n)` to spread
/// work, sized for `concurrency` simultaneous tasks (>= 1). `parallel_for` must not be NULL.
/// If the host calls a task index outside `[0, n)`, or makes other than `n` task calls, the call
/// that used the pool fails with `NNK_STATUS_INTERNAL_ERROR`.
///
/// # Safety
/// `out` must be NULL (rejected) or valid for a pointer write. `parallel_for` and `user` must be
/// usable from any thread that runs operators, for the life of the pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_threadpool_create_custom(
    parallel_for: nnk_parallel_for_fn,
    user: *mut c_void,
    concurrency: usize,
    out: *mut *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        let parallel_for = parallel_for.ok_or(Status::InvalidParameter)?;
        if out.is_null() || concurrency == 0 {
            return Err(Status::InvalidParameter);
        }
        let host = HostScheduler {
            parallel_for,
            user,
            concurrency,
        };
        // SAFETY: `out` is non-null; the C caller guarantees it is writable.
        unsafe { publish(Threadpool::custom(Box::new(host)), out) }
    })
}

/// Stops and frees a pool (its workers are joined). NULL is accepted and ignored. No operator
/// may be running on the pool.
///
/// # Safety
/// `tp` must be NULL or a live pool handle; it is invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_threadpool_destroy(tp: *mut nnk_threadpool) -> nnk_status {
    guard(|| {
        // SAFETY: forwarded contract.
        if unsafe { pool_ref(tp) }?.is_none() {
            return Ok(());
        }
        // SAFETY: `tp` came from Box::into_raw in `publish` and is live.
        let mut handle = unsafe { Box::from_raw(tp) };
        handle.magic = 0;
        drop(handle);
        Ok(())
    })
}

/// How many tasks the pool runs at once (its thread count, or the custom pool's concurrency);
/// 1 for NULL, 0 for an invalid handle.
///
/// # Safety
/// `tp` must be NULL or a live pool handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_threadpool_threads(tp: *const nnk_threadpool) -> usize {
    guard_or(0, || {
        // SAFETY: forwarded contract.
        match unsafe { pool_ref(tp) } {
            Ok(p) => crate::threadpool::threads(p),
            Err(_) => 0,
        }
    })
}
