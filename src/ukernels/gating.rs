//! MoE top-K gating microkernels, written once over [`V16`] and instantiated per ISA in
//! `scalar`, `avx2` and `avx512` (the pattern of `ukernels::softmax`).
//!
//! One row (one token's router logits, `E` of them) goes through the pipeline of
//! `specs/moe-gating.md`:
//!
//! 1. one vector pass widens the row to f32 (NaN kept) and forms the selection keys; when the
//!    keys are not the logits themselves (a bias, or `SUM_TOP2` groups over a non-identity
//!    score), the same pass computes the sigmoid / sqrt-softplus scores and
//!    `key = score + bias`; softmax first needs the row max, so its scores take a second pass
//!    (exp and an f64-lane sum). Without a bias the keys are the logits, because every score
//!    function is strictly increasing: ranking by the logit is ranking by the exact score, and
//!    rounding can never create a tie that the exact scores do not have;
//! 2. groups: each group's key (max, or top1 + top2 in f32 in that order), the best
//!    `topk_group` groups kept, the keys of the others set to −inf;
//! 3. selection by the total order "key descending, then expert index ascending": a lower
//!    bound `t` on the k-th key is the k-th largest of the 16 lane maxima (16 distinct experts,
//!    so at least k keys are `>= t`); the experts with key `>= t` (usually a few more than k)
//!    are compressed with their indices (a second bound on them when they are many more), then
//!    ranked branch-free; when they are too many (ties, k > 16), a k-element heap over the row
//!    does it in O(E log k);
//! 4. weights from the k selected raw scores, in place in the caller's row: `post_fn`,
//!    `normalize`, `scale`, each stage's sums and quotients in f64 and rounded to f32.
//!
//! Routers without bias or groups and with small E and k (Mixtral, Jamba, GPT-OSS, OLMoE,
//! Qwen-MoE, Switch-8: `Plan::token_parallel`) take the token-parallel kernel instead
//! ([`gate_lanes`]): 16 rows at once, one per lane, with no horizontal reductions; its rows with
//! special values still go through the row kernel.
//!
//! Non-finite values: a NaN or −inf logit ranks as −inf whatever the bias (−inf is how
//! runtimes mask an expert); a selected expert whose key is −inf (such a logit, a masked group,
//! a NaN key) weighs 0. `+inf` entries share the mass equally, as in softmax (DESIGN.md): in
//! the softmax score, in a `post_fn = SOFTMAX`, and in `normalize = SUM`. A sum of 0 (all weights
//! 0, `norm_eps` 0) gives weights 0, never NaN.

use crate::ukernels::simd::{Elem, V16};
use crate::ukernels::softmax::{
    self, ExpParams, ExpVec, SHIFT_LIMIT, exp_parts, mode, round_log2e_lanes,
};

/// Score function over all experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// The logit itself.
    Identity,
    /// Softmax over the row.
    Softmax,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `sqrt(ln(1 + exp(x)))`.
    SqrtSoftplus,
}

/// Function over the k selected raw scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Post {
    /// Raw scores.
    None,
    /// Softmax over the k.
    Softmax,
    /// Sigmoid of each.
    Sigmoid,
}

/// How a group of experts is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupScore {
    /// The best key in the group.
    Max,
    /// The sum of the two best keys (the key itself for a group of one).
    SumTop2,
}

/// A validated gating configuration (built by `operators::gating`).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// E >= 1.
    pub experts: usize,
    /// 1 <= k <= E.
    pub k: usize,
    /// Score function.
    pub score: Score,
    /// Function over the selected.
    pub post: Post,
    /// Divide by the sum (+ eps).
    pub normalize: bool,
    /// Added to the sum.
    pub eps: f32,
    /// Final factor.
    pub scale: f32,
    /// Number of groups (1: no grouping); divides E.
    pub groups: usize,
    /// Groups kept (<= groups, and topk_group * E / groups >= k).
    pub topk_group: usize,
    /// Group key.
    pub group_score: GroupScore,
    /// Selection bias, padded with zeros to a multiple of 16.
    pub bias: Option<Vec<f32>>,
}

impl Plan {
    /// E rounded up to whole vectors.
    pub fn padded(&self) -> usize {
        self.experts.next_multiple_of(16)
    }

    /// Whether rows may go 16 at a time through the token-parallel kernel ([`gate_lanes`]):
    /// no bias, no groups, `E <= LANES_MAX_EXPERTS`, `k <= LANES_MAX_K`.
    pub fn token_parallel(&self) -> bool {
        self.bias.is_none()
            && self.groups <= 1
            && self.experts <= LANES_MAX_EXPERTS
            && self.k <= LANES_MAX_K
    }

    /// Whether the kernel over `V` uses the token-parallel kernel. Measured (1 thread, 4096
    /// tokens, ns/token, row kernel -> token-parallel): AVX-512 Mixtral E8 k2 106 -> 10,
    /// OLMoE E64 k8 168 -> 69-72, Qwen3 E128 k8 220 -> 141; AVX2 119 -> 19, 336 -> 146-153,
    /// 440 -> 288; portable 197 -> 70, 880 -> 706-722, but 1287 -> 2200 at E128: the portable
    /// level stops at 64 experts.
    pub fn token_parallel_on<V: V16>(&self) -> bool {
        self.token_parallel() && (V::SIMD || self.experts <= 64)
    }

    /// Whether the row kernel takes the grouped path ([`gate_row_grouped`]): 2 to
    /// [`GROUPED_MAX_GROUPS`] groups of whole vectors, a score computed expert by expert (not
    /// softmax), `k <= 16`.
    pub fn grouped(&self) -> bool {
        (2..=GROUPED_MAX_GROUPS).contains(&self.groups)
            && (self.experts / self.groups).is_multiple_of(16)
            && self.score != Score::Softmax
            && self.k <= 16
    }

    /// Whether the selection keys are the logits (see the module docs).
    pub fn keys_are_logits(&self) -> bool {
        self.bias.is_none()
            && (self.groups <= 1
                || self.group_score == GroupScore::Max
                || self.score == Score::Identity)
    }
}

/// Per-task working memory of the row kernel, sized for one plan.
#[derive(Debug, Default)]
pub struct Scratch {
    f: Vec<f32>,
    u: Vec<u32>,
    /// 16 rows transposed (E rounded up to whole vectors), for the token-parallel kernel.
    tile: Vec<f32>,
}

/// Most experts of the token-parallel kernel.
pub const LANES_MAX_EXPERTS: usize = 128;
/// Largest k of the token-parallel kernel.
pub const LANES_MAX_K: usize = 8;

/// Most groups of the grouped path.
pub const GROUPED_MAX_GROUPS: usize = 8;

/// Most candidates sorted directly; beyond, the heap.
const CANDIDATES: usize = 64;

impl Scratch {
    /// Working memory for `plan`; [`crate::Status::OutOfMemory`] if it cannot be allocated.
    pub fn new(plan: &Plan) -> crate::Result<Scratch> {
        let ep = plan.padded();
        // Grouped plans keep two rows' scores and keys (see `gate_rows_grouped`).
        let rows_f = if plan.grouped() { 4 } else { 3 };
        let nf = rows_f * ep + plan.groups.next_multiple_of(16);
        let nu = ep + 16;
        let nt = if plan.token_parallel() { 16 * ep } else { 0 };
        let mut s = Scratch::default();
        let oom = |_| crate::Status::OutOfMemory;
        s.f.try_reserve_exact(nf).map_err(oom)?;
        s.u.try_reserve_exact(nu).map_err(oom)?;
        s.tile.try_reserve_exact(nt).map_err(oom)?;
        s.f.resize(nf, 0.0);
        s.u.resize(nu, 0);
        s.tile.resize(nt, 0.0);
        Ok(s)
    }
}

/// `exp(x)` for `x >= -86` (lower clamps there).
const EXP_PLAIN: ExpParams = ExpParams {
    lo: -EXP_SPAN,
    shift: 0.0,
    n_ref: 0.0,
};

/// `exp_rel` of `ukernels::softmax`, where the callers clamp the argument at 86 below the
/// reference ([`EXP_SPAN`]), so every result is a normal number and the scaling is exact on
/// every ISA (`scalef` with FMA, the exponent-bits product without). No subnormal is ever
/// produced: on Intel cores each subnormal result costs a microcode assist (measured: 36% of a
/// Mixtral row's time went to the padding lanes' `scalef` before the clamp). A clamped value is
/// at most e^-86 = 4.5e-38 of the largest one, within the contract's 1e-37 absolute bound, and
/// never reaches a weight: experts with −inf keys weigh 0.
#[inline(always)]
fn exp_rel<V: V16, const FUSED: bool, const SHIFT: bool>(x: V, p: &ExpParams) -> V {
    // Always with the clamp and `k = n - n_ref` (the callers rely on both for normal results).
    const PLAIN: u8 = mode::CLAMP | mode::SUB;
    const SHIFTED: u8 = mode::CLAMP | mode::SUB | mode::SHIFT;
    let (e, k) = if SHIFT {
        exp_parts::<V, FUSED, SHIFTED>(x, &ExpVec::new::<SHIFTED>(p))
    } else {
        exp_parts::<V, FUSED, PLAIN>(x, &ExpVec::new::<PLAIN>(p))
    };
    V::pow2_scale::<FUSED>(e, k)
}

/// Arguments more than this below the reference are clamped (see [`exp_rel`]).
const EXP_SPAN: f32 = 86.0;

