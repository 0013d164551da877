//! MoE top-K gating (`topk_gating`) and the dispatch plan that regroups its output by expert
//! (`moe_dispatch_plan`, `moe_align_blocks`). Semantics: `specs/moe-gating.md` and the module
//! docs of `ukernels::gating`.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{SharedPtr, buffer};
use crate::config::gating::{GateFn, GatingElem};
use crate::config::{Kernel, KernelTable};
use crate::isa::IsaLevel;
use crate::status::{Result, Status};
use crate::threadpool::{self, Threadpool};
use crate::ukernels::gating::{GroupScore, Plan, Post, Score, Scratch};

/// Flag: results bit-identical on every ISA level (no FMA, exact division).
pub const FLAG_CONSISTENT: u32 = 0x1;
/// Largest number of experts.
pub const MAX_EXPERTS: usize = 65536;
/// Largest k.
pub const MAX_K: usize = 64;

/// The gating parameters as the C caller gives them (unchecked integers).
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    /// E.
    pub num_experts: u32,
    /// k.
    pub k: u32,
    /// 0 identity, 1 softmax, 2 sigmoid, 3 sqrt-softplus.
    pub score_fn: u32,
    /// 0 none, 1 softmax, 2 sigmoid.
    pub post_fn: u32,
    /// 0 none, 1 sum.
    pub normalize: u32,
    /// Added to the sum.
    pub norm_eps: f32,
    /// Final factor.
    pub scale: f32,
    /// 0 or 1: no groups.
    pub n_group: u32,
    /// Groups kept.
    pub topk_group: u32,
    /// 0 max, 1 sum of top 2.
    pub group_score: u32,
}

/// Validates `p` (and the bias, `E` values or none) into a [`Plan`]:
/// [`Status::InvalidParameter`] for an unknown enum value, k outside `1..=E`, E = 0, groups that
/// do not divide E, `topk_group` outside `1..=n_group`, kept groups holding fewer than k
/// experts, a NaN, infinite or negative `norm_eps`, a non-finite `scale`;
/// [`Status::UnsupportedParameter`] for E > [`MAX_EXPERTS`] or k > [`MAX_K`].
pub fn plan(p: &Params, bias: Option<&[f32]>) -> Result<Plan> {
    let bad = Err(Status::InvalidParameter);
    let e = p.num_experts as usize;
    let k = p.k as usize;
    if e == 0 || k == 0 || k > e {
        return bad;
    }
    let score = match p.score_fn {
        0 => Score::Identity,
        1 => Score::Softmax,
        2 => Score::Sigmoid,
        3 => Score::SqrtSoftplus,
        _ => return bad,
    };
    let post = match p.post_fn {
        0 => Post::None,
        1 => Post::Softmax,
        2 => Post::Sigmoid,
        _ => return bad,
    };
    let normalize = match p.normalize {
        0 => false,
        1 => true,
        _ => return bad,
    };
    let group_score = match p.group_score {
        0 => GroupScore::Max,
        1 => GroupScore::SumTop2,
        _ => return bad,
    };
    if !(p.norm_eps.is_finite() && p.norm_eps >= 0.0 && p.scale.is_finite()) {
        return bad;
    }
    let groups = (p.n_group as usize).max(1);
    let topk_group = if groups > 1 {
        let tg = p.topk_group as usize;
        if !e.is_multiple_of(groups) || tg == 0 || tg > groups || tg * (e / groups) < k {
            return bad;
        }
        tg
    } else {
        1
    };
    if e > MAX_EXPERTS || k > MAX_K {
        return Err(Status::UnsupportedParameter);
    }
    let bias = match bias {
        Some(b) if b.len() == e => {
            let mut v = Vec::new();
            v.try_reserve_exact(e.next_multiple_of(16))
                .map_err(|_| Status::OutOfMemory)?;
            v.extend_from_slice(b);
            v.resize(e.next_multiple_of(16), 0.0);
            Some(v)
        }
        Some(_) => return bad,
        None => None,
    };
    Ok(Plan {
        experts: e,
        k,
        score,
        post,
        normalize,
        eps: p.norm_eps,
        scale: p.scale,
        groups,
        topk_group,
        group_score,
        bias,
    })
}

