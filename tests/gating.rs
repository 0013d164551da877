//! Top-K gating and the dispatch plan against an f64 reference of the spec's pipeline, at every
//! ISA level: every family of specs/moe-gating.md, ties, NaN and ±inf, masked groups, k = E,
//! E = 1, huge E, strided and 16-bit logits, consistent arithmetic, guard pages on every buffer.

mod common;

use common::{GuardPages, Rng};
use nnkern::IsaLevel;
use nnkern::operators::gating::{self as g, Params};
use nnkern::threadpool::Threadpool;
use nnkern::ukernels::simd::{Bf16, Elem, F16, F32};

fn levels() -> Vec<IsaLevel> {
    IsaLevel::available().collect()
}

fn uniform(r: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * (r.next_u32() >> 8) as f32 / (1u32 << 24) as f32
}

/// A gating configuration: parameters plus bias.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    p: Params,
    bias: Option<Vec<f32>>,
}

#[allow(clippy::too_many_arguments)]
fn params(
    e: u32,
    k: u32,
    score: u32,
    post: u32,
    norm: u32,
    eps: f32,
    scale: f32,
    groups: (u32, u32, u32),
) -> Params {
    Params {
        num_experts: e,
        k,
        score_fn: score,
        post_fn: post,
        normalize: norm,
        norm_eps: eps,
        scale,
        n_group: groups.0,
        topk_group: groups.1,
        group_score: groups.2,
    }
}

const ID: u32 = 0;
const SM: u32 = 1;
const SG: u32 = 2;
const SSP: u32 = 3;
const NONE: (u32, u32, u32) = (0, 0, 0);

fn bias(e: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut r = Rng(seed);
    (0..e).map(|_| uniform(&mut r, lo, hi)).collect()
}

/// The family table of the spec, one case per row (and per listed E).
fn families() -> Vec<Case> {
    let c = |name, p, bias| Case { name, p, bias };
    vec![
        c("switch-8", params(8, 1, SM, 0, 0, 0.0, 1.0, NONE), None),
        c(
            "switch-2048",
            params(2048, 1, SM, 0, 0, 0.0, 1.0, NONE),
            None,
        ),
        c("mixtral", params(8, 2, SM, 0, 1, 0.0, 1.0, NONE), None),
        c("qwen2-moe", params(60, 4, SM, 0, 0, 0.0, 1.0, NONE), None),
        c("qwen3-moe", params(128, 8, SM, 0, 1, 0.0, 1.0, NONE), None),
        c("olmoe", params(64, 8, SM, 0, 0, 0.0, 1.0, NONE), None),
        c("jamba", params(16, 2, SM, 0, 0, 0.0, 1.0, NONE), None),
        c("gpt-oss-32", params(32, 4, ID, 1, 0, 0.0, 1.0, NONE), None),
        c(
            "gpt-oss-128",
            params(128, 4, ID, 1, 0, 0.0, 1.0, NONE),
            None,
        ),
        c("llama4-16", params(16, 1, ID, 2, 0, 0.0, 1.0, NONE), None),
        c("llama4-128", params(128, 1, ID, 2, 0, 0.0, 1.0, NONE), None),
        c(
            "deepseek-v2",
            params(160, 6, SM, 0, 0, 0.0, 16.0, (8, 3, 0)),
            None,
        ),
        c(
            "deepseek-v3",
            params(256, 8, SG, 0, 1, 1e-20, 2.5, (8, 4, 1)),
            Some(bias(256, 3, -0.1, 0.1)),
        ),
        c(
            "minimax-m2",
            params(256, 8, SG, 0, 1, 1e-20, 1.0, NONE),
            Some(bias(256, 4, -0.1, 0.1)),
        ),
        c(
            "deepseek-v4-style",
            params(256, 6, SSP, 0, 1, 0.0, 1.5, NONE),
            Some(bias(256, 5, -0.2, 0.2)),
        ),
    ]
}

/// Plans of the grouped row path (2..=8 groups of whole vectors, a per-expert score, k <= 16):
/// 2, 4 and 8 groups of 1, 2 and 4 vectors, k above and below 2 topk_group (the two
/// candidate bounds), both group scores, every non-softmax score, with and without bias.
fn grouped_cases() -> Vec<Case> {
    let c = |name, p, bias| Case { name, p, bias };
    vec![
        c(
            "grouped-e64-g4-k8-tg1-max",
            params(64, 8, SG, 0, 1, 0.0, 1.0, (4, 1, 0)),
            Some(bias(64, 11, -0.1, 0.1)),
        ),
        c(
            "grouped-e128-g2-k16-tg2-sum",
            params(128, 16, SG, 1, 0, 0.0, 1.0, (2, 2, 1)),
            Some(bias(128, 12, -0.3, 0.3)),
        ),
        c(
            "grouped-e512-g8-k6-tg3-ssp",
            params(512, 6, SSP, 0, 1, 0.0, 1.5, (8, 3, 1)),
            Some(bias(512, 13, -0.2, 0.2)),
        ),
        c(
            "grouped-e256-g8-k8-tg4-id-bias",
            params(256, 8, ID, 2, 1, 0.0, 1.0, (8, 4, 1)),
            Some(bias(256, 14, -2.0, 2.0)),
        ),
        c(
            "grouped-e256-g8-k8-tg4-sigmoid-nobias",
            params(256, 8, SG, 0, 1, 1e-20, 2.5, (8, 4, 1)),
            None,
        ),
        c(
            "grouped-e128-g8-k5-tg2-max-logit-keys",
            params(128, 5, SG, 0, 1, 0.0, 1.0, (8, 2, 0)),
            None,
        ),
        // post_fn = SOFTMAX after a non-identity score, stored scores and logit keys: a
        // selected expert with a -inf key takes no share of the post softmax.
        c(
            "grouped-e64-g4-k8-tg2-sigmoid-post-softmax",
            params(64, 8, SG, 1, 0, 0.0, 1.0, (4, 2, 1)),
            Some(bias(64, 15, -0.1, 0.1)),
        ),
        c(
            "grouped-e64-g4-k6-tg2-max-logit-keys-post-softmax",
            params(64, 6, SSP, 1, 0, 0.0, 1.0, (4, 2, 0)),
            None,
        ),
    ]
}