/// [`ExpParams::for_max`] with the gating clamp.
fn params_for_max(m: f32) -> ExpParams {
    let mut p = ExpParams::for_max(m);
    p.lo = if p.shift != 0.0 {
        -EXP_SPAN
    } else {
        m - EXP_SPAN
    };
    p
}

/// `|x|` (NaN stays NaN).
#[inline(always)]
fn vabs<V: V16>(x: V) -> V {
    x.max(V::splat(0.0).sub(x))
}

/// Sigmoid: `1 / (1 + exp(-x))` with `x` clamped to [-86, 86], so `exp(-x)` is normal and at
/// most e^86 ~ 2^124 (its reciprocal stays normal, and keeps the relative accuracy of the
/// small side: a few ulp); below -86 it is 0 (the true value is below e^-86 = 4.5e-38, and
/// the clamped value would be scaled up by a normalization, e.g. to 4e-36 by DeepSeek's x2.5
/// when the other selected weights are small). The pass that scores a DeepSeek-V3 row is
/// bound by its vector operations: this form has no `|x|`, no second select and no product
/// (`exp` of the negated argument is one of the kernel's modes).
#[inline(always)]
pub fn sigmoid<V: V16, const FUSED: bool>(x: V) -> V {
    const NEG: u8 = mode::NEG;
    let span = V::splat(EXP_SPAN);
    // Constants first: `max` / `min` keep a NaN `x`.
    let xc = span.min(V::splat(-EXP_SPAN).max(x));
    let e = softmax::exp_rel::<V, FUSED, NEG>(xc, &ExpVec::new::<NEG>(&EXP_PLAIN));
    let r = V::splat(1.0).add(e).recip::<FUSED>();
    V::select_lt(x, V::splat(-EXP_SPAN), V::splat(0.0), r)
}

/// `sqrt(softplus(x))` with `h = exp(-|x|/2)`, `t = h^2 = exp(-|x|)` and
/// `log1p(t) = 2s * P(s^2)`, `s = t / (2 + t) <= 1/3`, `P(z) = 1 + z/3 + ... + z^6/13` (Taylor,
/// truncation below 1.4e-8 relative): `sqrt(x + log1p(t))` for `x > 0`, and
/// `h * sqrt(2 P / (2 + t))` for `x <= 0` (= `sqrt(log1p(h^2))` without forming the tiny `t`,
/// so the result keeps its relative accuracy down to `x` = -174 and is < 1e-37 beyond).
#[inline(always)]
pub fn sqrt_softplus<V: V16, const FUSED: bool>(x: V) -> V {
    let zero = V::splat(0.0);
    let ax = vabs(x);
    let h = exp_rel::<V, FUSED, false>(zero.sub(ax.mul(V::splat(0.5))), &EXP_PLAIN);
    // t is only ever added to 2 or to x >= 41, where anything below 2^-60 is lost: clamping
    // keeps t, s and z = s^2 normal (no subnormal assists).
    let hc = h.max(V::splat(f32::from_bits(0x3080_0000))); // 2^-30
    let t = hc.mul(hc);
    let r = V::splat(2.0).add(t).recip::<FUSED>();
    let s = t.mul(r);
    let z = s.mul(s);
    let mut p = V::fmadd::<FUSED>(z, V::splat(1.0 / 13.0), V::splat(1.0 / 11.0));
    p = V::fmadd::<FUSED>(p, z, V::splat(1.0 / 9.0));
    p = V::fmadd::<FUSED>(p, z, V::splat(1.0 / 7.0));
    p = V::fmadd::<FUSED>(p, z, V::splat(1.0 / 5.0));
    p = V::fmadd::<FUSED>(p, z, V::splat(1.0 / 3.0));
    p = V::fmadd::<FUSED>(p, z, V::splat(1.0));
    let two_p = p.add(p);
    let pos = ax.add(s.mul(two_p)).sqrt();
    let neg = h.mul(two_p.mul(r).sqrt());
    V::select_lt(zero, x, pos, neg)
}

/// Applies a vector expression of `$x` to the f32 slice `$v` in chunks of 16 (the last one
/// loaded partially, padded with 0). A macro, not a function taking a closure: a closure does not inherit the
/// kernel's target features, and the vector code in it would not be inlined (measured: the
/// weights' sigmoid ran as calls, ~6% of a DeepSeek-V3 row).
macro_rules! vmap {
    ($V:ty, $v:expr, |$x:ident| $body:expr) => {
        for chunk in $v.chunks_mut(16) {
            let n = chunk.len();
            // SAFETY: `n` elements in the chunk (masked partial loads and stores, no copies
            // of variable length).
            let $x = unsafe {
                if n == 16 {
                    <$V>::load_f32(chunk.as_ptr())
                } else {
                    <$V>::load_f32_partial(chunk.as_ptr(), n, 0.0)
                }
            };
            let r: $V = $body;
            // SAFETY: as above.
            unsafe {
                if n == 16 {
                    r.store_f32(chunk.as_mut_ptr())
                } else {
                    r.store_f32_partial(chunk.as_mut_ptr(), n)
                }
            }
        }
    };
}

/// `exp(x - m)` for `x` below the finite `m`, each scaled by one common power of two (ratios
/// kept to f32 accuracy, as in softmax), for `n` values at `x` into `out` (both padded to 16).
#[inline(always)]
unsafe fn exp_rows<V: V16, const FUSED: bool>(
    x: *const f32,
    out: *mut f32,
    n16: usize,
    m: f32,
) -> f64 {
    let p = params_for_max(m);
    let zero = V::splat(0.0);
    let mut acc = V::dzero();
    for i in 0..n16 {
        // SAFETY: 16 elements per vector inside the padded buffers (caller).
        unsafe {
            let v = V::load_f32(x.add(16 * i));
            let e = if p.shift != 0.0 {
                exp_rel::<V, FUSED, true>(v, &p)
            } else {
                exp_rel::<V, FUSED, false>(v, &p)
            };
            e.store_f32(out.add(16 * i));
            acc = V::dadd(acc, e.max(zero)); // a NaN logit adds 0
        }
    }
    V::dsum(acc)
}

/// Whether expert `a` comes before `b`: key descending, then index ascending (no NaN keys).
#[inline(always)]
fn before(keys: &[f32], a: u32, b: u32) -> bool {
    let (ka, kb) = (keys[a as usize], keys[b as usize]);
    ka > kb || (ka == kb && a < b)
}

fn order(keys: &[f32], a: u32, b: u32) -> std::cmp::Ordering {
    if before(keys, a, b) {
        std::cmp::Ordering::Less
    } else if a == b {
        std::cmp::Ordering::Equal
    } else {
        std::cmp::Ordering::Greater
    }
}

/// Ranks candidates: `ck` holds `c` keys padded with −inf to whole vectors, for experts `ci`
/// in ascending order; the candidate of rank `r` (the number of candidates before it in the
/// total order, so the ranks are `0..c`, distinct) goes to `out[r]` (`out` holds at least `c`
/// entries; the first `k <= c` are the result, and may be the only ones written, see
/// [`rank_small`]). Branch-free: two vector compares per candidate and vector, so ties and
/// equal keys cost nothing extra; where every candidate is stored at its rank, that is
/// because a select of the slot, `min(r, k)`, compiled to a branch that mispredicted on
/// about half the candidates (~10% of a DeepSeek-V3 row).
#[inline(always)]
fn rank<V: V16>(ck: &[f32], ci: impl Fn(usize) -> u32, c: usize, k: usize, out: &mut [u32]) {
    let nv = c.div_ceil(16);
    // The common cases (a few more candidates than k <= 8): the keys loaded once, no
    // per-vector branches. Measured: AVX-512 DeepSeek-V3 rows spent 19% in the general loop
    // below.
    match nv {
        1 => return rank_small::<V, 1>(ck, ci, c, k, out),
        2 => return rank_small::<V, 2>(ck, ci, c, k, out),
        _ => {}
    }
    for p in 0..c {
        // (`black_box`: LLVM otherwise "vectorizes" this loop across candidates into long
        // chains of mask shifts and masked moves; measured 1.5-2x slower.)
        let p = std::hint::black_box(p);
        let kp = V::splat(ck[p]);
        let mut r = 0;
        for v in 0..nv {
            // SAFETY: vector v lies inside the padded candidate keys.
            let kv = unsafe { V::load_f32(ck.as_ptr().add(16 * v)) };
            let (gt, ge) = (kv.mask_gt(kp), kv.mask_ge(kp));
            // Equal keys count when their index is lower: candidates before p.
            let below = match p.checked_sub(16 * v) {
                Some(d) if d >= 16 => u32::MAX,
                Some(d) => (1u32 << d) - 1,
                None => 0,
            };
            // `gt` and the equal-and-below bits are disjoint: one popcount.
            r += (gt | (ge & below)).count_ones();
        }
        out[r as usize] = ci(p);
    }
}