/// [`Status::InvalidParameter`] for unknown flag bits.
pub fn check_flags(flags: u32) -> Result<()> {
    if flags & !FLAG_CONSISTENT != 0 {
        Err(Status::InvalidParameter)
    } else {
        Ok(())
    }
}

/// The kernel for `T` at `isa` under `flags`.
pub fn kernel<T: GatingElem>(flags: u32, isa: IsaLevel) -> &'static Kernel<GateFn<T::S>> {
    let table: &'static KernelTable<GateFn<T::S>> = if flags & FLAG_CONSISTENT != 0 {
        T::CONSISTENT
    } else {
        T::FUSED
    };
    table.get(isa)
}

/// Checks the buffers of a gating call: logits `[tokens][stride]` (E read per row), ids and
/// weights `[tokens][k]`; non-NULL and aligned unless empty, no overlap between any two.
pub fn check_buffers<S>(
    p: &Plan,
    tokens: usize,
    stride: usize,
    x: *const S,
    ids: *const i32,
    w: *const f32,
) -> Result<()> {
    if stride < p.experts {
        return Err(Status::InvalidParameter);
    }
    let rx = buffer::region(x, tokens, p.experts, stride)?;
    let ri = buffer::region(ids, tokens, p.k, p.k)?;
    let rw = buffer::region(w, tokens, p.k, p.k)?;
    buffer::pairwise_disjoint(&[&rx, &ri, &rw])
}

/// Rows per task: enough work per task to pay for its scratch, all threads busy.
fn rows_per_task(p: &Plan, tokens: usize, threads: usize) -> usize {
    if threads <= 1 {
        return tokens.max(1);
    }
    let min_rows = (4096 / p.experts).max(1);
    tokens.div_ceil(threads).max(min_rows)
}

/// Gates `tokens` rows with `f` (buffers already checked).
///
/// # Safety
/// The buffers hold what [`check_buffers`] checked and stay valid during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn execute<S>(
    f: GateFn<S>,
    p: &Plan,
    tokens: usize,
    stride: usize,
    x: *const S,
    ids: *mut i32,
    w: *mut f32,
    tp: Option<&Threadpool>,
) -> Result<()> {
    if tokens == 0 {
        return Ok(());
    }
    let per = rows_per_task(p, tokens, threadpool::threads(tp));
    let tasks = tokens.div_ceil(per);
    let (xs, is, ws) = (SharedPtr(x.cast_mut()), SharedPtr(ids), SharedPtr(w));
    let failed = AtomicBool::new(false);
    threadpool::parallel_for(tp, tasks, &|t| {
        let start = t * per;
        let rows = per.min(tokens - start);
        let Ok(mut scratch) = Scratch::new(p) else {
            failed.store(true, Ordering::Relaxed);
            return;
        };
        // SAFETY: rows start..start+rows are inside the checked buffers; tasks write disjoint
        // rows of ids and weights.
        unsafe {
            f(
                p,
                rows,
                xs.get().add(start * stride),
                stride,
                is.get().add(start * p.k),
                ws.get().add(start * p.k),
                &mut scratch,
            )
        }
    })?;
    if failed.load(Ordering::Relaxed) {
        Err(Status::OutOfMemory)
    } else {
        Ok(())
    }
}