/// What [`reference_kept`] returns.
struct RefRow {
    ids: Vec<usize>,
    w: Vec<f64>,
    /// The f64 selection keys, unmasked.
    keys: Vec<f64>,
    /// The f64 group keys (empty without groups).
    group_keys: Vec<f64>,
}

/// f64 reference of the pipeline; with `kept`, those groups are kept instead of the ones the
/// group keys choose.
fn reference_kept(c: &Case, x: &[f64], kept: Option<&[usize]>) -> RefRow {
    let p = &c.p;
    let e = p.num_experts as usize;
    let k = p.k as usize;
    let ninf = f64::NEG_INFINITY;
    let dead: Vec<bool> = x.iter().map(|v| v.is_nan() || *v == ninf).collect();
    let share = |v: &mut [f64], total: f64| -> bool {
        let n = v.iter().filter(|&&a| a == f64::INFINITY).count();
        if n == 0 {
            return false;
        }
        for a in v.iter_mut() {
            *a = if *a == f64::INFINITY {
                total / n as f64
            } else {
                0.0
            };
        }
        true
    };
    let score: Vec<f64> = match p.score_fn {
        ID => x.to_vec(),
        SM => {
            let mut s: Vec<f64> = x
                .iter()
                .map(|&v| if v.is_nan() { ninf } else { v })
                .collect();
            if !share(&mut s, 1.0) {
                let m = s.iter().cloned().fold(ninf, f64::max);
                if m == ninf {
                    s.fill(0.0);
                } else {
                    let sum: f64 = s.iter().map(|&v| (v - m).exp()).sum();
                    for v in s.iter_mut() {
                        *v = (*v - m).exp() / sum;
                    }
                }
            }
            s
        }
        SG => x.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        _ => x
            .iter()
            .map(|&v| {
                let sp = if v > 0.0 {
                    v + (-v).exp().ln_1p()
                } else {
                    v.exp().ln_1p()
                };
                sp.sqrt()
            })
            .collect(),
    };
    // Ranking: without a bias every score is strictly increasing in the logit, so the exact
    // order of the scores is the order of the logits (the f64 scores could tie by underflow
    // where the exact ones do not).
    let by_logit = c.bias.is_none() && (p.n_group <= 1 || p.group_score == 0 || p.score_fn == ID);
    let mut keys: Vec<f64> = (0..e)
        .map(|i| {
            if dead[i] {
                return ninf;
            }
            let kv = if by_logit {
                x[i]
            } else {
                score[i] + c.bias.as_ref().map_or(0.0, |b| f64::from(b[i]))
            };
            if kv.is_nan() { ninf } else { kv }
        })
        .collect();
    let unmasked = keys.clone();
    let mut group_keys = Vec::new();
    let topn = |keys: &[f64], n: usize| -> Vec<usize> {
        let mut idx: Vec<usize> = (0..keys.len()).collect();
        idx.sort_by(|&a, &b| keys[b].partial_cmp(&keys[a]).unwrap().then(a.cmp(&b)));
        idx.truncate(n);
        idx
    };
    if p.n_group > 1 {
        let gs = e / p.n_group as usize;
        let gk: Vec<f64> = (0..p.n_group as usize)
            .map(|j| {
                let mut m: Vec<f64> = keys[j * gs..(j + 1) * gs].to_vec();
                m.sort_by(|a, b| b.partial_cmp(a).unwrap());
                let v = if p.group_score == 0 || gs == 1 {
                    m[0]
                } else {
                    m[0] + m[1]
                };
                if v.is_nan() { ninf } else { v }
            })
            .collect();
        let kept = kept.map_or_else(|| topn(&gk, p.topk_group as usize), <[usize]>::to_vec);
        group_keys = gk;
        for j in 0..p.n_group as usize {
            if !kept.contains(&j) {
                keys[j * gs..(j + 1) * gs].fill(ninf);
            }
        }
    }
    let ids = topn(&keys, k);
    let mut w: Vec<f64> = ids
        .iter()
        .map(|&i| if keys[i] == ninf { ninf } else { score[i] })
        .collect();
    match p.post_fn {
        1 if !share(&mut w, 1.0) => {
            let m = w.iter().cloned().fold(ninf, f64::max);
            if m == ninf {
                w.fill(0.0);
            } else {
                let s: f64 = w.iter().map(|&v| (v - m).exp()).sum();
                for v in w.iter_mut() {
                    *v = (*v - m).exp() / s;
                }
            }
        }
        2 => {
            for v in w.iter_mut() {
                *v = 1.0 / (1.0 + (-*v).exp());
            }
        }
        _ => {}
    }
    for v in w.iter_mut() {
        if *v == ninf {
            *v = 0.0;
        }
    }
    if p.normalize == 1 {
        let s: f64 = w.iter().sum::<f64>() + f64::from(p.norm_eps);
        if !share(&mut w, 1.0) {
            if s == 0.0 {
                w.fill(0.0);
            } else {
                for v in w.iter_mut() {
                    *v /= s;
                }
            }
        }
    }
    for v in w.iter_mut() {
        *v *= f64::from(p.scale);
    }
    RefRow {
        ids,
        w,
        keys: unmasked,
        group_keys,
    }
}

/// Whether two f64 keys agree within the f32 rounding of the kernel's keys (1e-6 relative).
fn near(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-30
}