/// [`rank`] for `c <= 16 N` candidates (`N` = 1 or 2 vectors), the candidates' bits of
/// each compare joined into one 32-bit mask.
///
/// Where [`V16::RANKS_IN_REGISTER`] and `k <= 8`, the first `k` are placed through one
/// register (candidate `p` of rank `r < k` in byte `r`) and only `out[..k]` is written, in
/// order: storing every candidate at its computed rank, with `finish` reading `out[..k]` right
/// back, cost AVX2 DeepSeek-V3 rows ~20% (256 tokens, alternated: 86.7-96.5 -> 67.1-77.2 us;
/// OLMoE and Qwen3 0-5%). AVX-512 measured the reverse (46.0-47.2 -> 48.3-49.8 us) and keeps
/// the stores; the portable form was within noise either way.
#[inline(always)]
fn rank_small<V: V16, const N: usize>(
    ck: &[f32],
    ci: impl Fn(usize) -> u32,
    c: usize,
    k: usize,
    out: &mut [u32],
) {
    const { assert!(N == 1 || N == 2) };
    assert!(c <= 16 * N && ck.len() >= 16 * N && k <= c);
    // SAFETY: N vectors of padded candidate keys (asserted).
    let kv: [V; N] = std::array::from_fn(|v| unsafe { V::load_f32(ck.as_ptr().add(16 * v)) });
    if V::RANKS_IN_REGISTER && k <= 8 {
        let mut packed = 0u64;
        for (p, &key) in ck[..c].iter().enumerate() {
            let r = rank_in::<V, N>(&kv, p, key);
            // All ones when r < k (then 8 r < 64), else nothing.
            let keep = 0u64.wrapping_sub(u64::from((r as usize) < k));
            packed |= ((p as u64) << ((8 * r) & 63)) & keep;
        }
        for (j, o) in out[..k].iter_mut().enumerate() {
            *o = ci(((packed >> (8 * j)) & 0xff) as usize);
        }
        return;
    }
    let out = &mut out[..c];
    for (p, &key) in ck[..c].iter().enumerate() {
        out[rank_in::<V, N>(&kv, p, key) as usize] = ci(p);
    }
}

/// The rank of candidate `p` (key `key`) among the candidates in `kv` (see [`rank_count`]).
/// A function, not a closure: closures do not inherit the kernel's target features (on AVX2
/// this one stayed an out-of-line call: DeepSeek-V3 rows 2.6x slower).
#[inline(always)]
fn rank_in<V: V16, const N: usize>(kv: &[V; N], p: usize, key: f32) -> u32 {
    let kp = V::splat(key);
    let (mut gt, mut ge) = (0u32, 0u32);
    for (v, kv) in kv.iter().enumerate() {
        gt |= kv.mask_gt(kp) << (16 * v);
        ge |= kv.mask_ge(kp) << (16 * v);
    }
    rank_count(gt, ge, p)
}

/// The set (bit `j` for key `j`) of the first `k` of the `n <= 16` keys in the total order
/// (key descending, then index ascending): `kv` holds them (no NaN, −inf past `n`), `keys` the
/// same stored. Only the set, by rank counts (no stores of ranks to reload).
#[inline(always)]
fn top_set<V: V16>(kv: V, keys: &[f32], n: usize, k: usize) -> u32 {
    let mut set = 0;
    for (p, &key) in keys[..n.min(16)].iter().enumerate() {
        let r = rank_in::<V, 1>(&[kv], p, key);
        set |= u32::from((r as usize) < k) << p;
    }
    set
}

/// The rank of candidate `p < 32` from the masks of the candidates `>` and `>=` its key:
/// those greater, and the equal ones with a lower index (`gt` and those are disjoint: one
/// popcount).
#[inline(always)]
fn rank_count(gt: u32, ge: u32, p: usize) -> u32 {
    let below = (1u32 << (p & 31)) - 1;
    (gt | (ge & below)).count_ones()
}

/// The k-th largest of the 16 lanes of `lm` (k <= 16), counting repeats: the largest lane with
/// at least k lanes `>=` it. Independent per-lane steps, then a log-depth max (a running
/// `t = max(t, ..)` is a 16-step dependency chain: measured ~100 cycles a row).
#[inline(always)]
fn kth_lane<V: V16>(lm: V, k: usize) -> f32 {
    let ninf = f32::NEG_INFINITY;
    let mut a = [0.0f32; 16];
    // SAFETY: `a` holds 16 elements.
    unsafe { lm.store_f32(a.as_mut_ptr()) };
    let mut ok = [ninf; 16];
    for i in 0..16 {
        // (`black_box` keeps LLVM from "vectorizing" these 16 mask popcounts into a much
        // longer shuffle sequence.)
        let i = std::hint::black_box(i) & 15;
        let c = lm.mask_ge(V::splat(a[i])).count_ones() as usize;
        ok[i] = std::hint::select_unpredictable(c >= k, a[i], ninf);
    }
    // SAFETY: `ok` holds 16 elements.
    unsafe { V::load_f32(ok.as_ptr()) }.hmax()
}

/// The `k` first of experts `0..n` in the total order, into `out[..k]` in that order. `keys`
/// holds `n` keys (no NaN) padded with −inf to whole vectors; `out` holds at least `n`
/// entries (the ranking stores every candidate).
#[inline(always)]
fn select<V: V16>(keys: &[f32], n: usize, k: usize, out: &mut [u32]) {
    if n <= 16 {
        rank::<V>(keys, |p| p as u32, n, k, out);
        return;
    }
    let nv = n.div_ceil(16);
    let ninf = f32::NEG_INFINITY;
    let t = if k <= 16 {
        let mut lm = V::splat(ninf);
        for i in 0..nv {
            // SAFETY: vector i lies inside the padded keys.
            lm = unsafe { V::load_f32(keys.as_ptr().add(16 * i)) }.max(lm);
        }
        kth_lane(lm, k)
    } else {
        ninf
    };
    // Candidates: every expert with key >= t (at least k of them, see the module docs),
    // compressed with their indices (as exact floats) into `ck` / `cidx`.
    let tv = V::splat(t);
    let mut ck = [ninf; CANDIDATES + 16];
    let mut cidx = [0.0f32; CANDIDATES + 16];
    let lanes: [f32; 16] = std::array::from_fn(|l| l as f32);
    // SAFETY: `lanes` holds 16 elements.
    let iota = unsafe { V::load_f32(lanes.as_ptr()) };
    let mut c = 0;
    let mut overflow = false;
    for i in 0..nv {
        // SAFETY: vector i lies inside the padded keys.
        let kv = unsafe { V::load_f32(keys.as_ptr().add(16 * i)) };
        let rem = n - 16 * i;
        let valid = if rem >= 16 { 0xFFFF } else { (1u32 << rem) - 1 };
        let m = kv.mask_ge(tv) & valid;
        if c + m.count_ones() as usize > CANDIDATES {
            overflow = true;
            break;
        }
        push_candidates(kv, m, 16 * i, iota, &mut ck, &mut cidx, &mut c);
    }
    if !overflow {
        rank_candidates::<V>(&mut ck, &mut cidx, c, k, out);
        return;
    }
    // A heap of the k best so far, worst at the root.
    let heap = &mut out[..k];
    let mut len = 0;
    for j in 0..n as u32 {
        if keys[j as usize] < t {
            continue;
        }
        if len < k {
            heap[len] = j;
            let mut i = len;
            len += 1;
            while i > 0 {
                let parent = (i - 1) / 2;
                if before(keys, heap[parent], heap[i]) {
                    heap.swap(parent, i);
                    i = parent;
                } else {
                    break;
                }
            }
        } else if before(keys, j, heap[0]) {
            heap[0] = j;
            let mut i = 0;
            loop {
                let (l, r) = (2 * i + 1, 2 * i + 2);
                let mut worst = i;
                if l < k && before(keys, heap[worst], heap[l]) {
                    worst = l;
                }
                if r < k && before(keys, heap[worst], heap[r]) {
                    worst = r;
                }
                if worst == i {
                    break;
                }
                heap.swap(i, worst);
                i = worst;
            }
        }
    }
    heap.sort_unstable_by(|&a, &b| order(keys, a, b));
}

/// Appends the lanes of `kv` set in `m` (the experts `first + lane`) to the candidates:
/// keys to `ck`, indices as exact floats to `cidx` (`iota` holds 0..16), at `c`, which it
/// advances. The caller checks that `c + popcount(m) <= CANDIDATES`.
#[inline(always)]
fn push_candidates<V: V16>(
    kv: V,
    m: u32,
    first: usize,
    iota: V,
    ck: &mut [f32; CANDIDATES + 16],
    cidx: &mut [f32; CANDIDATES + 16],
    c: &mut usize,
) {
    assert!(*c <= CANDIDATES);
    // SAFETY: c <= CANDIDATES, and both arrays have 16 elements of slack.
    unsafe {
        kv.compress_store(m, ck.as_mut_ptr().add(*c));
        *c += iota
            .add(V::splat(first as f32))
            .compress_store(m, cidx.as_mut_ptr().add(*c));
    }
}

/// Sets the 16 keys from `c <= CANDIDATES` to −inf.
#[inline(always)]
fn reset_tail<V: V16>(ck: &mut [f32; CANDIDATES + 16], c: usize) {
    assert!(c <= CANDIDATES);
    // SAFETY: c + 16 <= CANDIDATES + 16 elements.
    unsafe { V::splat(f32::NEG_INFINITY).store_f32(ck.as_mut_ptr().add(c)) };
}