/// One-shot gating: checks everything, then runs.
///
/// # Safety
/// The C caller's contract: the buffers hold what their arguments describe.
#[allow(clippy::too_many_arguments)]
pub unsafe fn one_shot<T: GatingElem>(
    isa: IsaLevel,
    params: &Params,
    bias: Option<&[f32]>,
    tokens: usize,
    x: *const T::S,
    stride: usize,
    ids: *mut i32,
    w: *mut f32,
    flags: u32,
    tp: Option<&Threadpool>,
) -> Result<()> {
    check_flags(flags)?;
    let p = plan(params, bias)?;
    check_buffers(&p, tokens, stride, x, ids, w)?;
    // SAFETY: checked above; the caller keeps the buffers valid.
    unsafe {
        execute(
            kernel::<T>(flags, isa).func,
            &p,
            tokens,
            stride,
            x,
            ids,
            w,
            tp,
        )
    }
}

/// The operator form: plan at create, tokens and stride at reshape, pointers at setup.
pub struct GatingOp<T: GatingElem + 'static> {
    plan: Plan,
    kernel: &'static Kernel<GateFn<T::S>>,
    shape: Option<(usize, usize)>,
    x: *const T::S,
    ids: *mut i32,
    w: *mut f32,
}

impl<T: GatingElem> GatingOp<T> {
    /// A new operator (plan and flags checked).
    pub fn new(plan: Plan, flags: u32, isa: IsaLevel) -> Self {
        GatingOp {
            plan,
            kernel: kernel::<T>(flags, isa),
            shape: None,
            x: std::ptr::null(),
            ids: std::ptr::null_mut(),
            w: std::ptr::null_mut(),
        }
    }

    /// The kernel's registry name.
    pub fn kernel_name(&self) -> &'static std::ffi::CStr {
        self.kernel.name
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Sets tokens and the logits stride (>= E; extents representable).
    pub fn reshape(&mut self, tokens: usize, stride: usize) -> Result<()> {
        if stride < self.plan.experts {
            return Err(Status::InvalidParameter);
        }
        buffer::extent_bytes::<T::S>(tokens, self.plan.experts, stride)?;
        buffer::extent_bytes::<f32>(tokens, self.plan.k, self.plan.k)?;
        self.shape = Some((tokens, stride));
        Ok(())
    }

    /// Sets the buffers.
    pub fn setup(&mut self, x: *const T::S, ids: *mut i32, w: *mut f32) -> Result<()> {
        let (tokens, stride) = self.shape.ok_or(Status::InvalidState)?;
        check_buffers(&self.plan, tokens, stride, x, ids, w)?;
        (self.x, self.ids, self.w) = (x, ids, w);
        Ok(())
    }

    /// Runs on the buffers given at setup.
    pub fn run(&self, tp: Option<&Threadpool>) -> Result<()> {
        let (tokens, stride) = self.shape.ok_or(Status::InvalidState)?;
        // SAFETY: setup checked the buffers for this shape; the caller keeps them valid.
        unsafe {
            execute(
                self.kernel.func,
                &self.plan,
                tokens,
                stride,
                self.x,
                self.ids,
                self.w,
                tp,
            )
        }
    }
}

/// Slots `t * k + j` counted per expert, per task, for a stable parallel counting sort.
struct Histogram {
    tasks: usize,
    per: usize,
    experts: usize,
    counts: Vec<u32>, // [tasks][experts]
}

/// Tasks for `n` slots: one per thread once there is enough work.
fn slot_tasks(n: usize, tp: Option<&Threadpool>) -> (usize, usize) {
    let threads = threadpool::threads(tp);
    let tasks = if n >= 1 << 16 { threads.min(64) } else { 1 }.max(1);
    let per = n.div_ceil(tasks).max(1);
    (n.div_ceil(per).max(1), per)
}

