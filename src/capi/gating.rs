//! MoE top-K gating (one-shot and operator form) and the dispatch plan.

use super::operator::{nnk_operator, publish, with_operator};
use super::threadpool::{nnk_threadpool, pool_ref};
use super::{guard, initialized_isa, nnk_status};
use crate::config::gating::GatingElem;
use crate::operators::gating::{self as g, GatingOp, Params};
use crate::operators::{Body, Operator};
use crate::status::{Result, Status};
use crate::ukernels::simd::{Bf16, F16, F32};

/// Score function: the logit itself.
pub const NNK_SCORE_IDENTITY: u32 = 0;
/// Score function: softmax over the E logits of the token.
pub const NNK_SCORE_SOFTMAX: u32 = 1;
/// Score function: sigmoid of each logit.
pub const NNK_SCORE_SIGMOID: u32 = 2;
/// Score function: `sqrt(log(1 + exp(x)))` of each logit.
pub const NNK_SCORE_SQRT_SOFTPLUS: u32 = 3;
/// Post function over the k selected raw scores: none.
pub const NNK_POST_NONE: u32 = 0;
/// Post function: softmax over the k selected raw scores.
pub const NNK_POST_SOFTMAX: u32 = 1;
/// Post function: sigmoid of each selected raw score.
pub const NNK_POST_SIGMOID: u32 = 2;
/// No normalization.
pub const NNK_NORMALIZE_NONE: u32 = 0;
/// Divide the k weights by their sum plus `norm_eps`.
pub const NNK_NORMALIZE_SUM: u32 = 1;
/// Group key: the best key of the group.
pub const NNK_GROUP_SCORE_MAX: u32 = 0;
/// Group key: the sum of the group's two best keys (the key itself for groups of one).
pub const NNK_GROUP_SCORE_SUM_TOP2: u32 = 1;
/// Largest `num_experts` (larger is `NNK_STATUS_UNSUPPORTED_PARAMETER`).
pub const NNK_MAX_EXPERTS: u32 = 65536;
/// Largest `k` (larger is `NNK_STATUS_UNSUPPORTED_PARAMETER`).
pub const NNK_MAX_TOPK: u32 = 64;

const _: () = {
    assert!(NNK_MAX_EXPERTS as usize == g::MAX_EXPERTS);
    assert!(NNK_MAX_TOPK as usize == g::MAX_K);
    assert!(super::softmax::NNK_FLAG_CONSISTENT_ARITHMETIC == g::FLAG_CONSISTENT);
};

/// Top-K gating parameters (see `nnk_topk_gating_f32`). Family presets, as
/// {score_fn, post_fn, normalize, norm_eps, scale, n_group, topk_group, group_score, bias}:
/// Mixtral {SOFTMAX, NONE, SUM, 0, 1, 0, 0, MAX, NULL}; Qwen3-MoE the same with k 8 of 128;
/// Switch, Qwen2-MoE, OLMoE, Jamba {SOFTMAX, NONE, NONE, ...}; GPT-OSS {IDENTITY, SOFTMAX, NONE};
/// Llama-4 {IDENTITY, SIGMOID, NONE}; DeepSeek-V2 {SOFTMAX, NONE, NONE, 0, 16, 8, 3, MAX};
/// DeepSeek-V3/R1 {SIGMOID, NONE, SUM, 1e-20, 2.5, 8, 4, SUM_TOP2, bias};
/// MiniMax-M2 {SIGMOID, NONE, SUM, 1e-20, 1, 0, 0, MAX, bias}.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nnk_topk_gating_params {
    /// E >= 1 experts (at most `NNK_MAX_EXPERTS`).
    pub num_experts: u32,
    /// 1 <= k <= E experts chosen per token (at most `NNK_MAX_TOPK`).
    pub k: u32,
    /// `NNK_SCORE_IDENTITY`, `_SOFTMAX`, `_SIGMOID` or `_SQRT_SOFTPLUS`, over all E.
    pub score_fn: u32,
    /// `NNK_POST_NONE`, `_SOFTMAX` or `_SIGMOID`, over the k selected raw scores.
    pub post_fn: u32,
    /// `NNK_NORMALIZE_NONE` or `NNK_NORMALIZE_SUM`.
    pub normalize: u32,
    /// Added to the sum before dividing (finite, >= 0).
    pub norm_eps: f32,
    /// Routed scaling factor, applied last (finite; 1 for none).
    pub scale: f32,
    /// Number of expert groups; 0 or 1: no grouping. Must divide E.
    pub n_group: u32,
    /// Groups kept (1..n_group), holding at least k experts together.
    pub topk_group: u32,
    /// `NNK_GROUP_SCORE_MAX` or `NNK_GROUP_SCORE_SUM_TOP2`.
    pub group_score: u32,
    /// NULL, or E floats added to the scores for ranking only (never to the weights). The
    /// operator form copies them at create.
    pub selection_bias: *const f32,
}