/// Ranks the `c <= CANDIDATES` candidates compressed into `ck` (keys) / `cidx` (expert
/// indices as exact floats, ascending) and puts the `k` first in the total order into
/// `out[..k]` (`out` holds at least `c`); every expert that can be among the first k must be
/// a candidate. Stale lanes past `c` are reset here.
#[inline(always)]
fn rank_candidates<V: V16>(
    ck: &mut [f32; CANDIDATES + 16],
    cidx: &mut [f32; CANDIDATES + 16],
    mut c: usize,
    k: usize,
    out: &mut [u32],
) {
    let ninf = f32::NEG_INFINITY;
    // Lanes past c hold stale values from the full-width stores: reset to -inf (one vector
    // store, c <= CANDIDATES; a fill of variable length was a call with branches).
    reset_tail::<V>(ck, c);
    // Ranking costs c * c / 16 steps: while there are many more candidates than k (ties of
    // lane maxima, structured rows), tighten the bound on the candidates themselves and
    // compress them in place (writes never pass the vector being read).
    if k <= 16 && c > 2 * k + 8 {
        let ncv = c.div_ceil(16);
        let mut lm = V::splat(ninf);
        for i in 0..ncv {
            // SAFETY: inside the candidate arrays.
            lm = unsafe { V::load_f32(ck.as_ptr().add(16 * i)) }.max(lm);
        }
        let tv = V::splat(kth_lane(lm, k));
        let mut c2 = 0;
        for i in 0..ncv {
            // SAFETY: inside the candidate arrays; c2 <= 16 * i, so the stores end within
            // the vector just loaded.
            unsafe {
                let kv = V::load_f32(ck.as_ptr().add(16 * i));
                let iv = V::load_f32(cidx.as_ptr().add(16 * i));
                let m = kv.mask_ge(tv);
                kv.compress_store(m, ck.as_mut_ptr().add(c2));
                c2 += iv.compress_store(m, cidx.as_mut_ptr().add(c2));
            }
        }
        c = c2;
        reset_tail::<V>(ck, c);
    }
    // SAFETY: the first c entries of cidx are expert indices (< 2^16) as exact floats, in
    // range for u32 (one truncating conversion, no saturation checks).
    rank::<V>(
        ck,
        |p| unsafe { cidx[p].to_int_unchecked::<u32>() },
        c,
        k,
        out,
    );
}

/// The key of a group of `nv` whole vectors of keys at `k`: lane-wise best (`m1`) and second
/// best (`m2`) over the vectors, then across lanes. For `SUM_TOP2`, the second best is the
/// best lane again if two lanes hold the maximum, else the best of `m2` and of `m1` without
/// its maximum lane; the sum is top1 + top2 in f32, as the scalar form.
///
/// # Safety
/// `16 * nv` readable keys at `k` (no NaN).
#[inline(always)]
unsafe fn group_key<V: V16>(k: *const f32, nv: usize, how: GroupScore) -> f32 {
    let ninf = V::splat(f32::NEG_INFINITY);
    let (mut m1, mut m2) = (ninf, ninf);
    for i in 0..nv {
        // SAFETY: inside the group (caller).
        let v = unsafe { V::load_f32(k.add(16 * i)) };
        // m2 = max(m2, min(m1, v)); m1 = max(m1, v)
        m2 = m2.max(V::select_lt(v, m1, v, m1));
        m1 = m1.max(v);
    }
    let t1 = m1.hmax();
    if how == GroupScore::Max {
        return t1;
    }
    let tv = V::splat(t1);
    let t2 = if m1.mask_ge(tv).count_ones() >= 2 {
        t1
    } else {
        m2.max(V::select_lt(m1, tv, m1, ninf)).hmax()
    };
    let s = t1 + t2;
    if s.is_nan() { f32::NEG_INFINITY } else { s }
}

/// Lanes `2i` and `2i + 1` of [`group_tops`]' results belong to group `GROUP_LANES[i]`.
const GROUP_LANES: [usize; 8] = [0, 4, 2, 6, 1, 5, 3, 7];

/// The [`V16::permute_lanes`] indices that put group `j`'s lane of [`group_tops`]' results in lane
/// `j` (lanes 8..16: don't care).
const GROUP_ORDER: [u32; 16] = {
    let mut idx = [0u32; 16];
    let mut i = 0;
    while i < 8 {
        idx[GROUP_LANES[i]] = 2 * i as u32;
        i += 1;
    }
    idx
};

/// The two best of two (best, second best) pairs, lane-wise (repeats counted).
#[inline(always)]
fn merge_top2<V: V16>(a: (V, V), b: (V, V)) -> (V, V) {
    (a.0.max(b.0), a.0.min(b.0).max(a.1.max(b.1)))
}

/// One level of [`group_tops`]: the pairs of `a` and `b` cut into blocks of `W` lanes and the
/// even and odd blocks merged.
#[inline(always)]
fn merge_level<V: V16, const W: usize>(a: (V, V), b: (V, V)) -> (V, V) {
    let (p1, q1) = V::pair_blocks::<W>(a.0, b.0);
    let (p2, q2) = V::pair_blocks::<W>(a.1, b.1);
    merge_top2((p1, p2), (q1, q2))
}

/// The best and second best key (repeats counted) of each of `g <= 8` groups of `gv` whole
/// vectors of keys at `k`, all groups at once: lane-wise over each group's vectors, then one
/// reduction of the 8 groups' lane pairs in four levels of [`V16::pair_blocks`] (blocks of 8,
/// 4, 2, 1 lanes), 8 permutes and 24 lane-wise operations in all instead of two horizontal
/// reductions per group. Lanes `2i` and `2i + 1` of both results hold group `GROUP_LANES[i]`
/// (missing groups: −inf).
///
/// # Safety
/// `16 * g * gv` readable keys at `k` (no NaN).
#[inline(always)]
unsafe fn group_tops<V: V16>(k: *const f32, g: usize, gv: usize) -> (V, V) {
    let ninf = V::splat(f32::NEG_INFINITY);
    let mut t = [(ninf, ninf); 8];
    for (j, t) in t.iter_mut().enumerate().take(g) {
        // SAFETY: inside group j (caller).
        unsafe {
            let base = k.add(16 * gv * j);
            let (mut m1, mut m2) = (V::load_f32(base), ninf);
            for i in 1..gv {
                let v = V::load_f32(base.add(16 * i));
                m2 = m2.max(m1.min(v));
                m1 = m1.max(v);
            }
            *t = (m1, m2);
        }
    }
    // Blocks of 8: [g0 g1], [g2 g3], [g4 g5], [g6 g7]; of 4: [g0 g2 g1 g3], [g4 g6 g5 g7];
    // of 2: [g0 g4 g2 g6 g1 g5 g3 g7] two lanes each; of 1: each pair of lanes merged.
    // (No closures such as `array::from_fn`: they do not inherit the kernel's target features,
    // and the intrinsics in them become calls.)
    let r0 = merge_level::<V, 8>(t[0], t[1]);
    let r1 = merge_level::<V, 8>(t[2], t[3]);
    let r2 = merge_level::<V, 8>(t[4], t[5]);
    let r3 = merge_level::<V, 8>(t[6], t[7]);
    let r0 = merge_level::<V, 4>(r0, r1);
    let r1 = merge_level::<V, 4>(r2, r3);
    let r = merge_level::<V, 2>(r0, r1);
    merge_level::<V, 1>(r, r)
}

/// The per-expert score of 16 logits: sigmoid, sqrt-softplus, or the logits themselves
/// (identity; softmax is not per expert and never comes here).
#[inline(always)]
fn expert_score<V: V16, const FUSED: bool>(score: Score, v: V) -> V {
    match score {
        Score::Sigmoid => sigmoid::<V, FUSED>(v),
        Score::SqrtSoftplus => sqrt_softplus::<V, FUSED>(v),
        _ => v,
    }
}

/// The selection key of vector `i`: score + bias, −inf for a NaN or −inf logit (the padding
/// lanes are −inf) and for a NaN sum (inf − inf).
///
/// # Safety
/// Vector `i` lies inside the padded bias.
#[inline(always)]
unsafe fn biased_key<V: V16>(p: &Plan, v: V, s: V, i: usize) -> V {
    let key = match &p.bias {
        // SAFETY: the bias is padded to whole vectors (caller).
        Some(b) => s.add(unsafe { V::load_f32(b.as_ptr().add(16 * i)) }),
        None => s,
    };
    let ninf = V::splat(f32::NEG_INFINITY);
    V::select_lt(v, V::splat(f32::MIN), ninf, key).max(ninf)
}

/// When any weight is `+inf`: the `+inf` entries share 1 equally, the others get 0; returns
/// whether it applied.
fn share_infinite(w: &mut [f32]) -> bool {
    let inf = w.iter().filter(|&&v| v == f32::INFINITY).count();
    if inf == 0 {
        return false;
    }
    let share = (1.0 / inf as f64) as f32;
    for v in w.iter_mut() {
        *v = if *v == f32::INFINITY { share } else { 0.0 };
    }
    true
}

/// Gates `rows` rows of logits `stride` elements apart into `ids` / `w` (`k` per row, dense).
///
/// # Safety
/// Each row's `E` elements readable at `x + r * stride`; `rows * k` elements writable at `ids`
/// and `w`; `scratch` made for `p`; the ISA of `V` available.
#[inline(always)]
pub unsafe fn gate_rows<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    rows: usize,
    x: *const T::S,
    stride: usize,
    ids: *mut i32,
    w: *mut f32,
    scratch: &mut Scratch,
) {
    if p.grouped() {
        // SAFETY: forwarded contract.
        return unsafe {
            own_frame!(gate_rows_grouped::<V, T, FUSED>(
                p, rows, x, stride, ids, w, scratch
            ))
        };
    }
    for r in 0..rows {
        // SAFETY: forwarded contract, row r.
        unsafe {
            let (x, ids, w) = (x.add(r * stride), ids.add(r * p.k), w.add(r * p.k));
            own_frame!(gate_row::<V, T, FUSED>(p, x, ids, w, scratch))
        }
    }
}

