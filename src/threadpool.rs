//! Threadpools: nnkern's own worker pool, or the host's job system behind [`Scheduler`].
//!
//! Operators call [`parallel_for`] with a task count and a `Fn(usize)`; `None` runs every task
//! on the caller's thread. A task that panics never unwinds through a worker or the host: the
//! panic is caught, the remaining tasks still finish, and the call returns
//! [`Status::InternalError`].
//!
//! The built-in pool spawns `threads - 1` workers when it is created (the caller is the last
//! thread) and none otherwise, and allocates nothing per call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::status::{Result, Status};

/// A host-provided parallel-for (e.g. a game engine's job system).
pub trait Scheduler: Send + Sync {
    /// How many tasks the host runs at once; used to size the work split.
    fn concurrency(&self) -> usize;
    /// Runs `task(i)` for every `i` in `0..n` and returns when all have finished.
    /// Must return `Err` if any task panicked or did not run.
    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) -> Result<()>;
}

/// A pool that operators split their work over.
pub struct Threadpool {
    backend: Backend,
}

enum Backend {
    Builtin(Builtin),
    Custom(Box<dyn Scheduler>),
}

impl Threadpool {
    /// A pool of `threads` threads in all, counting the caller (so `threads - 1` workers are
    /// spawned). `threads == 0` means one per logical CPU.
    pub fn new(threads: usize) -> Result<Threadpool> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        Ok(Threadpool {
            backend: Backend::Builtin(Builtin::new(threads)?),
        })
    }

    /// A pool that hands work to the host's scheduler.
    pub fn custom(scheduler: Box<dyn Scheduler>) -> Threadpool {
        Threadpool {
            backend: Backend::Custom(scheduler),
        }
    }

    /// How many tasks run at once.
    pub fn threads(&self) -> usize {
        match &self.backend {
            Backend::Builtin(b) => b.workers.len() + 1,
            Backend::Custom(s) => s.concurrency().max(1),
        }
    }
}

/// How many threads `tp` offers (1 for the caller's thread alone).
pub fn threads(tp: Option<&Threadpool>) -> usize {
    tp.map_or(1, Threadpool::threads)
}

/// Runs `task(i)` for every `i` in `0..n`, spread over `tp` (or on this thread for `None`).
/// Returns [`Status::InternalError`] if a task panicked; every other task still ran.
pub fn parallel_for(
    tp: Option<&Threadpool>,
    n: usize,
    task: &(dyn Fn(usize) + Sync),
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    match tp {
        Some(pool) if n > 1 && pool.threads() > 1 => match &pool.backend {
            Backend::Builtin(b) => b.run(n, task),
            Backend::Custom(s) => s.run(n, task),
        },
        _ => {
            // Every task runs even after one panics, as on the pool.
            let mut panicked = false;
            for i in 0..n {
                panicked |= run_task(task, i);
            }
            if panicked {
                Err(Status::InternalError)
            } else {
                Ok(())
            }
        }
    }
}

/// Runs one task, catching a panic. Returns true if it panicked.
pub(crate) fn run_task(task: &(dyn Fn(usize) + Sync), i: usize) -> bool {
    crate::status::catch_quietly(|| task(i)).is_err()
}

/// Splits `n` elements into tasks for `threads` threads so that every boundary between two
/// tasks falls on a 64-byte boundary of the output (whose first element is at address
/// `out_addr`, elements of `out_size` bytes): threads never write to the same cache line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunks {
    n: usize,
    first: usize,
    chunk: usize,
    count: usize,
}

/// Stack of a worker thread (std's default size).
const WORKER_STACK_BYTES: usize = 2 << 20;

/// Below this many elements per task, splitting costs more than it saves.
pub const MIN_ELEMENTS_PER_TASK: usize = 1 << 14;
/// Tasks per thread, so a slow thread does not hold everyone up.
const TASKS_PER_THREAD: usize = 4;
const CACHE_LINE: usize = 64;

impl Chunks {
    /// Plans the split; one task when `threads <= 1` or `n` is small.
    pub fn new(n: usize, threads: usize, out_addr: usize, out_size: usize) -> Chunks {
        let line_elems = (CACHE_LINE / out_size.max(1)).max(1);
        let tasks = if threads <= 1 {
            1
        } else {
            (n / MIN_ELEMENTS_PER_TASK).clamp(1, threads * TASKS_PER_THREAD)
        };
        if tasks <= 1 {
            return Chunks {
                n,
                first: n,
                chunk: n.max(1),
                count: usize::from(n > 0),
            };
        }
        let chunk = n.div_ceil(tasks).next_multiple_of(line_elems);
        // Elements before the output's next cache-line boundary go with the first chunk.
        let misalign = (out_addr % CACHE_LINE) / out_size.max(1);
        let lead = (line_elems - misalign) % line_elems;
        let first = (lead + chunk).min(n);
        let count = 1 + (n - first).div_ceil(chunk);
        Chunks {
            n,
            first,
            chunk,
            count,
        }
    }

    /// Number of tasks.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The element range of task `i`.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        if i == 0 {
            return 0..self.first;
        }
        let start = self.first + (i - 1) * self.chunk;
        start..(start + self.chunk).min(self.n)
    }
}