/// Every kept-group set that a near-tie of group keys allows (the reference's among them): the
/// groups clearly above the `topk_group`-th group key, plus any choice among the groups
/// within [`near`] of it (the kernel sums f32 keys; two groups whose exact sums differ by
/// less than that rounding may rank either way).
fn near_tie_group_choices(c: &Case, gk: &[f64]) -> Vec<Vec<usize>> {
    let tg = c.p.topk_group as usize;
    if gk.len() <= 1 || tg >= gk.len() {
        return Vec::new();
    }
    let mut sorted = gk.to_vec();
    sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let t = sorted[tg - 1];
    let sure: Vec<usize> = (0..gk.len())
        .filter(|&j| gk[j] > t && !near(gk[j], t))
        .collect();
    let edge: Vec<usize> = (0..gk.len())
        .filter(|&j| !sure.contains(&j) && near(gk[j], t))
        .collect();
    let need = tg - sure.len();
    let mut out = Vec::new();
    for m in 0u32..1 << edge.len() {
        if m.count_ones() as usize == need {
            let mut kept = sure.clone();
            kept.extend(
                (0..edge.len())
                    .filter(|&b| m & 1 << b != 0)
                    .map(|b| edge[b]),
            );
            out.push(kept);
        }
    }
    out
}

/// Gates `tokens` rows (stride `stride`) through the internal entry point at `level`.
#[allow(clippy::too_many_arguments)]
fn gate<T: g_elem::E>(
    c: &Case,
    level: IsaLevel,
    flags: u32,
    tokens: usize,
    stride: usize,
    x: &[T::S],
    tp: Option<&Threadpool>,
) -> (Vec<i32>, Vec<f32>) {
    let k = c.p.k as usize;
    let mut ids = vec![-7i32; tokens * k];
    let mut w = vec![f32::NAN; tokens * k];
    // SAFETY: buffers of the documented sizes.
    unsafe {
        g::one_shot::<T>(
            level,
            &c.p,
            c.bias.as_deref(),
            tokens,
            x.as_ptr(),
            stride,
            ids.as_mut_ptr(),
            w.as_mut_ptr(),
            flags,
            tp,
        )
        .unwrap();
    }
    (ids, w)
}

mod g_elem {
    pub trait E: nnkern::config::gating::GatingElem {}
    impl E for nnkern::ukernels::simd::F32 {}
    impl E for nnkern::ukernels::simd::F16 {}
    impl E for nnkern::ukernels::simd::Bf16 {}
}

/// Checks every row against the reference. Rows whose ids differ are accepted only when the
/// difference is a near-tie (keys rounded in f32 by the kernel, exact here): of group keys —
/// another kept-group set within [`near`] gives exactly these ids, whose weights are then
/// checked against that set's — or of biased keys: the reference keys of the two choices
/// agree within [`near`] at every position. Returns the number of such rows.
fn check_rows<T: Elem>(
    c: &Case,
    what: &str,
    tokens: usize,
    stride: usize,
    x: &[T::S],
    ids: &[i32],
    w: &[f32],
) -> usize {
    let e = c.p.num_experts as usize;
    let k = c.p.k as usize;
    let mut near_ties = 0;
    for t in 0..tokens {
        let row: Vec<f64> = x[t * stride..t * stride + e]
            .iter()
            .map(|&v| f64::from(T::to_f32(v)))
            .collect();
        let RefRow {
            ids: rid,
            w: mut rw,
            keys,
            group_keys,
        } = reference_kept(c, &row, None);
        let got: Vec<usize> = ids[t * k..(t + 1) * k]
            .iter()
            .map(|&i| i as usize)
            .collect();
        let mut seen = vec![false; e];
        for &i in &got {
            assert!(
                i < e && !seen[i],
                "{what}: row {t}: ids {got:?} not k distinct experts"
            );
            seen[i] = true;
        }
        if got != rid {
            // A near-tie of group keys: the same pipeline with another kept-group set that
            // the rounding allows must give exactly these ids (then its weights are checked).
            let other = near_tie_group_choices(c, &group_keys)
                .into_iter()
                .map(|kept| reference_kept(c, &row, Some(&kept)))
                .find(|r| r.ids == got);
            if let Some(r) = other {
                rw = r.w;
                near_ties += 1;
            } else {
                // Where the ids differ, both keys finite and near: equal infinite keys are an
                // exact tie, which the index breaks.
                let close = got.iter().zip(&rid).all(|(&a, &b)| {
                    a == b || (keys[a].is_finite() && keys[b].is_finite() && near(keys[a], keys[b]))
                });
                assert!(
                    close && (c.bias.is_some() || c.p.group_score == 1),
                    "{what}: row {t}: ids {got:?}, want {rid:?}"
                );
                near_ties += 1;
                continue;
            }
        }
        for j in 0..k {
            let (gv, want) = (f64::from(w[t * k + j]), rw[j]);
            let ok = if want.is_infinite() {
                gv == want
            } else {
                (gv - want).abs() <= 1e-6 * want.abs() + 1e-37
            };
            assert!(
                ok,
                "{what}: row {t} pos {j} (expert {}): weight {gv:e}, want {want:e}",
                got[j]
            );
        }
    }
    near_ties
}

fn random_rows(tokens: usize, e: usize, stride: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut r = Rng(seed);
    (0..tokens * stride)
        .map(|i| {
            if i % stride < e {
                uniform(&mut r, lo, hi)
            } else {
                f32::NAN
            }
        })
        .collect()
}

fn run_case<T: g_elem::E>(c: &Case, x32: &[f32], tokens: usize, stride: usize, what: &str) {
    run_case_ties::<T>(c, x32, tokens, stride, what, 1);
}