/// A gating kernel: plan, rows, logits, logits stride, ids, weights, scratch (the entries of
/// the kernel tables). [`gate_tiles`] takes the row kernel as one, for the rows it leaves: a
/// separate function, so that the row kernel's code is not inlined into the token-parallel one
/// (measured: that made AVX2 DeepSeek-V3 rows 2.1x slower).
pub type GateFn<S> = unsafe fn(&Plan, usize, *const S, usize, *mut i32, *mut f32, &mut Scratch);

/// [`gate_rows`] 16 rows at a time with [`gate_lanes`]; the rows it leaves go to `row`.
///
/// # Safety
/// As for [`gate_rows`], and `p.token_parallel()` (the scratch has its tile); `row` is
/// [`gate_rows`] of an ISA the CPU has.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gate_tiles<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    rows: usize,
    x: *const T::S,
    stride: usize,
    ids: *mut i32,
    w: *mut f32,
    scratch: &mut Scratch,
    row: GateFn<T::S>,
) {
    let k = p.k;
    for r in (0..rows).step_by(16) {
        let n = (rows - r).min(16);
        // SAFETY: forwarded contract, rows r..r + n.
        let left = unsafe {
            let (x, ids, w) = (x.add(r * stride), ids.add(r * k), w.add(r * k));
            match k {
                1 => own_frame!(gate_lanes::<V, T, FUSED, 1>(
                    p, n, x, stride, ids, w, scratch
                )),
                2 => own_frame!(gate_lanes::<V, T, FUSED, 2>(
                    p, n, x, stride, ids, w, scratch
                )),
                3 | 4 => own_frame!(gate_lanes::<V, T, FUSED, 4>(
                    p, n, x, stride, ids, w, scratch
                )),
                _ => own_frame!(gate_lanes::<V, T, FUSED, 8>(
                    p, n, x, stride, ids, w, scratch
                )),
            }
        };
        for l in (0..n).filter(|l| left >> l & 1 != 0) {
            let t = r + l;
            // SAFETY: row t is inside the caller's rows.
            unsafe {
                row(
                    p,
                    1,
                    x.add(t * stride),
                    stride,
                    ids.add(t * k),
                    w.add(t * k),
                    scratch,
                )
            };
        }
    }
}

/// Inserts `(c, ci)` into the per-lane top list `tv` / `ti` (`filled` entries, best first),
/// `c` the key of an expert after all of those in the list: it goes before every entry whose
/// key is strictly smaller (so among equal keys the lower expert stays ahead), the entries from
/// there shift down one place, and with `filled == K` the last one falls off. Every position
/// compares with `c` (no chain through a carried entry: a carried entry would have to compare
/// indices as well as keys).
#[inline(always)]
fn insert<V: V16, const K: usize>(tv: &mut [V; K], ti: &mut [V; K], c: V, ci: V, filled: usize) {
    for j in (0..K).rev() {
        if j > filled {
            continue;
        }
        // What position j holds if the new entry goes at or before it: the entry above, or
        // the new entry itself where the entry above stays ahead of it.
        let (up, upi) = if j == 0 {
            (c, ci)
        } else {
            (
                V::select_lt(tv[j - 1], c, tv[j - 1], c),
                V::select_lt(tv[j - 1], c, ti[j - 1], ci),
            )
        };
        if j == filled {
            (tv[j], ti[j]) = (up, upi);
        } else {
            let (i2, t2) = (
                V::select_lt(tv[j], c, upi, ti[j]),
                V::select_lt(tv[j], c, up, tv[j]),
            );
            if V::BLEND_STORES_MASKED && K > 4 {
                // `tv` / `ti` do not fit in the 16 AVX2 registers (K = 8: 32 of them), and
                // LLVM turned each of these blends with a spilled entry into a `vmaskmovps`
                // store, which is microcoded on AMD Zen: `black_box` keeps plain stores.
                // Measured (Zen 4, AVX2, 4096 tokens): OLMoE 1.93 -> 0.60 ms, Qwen3 4.17 ->
                // 1.33 ms, E64 k8 selection alone 1.83 -> 0.48 ms (it had been slower than
                // the portable form). At K <= 4 it measured slower (GPT-OSS 82 -> 124 us).
                (ti[j], tv[j]) = std::hint::black_box((i2, t2));
            } else {
                (ti[j], tv[j]) = (i2, t2);
            }
        }
    }
}

/// `exp(x - m)` lane-wise for the lane maxima `m` (finite, `|m| < SHIFT_LIMIT`), each lane
/// scaled by its own power of two as [`exp_rows`] scales a row; clamped at `m - EXP_SPAN`.
#[inline(always)]
fn exp_lanes<V: V16, const FUSED: bool>(x: V, ev: &ExpVec<V>) -> V {
    const PLAIN: u8 = mode::CLAMP | mode::SUB;
    let (e, k) = exp_parts::<V, FUSED, PLAIN>(x, ev);
    V::pow2_scale::<FUSED>(e, k)
}

/// The [`exp_lanes`] constants for lane maxima `m` (what [`params_for_max`] gives each lane).
#[inline(always)]
fn exp_lanes_for_max<V: V16>(m: V) -> ExpVec<V> {
    ExpVec::lanes(m.sub(V::splat(EXP_SPAN)), round_log2e_lanes(m))
}

/// Gates `n <= 16` rows at once, one token per lane (the token-parallel kernel; small E, the
/// routers of Mixtral, Jamba, GPT-OSS, OLMoE, Qwen-MoE, Switch-8): the rows are transposed
/// into a tile of E vectors, each lane keeps its top K by [`insert`] in ascending expert order
/// (the total order exactly: every key finite), and the weights come from lane-wise vector
/// and f64 arithmetic following the steps of [`gate_row`] (`score`, `post`, `normalize`,
/// `scale`, sums and quotients in f64). A row holding a non-finite logit or one of magnitude
/// `>= SHIFT_LIMIT` goes through [`gate_row`] instead (the special cases live there): the
/// choice depends on the row alone, so results do not depend on how rows are split. Returns
/// the mask of the rows left to the row kernel (nothing written for them).
///
/// # Safety
/// As for [`gate_rows`] with `n` rows; `p.token_parallel()` (the scratch has its tile),
/// `p.k <= K`.
#[inline(always)]
unsafe fn gate_lanes<V: V16, T: Elem, const FUSED: bool, const K: usize>(
    p: &Plan,
    n: usize,
    x: *const T::S,
    stride: usize,
    ids: *mut i32,
    w: *mut f32,
    scratch: &mut Scratch,
) -> u32 {
    let (e, k) = (p.experts, p.k);
    let tile = &mut scratch.tile[..16 * p.padded()];
    // 1. tile[16 i + l] = logit i of row l (rows past n: zeros), 16 experts at a time; all 16
    // transposed vectors are stored (those past E land in the tile's padding): storing only
    // the first m made the compiler copy them through the stack with a `memcpy` call.
    for c in (0..e).step_by(16) {
        let m = (e - c).min(16);
        let rows: [V; 16] = std::array::from_fn(|l| {
            if l >= n {
                V::splat(0.0)
            } else if m == 16 {
                // SAFETY: 16 elements of row l at offset c (caller).
                unsafe { T::load(x.add(l * stride + c)) }
            } else {
                // SAFETY: m elements of row l at offset c (caller).
                unsafe { T::load_partial(x.add(l * stride + c), m, 0.0) }
            }
        });
        for (i, v) in V::transpose16(rows).iter().enumerate() {
            // SAFETY: vector c + i < E rounded up to 16, inside the tile.
            unsafe { v.store_f32(tile.as_mut_ptr().add(16 * (c + i))) };
        }
    }
    // 2. Top K per lane; lanes whose row is special drop out of `ok`.
    let lim = V::splat(SHIFT_LIMIT);
    let all: u32 = if n >= 16 { 0xFFFF } else { (1 << n) - 1 };
    let mut ok = all;
    let zero = V::splat(0.0);
    let (mut tv, mut ti) = ([zero; K], [zero; K]);
    for i in 0..e {
        // SAFETY: the tile holds e vectors.
        let xv = unsafe { V::load_f32(tile.as_ptr().add(16 * i)) };
        ok &= lim.mask_gt(vabs(xv)); // false for NaN
        insert(&mut tv, &mut ti, xv, V::splat(i as f32), i.min(K));
    }
    // 3. Raw values of the selected: the score.
    let mut sv = tv;
    let mut wv = [[0.0f32; 16]; K];
    match p.score {
        Score::Identity => {}
        Score::Sigmoid => sv
            .iter_mut()
            .take(k)
            .for_each(|s| *s = sigmoid::<V, FUSED>(*s)),
        Score::SqrtSoftplus => sv
            .iter_mut()
            .take(k)
            .for_each(|s| *s = sqrt_softplus::<V, FUSED>(*s)),
        Score::Softmax => {
            let ev = exp_lanes_for_max(tv[0]);
            let mut acc = V::dzero();
            for i in 0..e {
                // SAFETY: the tile holds e vectors.
                let xv = unsafe { V::load_f32(tile.as_ptr().add(16 * i)) };
                acc = V::dadd(acc, exp_lanes::<V, FUSED>(xv, &ev));
            }
            for (s, wj) in sv.iter().zip(wv.iter_mut()).take(k) {
                // SAFETY: `wj` holds 16.
                unsafe { exp_lanes::<V, FUSED>(*s, &ev).store_f32(wj.as_mut_ptr()) };
            }
            scale_lanes(&mut wv[..k], V::dlanes(acc).map(|s| 1.0 / s));
            reload(&mut sv[..k], &wv);
        }
    }
    // 4. post, then the lane-wise weights.
    match p.post {
        Post::None => {}
        Post::Sigmoid => sv
            .iter_mut()
            .take(k)
            .for_each(|s| *s = sigmoid::<V, FUSED>(*s)),
        Post::Softmax => {
            let mk = sv[1..k].iter().fold(sv[0], |a, &b| a.max(b));
            let ev = exp_lanes_for_max(mk);
            for (s, wj) in sv.iter().zip(wv.iter_mut()).take(k) {
                // SAFETY: `wj` holds 16.
                unsafe { exp_lanes::<V, FUSED>(*s, &ev).store_f32(wj.as_mut_ptr()) };
            }
            let inv = lane_sums(&wv[..k]).map(|s| 1.0 / s);
            scale_lanes(&mut wv[..k], inv);
            reload(&mut sv[..k], &wv);
        }
    }
    for (s, wj) in sv.iter().zip(wv.iter_mut()).take(k) {
        // SAFETY: `wj` holds 16.
        unsafe { s.store_f32(wj.as_mut_ptr()) };
    }
    let scale = f64::from(p.scale);
    if p.normalize {
        let f = lane_sums(&wv[..k]).map(|s| {
            let s = s + f64::from(p.eps);
            if s == 0.0 || s.is_nan() {
                0.0
            } else {
                scale / s
            }
        });
        scale_lanes(&mut wv[..k], f);
    } else if scale != 1.0 {
        scale_lanes(&mut wv[..k], [scale; 16]);
    }
    let mut iv = [[0.0f32; 16]; K];
    for (t, ij) in ti.iter().zip(iv.iter_mut()).take(k) {
        // SAFETY: `ij` holds 16.
        unsafe { t.store_f32(ij.as_mut_ptr()) };
    }
    // 5. Rows out, lane by lane (the special ones are left to the row kernel).
    for l in (0..n).filter(|l| ok >> l & 1 != 0) {
        for j in 0..k {
            // SAFETY: k writable elements of ids and weights for row l (caller).
            unsafe {
                ids.add(l * k + j).write(iv[j][l] as i32);
                w.add(l * k + j).write(wv[j][l]);
            }
        }
    }
    all & !ok
}