// ---------------------------------------------------------------------------------------------
// The built-in pool.

struct Builtin {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serializes callers: one parallel_for at a time per pool.
    call: Mutex<()>,
}

struct Shared {
    ctl: Mutex<Ctl>,
    wake: Condvar,
    done: Condvar,
}

struct Ctl {
    generation: u64,
    job: *const Job<'static>,
    finished: usize,
    shutdown: bool,
}

// SAFETY: `job` is only dereferenced by workers between its publication and the caller's wait
// for `finished == workers`, while the `Job` is alive on the caller's stack; `Job` is `Sync`.
unsafe impl Send for Ctl {}

struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                break;
            }
            if run_task(self.task, i) {
                self.panicked.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn lock(m: &Mutex<Ctl>) -> MutexGuard<'_, Ctl> {
    // No code panics while holding the lock, so poisoning cannot carry meaning here.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Builtin {
    fn new(threads: usize) -> Result<Builtin> {
        let shared = Arc::new(Shared {
            ctl: Mutex::new(Ctl {
                generation: 0,
                job: std::ptr::null(),
                finished: 0,
                shutdown: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let mut pool = Builtin {
            shared: shared.clone(),
            workers: Vec::new(),
            call: Mutex::new(()),
        };
        for k in 1..threads {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("nnkern-{k}"))
                // Explicit, so that std does not consult RUST_MIN_STACK: nnkern reads no
                // environment variable but NNK_ISA.
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || worker(&s));
            match spawned {
                Ok(h) => pool.workers.push(h),
                // Dropping `pool` joins the workers already started.
                Err(_) => return Err(Status::OutOfMemory),
            }
        }
        Ok(pool)
    }

    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) -> Result<()> {
        let _one_caller = self.call.lock().unwrap_or_else(|e| e.into_inner());
        let job = Job {
            task,
            n,
            next: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        };
        {
            let mut ctl = lock(&self.shared.ctl);
            // SAFETY (lifetime erasure): the pointer is cleared below, after every worker has
            // reported `finished`, i.e. before `job` goes out of scope.
            ctl.job = (&raw const job).cast::<Job<'static>>();
            ctl.finished = 0;
            ctl.generation = ctl.generation.wrapping_add(1);
        }
        self.shared.wake.notify_all();
        job.work();
        {
            let mut ctl = lock(&self.shared.ctl);
            while ctl.finished < self.workers.len() {
                ctl = self
                    .shared
                    .done
                    .wait(ctl)
                    .unwrap_or_else(|e| e.into_inner());
            }
            ctl.job = std::ptr::null();
        }
        if job.panicked.load(Ordering::Relaxed) {
            Err(Status::InternalError)
        } else {
            Ok(())
        }
    }
}

fn worker(shared: &Shared) {
    let mut seen = 0u64;
    loop {
        let job = {
            let mut ctl = lock(&shared.ctl);
            while ctl.generation == seen && !ctl.shutdown {
                ctl = shared.wake.wait(ctl).unwrap_or_else(|e| e.into_inner());
            }
            if ctl.shutdown {
                return;
            }
            seen = ctl.generation;
            ctl.job
        };
        // SAFETY: the caller published `job` for this generation and waits for this worker's
        // `finished` report below before the job leaves its stack.
        unsafe { (*job).work() };
        let mut ctl = lock(&shared.ctl);
        ctl.finished += 1;
        drop(ctl);
        shared.done.notify_one();
    }
}

impl Drop for Builtin {
    fn drop(&mut self) {
        lock(&self.shared.ctl).shutdown = true;
        self.shared.wake.notify_all();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_and_align() {
        for &addr in &[0usize, 2, 6, 62, 64, 100] {
            for &n in &[0usize, 1, 1000, 1 << 16, (1 << 20) + 3] {
                for &threads in &[1usize, 2, 3, 8] {
                    let c = Chunks::new(n, threads, addr, 2);
                    let mut next = 0;
                    for i in 0..c.count() {
                        let r = c.range(i);
                        assert_eq!(r.start, next);
                        assert!(r.end > r.start);
                        if r.end < n {
                            assert_eq!((addr + r.end * 2) % 64, 0, "boundary splits a line");
                        }
                        next = r.end;
                    }
                    assert_eq!(next, n);
                }
            }
        }
    }

    #[test]
    fn pool_runs_every_task_once_and_reports_panics() {
        let pool = Threadpool::new(3).unwrap();
        assert_eq!(pool.threads(), 3);
        for round in 0..50 {
            let n = 1 + round * 7;
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            parallel_for(Some(&pool), n, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
        let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
        let r = parallel_for(Some(&pool), 64, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
            if i == 5 {
                panic!("task 5 fails");
            }
        });
        assert_eq!(r, Err(Status::InternalError));
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        // The pool still works after a panic.
        parallel_for(Some(&pool), 4, &|_| {}).unwrap();
        assert_eq!(
            parallel_for(None, 2, &|_| panic!("x")),
            Err(Status::InternalError)
        );
    }
}