impl Histogram {
    /// Counts `ids[..n]` per expert; [`Status::InvalidParameter`] if one is outside `0..E`.
    fn build(ids: &[i32], experts: usize, tp: Option<&Threadpool>) -> Result<Histogram> {
        let n = ids.len();
        let (tasks, per) = slot_tasks(n, tp);
        let len = tasks.checked_mul(experts).ok_or(Status::OutOfMemory)?;
        let mut counts = Vec::new();
        counts
            .try_reserve_exact(len)
            .map_err(|_| Status::OutOfMemory)?;
        counts.resize(len, 0u32);
        let bad = AtomicBool::new(false);
        let cs = SharedPtr(counts.as_mut_ptr());
        threadpool::parallel_for(tp, tasks, &|t| {
            // SAFETY: task t owns row t of the counts.
            let row = unsafe { std::slice::from_raw_parts_mut(cs.get().add(t * experts), experts) };
            for &id in &ids[(t * per).min(n)..((t + 1) * per).min(n)] {
                match usize::try_from(id) {
                    Ok(e) if e < experts => row[e] += 1,
                    _ => bad.store(true, Ordering::Relaxed),
                }
            }
        })?;
        if bad.load(Ordering::Relaxed) {
            return Err(Status::InvalidParameter);
        }
        Ok(Histogram {
            tasks,
            per,
            experts,
            counts,
        })
    }

    /// Slots per expert.
    fn totals(&self) -> Vec<usize> {
        let mut tot = vec![0usize; self.experts];
        for t in 0..self.tasks {
            for (e, v) in tot.iter_mut().enumerate() {
                *v += self.counts[t * self.experts + e] as usize;
            }
        }
        tot
    }

    /// Calls `place(position, slot)` for every slot, where the slots of expert `e` take
    /// positions `start[e]..` in ascending slot order.
    fn scatter<F: Fn(usize, usize) + Sync>(
        &self,
        ids: &[i32],
        start: &[usize],
        tp: Option<&Threadpool>,
        place: F,
    ) -> Result<()> {
        let n = ids.len();
        threadpool::parallel_for(tp, self.tasks, &|t| {
            let mut next: Vec<usize> = start.to_vec();
            for u in 0..t {
                for (e, v) in next.iter_mut().enumerate() {
                    *v += self.counts[u * self.experts + e] as usize;
                }
            }
            let lo = (t * self.per).min(n);
            for (i, &id) in ids[lo..((t + 1) * self.per).min(n)].iter().enumerate() {
                let e = id as usize; // checked by build
                place(next[e], lo + i);
                next[e] += 1;
            }
        })
    }
}

/// Checks the common arguments of the plan functions; returns `n = tokens * k`.
fn plan_size(tokens: usize, k: usize, experts: usize) -> Result<usize> {
    if k == 0 || experts == 0 {
        return Err(Status::InvalidParameter);
    }
    if experts > MAX_EXPERTS {
        return Err(Status::UnsupportedParameter);
    }
    tokens
        .checked_mul(k)
        .filter(|&n| n <= i32::MAX as usize)
        .ok_or(Status::InvalidParameter)
}

/// A checked output region of `n` elements.
fn out_region<T>(p: *mut T, n: usize) -> Result<Option<std::ops::Range<usize>>> {
    buffer::region(p.cast_const(), 1, n, n)
}

/// Counts, offsets, permutation and (optionally) inverse of `ids` `[tokens][k]`.
///
/// # Safety
/// The C caller's contract: every buffer holds what the API documents.
#[allow(clippy::too_many_arguments)]
pub unsafe fn dispatch_plan(
    tokens: usize,
    k: usize,
    ids: *const i32,
    experts: usize,
    counts: *mut i32,
    offsets: *mut i32,
    perm: *mut i32,
    inverse: *mut i32,
    tp: Option<&Threadpool>,
) -> Result<()> {
    let n = plan_size(tokens, k, experts)?;
    let ri = buffer::region(ids, 1, n, n)?;
    let rc = out_region(counts, experts)?;
    let ro = out_region(offsets, experts + 1)?;
    let rp = out_region(perm, n)?;
    let rv = if inverse.is_null() {
        None
    } else {
        out_region(inverse, n)?
    };
    buffer::pairwise_disjoint(&[&ri, &rc, &ro, &rp, &rv])?;
    // SAFETY: checked region of n elements (or n == 0).
    let ids = unsafe { slice_or_empty(ids, n) };
    let h = Histogram::build(ids, experts, tp)?;
    let tot = h.totals();
    let mut start = Vec::with_capacity(experts);
    let mut acc = 0usize;
    for (e, &c) in tot.iter().enumerate() {
        start.push(acc);
        // SAFETY: e < E and e + 1 <= E: inside the checked counts / offsets.
        unsafe {
            counts.add(e).write(c as i32);
            offsets.add(e).write(acc as i32);
        }
        acc += c;
    }
    // SAFETY: offsets holds E + 1.
    unsafe { offsets.add(experts).write(acc as i32) };
    let (ps, vs) = (SharedPtr(perm), SharedPtr(inverse));
    h.scatter(ids, &start, tp, |pos, slot| {
        // SAFETY: pos and slot are below n; each position and each slot is written once.
        unsafe {
            ps.get().add(pos).write(slot as i32);
            if !vs.get().is_null() {
                vs.get().add(slot).write(pos as i32);
            }
        }
    })
}