/// Lane-wise f64 sums of rows of 16 lanes (in row order, as the row kernel sums a row's k).
#[inline(always)]
fn lane_sums(rows: &[[f32; 16]]) -> [f64; 16] {
    let mut sum = [0.0f64; 16];
    for r in rows {
        for (a, &v) in sum.iter_mut().zip(r) {
            *a += f64::from(v);
        }
    }
    sum
}

/// Each row's lane `l` times `f[l]` in f64, rounded to f32.
#[inline(always)]
fn scale_lanes(rows: &mut [[f32; 16]], f: [f64; 16]) {
    for r in rows {
        for (v, f) in r.iter_mut().zip(f) {
            *v = (f64::from(*v) * f) as f32;
        }
    }
}

/// `sv[j]` = row j of `wv`.
#[inline(always)]
fn reload<V: V16>(sv: &mut [V], wv: &[[f32; 16]]) {
    for (s, wj) in sv.iter_mut().zip(wv) {
        // SAFETY: `wj` holds 16.
        *s = unsafe { V::load_f32(wj.as_ptr()) };
    }
}

#[inline(always)]
unsafe fn gate_row<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    x: *const T::S,
    ids: *mut i32,
    w: *mut f32,
    scratch: &mut Scratch,
) {
    let (e, k, ep) = (p.experts, p.k, p.padded());
    let nv = ep / 16;
    let ninf = f32::NEG_INFINITY;
    let vninf = V::splat(ninf);
    let (xs, rest) = scratch.f.split_at_mut(ep);
    let (keys, rest) = rest.split_at_mut(ep);
    let (scores, gkeys) = rest.split_at_mut(ep);
    let sel = &mut scratch.u[..];

    // Scores that need no row statistic (sigmoid, sqrt-softplus, identity) and biased keys
    // come out of the first pass directly; softmax needs the row max first.
    let stored_scores = !p.keys_are_logits();
    let direct = stored_scores && p.score != Score::Softmax;

    // 1. Widen (NaN kept in xs), keys = logits with NaN -> -inf, row max.
    let mut lmax = vninf;
    for i in 0..nv {
        let rem = e - 16 * i;
        // SAFETY: `rem` (or 16) elements of the row remain at this offset; every scratch
        // buffer holds whole vectors.
        unsafe {
            let v: V = if rem >= 16 {
                T::load(x.add(16 * i))
            } else {
                T::load_partial(x.add(16 * i), rem, ninf)
            };
            if direct {
                let s = expert_score::<V, FUSED>(p.score, v);
                s.store_f32(scores.as_mut_ptr().add(16 * i));
                biased_key::<V>(p, v, s, i).store_f32(keys.as_mut_ptr().add(16 * i));
            } else {
                v.store_f32(xs.as_mut_ptr().add(16 * i));
                let kv = v.max(vninf); // NaN -> -inf
                kv.store_f32(keys.as_mut_ptr().add(16 * i));
                lmax = kv.max(lmax);
            }
        }
    }
    let m = lmax.hmax();

    // Softmax: the unnormalized exp of every expert and the sum (its +inf / all -inf cases
    // handled on the k selected).
    let mut soft_sum = 0.0f64;
    let soft_finite = p.score == Score::Softmax && m.is_finite();
    if soft_finite {
        // SAFETY: xs and scores hold nv vectors.
        soft_sum = unsafe { exp_rows::<V, FUSED>(xs.as_ptr(), scores.as_mut_ptr(), nv, m) };
    }

    // 1b. Softmax scores and biased keys, when the keys are not the logits.
    if stored_scores && !direct {
        let inv = if soft_finite {
            (1.0 / soft_sum) as f32
        } else {
            0.0
        };
        let inf_count = if m == f32::INFINITY {
            xs[..e].iter().filter(|&&v| v == f32::INFINITY).count()
        } else {
            0
        };
        for i in 0..nv {
            // SAFETY: every buffer holds nv vectors.
            unsafe {
                let v = V::load_f32(xs.as_ptr().add(16 * i));
                let s = if soft_finite {
                    V::load_f32(scores.as_ptr().add(16 * i)).mul(V::splat(inv))
                } else {
                    // m = +inf: the +inf entries share 1 (NaN stays NaN); m = -inf: 0.
                    let share = if m == f32::INFINITY {
                        1.0 / inf_count as f32
                    } else {
                        0.0
                    };
                    let mut a = [0.0f32; 16];
                    v.store_f32(a.as_mut_ptr());
                    let a = a.map(|x| {
                        if x.is_nan() {
                            x
                        } else if x == f32::INFINITY {
                            share
                        } else {
                            0.0
                        }
                    });
                    V::load_f32(a.as_ptr())
                };
                s.store_f32(scores.as_mut_ptr().add(16 * i));
                biased_key::<V>(p, v, s, i).store_f32(keys.as_mut_ptr().add(16 * i));
            }
        }
    }

    // 2. Groups.
    if p.groups > 1 {
        let g = p.groups;
        let gs = e / g;
        for (j, gk) in gkeys.iter_mut().enumerate() {
            *gk = if j < g && gs.is_multiple_of(16) {
                // SAFETY: the group's vectors lie inside the keys.
                unsafe { group_key::<V>(keys.as_ptr().add(j * gs), gs / 16, p.group_score) }
            } else if j < g {
                let members = &keys[j * gs..(j + 1) * gs];
                match p.group_score {
                    GroupScore::Max => members.iter().fold(ninf, |a, &b| a.max(b)),
                    GroupScore::SumTop2 if gs == 1 => members[0],
                    GroupScore::SumTop2 => {
                        let (mut t1, mut t2) = (ninf, ninf);
                        for &v in members {
                            if v > t1 {
                                t2 = t1;
                                t1 = v;
                            } else if v > t2 {
                                t2 = v;
                            }
                        }
                        let s = t1 + t2;
                        if s.is_nan() { ninf } else { s }
                    }
                }
            } else {
                ninf
            };
        }
        select::<V>(gkeys, g, p.topk_group, sel);
        for &j in &sel[..p.topk_group] {
            gkeys[j as usize] = f32::NAN; // marks a kept group
        }
        for j in 0..g {
            if !gkeys[j].is_nan() {
                keys[j * gs..(j + 1) * gs].fill(ninf);
            }
        }
    }

    // 3. Selection.
    select::<V>(keys, e, k, sel);

    // 4. Raw values of the selected, then the weights, in place in the caller's row of
    // weights (no arrays to clear: the stage runs once per row); sums and quotients in f64.
    // SAFETY: k writable elements at w (caller).
    let wt = unsafe { std::slice::from_raw_parts_mut(w, k) };
    for (v, &j) in wt.iter_mut().zip(sel.iter()) {
        let j = j as usize;
        *v = if keys[j] == ninf {
            ninf
        } else if stored_scores || soft_finite {
            scores[j]
        } else {
            xs[j]
        };
    }
    if !stored_scores {
        match p.score {
            Score::Identity => {}
            Score::Sigmoid => vmap!(V, wt, |v| sigmoid::<V, FUSED>(v)),
            Score::SqrtSoftplus => vmap!(V, wt, |v| sqrt_softplus::<V, FUSED>(v)),
            Score::Softmax if soft_finite => {
                let inv = 1.0 / soft_sum; // one division a row; f64 keeps it exact enough
                for v in wt.iter_mut() {
                    *v = (f64::from(*v) * inv) as f32;
                }
            }
            Score::Softmax => {
                // Row max +inf: the +inf entries share 1; all -inf: every weight 0 below.
                let inf_count = xs[..e].iter().filter(|&&v| v == f32::INFINITY).count();
                for v in wt.iter_mut() {
                    *v = if *v == f32::INFINITY {
                        (1.0 / inf_count as f64) as f32
                    } else {
                        0.0
                    };
                }
            }
        }
    }
    // SAFETY: k writable elements at ids (caller).
    unsafe { finish::<V, FUSED>(p, wt, sel, keys, ids) };
}