/// Reads and validates the C parameters into a plan.
///
/// # Safety
/// `p` NULL or readable; its bias NULL or E readable floats.
unsafe fn read_plan(p: *const nnk_topk_gating_params) -> Result<crate::ukernels::gating::Plan> {
    // SAFETY: the caller's contract.
    let p = unsafe { p.as_ref() }.ok_or(Status::InvalidParameter)?;
    let params = Params {
        num_experts: p.num_experts,
        k: p.k,
        score_fn: p.score_fn,
        post_fn: p.post_fn,
        normalize: p.normalize,
        norm_eps: p.norm_eps,
        scale: p.scale,
        n_group: p.n_group,
        topk_group: p.topk_group,
        group_score: p.group_score,
    };
    let e = p.num_experts as usize;
    let b = p.selection_bias;
    let bias = if b.is_null() || e == 0 || e > g::MAX_EXPERTS {
        None // the plan rejects E anyway
    } else if !(b as usize).is_multiple_of(align_of::<f32>()) {
        return Err(Status::InvalidParameter);
    } else {
        // SAFETY: the caller's contract: E readable floats.
        Some(unsafe { std::slice::from_raw_parts(b, e) })
    };
    g::plan(&params, bias)
}

/// Shared body of the one-shot calls.
///
/// # Safety
/// The C caller's contract.
#[allow(clippy::too_many_arguments)]
unsafe fn one_shot<T: GatingElem>(
    p: *const nnk_topk_gating_params,
    tokens: usize,
    logits: *const T::S,
    stride: usize,
    ids: *mut i32,
    weights: *mut f32,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        // SAFETY: forwarded contract.
        let tp = unsafe { pool_ref(tp) }?;
        g::check_flags(flags)?;
        // SAFETY: forwarded contract.
        let plan = unsafe { read_plan(p) }?;
        g::check_buffers(&plan, tokens, stride, logits, ids, weights)?;
        let f = g::kernel::<T>(flags, isa).func;
        // SAFETY: checked above; the caller keeps the buffers valid.
        unsafe { g::execute(f, &plan, tokens, stride, logits, ids, weights, tp) }
    })
}

/// Top-K gating of f32 router logits: for each of `tokens` rows of E logits (`logits_stride`
/// elements apart, >= E), writes the k chosen expert ids to `ids[t * k ..]` and their weights
/// to `weights[t * k ..]`, sorted by descending selection key, ties to the lower expert index.
/// Pipeline: score_fn over all E; key = score + selection_bias; groups (keep the best
/// `topk_group`, the others rank as -inf); top k by key; post_fn over the k raw scores;
/// normalize; times scale. A NaN or -inf logit ranks as -inf and weighs 0; every row yields k
/// distinct ids in [0, E) (an all -inf/NaN row without bias: ids 0..k-1, weights 0); +inf
/// entries share the mass equally. Weights within 1e-6 relative (+1e-37) of exact.
/// `flags`: 0 or `NNK_FLAG_CONSISTENT_ARITHMETIC` (bit-identical on every ISA); other bits,
/// invalid parameters (see `nnk_topk_gating_params`), NULL or overlapping buffers are
/// `NNK_STATUS_INVALID_PARAMETER`, and nothing is written. `tokens == 0` succeeds.
///
/// # Safety
/// `p` readable, its bias NULL or E floats; the buffers valid for their shapes; `tp` NULL or a
/// live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_topk_gating_f32(
    p: *const nnk_topk_gating_params,
    tokens: usize,
    logits: *const f32,
    logits_stride: usize,
    ids: *mut i32,
    weights: *mut f32,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { one_shot::<F32>(p, tokens, logits, logits_stride, ids, weights, flags, tp) }
}