/// [`run_case`] allowing near-tie rows (see [`check_rows`]) in up to `pct` percent of the rows
/// checked (over every level and flag: 6 runs of `tokens` rows).
fn run_case_ties<T: g_elem::E>(
    c: &Case,
    x32: &[f32],
    tokens: usize,
    stride: usize,
    what: &str,
    pct: usize,
) {
    let x: Vec<T::S> = x32.iter().map(|&v| T::from_f32(v)).collect();
    let mut ties = 0;
    for level in levels() {
        for flags in [0, g::FLAG_CONSISTENT] {
            let (ids, w) = gate::<T>(c, level, flags, tokens, stride, &x, None);
            let what = format!("{} {what} {} {level:?} flags={flags}", c.name, T::NAME);
            ties += check_rows::<T>(c, &what, tokens, stride, &x, &ids, &w);
        }
    }
    assert!(
        ties * 100 <= tokens * 6 * pct,
        "{}: {ties} near-tie rows of {tokens} x 6",
        c.name
    );
}

#[test]
fn families_f32_every_level() {
    for c in families() {
        let e = c.p.num_experts as usize;
        for (seed, lo, hi) in [(1, -4.0, 4.0), (2, -20.0, 20.0), (3, -0.01, 0.01)] {
            let x = random_rows(300, e, e, seed, lo, hi);
            run_case::<F32>(&c, &x, 300, e, &format!("U({lo},{hi})"));
        }
        // On a 1e-3 grid: many exact ties.
        let x: Vec<f32> = random_rows(300, e, e, 4, -8.0, 8.0)
            .iter()
            .map(|v| (v * 1000.0).round() * 1e-3)
            .collect();
        run_case::<F32>(&c, &x, 300, e, "1e-3 grid");
    }
}

#[test]
fn families_f16_bf16_strided() {
    for c in families() {
        let e = c.p.num_experts as usize;
        let stride = e + 5;
        let x = random_rows(100, e, stride, 9, -8.0, 8.0);
        run_case::<F16>(&c, &x, 100, stride, "strided");
        run_case::<Bf16>(&c, &x, 100, stride, "strided");
    }
}