/// [`gate_rows`] for the plans of [`Plan::grouped`], one row at a time through
/// [`gate_row_grouped`], which scores the next row (step 1) in four pieces between the steps of
/// the current row's selection. Those steps are short dependency chains with little work
/// each, the scoring is independent work bound by vector operations: in program order
/// between them, the out-of-order core runs both at once. The scratch holds two rows of
/// scores and keys, used in turn. Measured (AMD EPYC Zen 4, 4096 tokens, one core, alternated
/// runs): AVX-512 DeepSeek-V3 841-856 -> 774-828 us, AVX2 within noise (1.21-1.44 ->
/// 1.19-1.22 ms); six pieces measured slower than four (832-836 us), and the portable form
/// scores each row first (pipelined, 5% slower).
///
/// # Safety
/// As for [`gate_rows`], and `p.grouped()`.
#[inline(always)]
unsafe fn gate_rows_grouped<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    rows: usize,
    x: *const T::S,
    stride: usize,
    ids: *mut i32,
    w: *mut f32,
    scratch: &mut Scratch,
) {
    if rows == 0 {
        return;
    }
    let (e, k) = (p.experts, p.k);
    let (rowbufs, rest) = scratch.f.split_at_mut(4 * e);
    let gkeys = &mut rest[..16];
    let sel = &mut scratch.u[..];
    let (mut cur, mut next) = rowbufs.split_at_mut(2 * e);
    for r in 0..rows {
        // Row 0, and every row of the portable form, is scored here (the portable form
        // measured 5% slower pipelined); the others were scored during the row before.
        if r == 0 || !V::SIMD {
            // SAFETY: row r (caller).
            unsafe { score_keys::<V, T, FUSED>(p, x.add(r * stride), cur, 0, e / 16) };
        }
        let ahead = (V::SIMD && r + 1 < rows).then(|| x.wrapping_add((r + 1) * stride));
        // SAFETY: forwarded contract, row r (and row r + 1 when there is one).
        unsafe {
            own_frame!(gate_row_grouped::<V, T, FUSED>(
                p,
                cur,
                next,
                ahead,
                gkeys,
                sel,
                ids.add(r * k),
                w.add(r * k),
            ))
        };
        std::mem::swap(&mut cur, &mut next);
    }
}

/// Step 1 of [`gate_row_grouped`] for vectors `from..to` of the row at `x`: widen, score and
/// form the keys into `buf` (E scores, then E keys). The scores are kept (the weights of the
/// selected come from them), except where the keys are the logits themselves (a monotone
/// score, no bias): there the k selected are scored in step 4 and the others never are.
/// In debug builds the loop has its own frame (inlined five times, its locals overflowed the
/// small-stack test).
///
/// # Safety
/// Vectors `from..to` of the row readable at `x`.
#[inline(always)]
unsafe fn score_keys<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    x: *const T::S,
    buf: &mut [f32],
    from: usize,
    to: usize,
) {
    let (scores, keys) = buf.split_at_mut(p.experts);
    assert!(16 * to <= scores.len() && 16 * to <= keys.len());
    let vninf = V::splat(f32::NEG_INFINITY);
    let logit_keys = p.keys_are_logits();
    own_frame!(for i in from..to {
        // SAFETY: vector i of the row (caller) and of both buffers (asserted).
        unsafe {
            let v: V = T::load(x.add(16 * i));
            let (s, key) = if logit_keys {
                (v, v.max(vninf)) // NaN -> -inf
            } else {
                let s = expert_score::<V, FUSED>(p.score, v);
                (s, biased_key::<V>(p, v, s, i))
            };
            s.store_f32(scores.as_mut_ptr().add(16 * i));
            key.store_f32(keys.as_mut_ptr().add(16 * i));
        }
    })
}

/// Piece `j` of [`SCORE_PIECES`] of the next row's step 1 (see [`gate_rows_grouped`]), if there
/// is a next row: `next` holds its scores, then its keys.
///
/// # Safety
/// The next row's E elements readable at `ahead`.
#[inline(always)]
unsafe fn score_piece<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    ahead: Option<*const T::S>,
    next: &mut [f32],
    j: usize,
) {
    if let Some(x) = ahead {
        let nv = p.experts / 16;
        let (from, to) = (j * nv / SCORE_PIECES, (j + 1) * nv / SCORE_PIECES);
        // SAFETY: forwarded contract; E is whole vectors.
        unsafe { score_keys::<V, T, FUSED>(p, x, next, from, to) };
    }
}

/// How many pieces [`gate_row_grouped`] scores the next row in (one after each of its steps).
const SCORE_PIECES: usize = 4;

/// The selection and weights of one row for the plans of [`Plan::grouped`] (DeepSeek-V3's
/// router), from its scores and keys in `cur` (step 1, [`score_keys`]: the same scores and
/// keys as [`gate_row`]): every group's top two at once ([`group_tops`]), the kept groups
/// chosen among at most 8 group keys, and candidates only from the kept groups: every key
/// `>=` the smallest second-best key of a kept group when `k <= 2 topk_group` (those second
/// bests and the bests above them are `2 topk_group >= k` distinct experts), else `>=` the
/// k-th largest lane maximum of the kept groups. The weights come from the score function of
/// the k selected logits, as in [`gate_row`]. The rare rows with more than `CANDIDATES`
/// candidates (ties, −inf keys) or fewer than k finite keys in the kept groups go through
/// [`select`] over all keys with the other groups masked. Between its steps, the next row at
/// `ahead` (if any) is scored into `next` ([`score_piece`]).
///
/// # Safety
/// `p.grouped()`; `cur` and `next` hold 2 E values; the next row's E elements readable at
/// `ahead`; `k` writable elements at `ids` and `w`; the ISA of `V` available.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gate_row_grouped<V: V16, T: Elem, const FUSED: bool>(
    p: &Plan,
    cur: &mut [f32],
    next: &mut [f32],
    ahead: Option<*const T::S>,
    gkeys: &mut [f32],
    sel: &mut [u32],
    ids: *mut i32,
    w: *mut f32,
) {
    let (e, k, g, tg) = (p.experts, p.k, p.groups, p.topk_group);
    let gv = e / g / 16; // whole vectors (p.grouped())
    let ninf = f32::NEG_INFINITY;
    let vninf = V::splat(ninf);
    let (scores, keys) = cur.split_at_mut(e);
    let logit_keys = p.keys_are_logits();

    // 2. Group keys, the kept groups (as bits) and the threshold of the candidates.
    // SAFETY: g groups of gv vectors of keys.
    let (t1, t2) = unsafe { group_tops::<V>(keys.as_ptr(), g, gv) };
    let gk = match p.group_score {
        GroupScore::Max => t1,
        GroupScore::SumTop2 => t1.add(t2).max(vninf), // inf - inf -> -inf
    };
    // SAFETY: the next row (caller).
    unsafe { score_piece::<V, T, FUSED>(p, ahead, next, 0) };
    // The group keys in group order, -inf past g (one lane permute and one store), then the
    // kept groups as a set straight from the rank counts: storing each group at its rank and
    // reading the first `tg` back made the cheaper [`sigmoid`] measure slower overall
    // (the profile moved to that ranking loop); the set needs no stores.
    let lanes: [f32; 16] = std::array::from_fn(|l| l as f32);
    // SAFETY: `lanes` holds 16 elements.
    let iota = unsafe { V::load_f32(lanes.as_ptr()) };
    let gv_keys = V::select_lt(
        iota,
        V::splat(g as f32),
        gk.permute_lanes(&GROUP_ORDER),
        vninf,
    );
    let mut second = [0.0f32; 16];
    // SAFETY: `gkeys` and `second` hold 16 elements.
    unsafe {
        gv_keys.store_f32(gkeys.as_mut_ptr());
        t2.permute_lanes(&GROUP_ORDER)
            .store_f32(second.as_mut_ptr());
    }
    let kept = top_set(gv_keys, gkeys, g, tg);
    let t = if k <= 2 * tg {
        let (mut t, mut bits) = (f32::INFINITY, kept);
        while bits != 0 {
            t = t.min(second[bits.trailing_zeros() as usize & 15]);
            bits &= bits - 1;
        }
        t
    } else {
        let mut lm = vninf;
        for j in 0..g {
            if kept & 1 << j != 0 {
                for i in j * gv..(j + 1) * gv {
                    // SAFETY: vector i lies inside the keys.
                    lm = unsafe { V::load_f32(keys.as_ptr().add(16 * i)) }.max(lm);
                }
            }
        }
        kth_lane(lm, k)
    };
    // SAFETY: the next row (caller).
    unsafe { score_piece::<V, T, FUSED>(p, ahead, next, 1) };

    // 3. Candidates from the kept groups, in expert order, then the ranking.
    let tv = V::splat(t);
    let mut ck = [ninf; CANDIDATES + 16];
    let mut cidx = [0.0f32; CANDIDATES + 16];
    let mut c = 0;
    // A threshold of -inf: fewer than k finite keys in the kept groups. The -inf keys then
    // selected come by expert index from every group, masked ones included (the total order
    // of the spec), which only the selection over all keys sees.
    let mut overflow = t == ninf;
    // The kept groups in ascending order by their bits: tg iterations, a loop the branch
    // predictor learns (a test per group mispredicts on about half the rows).
    let mut bits = if overflow { 0 } else { kept };
    'groups: while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        for i in j * gv..(j + 1) * gv {
            // SAFETY: vector i lies inside the keys.
            let kv = unsafe { V::load_f32(keys.as_ptr().add(16 * i)) };
            let m = kv.mask_ge(tv);
            if c + m.count_ones() as usize > CANDIDATES {
                overflow = true;
                break 'groups;
            }
            push_candidates(kv, m, 16 * i, iota, &mut ck, &mut cidx, &mut c);
        }
    }
    // SAFETY: the next row (caller).
    unsafe { score_piece::<V, T, FUSED>(p, ahead, next, 2) };
    if overflow {
        for j in 0..g {
            if kept & 1 << j == 0 {
                keys[j * gv * 16..(j + 1) * gv * 16].fill(ninf);
            }
        }
        select::<V>(keys, e, k, sel);
    } else {
        rank_candidates::<V>(&mut ck, &mut cidx, c, k, sel);
    }
    // SAFETY: the next row (caller).
    unsafe { score_piece::<V, T, FUSED>(p, ahead, next, 3) };

    // 4. The scores of the selected, then the weights, in place in the caller's row (the
    // entries of experts with a -inf key are set to -inf by `finish`). Scores stored in step
    // 1 rather than recomputed for the k here (logit keys aside): the recomputation's latency
    // chain, after a vector reload of k scalar stores, ended every row (AVX-512 DeepSeek-V3
    // rows 11-13% faster stored).
    // SAFETY: k writable elements at w (caller).
    let wt = unsafe { std::slice::from_raw_parts_mut(w, k) };
    for (v, &j) in wt.iter_mut().zip(sel.iter()) {
        *v = scores[j as usize];
    }
    if logit_keys {
        vmap!(V, wt, |v| expert_score::<V, FUSED>(p.score, v));
    }
    // SAFETY: k writable elements at ids (caller).
    unsafe { finish::<V, FUSED>(p, wt, sel, keys, ids) };
}