/// `nnk_topk_gating_f32` for IEEE half logits (`uint16_t` bits, widened exactly).
///
/// # Safety
/// As for `nnk_topk_gating_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_topk_gating_f16(
    p: *const nnk_topk_gating_params,
    tokens: usize,
    logits: *const u16,
    logits_stride: usize,
    ids: *mut i32,
    weights: *mut f32,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { one_shot::<F16>(p, tokens, logits, logits_stride, ids, weights, flags, tp) }
}

/// `nnk_topk_gating_f32` for bfloat16 logits (`uint16_t` bits, widened exactly).
///
/// # Safety
/// As for `nnk_topk_gating_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_topk_gating_bf16(
    p: *const nnk_topk_gating_params,
    tokens: usize,
    logits: *const u16,
    logits_stride: usize,
    ids: *mut i32,
    weights: *mut f32,
    flags: u32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { one_shot::<Bf16>(p, tokens, logits, logits_stride, ids, weights, flags, tp) }
}

/// Shared body of the create calls.
///
/// # Safety
/// The C caller's contract.
unsafe fn create<T: GatingElem>(
    p: *const nnk_topk_gating_params,
    flags: u32,
    out: *mut *mut nnk_operator,
    body: fn(GatingOp<T>) -> Body,
) -> nnk_status {
    guard(|| {
        let isa = initialized_isa()?;
        g::check_flags(flags)?;
        // SAFETY: forwarded contract.
        let plan = unsafe { read_plan(p) }?;
        let op = Operator::new(isa, body(GatingOp::new(plan, flags, isa)));
        // SAFETY: forwarded contract.
        unsafe { publish(op, out) }
    })
}

/// Creates a top-K gating operator over f32 logits with the parameters of `p` (validated and
/// copied, bias included) and `flags` as for `nnk_topk_gating_f32`.
///
/// # Safety
/// `p` readable, its bias NULL or E floats; `op` NULL (rejected) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_topk_gating_f32(
    p: *const nnk_topk_gating_params,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<F32>(p, flags, op, Body::GatingF32) }
}

/// Creates a top-K gating operator over IEEE half logits.
///
/// # Safety
/// As for `nnk_create_topk_gating_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_topk_gating_f16(
    p: *const nnk_topk_gating_params,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<F16>(p, flags, op, Body::GatingF16) }
}

/// Creates a top-K gating operator over bfloat16 logits.
///
/// # Safety
/// As for `nnk_create_topk_gating_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_create_topk_gating_bf16(
    p: *const nnk_topk_gating_params,
    flags: u32,
    op: *mut *mut nnk_operator,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe { create::<Bf16>(p, flags, op, Body::GatingBf16) }
}

/// Picks the gating body of type `T`.
fn pick<T: GatingElem>(
    f: fn(&mut Body) -> Option<&mut GatingOp<T>>,
) -> impl FnOnce(&mut Body) -> Option<&mut GatingOp<T>> {
    f
}

fn body_f32(b: &mut Body) -> Option<&mut GatingOp<F32>> {
    match b {
        Body::GatingF32(o) => Some(o),
        _ => None,
    }
}
fn body_f16(b: &mut Body) -> Option<&mut GatingOp<F16>> {
    match b {
        Body::GatingF16(o) => Some(o),
        _ => None,
    }
}
fn body_bf16(b: &mut Body) -> Option<&mut GatingOp<Bf16>> {
    match b {
        Body::GatingBf16(o) => Some(o),
        _ => None,
    }
}

/// Sets `tokens` (0 allowed) and the logits stride (>= E elements). An operator of another
/// type is `NNK_STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_topk_gating_f32(
    op: *mut nnk_operator,
    tokens: usize,
    logits_stride: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick(body_f32), |g| g.reshape(tokens, logits_stride))
        })
    }
}

/// `nnk_reshape_topk_gating_f32` for an f16 gating operator.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_topk_gating_f16(
    op: *mut nnk_operator,
    tokens: usize,
    logits_stride: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick(body_f16), |g| g.reshape(tokens, logits_stride))
        })
    }
}

/// `nnk_reshape_topk_gating_f32` for a bf16 gating operator.
///
/// # Safety
/// `op` NULL or a live operator handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_reshape_topk_gating_bf16(
    op: *mut nnk_operator,
    tokens: usize,
    logits_stride: usize,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.reshape(pick(body_bf16), |g| g.reshape(tokens, logits_stride))
        })
    }
}