/// # Safety
/// `n` readable elements at `p` unless `n == 0`.
unsafe fn slice_or_empty<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

/// The capacity of `sorted_slots` for `moe_align_blocks`: `tokens * k + E * (block - 1)`.
pub fn align_capacity(tokens: usize, k: usize, experts: usize, block: usize) -> Result<usize> {
    let n = plan_size(tokens, k, experts)?;
    if block == 0 {
        return Err(Status::InvalidParameter);
    }
    experts
        .checked_mul(block - 1)
        .and_then(|v| v.checked_add(n))
        .filter(|&c| c <= i32::MAX as usize)
        .ok_or(Status::InvalidParameter)
}

/// vLLM's `moe_align_block_size`: slots grouped by expert, each expert padded to a multiple of
/// `block` with `tokens * k`, one expert id per block.
///
/// # Safety
/// The C caller's contract: every buffer holds what the API documents.
#[allow(clippy::too_many_arguments)]
pub unsafe fn align_blocks(
    tokens: usize,
    k: usize,
    ids: *const i32,
    experts: usize,
    block: usize,
    sorted: *mut i32,
    block_expert: *mut i32,
    padded_total: *mut usize,
    tp: Option<&Threadpool>,
) -> Result<()> {
    let cap = align_capacity(tokens, k, experts, block)?;
    let n = tokens * k;
    let blocks = cap / block;
    let ri = buffer::region(ids, 1, n, n)?;
    let rs = out_region(sorted, cap)?;
    let rb = out_region(block_expert, blocks)?;
    let rt = out_region(padded_total, 1)?;
    buffer::pairwise_disjoint(&[&ri, &rs, &rb, &rt])?;
    // SAFETY: checked region of n elements (or n == 0).
    let ids = unsafe { slice_or_empty(ids, n) };
    let h = Histogram::build(ids, experts, tp)?;
    let tot = h.totals();
    let mut start = Vec::with_capacity(experts);
    let mut acc = 0usize;
    for &c in &tot {
        start.push(acc);
        acc += c.next_multiple_of(block);
    }
    let total = acc; // <= n + E (block - 1) = cap
    let pad = n as i32;
    // SAFETY: every index below is inside the checked regions (total <= cap, total / block
    // <= blocks).
    unsafe {
        for (e, &c) in tot.iter().enumerate() {
            let end = start[e] + c.next_multiple_of(block);
            for i in start[e] + c..end {
                sorted.add(i).write(pad);
            }
            for b in start[e] / block..end / block {
                block_expert.add(b).write(e as i32);
            }
        }
        for i in total..cap {
            sorted.add(i).write(pad);
        }
        for b in total / block..blocks {
            block_expert.add(b).write(-1);
        }
        padded_total.write(total);
    }
    let ss = SharedPtr(sorted);
    h.scatter(ids, &start, tp, |pos, slot| {
        // SAFETY: pos < total <= cap, written once.
        unsafe { ss.get().add(pos).write(slot as i32) }
    })
}