/// The last stages of the weights, shared by the row kernels: `post_fn` (experts with a −inf
/// key enter it as −inf), 0 for those experts, `normalize`, `scale`; then the ids. `wt` holds
/// the k selected scores, `sel` their experts in order.
///
/// # Safety
/// `k` writable elements at `ids`.
#[inline(always)]
unsafe fn finish<V: V16, const FUSED: bool>(
    p: &Plan,
    wt: &mut [f32],
    sel: &[u32],
    keys: &[f32],
    ids: *mut i32,
) {
    let ninf = f32::NEG_INFINITY;
    let k = p.k;
    match p.post {
        Post::None => {}
        Post::Sigmoid => vmap!(V, wt, |v| sigmoid::<V, FUSED>(v)),
        Post::Softmax => {
            // An expert with a -inf key enters the softmax over the k as -inf (no share),
            // whatever its score function made of it (the score of -inf is 0 for sigmoid and
            // sqrt-softplus; a group-masked expert keeps its score). NONE and SIGMOID are
            // lane-wise: the zeroing below covers them.
            for (v, &j) in wt.iter_mut().zip(sel.iter()) {
                if keys[j as usize] == ninf {
                    *v = ninf;
                }
            }
            let mk = wt.iter().fold(ninf, |a, &b| a.max(b));
            if !share_infinite(wt) {
                if mk == ninf {
                    wt.fill(0.0);
                } else {
                    let ep = params_for_max(mk);
                    if ep.shift != 0.0 {
                        vmap!(V, wt, |v| exp_rel::<V, FUSED, true>(v, &ep));
                    } else {
                        vmap!(V, wt, |v| exp_rel::<V, FUSED, false>(v, &ep));
                    }
                    let inv = 1.0 / wt.iter().map(|&v| f64::from(v)).sum::<f64>();
                    for v in wt.iter_mut() {
                        *v = (f64::from(*v) * inv) as f32;
                    }
                }
            }
        }
    }
    // An expert with a -inf key weighs exactly 0 (its post value may be a clamped e^-86, or
    // -inf with NONE).
    for (v, &j) in wt.iter_mut().zip(sel.iter()) {
        if *v == ninf || keys[j as usize] == ninf {
            *v = 0.0;
        }
    }
    let scale = f64::from(p.scale);
    if p.normalize && !share_infinite(wt) {
        let s: f64 = wt.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(p.eps);
        let f = if s == 0.0 || s.is_nan() {
            0.0
        } else {
            scale / s
        };
        for v in wt.iter_mut() {
            *v = (f64::from(*v) * f) as f32;
        }
    } else if scale != 1.0 {
        for v in wt.iter_mut() {
            *v = (f64::from(*v) * scale) as f32;
        }
    }
    for (j, &id) in sel.iter().enumerate().take(k) {
        // SAFETY: k writable elements at ids (caller).
        unsafe { ids.add(j).write(id as i32) };
    }
}

/// Defines one ISA's concrete kernels.
macro_rules! instantiate {
    ($V:ty $(, $features:literal)?) => {
        use crate::ukernels::gating::{Plan, Scratch};
        use crate::ukernels::simd::Elem;

        /// Gates `rows` rows: the token-parallel kernel where the plan allows it on this
        /// ISA, else the row kernel (see [`crate::ukernels::gating::gate_rows`]).
        ///
        /// # Safety
        /// As for `gate_rows`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn gate<T: Elem, const FUSED: bool>(
            p: &Plan,
            rows: usize,
            x: *const T::S,
            stride: usize,
            ids: *mut i32,
            w: *mut f32,
            scratch: &mut Scratch,
        ) {
            // SAFETY: forwarded contract; `row_kernel` is this ISA's.
            unsafe {
                if p.token_parallel_on::<$V>() {
                    crate::ukernels::gating::gate_tiles::<$V, T, FUSED>(
                        p, rows, x, stride, ids, w, scratch, row_kernel::<T, FUSED>,
                    )
                } else {
                    row_kernel::<T, FUSED>(p, rows, x, stride, ids, w, scratch)
                }
            }
        }

        /// The row kernel alone (kept out of line: see [`crate::ukernels::gating::GateFn`]).
        ///
        /// # Safety
        /// As for `gate_rows`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        #[inline(never)]
        unsafe fn row_kernel<T: Elem, const FUSED: bool>(
            p: &Plan,
            rows: usize,
            x: *const T::S,
            stride: usize,
            ids: *mut i32,
            w: *mut f32,
            scratch: &mut Scratch,
        ) {
            // SAFETY: forwarded contract.
            unsafe {
                crate::ukernels::gating::gate_rows::<$V, T, FUSED>(p, rows, x, stride, ids, w, scratch)
            }
        }

        /// Sigmoid of 16 values (for tests).
        ///
        /// # Safety
        /// The CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn sigmoid16<const FUSED: bool>(x: &[f32; 16]) -> [f32; 16] {
            let mut a = *x;
            // SAFETY: 16 elements.
            unsafe {
                let v = <$V as crate::ukernels::simd::V16>::load_f32(a.as_ptr());
                crate::ukernels::simd::V16::store_f32(crate::ukernels::gating::sigmoid::<$V, FUSED>(v), a.as_mut_ptr());
            }
            a
        }

        /// sqrt(softplus) of 16 values (for tests).
        ///
        /// # Safety
        /// The CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn sqrt_softplus16<const FUSED: bool>(x: &[f32; 16]) -> [f32; 16] {
            let mut a = *x;
            // SAFETY: 16 elements.
            unsafe {
                let v = <$V as crate::ukernels::simd::V16>::load_f32(a.as_ptr());
                crate::ukernels::simd::V16::store_f32(crate::ukernels::gating::sqrt_softplus::<$V, FUSED>(v), a.as_mut_ptr());
            }
            a
        }
    };
}

/// Portable kernels.
pub mod scalar {
    instantiate!(crate::ukernels::simd::scalar::S16);
}

/// AVX2 + FMA + F16C kernels.
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    instantiate!(
        crate::ukernels::simd::avx2::A16,
        "avx2,fma,f16c,bmi1,bmi2,popcnt"
    );
}

/// AVX-512 (F+BW+DQ+VL) kernels.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    instantiate!(
        crate::ukernels::simd::avx512::Z16,
        "avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl"
    );
}