/// Sets the buffers: logits, `ids` and `weights` (`[tokens][k]` each); non-NULL unless tokens
/// is 0, aligned, no two overlapping. `NNK_STATUS_INVALID_STATE` before a reshape.
///
/// # Safety
/// `op` NULL or a live operator handle; the buffers valid for every run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_topk_gating_f32(
    op: *mut nnk_operator,
    logits: *const f32,
    ids: *mut i32,
    weights: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick(body_f32), |g| g.setup(logits, ids, weights))
        })
    }
}

/// `nnk_setup_topk_gating_f32` for an f16 gating operator.
///
/// # Safety
/// As for `nnk_setup_topk_gating_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_topk_gating_f16(
    op: *mut nnk_operator,
    logits: *const u16,
    ids: *mut i32,
    weights: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick(body_f16), |g| g.setup(logits, ids, weights))
        })
    }
}

/// `nnk_setup_topk_gating_f32` for a bf16 gating operator.
///
/// # Safety
/// As for `nnk_setup_topk_gating_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nnk_setup_topk_gating_bf16(
    op: *mut nnk_operator,
    logits: *const u16,
    ids: *mut i32,
    weights: *mut f32,
) -> nnk_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_operator(op, |o| {
            o.setup(pick(body_bf16), |g| g.setup(logits, ids, weights))
        })
    }
}

/// The dispatch plan of `ids` (`[tokens][k]`, each in [0, num_experts)) for a grouped GEMM:
/// `counts[e]` slots per expert, `offsets[e]` their exclusive prefix sum (`offsets[E]` =
/// tokens * k), `permutation` the flat slots `t * k + j` grouped by expert, ascending within
/// an expert, and, unless `inverse` is NULL, `inverse[permutation[i]] = i`. The result does not
/// depend on the pool. An id outside [0, E), k = 0, E = 0, tokens * k > INT32_MAX, NULL or
/// overlapping buffers: `NNK_STATUS_INVALID_PARAMETER`, nothing written; E >
/// `NNK_MAX_EXPERTS`: `NNK_STATUS_UNSUPPORTED_PARAMETER`.
///
/// # Safety
/// The buffers hold the documented sizes; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nnk_moe_dispatch_plan(
    tokens: usize,
    k: usize,
    ids: *const i32,
    num_experts: usize,
    counts: *mut i32,
    offsets: *mut i32,
    permutation: *mut i32,
    inverse: *mut i32,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        initialized_isa()?;
        // SAFETY: forwarded contract.
        let tp = unsafe { pool_ref(tp) }?;
        // SAFETY: forwarded contract.
        unsafe {
            g::dispatch_plan(
                tokens,
                k,
                ids,
                num_experts,
                counts,
                offsets,
                permutation,
                inverse,
                tp,
            )
        }
    })
}

/// Block-aligned dispatch (vLLM's `moe_align_block_size`): the slots of each expert (ascending,
/// as in `nnk_moe_dispatch_plan`) padded to a multiple of `block` (>= 1) with the pad value
/// tokens * k, experts in order, into `sorted_slots`, whose capacity is
/// tokens * k + num_experts * (block - 1) (entries past the padded total are set to the pad
/// value); `block_expert[b]` is the expert of block b for the `*padded_total / block` blocks
/// used, -1 for the rest of its capacity / block entries; `*padded_total` the padded length.
/// Errors as for `nnk_moe_dispatch_plan` (also block = 0, capacity > INT32_MAX); nothing is
/// written on error.
///
/// # Safety
/// The buffers hold the documented sizes; `tp` NULL or a live pool.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nnk_moe_align_blocks(
    tokens: usize,
    k: usize,
    ids: *const i32,
    num_experts: usize,
    block: usize,
    sorted_slots: *mut i32,
    block_expert: *mut i32,
    padded_total: *mut usize,
    tp: *mut nnk_threadpool,
) -> nnk_status {
    guard(|| {
        initialized_isa()?;
        // SAFETY: forwarded contract.
        let tp = unsafe { pool_ref(tp) }?;
        // SAFETY: forwarded contract.
        unsafe {
            g::align_blocks(
                tokens,
                k,
                ids,
                num_experts,
                block,
                sorted_slots,
                block_expert,
                padded_total,
                tp,
            )
        }
    })
}