#[test]
fn consistent_flag_is_bit_identical_across_levels_and_threads() {
    let pool = Threadpool::new(3).unwrap();
    for c in families() {
        let e = c.p.num_experts as usize;
        let x = random_rows(257, e, e, 11, -6.0, 6.0);
        let base = gate::<F32>(&c, IsaLevel::Scalar, g::FLAG_CONSISTENT, 257, e, &x, None);
        for level in levels() {
            for tp in [None, Some(&pool)] {
                let got = gate::<F32>(&c, level, g::FLAG_CONSISTENT, 257, e, &x, tp);
                assert_eq!(got.0, base.0, "{} {level:?}", c.name);
                let same = got
                    .1
                    .iter()
                    .zip(&base.1)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{} {level:?}: weights differ", c.name);
            }
            // Default flags: same ids (no bias near-ties in this data), threads do not matter.
            let a = gate::<F32>(&c, level, 0, 257, e, &x, None);
            let b = gate::<F32>(&c, level, 0, 257, e, &x, Some(&pool));
            assert_eq!(a.0, b.0);
            assert!(
                a.1.iter()
                    .zip(&b.1)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
    }
}

/// Rows of special values, each checked against the reference for every family.
/// The grouped row path against the reference on random rows, a tie grid and the special
/// rows (all equal, NaN, +-inf, all -inf: these overflow the candidate buffer and take the
/// fallback selection).
#[test]
fn grouped_path_plans() {
    for c in grouped_cases() {
        let e = c.p.num_experts as usize;
        for (seed, lo, hi) in [(21, -4.0, 4.0), (23, -0.01, 0.01)] {
            let x = random_rows(200, e, e, seed, lo, hi);
            run_case::<F32>(&c, &x, 200, e, &format!("U({lo},{hi})"));
        }
        // U(-12, 12): without a bias, sigmoid keys crowd near 1 (the top experts' exact keys
        // differ by ~1e-6, a few f32 ulps: ~16% of the rows order them differently) and f32
        // group sums near 2 tie within rounding, so groups can flip (2 rows with seed 25 for
        // the sigmoid plan: the group near-tie path of `check_rows`).
        let x = random_rows(200, e, e, 25, -12.0, 12.0);
        run_case_ties::<F32>(&c, &x, 200, e, "U(-12,12)", 25);
        let x: Vec<f32> = random_rows(200, e, e, 24, -8.0, 8.0)
            .iter()
            .map(|v| (v * 100.0).round() * 1e-2)
            .collect();
        run_case::<F32>(&c, &x, 200, e, "1e-2 grid");
    }
}

/// Every kernel (level, family and grouped plan, f32/f16/bf16, consistent or not, pooled or
/// not, a 16-token tile and a tail) on a 1 MiB thread, checked against the reference. Meant
/// for unoptimized builds, where inlining every score and selection variant into one row
/// kernel made frames near 1 MB (CI runs this test unoptimized too; see
/// `common::on_small_stack`).
#[test]
fn every_kernel_fits_in_a_small_thread_stack() {
    fn each<T: g_elem::E>(c: &Case, x: &[f32], e: usize, pool: &Threadpool) {
        run_case::<T>(c, x, 40, e, "small stack");
        let x: Vec<T::S> = x.iter().map(|&v| T::from_f32(v)).collect();
        for level in levels() {
            let alone = gate::<T>(c, level, 0, 40, e, &x, None);
            let pooled = gate::<T>(c, level, 0, 40, e, &x, Some(pool));
            let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(alone.0, pooled.0, "{} {level:?}", c.name);
            assert_eq!(bits(&alone.1), bits(&pooled.1), "{} {level:?}", c.name);
        }
    }
    common::on_small_stack(|| {
        let pool = Threadpool::new(2).unwrap();
        for c in families().into_iter().chain(grouped_cases()) {
            let e = c.p.num_experts as usize;
            let x = random_rows(40, e, e, 31, -4.0, 4.0);
            each::<F32>(&c, &x, e, &pool);
            each::<F16>(&c, &x, e, &pool);
            each::<Bf16>(&c, &x, e, &pool);
        }
    });
}

#[test]
fn ties_nan_inf_and_masked_rows() {
    let ninf = f32::NEG_INFINITY;
    for c in families().into_iter().chain(grouped_cases()) {
        let e = c.p.num_experts as usize;
        let mut r = Rng(77);
        let mut rows: Vec<Vec<f32>> = vec![
            vec![0.5; e],  // all equal
            vec![ninf; e], // all -inf
            // Three finite logits: k > 3 selects -inf keys beside them.
            (0..e)
                .map(|i| {
                    if i < 3 {
                        uniform(&mut r, -3.0, 3.0)
                    } else {
                        ninf
                    }
                })
                .collect(),
            // Two finite logits in each of the second and third groups (of four where
            // there are groups), -inf elsewhere: with more than four selected, the -inf
            // fillers come from the lowest indices, masked groups included (the spec's
            // total order: key, then index).
            (0..e)
                .map(|i| {
                    if (e / 4..e / 4 + 2).contains(&i) || (e / 2..e / 2 + 2).contains(&i) {
                        uniform(&mut r, -3.0, 3.0)
                    } else {
                        ninf
                    }
                })
                .collect(),
            vec![f32::NAN; e], // all NaN
            vec![1e30; e],
            (0..e)
                .map(|i| {
                    if i % 3 == 0 {
                        f32::NAN
                    } else {
                        uniform(&mut r, -3.0, 3.0)
                    }
                })
                .collect(),
            (0..e)
                .map(|i| {
                    if i % 5 == 1 {
                        ninf
                    } else {
                        uniform(&mut r, -3.0, 3.0)
                    }
                })
                .collect(),
            (0..e)
                .map(|i| {
                    if i == e / 2 {
                        f32::INFINITY
                    } else {
                        uniform(&mut r, -3.0, 3.0)
                    }
                })
                .collect(),
            (0..e)
                .map(|i| if i % 7 == 3 { f32::INFINITY } else { ninf })
                .collect(),
            (0..e)
                .map(|i| if i % 2 == 0 { 1e30 } else { -1e30 })
                .collect(),
            (0..e).map(|i| (i % 4) as f32).collect(), // ties in groups of values
            (0..e).map(|i| -((i % 3) as f32) * 0.25).collect(),
            (0..e)
                .map(|i| {
                    if i % 2 == 0 {
                        90.0 + (i % 10) as f32
                    } else {
                        -1e-30
                    }
                })
                .collect(),
        ];
        rows.push(
            (0..e)
                .map(|i| if i < e / 2 { f32::NAN } else { ninf })
                .collect(),
        );
        let tokens = rows.len();
        let x: Vec<f32> = rows.concat();
        for level in levels() {
            let (ids, w) = gate::<F32>(&c, level, 0, tokens, e, &x, None);
            let what = format!("{} special {level:?}", c.name);
            check_rows::<F32>(&c, &what, tokens, e, &x, &ids, &w);
            assert!(w.iter().all(|v| !v.is_nan()), "{what}: NaN weight {w:?}");
        }
    }
}

/// The token-parallel kernel (no bias, no groups, E <= 128, k <= 8; 16 rows at a time): E
/// around every 16-expert boundary, each k bucket, every score and post function; full and
/// partial tiles with special rows (NaN, +-inf, a magnitude past the shift limit, all equal)
/// among ordinary ones. Each row's result must match the reference, and its bits must not
/// depend on the rows it shares a tile with (the kernel choice is per row).
#[test]
fn token_parallel_rows_alone_and_in_tiles() {
    let combos = [
        (1, SM, 0, 0, 0.0, 1.0),
        (2, SM, 0, 1, 0.0, 1.0),
        (3, ID, SM, 0, 0.0, 1.0),
        (4, SG, 0, 1, 1e-20, 2.5),
        (5, SSP, SG, 1, 0.0, 1.0),
        (8, ID, 0, 1, 0.0, 16.0),
        (8, SM, SM, 0, 0.0, 1.0),
    ];
    let tokens = 37;
    for e in [1usize, 2, 3, 8, 15, 16, 17, 33, 64, 65, 128, 129] {
        for (i, &(k, score, post, norm, eps, scale)) in combos.iter().enumerate() {
            let k = k.min(e as u32);
            let c = Case {
                name: "token-parallel",
                p: params(e as u32, k, score, post, norm, eps, scale, NONE),
                bias: None,
            };
            let mut x = random_rows(tokens, e, e, 40 + i as u64, -6.0, 6.0);
            // Pairs of large values: their exp ratios need an exact range reduction.
            let mut put = |t: usize, v: f32| {
                x[t * e + (t * 7) % e] = v;
                x[t * e + (t * 7 + 1) % e] = v - 0.7;
            };
            put(3, f32::NAN);
            put(17, 2000.0);
            put(22, 1e5);
            put(18, f32::INFINITY);
            put(36, f32::NEG_INFINITY);
            put(19, 1023.5);
            put(21, -1023.5);
            x[20 * e..21 * e].fill(0.75);
            let what = format!("E={e} k={k} combo {i}");
            run_case::<F32>(&c, &x, tokens, e, &what);
            for level in levels() {
                for flags in [0, g::FLAG_CONSISTENT] {
                    let (ids, w) = gate::<F32>(&c, level, flags, tokens, e, &x, None);
                    let k = k as usize;
                    for t in 0..tokens {
                        let row = &x[t * e..(t + 1) * e];
                        let (ids1, w1) = gate::<F32>(&c, level, flags, 1, e, row, None);
                        assert_eq!(
                            ids[t * k..(t + 1) * k],
                            ids1[..],
                            "{what} {level:?} row {t}"
                        );
                        let same = w[t * k..(t + 1) * k]
                            .iter()
                            .zip(&w1)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(
                            same,
                            "{what} {level:?} flags={flags} row {t}: weights differ alone"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn all_masked_rows_give_first_ids_and_zero_weights() {
    for c in families().into_iter().filter(|c| c.bias.is_none()) {
        let e = c.p.num_experts as usize;
        let k = c.p.k as usize;
        for v in [f32::NEG_INFINITY, f32::NAN] {
            let x = vec![v; e];
            for level in levels() {
                let (ids, w) = gate::<F32>(&c, level, 0, 1, e, &x, None);
                assert_eq!(ids, (0..k as i32).collect::<Vec<_>>(), "{}", c.name);
                assert!(w.iter().all(|&w| w == 0.0), "{} {w:?}", c.name);
            }
        }
    }
}

/// DeepSeek-V3 with a bias that makes every key negative: a masked group must rank below every
/// kept expert (runtimes that masked with 0 instead of -inf picked experts from dropped groups).
#[test]
fn negative_keys_never_leak_masked_groups() {
    let mut c = families()
        .into_iter()
        .find(|c| c.name == "deepseek-v3")
        .unwrap();
    c.bias = Some(bias(256, 8, -3.0, -2.0));
    let x = random_rows(200, 256, 256, 12, -4.0, 4.0);
    for level in levels() {
        let (ids, w) = gate::<F32>(&c, level, 0, 200, 256, &x, None);
        check_rows::<F32>(
            &c,
            &format!("negative keys {level:?}"),
            200,
            256,
            &x,
            &ids,
            &w,
        );
        for t in 0..200 {
            let groups: std::collections::BTreeSet<i32> =
                ids[t * 8..t * 8 + 8].iter().map(|&i| i / 32).collect();
            assert!(groups.len() <= 4, "row {t}: experts from {groups:?}");
        }
    }
}

#[test]
fn shapes_k_equals_e_single_expert_large_e_and_large_k() {
    let cases = [
        Case {
            name: "k=E",
            p: params(16, 16, SM, 0, 1, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "E=1",
            p: params(1, 1, SM, 0, 0, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "E=1 sigmoid",
            p: params(1, 1, SG, 0, 1, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "E=65536",
            p: params(65536, 8, SM, 0, 1, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "E=65536 k=64",
            p: params(65536, 64, SG, 0, 0, 0.0, 1.0, NONE),
            bias: Some(bias(65536, 2, -1.0, 1.0)),
        },
        Case {
            name: "k=17",
            p: params(40, 17, ID, 1, 0, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "k=64 groups of 1",
            p: params(64, 64, SSP, 0, 1, 0.0, 1.0, (64, 64, 1)),
            bias: None,
        },
        Case {
            name: "groups sum-top2 no bias",
            p: params(96, 5, SG, 2, 1, 0.0, 1.0, (6, 2, 1)),
            bias: None,
        },
        Case {
            name: "E=33 k=3",
            p: params(33, 3, SM, 0, 0, 0.0, 1.0, (3, 1, 0)),
            bias: None,
        },
    ];
    for c in &cases {
        let e = c.p.num_experts as usize;
        let tokens = if e > 1000 { 6 } else { 64 };
        let x = random_rows(tokens, e, e, 21, -5.0, 5.0);
        run_case::<F32>(c, &x, tokens, e, "shape");
        // Ties everywhere.
        let x = vec![1.25f32; tokens * e];
        run_case::<F32>(c, &x, tokens, e, "all-equal");
    }
}

/// Structured rows (a sawtooth over the row) put many keys above the lane-maximum bound, so
/// the selection tightens its bound on the candidates; ties of lane maxima as well.
#[test]
fn structured_rows_exercise_the_candidate_refinement() {
    let cases = [
        Case {
            name: "identity e256",
            p: params(256, 8, ID, 0, 0, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "softmax e128",
            p: params(128, 5, SM, 0, 1, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "sigmoid bias e256",
            p: params(256, 8, SG, 0, 1, 0.0, 1.0, NONE),
            bias: Some(bias(256, 6, -0.01, 0.01)),
        },
    ];
    for c in &cases {
        let e = c.p.num_experts as usize;
        let tokens = 64;
        let x: Vec<f32> = (0..tokens * e)
            .map(|i| ((i * 7919) % 4001) as f32 * 0.002 - 4.0)
            .collect();
        run_case::<F32>(c, &x, tokens, e, "sawtooth");
        let x: Vec<f32> = (0..tokens * e).map(|i| ((i % e) / 16) as f32).collect();
        run_case::<F32>(c, &x, tokens, e, "lane ties");
    }
}

#[test]
fn score_functions_hold_accuracy_over_a_wide_range() {
    type F = unsafe fn(&[f32; 16]) -> [f32; 16];
    let mut fns: Vec<(&str, F, F)> = vec![(
        "scalar",
        nnkern::ukernels::gating::scalar::sigmoid16::<false>,
        nnkern::ukernels::gating::scalar::sqrt_softplus16::<false>,
    )];
    #[cfg(target_arch = "x86_64")]
    {
        if levels().contains(&IsaLevel::Avx2) {
            fns.push((
                "avx2",
                nnkern::ukernels::gating::avx2::sigmoid16::<true>,
                nnkern::ukernels::gating::avx2::sqrt_softplus16::<true>,
            ));
        }
        if levels().contains(&IsaLevel::Avx512) {
            fns.push((
                "avx512",
                nnkern::ukernels::gating::avx512::sigmoid16::<true>,
                nnkern::ukernels::gating::avx512::sqrt_softplus16::<true>,
            ));
        }
    }
    for (name, sig, ssp) in fns {
        let mut worst = (0.0f64, 0.0f64);
        let mut x = -120.0f32;
        while x < 120.0 {
            let v: [f32; 16] = std::array::from_fn(|i| x + i as f32 * 1e-3);
            // SAFETY: the level was detected above.
            let (s, q) = unsafe { (sig(&v), ssp(&v)) };
            for i in 0..16 {
                let xv = f64::from(v[i]);
                let ws = 1.0 / (1.0 + (-xv).exp());
                let sp = if xv > 0.0 {
                    xv + (-xv).exp().ln_1p()
                } else {
                    xv.exp().ln_1p()
                };
                let wq = sp.sqrt();
                let es = (f64::from(s[i]) - ws).abs() / (ws + 1e-37 / 1e-6);
                let eq = (f64::from(q[i]) - wq).abs() / (wq + 1e-37 / 1e-6);
                worst = (worst.0.max(es), worst.1.max(eq));
            }
            x += 0.0371;
        }
        assert!(
            worst.0 <= 1e-6 && worst.1 <= 1e-6,
            "{name}: worst relative error sigmoid {:e}, sqrt-softplus {:e}",
            worst.0,
            worst.1
        );
        eprintln!(
            "{name}: sigmoid {:.3e}, sqrt-softplus {:.3e}",
            worst.0, worst.1
        );
    }
    // Specials.
    let v = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        200.0,
        -200.0,
        1e-30,
        -1e-30,
        88.0,
        -88.0,
        1e30,
        -1e30,
        17.0,
        -17.0,
        0.5,
        -0.5,
    ];
    // SAFETY: scalar needs nothing.
    let (s, q) = unsafe {
        (
            nnkern::ukernels::gating::scalar::sigmoid16::<false>(&v),
            nnkern::ukernels::gating::scalar::sqrt_softplus16::<false>(&v),
        )
    };
    assert_eq!((s[0], s[2], s[4]), (1.0, 0.5, 1.0));
    assert!(s[1] <= 1e-37 && s[5] <= 1e-37, "{s:?}");
    assert_eq!((q[0], q[4]), (f32::INFINITY, 200.0f32.sqrt()));
    assert!(q[1] <= 1e-37, "{q:?}");
}

#[test]
fn guard_pages_around_every_buffer() {
    let cases = [
        Case {
            name: "mixtral",
            p: params(8, 2, SM, 0, 1, 0.0, 1.0, NONE),
            bias: None,
        },
        Case {
            name: "v3",
            p: params(256, 8, SG, 0, 1, 1e-20, 2.5, (8, 4, 1)),
            bias: Some(bias(256, 3, -0.1, 0.1)),
        },
        Case {
            name: "odd",
            p: params(37, 5, SSP, 1, 0, 0.0, 1.0, NONE),
            bias: Some(bias(37, 3, -0.1, 0.1)),
        },
    ];
    for c in &cases {
        let e = c.p.num_experts as usize;
        let k = c.p.k as usize;
        for tokens in [1usize, 3] {
            let x32 = random_rows(tokens, e, e, 5, -3.0, 3.0);
            for level in levels() {
                for end in [true, false] {
                    let gx = GuardPages::new(x32.len() * 4);
                    let gi = GuardPages::new(tokens * k * 4);
                    let gw = GuardPages::new(tokens * k * 4);
                    let gb = GuardPages::new(e * 4);
                    let (xp, ip, wp, bp) = if end {
                        (
                            gx.at_end::<f32>(x32.len()),
                            gi.at_end::<i32>(tokens * k),
                            gw.at_end::<f32>(tokens * k),
                            gb.at_end::<f32>(e),
                        )
                    } else {
                        (
                            gx.at_start::<f32>(0, x32.len()),
                            gi.at_start::<i32>(0, tokens * k),
                            gw.at_start::<f32>(0, tokens * k),
                            gb.at_start::<f32>(0, e),
                        )
                    };
                    // SAFETY: each buffer holds its elements.
                    unsafe {
                        std::ptr::copy_nonoverlapping(x32.as_ptr(), xp, x32.len());
                        if let Some(b) = &c.bias {
                            std::ptr::copy_nonoverlapping(b.as_ptr(), bp, e);
                        }
                        let bias = c
                            .bias
                            .as_ref()
                            .map(|_| std::slice::from_raw_parts(bp.cast_const(), e));
                        g::one_shot::<F32>(level, &c.p, bias, tokens, xp, e, ip, wp, 0, None)
                            .unwrap();
                        let ids = std::slice::from_raw_parts(ip, tokens * k);
                        let w = std::slice::from_raw_parts(wp, tokens * k);
                        check_rows::<F32>(
                            c,
                            &format!("{} guard {level:?}", c.name),
                            tokens,
                            e,
                            &x32,
                            ids,
                            w,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn invalid_parameters_write_nothing() {
    let good = params(16, 2, SM, 0, 1, 0.0, 1.0, NONE);
    let mut bad = vec![];
    let mut m = |f: &dyn Fn(&mut Params)| {
        let mut p = good;
        f(&mut p);
        bad.push(p);
    };
    m(&|p| p.k = 0);
    m(&|p| p.k = 17);
    m(&|p| p.num_experts = 0);
    m(&|p| p.score_fn = 4);
    m(&|p| p.post_fn = 3);
    m(&|p| p.normalize = 2);
    m(&|p| p.group_score = 2);
    m(&|p| (p.n_group, p.topk_group) = (3, 1)); // does not divide 16
    m(&|p| (p.n_group, p.topk_group) = (4, 5)); // topk_group > n_group
    m(&|p| (p.n_group, p.topk_group) = (4, 0));
    m(&|p| (p.n_group, p.topk_group, p.k) = (8, 1, 3)); // 1 group of 2 < k
    m(&|p| p.norm_eps = f32::NAN);
    m(&|p| p.norm_eps = -1.0);
    m(&|p| p.scale = f32::INFINITY);
    let x = [0.0f32; 16 * 2];
    for p in &bad {
        let mut ids = vec![-9i32; 4];
        let mut w = vec![-9.0f32; 4];
        // SAFETY: buffers of the sizes the good parameters need.
        let r = unsafe {
            g::one_shot::<F32>(
                IsaLevel::Scalar,
                p,
                None,
                2,
                x.as_ptr(),
                16,
                ids.as_mut_ptr(),
                w.as_mut_ptr(),
                0,
                None,
            )
        };
        assert_eq!(r, Err(nnkern::Status::InvalidParameter), "{p:?}");
        assert!(ids.iter().all(|&v| v == -9) && w.iter().all(|&v| v == -9.0));
    }
    let mut big = good;
    big.num_experts = 65537;
    assert_eq!(
        g::plan(&big, None),
        Err(nnkern::Status::UnsupportedParameter)
    );
    big.num_experts = 128;
    big.k = 65;
    assert_eq!(
        g::plan(&big, None),
        Err(nnkern::Status::UnsupportedParameter)
    );
    assert_eq!(
        g::plan(&good, Some(&[0.0; 15])),
        Err(nnkern::Status::InvalidParameter)
    );
    assert_eq!(g::check_flags(2), Err(nnkern::Status::InvalidParameter));
}

/// Reference dispatch plan: stable counting sort by expert.
fn plan_reference(ids: &[i32], e: usize) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let mut counts = vec![0i32; e];
    for &i in ids {
        counts[i as usize] += 1;
    }
    let mut offsets = vec![0i32; e + 1];
    for x in 0..e {
        offsets[x + 1] = offsets[x] + counts[x];
    }
    let mut perm: Vec<i32> = (0..ids.len() as i32).collect();
    perm.sort_by_key(|&s| (ids[s as usize], s));
    (counts, offsets, perm)
}

#[test]
fn dispatch_plan_and_align_blocks_match_the_reference_for_any_pool() {
    let pool = Threadpool::new(3).unwrap();
    for (tokens, k, e, seed) in [
        (0usize, 2usize, 4usize, 1u64),
        (1, 1, 1, 2),
        (7, 3, 5, 3),
        (4096, 8, 256, 4),
        (40000, 2, 8, 5),
    ] {
        let mut r = Rng(seed);
        let ids: Vec<i32> = (0..tokens * k)
            .map(|_| (r.next_u32() as usize % e) as i32)
            .collect();
        let (rc, ro, rp) = plan_reference(&ids, e);
        for tp in [None, Some(&pool)] {
            let n = tokens * k;
            let (mut c, mut o, mut p, mut inv) =
                (vec![-1; e], vec![-1; e + 1], vec![-1; n], vec![-1; n]);
            // SAFETY: buffers of the documented sizes.
            unsafe {
                g::dispatch_plan(
                    tokens,
                    k,
                    ids.as_ptr(),
                    e,
                    c.as_mut_ptr(),
                    o.as_mut_ptr(),
                    p.as_mut_ptr(),
                    inv.as_mut_ptr(),
                    tp,
                )
                .unwrap();
            }
            assert_eq!((&c, &o, &p), (&rc, &ro, &rp));
            for (i, &s) in p.iter().enumerate() {
                assert_eq!(inv[s as usize], i as i32);
            }
            for block in [1usize, 4, 16, 64] {
                let cap = n + e * (block - 1);
                let mut sorted = vec![-5; cap];
                let mut be = vec![-5; cap / block];
                let mut total = 0usize;
                // SAFETY: buffers of the documented sizes.
                unsafe {
                    g::align_blocks(
                        tokens,
                        k,
                        ids.as_ptr(),
                        e,
                        block,
                        sorted.as_mut_ptr(),
                        be.as_mut_ptr(),
                        &mut total,
                        tp,
                    )
                    .unwrap();
                }
                let mut want = vec![];
                let mut want_be = vec![];
                for x in 0..e {
                    let slots = &rp[ro[x] as usize..ro[x + 1] as usize];
                    let padded = slots.len().next_multiple_of(block);
                    want.extend_from_slice(slots);
                    want.resize(want.len() + padded - slots.len(), n as i32);
                    want_be.resize(want_be.len() + padded / block, x as i32);
                }
                assert_eq!(total, want.len());
                assert_eq!(&sorted[..total], &want[..]);
                assert!(sorted[total..].iter().all(|&v| v == n as i32));
                assert_eq!(&be[..total / block], &want_be[..]);
                assert!(be[total / block..].iter().all(|&v| v == -1));
            }
        }
    }
}

#[test]
fn dispatch_plan_rejects_bad_ids_before_writing() {
    let ids = [0, 3, 4, 1];
    let (mut c, mut o, mut p) = (vec![-1; 4], vec![-1; 5], vec![-1; 4]);
    for bad in [4, -1] {
        let mut ids = ids;
        ids[2] = bad;
        // SAFETY: buffers of the documented sizes.
        let r = unsafe {
            g::dispatch_plan(
                2,
                2,
                ids.as_ptr(),
                4,
                c.as_mut_ptr(),
                o.as_mut_ptr(),
                p.as_mut_ptr(),
                std::ptr::null_mut(),
                None,
            )
        };
        assert_eq!(r, Err(nnkern::Status::InvalidParameter));
        let mut sorted = vec![-1; 4 + 4 * 3];
        let mut be = vec![-1; 4];
        let mut total = 99usize;
        // SAFETY: as above.
        let r = unsafe {
            g::align_blocks(
                2,
                2,
                ids.as_ptr(),
                4,
                4,
                sorted.as_mut_ptr(),
                be.as_mut_ptr(),
                &mut total,
                None,
            )
        };
        assert_eq!(r, Err(nnkern::Status::InvalidParameter));
        assert!(sorted.iter().all(|&v| v == -1) && be.iter().all(|&v| v == -1) && total == 99);
    }
    assert!(c.iter().chain(&o).chain(&p).all(|&v| v == -1));
    // Overlapping outputs.
    let mut buf = vec![0i32; 16];
    let b = buf.as_mut_ptr();
    // SAFETY: all pointers inside buf.
    let r = unsafe {
        g::dispatch_plan(
            2,
            2,
            ids.as_ptr(),
            4,
            b,
            b.add(2),
            b.add(10),
            std::ptr::null_mut(),
            None,
        )
    };
    assert_eq!(r, Err(nnkern::Status::InvalidParameter));
}
