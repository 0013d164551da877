//! Softmax and log-softmax microkernels, written once over [`V16`] and instantiated per ISA in
//! `scalar`, `avx2` and `avx512`.
//!
//! # exp
//! `exp_rel(x)` computes `exp(x - shift) * 2^-n_ref` with `x - shift` clamped below at `lo` (a
//! NaN stays NaN), by range reduction and a polynomial:
//! - `n = round(x * log2(e))` (magic-bias rounding), `t = x - n*LN2_HI - n*LN2_LO` (Cody–Waite:
//!   `LN2_HI` has 13 significant bits, so `n * LN2_HI` is exact for `|n| < 2^11`, i.e.
//!   `|x| < 1419`; callers keep `|x| < 1024`);
//! - `p(t) = 1 + t*(c1 + t*(c2 + ... + t*c5))`, a degree-5 polynomial fitted by
//!   `tests/tools/fit_exp_poly.py` (Lawson's minimax iteration on relative error over
//!   `[-ln2/2, ln2/2]`, rounded to f32: 9.1e-8 relative approximation error, 1.5e-7 with the
//!   f32 Horner steps). Degree 6 was 1 ulp more accurate (1.06 ulp fused) and one FMA slower
//!   per 16 elements; the softmax contract (1e-6 relative) has room for 2 ulp;
//! - the result `p * 2^(n - n_ref)` (exact scaling; 0 below 2^-126 when not `FUSED`).
//!
//! Max error, measured over every f32 in [-87.3, 88.3] against f64 `exp` by
//! `tests/softmax_exp.rs::exp_max_ulp_over_every_float`: see [`EXP_MAX_ULP`].
//!
//! Each call leaves out the steps it does not need ([`mode`], chosen by [`exp_mode`]): the clamp
//! when the row's minimum is above `lo`, and, on AVX-512 with FMA, the subtraction of `n_ref`,
//! which the coefficients then carry as `2^-n_ref`. Neither changes a bit
//! (`tests/softmax_exp.rs::exp_modes_change_no_bit`); together with degree 5 they take the
//! fused AVX-512 exp from 14 to 11 vector operations per 16 elements.
//!
//! Softmax never forms `x - max` in f32 (its rounding error would be up to 1.9e-6 relative for
//! `|x - max|` in [32, 64)): the reduction works on `x` itself and the max only enters as the
//! integer `n_ref = round(max * log2(e))`, so every ratio `exp(x - max)` keeps f32 accuracy.
//! Rows whose max is beyond ±1024 (where `n * LN2_HI` would be inexact) use `shift = max`
//! instead: there `x - max` is exact for every `x >= max - 105`, and anything lower is 0.
//! Log-softmax, which needs only the sum (where an element's tiny relative error is weighted by
//! its tiny share), always uses `shift = max`, so that the max element contributes exactly 1.
//!
//! # Sums
//! Each kernel sums in blocks of 256 elements with four f32 accumulators (4 terms per lane per
//! block), then adds each block into 16 f64 lanes, reduced by a fixed tree at the end: the
//! error does not grow with the row length, and the order depends only on the row, never on
//! the ISA (so `FUSED = false` is bit-identical everywhere).

use crate::ukernels::simd::{Elem, V16};

/// Defines one ISA's concrete kernels (each generic kernel compiled with the ISA's target
/// features and its vector type).
macro_rules! instantiate {
    ($V:ty $(, $features:literal)?) => {
        use crate::ukernels::simd::Elem;
        use crate::ukernels::softmax::{Ahead, BlockRefs, ExpParams, ExtSum};

        /// Row maximum and minimum.
        ///
        /// # Safety
        /// `n` readable elements at `x`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn rminmax<T: Elem>(n: usize, x: *const T::S) -> (f32, f32) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::rminmax::<$V, T>(n, x) }
        }

        /// `y = exp_rel(x)`, returns the sum.
        ///
        /// # Safety
        /// `n` elements readable at `x`, writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn raddstoreexp<const FUSED: bool>(n: usize, x: *const f32, y: *mut f32, p: &ExpParams) -> f64 {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::raddstoreexp::<$V, FUSED>(n, x, y, p) }
        }

        /// Sum of `exp_rel(x)`.
        ///
        /// # Safety
        /// `n` readable elements at `x`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn raddexp<T: Elem, const FUSED: bool>(n: usize, x: *const T::S, p: &ExpParams) -> f64 {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::raddexp::<$V, T, FUSED>(n, x, p) }
        }

        /// `y *= s`.
        ///
        /// # Safety
        /// `n` elements readable and writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn vscale(n: usize, y: *mut f32, s: f32) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::vscale::<$V>(n, y, s) }
        }

        /// `y = exp_rel(x) * s`; with `stream`, stored past the caches where the ISA and
        /// type have non-temporal stores.
        ///
        /// # Safety
        /// `n` elements readable at `x`, writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn vscaleexp<T: Elem, const FUSED: bool>(n: usize, x: *const T::S, y: *mut T::S, p: &ExpParams, s: f32, stream: bool) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::vscaleexp::<$V, T, FUSED>(n, x, y, p, s, stream) }
        }

        /// `y = (x - m) - c`; with `stream`, stored past the caches (as `vscaleexp`).
        ///
        /// # Safety
        /// `n` elements readable at `x`, writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn vlogsub<T: Elem>(n: usize, x: *const T::S, y: *mut T::S, m: f32, c: f32, stream: bool) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::vlogsub::<$V, T>(n, x, y, m, c, stream) }
        }

        /// Extended-exponent sum of `exp(x)` and the max.
        ///
        /// # Safety
        /// `n` readable elements at `x`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn rblockexp<T: Elem, const FUSED: bool>(n: usize, x: *const T::S, ahead: Ahead) -> ExtSum {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::rblockexp::<$V, T, FUSED>(n, x, ahead) }
        }

        /// Blocked three-pass passes 1 and 2: `y = exp_rel(x)` per block, returns the sum.
        ///
        /// # Safety
        /// `n` elements readable at `x` and writable at `y` (they may be the same buffer); the
        /// CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn rblockstoreexp<const FUSED: bool>(
            n: usize,
            x: *const f32,
            y: *mut f32,
            refs: &mut BlockRefs,
            ahead: Ahead,
        ) -> ExtSum {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::rblockstoreexp::<$V, FUSED>(n, x, y, refs, ahead) }
        }

        /// Blocked three-pass pass 3: each block scaled by its own factor.
        ///
        /// # Safety
        /// `n` elements readable and writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn vscaleblocks(n: usize, y: *mut f32, refs: &BlockRefs, inv_sum: f64, n_ref: f32) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::vscaleblocks::<$V>(n, y, refs, inv_sum, n_ref) }
        }

        /// `exp_rel` on 16 lanes (or, with `s`, `exp_rel * s` rounded once as the scaled last
        /// pass does), in `mode` (`None`: the mode the kernels choose), for the tests.
        /// `Some(mode::NEG)` alone (no `s`, and `p` without shift or reference) gives
        /// `exp(-x)` as gating's sigmoid computes it.
        ///
        /// # Safety
        /// The CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn exp16_mode<const FUSED: bool>(
            x: &[f32; 16],
            p: &ExpParams,
            mode: Option<u8>,
            s: Option<f32>,
        ) -> [f32; 16] {
            use crate::ukernels::simd::V16;
            use crate::ukernels::softmax::{exp_mode, exp_mode_scaled, exp_rel, exp_scaled, with_mode, ExpVec};
            let auto = match s {
                None => exp_mode::<$V, FUSED>(p),
                Some(s) => exp_mode_scaled::<$V, FUSED>(p, s),
            };
            let mut out = [0f32; 16];
            // SAFETY: 16 elements each.
            unsafe {
                let v = <$V as V16>::load_f32(x.as_ptr());
                const NEG: u8 = crate::ukernels::softmax::mode::NEG;
                let r = if mode == Some(NEG) {
                    assert!(s.is_none() && p.shift == 0.0 && p.n_ref == 0.0);
                    exp_rel::<$V, FUSED, NEG>(v, &ExpVec::new::<NEG>(p))
                } else { with_mode!(FUSED, mode.unwrap_or(auto), M => {
                    let e = ExpVec::new::<M>(p);
                    match s {
                        None => exp_rel::<$V, FUSED, M>(v, &e),
                        Some(s) => exp_scaled::<$V, FUSED, M>(v, &e, <$V as V16>::splat(s)),
                    }
                }) };
                r.store_f32(out.as_mut_ptr());
            }
            out
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

/// The largest error of `exp_rel`, in units in the last place of the f32 result, over every
/// f32 in [-87.3, 88.3] against f64 `exp`, measured by the test named in the module docs:
/// 2.311 ulp unfused (scalar, and every ISA under `NNK_FLAG_CONSISTENT_ARITHMETIC`, worst at
/// x = 5.2476544), 2.018 ulp with FMA (AVX2, AVX-512; worst at x = 37.821556).
pub const EXP_MAX_ULP: f64 = 2.32;

const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B); // 1.44269504
const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
const LN2_HI: f32 = f32::from_bits(0x3F31_7000); // 0x1.62Ep-1, 13 significant bits
const LN2_LO: f32 = f32::from_bits(0x3805_FDF4); // ln2 - LN2_HI, rounded
/// `p(t) = C[0] + t*(C[1] + t*(C[2] + t*(C[3] + t*(C[4] + t*C[5]))))`, see the module docs.
const C: [f32; 6] = [
    1.0,
    f32::from_bits(0x3F7F_FFFB), // 0x1.fffff6p-1
    f32::from_bits(0x3EFF_FEE3), // 0x1.fffdc6p-2
    f32::from_bits(0x3E2A_AD35), // 0x1.555a6ap-3
    f32::from_bits(0x3D2B_9D2A), // 0x1.573a54p-5
    f32::from_bits(0x3C07_D41B), // 0x1.0fa836p-7
];

/// The bits of an exp kernel's `MODE` (chosen per call by [`exp_mode`]): which steps of
/// `exp_rel` the call performs. A step is left out only where it is the identity or is done
/// another way with the same result, so the mode never changes a value.
pub mod mode {
    /// Subtract `ExpParams::shift` (left out when the shift is 0).
    pub const SHIFT: u8 = 1;
    /// Form `k = n - n_ref` (left out when `n_ref` is 0, or when the coefficients carry
    /// `2^-n_ref`, see [`super::ExpVec::new`]).
    pub const SUB: u8 = 2;
    /// Clamp `x - shift` at `lo` (left out when `lo` is -inf: the caller knows every input is
    /// above it, see [`super::ExpParams::with_min`]).
    pub const CLAMP: u8 = 4;
    /// The argument is negated: `exp(-x) * 2^-n_ref`, bit for bit what `exp_rel(-x)` gives
    /// (the reduction with the signs of `log2(e)`, `LN2_HI` and `LN2_LO` flipped yields `-t`,
    /// and the polynomial's odd coefficients negated give `p(t)` from it: every Horner step
    /// is the same rounding of the same magnitude). Only without `SHIFT` and `CLAMP`, so a
    /// caller negating its input (gating's sigmoid) saves that operation.
    pub const NEG: u8 = 8;
}

/// The largest `|n_ref|` the polynomial's coefficients carry as a factor `2^-n_ref`: every
/// Horner value then stays normal (the smallest, `C[5] * 2^-100` ~ 2^-107; the largest
/// `2^100`), so with FMA each step rounds exactly as the unscaled one would, scaled.
const PRESCALE_LIMIT: f32 = 100.0;

/// The steps ([`mode`] bits) an `exp_rel` call with `p` needs on the vector type `V`.
///
/// Without `SUB`, a nonzero `n_ref` is folded into the coefficients (`p' = p * 2^-n_ref`,
/// exact, see [`PRESCALE_LIMIT`]) and the result is `pow2_scale(p', n)`: the same single
/// rounding of the same value `p * 2^(n - n_ref)`, provided `pow2_scale` is exact for every
/// exponent (AVX-512 `scalef`; the exponent-bits product of the other ISAs is not beyond
/// 2^±126) and fused (unfused Horner products of the scaled coefficients could round as
/// subnormals, which `NNK_FLAG_CONSISTENT_ARITHMETIC` must not depend on).
#[inline(always)]
pub fn exp_mode<V: V16, const FUSED: bool>(p: &ExpParams) -> u8 {
    let mut m = 0;
    if p.shift != 0.0 {
        m |= mode::SHIFT;
    }
    let prescale = FUSED && V::FUSED_POW2_ANY_EXPONENT && p.n_ref.abs() <= PRESCALE_LIMIT;
    if p.n_ref != 0.0 && !prescale {
        m |= mode::SUB;
    }
    if p.lo != f32::NEG_INFINITY {
        m |= mode::CLAMP;
    }
    m
}

/// [`exp_mode`] for `exp_rel(x) * s` (the scaled last pass): there the product `p' * s` is
/// rounded before the scaling, so the coefficients carry `2^-n_ref` only while that product
/// stays normal (`0.7 * s * 2^-n_ref >= 2^-125`) and rounds as the unscaled one, scaled.
#[inline(always)]
pub fn exp_mode_scaled<V: V16, const FUSED: bool>(p: &ExpParams, s: f32) -> u8 {
    let m = exp_mode::<V, FUSED>(p);
    let normal = f64::from(s) * (-f64::from(p.n_ref)).exp2() >= (-124f64).exp2();
    if m & mode::SUB == 0 && p.n_ref != 0.0 && !normal {
        m | mode::SUB
    } else {
        m
    }
}

/// Runs `$body` with a const `$M` that serves the runtime mode `$mode` (of a call with
/// `$fused`): its own instantiation for each fused mode that occurs, and every step
/// (`SHIFT | SUB | CLAMP`, valid for any parameters: subtracting a zero shift or `n_ref` and
/// clamping at -inf are exact no-ops) for the rest (a shift never comes with a nonzero `n_ref`)
/// and for every unfused call, which keeps the number of instantiations down.
///
/// Each arm's body goes through [`own_frame`](crate::ukernels::own_frame): in builds with
/// debug assertions it runs in a closure, so it has its own stack frame (see there).
macro_rules! with_mode {
    ($fused:expr, $mode:expr, $M:ident => $body:expr) => {{
        use $crate::ukernels::softmax::mode::{CLAMP, SHIFT, SUB};
        match if $fused { $mode } else { SHIFT | SUB | CLAMP } {
            0 => {
                const $M: u8 = 0;
                $crate::ukernels::own_frame!($body)
            }
            CLAMP => {
                const $M: u8 = CLAMP;
                $crate::ukernels::own_frame!($body)
            }
            SUB => {
                const $M: u8 = SUB;
                $crate::ukernels::own_frame!($body)
            }
            m if m == SUB | CLAMP => {
                const $M: u8 = SUB | CLAMP;
                $crate::ukernels::own_frame!($body)
            }
            SHIFT => {
                const $M: u8 = SHIFT;
                $crate::ukernels::own_frame!($body)
            }
            m if m == SHIFT | CLAMP => {
                const $M: u8 = SHIFT | CLAMP;
                $crate::ukernels::own_frame!($body)
            }
            _ => {
                const $M: u8 = SHIFT | SUB | CLAMP;
                $crate::ukernels::own_frame!($body)
            }
        }
    }};
}
pub(crate) use with_mode;

/// The constants of one `exp_rel` call as vectors, built once per call outside the loops.
#[derive(Clone, Copy)]
pub struct ExpVec<V> {
    lo: V,
    shift: V,
    n_ref: V,
    c: [V; 6],
}

impl<V: V16> ExpVec<V> {
    /// The vectors for `p` in `MODE` (from [`exp_mode`]).
    #[inline(always)]
    pub fn new<const MODE: u8>(p: &ExpParams) -> Self {
        // Without SUB, n_ref is 0 or within PRESCALE_LIMIT: 2^-n_ref is an exact power of two.
        let s = if MODE & mode::SUB == 0 && p.n_ref != 0.0 {
            f32::from_bits(((127 - p.n_ref as i32) as u32) << 23)
        } else {
            1.0
        };
        ExpVec {
            lo: V::splat(p.lo),
            shift: V::splat(p.shift),
            n_ref: V::splat(p.n_ref),
            c: splat_coefficients(s, MODE & mode::NEG != 0),
        }
    }

    /// The vectors for a different `lo` and `n_ref` in each lane (no shift; a mode with
    /// [`mode::SUB`], so the coefficients stay unscaled): lane `i` computes what
    /// `ExpParams { lo: lo[i], shift: 0.0, n_ref: n_ref[i] }` gives.
    #[inline(always)]
    pub fn lanes(lo: V, n_ref: V) -> Self {
        ExpVec {
            lo,
            shift: V::splat(0.0),
            n_ref,
            c: splat_coefficients(1.0, false),
        }
    }
}

/// The polynomial's coefficients times `s`, as vectors. Written out, not `C.map(..)`: the
/// closure of `map` does not inherit the kernel's target features, so on AVX2 `map` and each
/// `_mm256_set1_ps` stayed out-of-line calls plus a copy of the array, in every `ExpVec::new`
/// (the gating kernels build one per vector: measured, 52% of an AVX2 DeepSeek-V3 row).
/// With `neg`, the odd ones negated (see [`mode::NEG`]).
#[inline(always)]
fn splat_coefficients<V: V16>(s: f32, neg: bool) -> [V; 6] {
    let o = if neg { -s } else { s };
    [
        V::splat(C[0] * s),
        V::splat(C[1] * o),
        V::splat(C[2] * s),
        V::splat(C[3] * o),
        V::splat(C[4] * s),
        V::splat(C[5] * o),
    ]
}

/// Rows whose max magnitude reaches this use the `shift = max` form (see the module docs).
pub const SHIFT_LIMIT: f32 = 1024.0;
/// Elements below `max - UNDERFLOW_SPAN` contribute exactly 0 (exp(-105) < 2^-151).
pub const UNDERFLOW_SPAN: f32 = 105.0;

/// Elements per block (see "Sums" in the module docs).
pub const BLOCK: usize = 256;

/// Parameters of `exp_rel`: `exp(max(x - shift, lo)) * 2^-n_ref`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpParams {
    /// Lower clamp of `x - shift`; NaN inputs are kept. -inf: no input is below the range
    /// where the reduction is exact, and the kernels skip the clamp (see
    /// [`ExpParams::with_min`]).
    pub lo: f32,
    /// Subtracted first (0, or the row max).
    pub shift: f32,
    /// Integer-valued exponent divided out of every result.
    pub n_ref: f32,
}

/// `round(v * log2(e))` as the kernels compute it (unfused, so identical everywhere).
pub fn round_log2e(v: f32) -> f32 {
    (v * LOG2E + MAGIC) - MAGIC
}

/// [`round_log2e`] in every lane (the same unfused operations, so the same results).
#[inline(always)]
pub fn round_log2e_lanes<V: V16>(v: V) -> V {
    v.mul(V::splat(LOG2E))
        .add(V::splat(MAGIC))
        .sub(V::splat(MAGIC))
}

impl ExpParams {
    /// Parameters for `exp(x - max)` in a row whose (finite) max is `max`, keeping each
    /// ratio accurate to f32 (the result is scaled by `2^-round(max log2 e) * exp(max)`,
    /// undone by [`ExpParams::log_offset`] or by normalizing).
    pub fn for_max(max: f32) -> ExpParams {
        if max.abs() < SHIFT_LIMIT {
            ExpParams {
                lo: max - UNDERFLOW_SPAN,
                shift: 0.0,
                n_ref: round_log2e(max),
            }
        } else {
            ExpParams::shifted(max)
        }
    }

    /// Parameters for exactly `exp(x - max)` (`x - max` formed in f32: exact for the terms
    /// that matter to a sum, and 1 for `x == max`).
    pub fn shifted(max: f32) -> ExpParams {
        ExpParams {
            lo: -UNDERFLOW_SPAN,
            shift: max,
            n_ref: 0.0,
        }
    }

    /// The same parameters for inputs known to be `>= min`: when no input can reach the
    /// clamp, `lo` becomes -inf, and the kernels skip the clamp (see [`mode::CLAMP`]).
    pub fn with_min(mut self, min: f32) -> ExpParams {
        if min - self.shift >= self.lo {
            self.lo = f32::NEG_INFINITY;
        }
        self
    }

    /// `ln(exp(shift) * 2^n_ref) - max` in f64: what to add to `ln(sum of results)` to get
    /// `ln(sum of exp(x - max))`.
    pub fn log_offset(&self, max: f32) -> f64 {
        f64::from(self.n_ref) * std::f64::consts::LN_2 + f64::from(self.shift) - f64::from(max)
    }
}

/// `exp(max(x - shift, lo)) * 2^-n_ref` (`exp(-x) * 2^-n_ref` with [`mode::NEG`]) as
/// `(p, k)` with the value `p * 2^k`, `p` in [0.7, 1.5) times the coefficients' scale (NaN
/// for NaN input) and `k` integer-valued.
#[inline(always)]
pub fn exp_parts<V: V16, const FUSED: bool, const MODE: u8>(x: V, e: &ExpVec<V>) -> (V, V) {
    const {
        assert!(MODE & mode::NEG == 0 || MODE & (mode::SHIFT | mode::CLAMP) == 0);
    }
    // With NEG: n = round(-x log2 e), t = x + n*LN2 = -(-x - n*LN2) (see `mode::NEG`).
    let sign = if MODE & mode::NEG != 0 { -1.0 } else { 1.0 };
    let x = if MODE & mode::SHIFT != 0 {
        x.sub(e.shift)
    } else {
        x
    };
    let x = if MODE & mode::CLAMP != 0 {
        e.lo.max(x)
    } else {
        x
    };
    let n = V::fmadd::<FUSED>(x, V::splat(sign * LOG2E), V::splat(MAGIC)).sub(V::splat(MAGIC));
    let t = V::fmadd::<FUSED>(n, V::splat(-sign * LN2_HI), x);
    let t = V::fmadd::<FUSED>(n, V::splat(-sign * LN2_LO), t);
    let c = &e.c;
    let mut q = V::fmadd::<FUSED>(c[5], t, c[4]);
    q = V::fmadd::<FUSED>(q, t, c[3]);
    q = V::fmadd::<FUSED>(q, t, c[2]);
    q = V::fmadd::<FUSED>(q, t, c[1]);
    let k = if MODE & mode::SUB != 0 {
        n.sub(e.n_ref)
    } else {
        n
    };
    (V::fmadd::<FUSED>(q, t, c[0]), k)
}

/// `exp(max(x - shift, lo)) * 2^-n_ref`, see the module docs (results below 2^-126 may be
/// flushed to 0: fine for sums, and for f32 outputs within the 1e-37 absolute bound).
#[inline(always)]
pub fn exp_rel<V: V16, const FUSED: bool, const MODE: u8>(x: V, e: &ExpVec<V>) -> V {
    let (p, k) = exp_parts::<V, FUSED, MODE>(x, e);
    V::pow2_scale::<FUSED>(p, k)
}

/// `exp_rel(x) * s` rounded once, also in the subnormal range (bf16 outputs keep theirs).
#[inline(always)]
fn exp_scaled<V: V16, const FUSED: bool, const MODE: u8>(x: V, e: &ExpVec<V>, s: V) -> V {
    let (p, k) = exp_parts::<V, FUSED, MODE>(x, e);
    V::pow2_scale_exact::<FUSED>(p.mul(s), k)
}

/// Row maximum and minimum. NaN inputs may or may not show (the sums catch them).
///
/// # Safety
/// `n` readable elements at `x`; the ISA of `V` available.
#[inline(always)]
pub unsafe fn rminmax<V: V16, T: Elem>(n: usize, x: *const T::S) -> (f32, f32) {
    let (ninf, pinf) = (V::splat(f32::NEG_INFINITY), V::splat(f32::INFINITY));
    let (mut a, mut b, mut c, mut d) = (ninf, ninf, ninf, ninf);
    let (mut la, mut lb, mut lc, mut ld) = (pinf, pinf, pinf, pinf);
    let mut i = 0;
    // SAFETY (loads below): every index read is < n.
    unsafe {
        while i + 64 <= n {
            let (va, vb) = (T::load::<V>(x.add(i)), T::load::<V>(x.add(i + 16)));
            let (vc, vd) = (T::load::<V>(x.add(i + 32)), T::load::<V>(x.add(i + 48)));
            (a, b, c, d) = (a.max(va), b.max(vb), c.max(vc), d.max(vd));
            (la, lb, lc, ld) = (la.min(va), lb.min(vb), lc.min(vc), ld.min(vd));
            i += 64;
        }
        while i + 16 <= n {
            let v = T::load::<V>(x.add(i));
            (a, la) = (a.max(v), la.min(v));
            i += 16;
        }
        if i < n {
            b = b.max(T::load_partial::<V>(x.add(i), n - i, f32::NEG_INFINITY));
            lb = lb.min(T::load_partial::<V>(x.add(i), n - i, f32::INFINITY));
        }
    }
    let lo = la.min(lb).min(lc.min(ld));
    // -max(-v) (negation is exact) keeps one horizontal tree for both.
    let zero = V::splat(0.0);
    (a.max(b).max(c.max(d)).hmax(), -zero.sub(lo).hmax())
}

/// Lanes `0..n` of `v` (`n < 16`), zeros above.
#[inline(always)]
fn first_lanes<V: V16>(v: V, n: usize) -> V {
    const IDX: [f32; 16] = [
        0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
    ];
    // SAFETY: IDX holds 16 elements.
    let idx = unsafe { V::load_f32(IDX.as_ptr()) };
    V::select_lt(idx, V::splat(n as f32), v, V::splat(0.0))
}

/// Bytes of the next region's input and output that a storing pass ([`rblockstoreexp`])
/// prefetches: a whole next block of both (2 x 16 KiB) on top of the current block's input
/// and output overflowed the 48 KiB L1 and evicted the current output before pass 3 scaled it.
/// Measured (AVX-512, f32 three-pass, criterion medians, alternated runs, whole block ->
/// 4 KiB): 16x4096 15.4/15.2 -> 13.8/14.6 us, and on a noisier day 15.7/16.2/15.4 ->
/// 15.4/15.0/14.3 us; 1x10000 2.09/2.06 -> 2.03/2.05 us, 4096x1000 1.304/1.311 -> 1.293/1.307
/// ms, 64x32000 747/753 -> 730/730 us (the hardware prefetcher follows on from the lines
/// hinted). The non-storing two-pass first pass keeps the whole block: capped the same way it
/// lost 10-20% (64x32000 775-797 -> 887-897 us, 1x2^24 8.7-9.2 -> 9.6-10.2 ms).
const STORE_AHEAD_BYTES: usize = 4096;

/// Sums `exp_rel` over `n` elements, storing each value to `y` when `STORE` (f32 only), in the
/// block order of the module docs. While it computes, it hints the first `ahead.bytes` (at most
/// [`STORE_AHEAD_BYTES`] when storing) of the next region.
#[inline(always)]
unsafe fn sum_exp<V: V16, T: Elem, const FUSED: bool, const STORE: bool, const MODE: u8>(
    n: usize,
    x: *const T::S,
    y: *mut f32,
    p: &ExpParams,
    ahead: Ahead,
) -> f64 {
    let e = &ExpVec::<V>::new::<MODE>(p);
    let zero = V::splat(0.0);
    let mut acc = V::dzero();
    let mut i = 0;
    let ahead_bytes = if STORE {
        ahead.bytes.min(STORE_AHEAD_BYTES)
    } else {
        ahead.bytes
    };
    // SAFETY (loads and stores below): every index touched is < n.
    unsafe {
        while i + BLOCK <= n {
            let (mut a, mut b, mut c, mut d) = (zero, zero, zero, zero);
            let end = i + BLOCK;
            while i < end {
                // The next region's lines at the same byte offset as these 64 elements.
                let k = i * size_of::<T::S>();
                if k < ahead_bytes {
                    let mut l = 0;
                    while l < 64 * size_of::<T::S>() {
                        V::prefetch::<false>(ahead.x.wrapping_add(k + l));
                        if STORE {
                            V::prefetch::<true>(ahead.y.wrapping_add(k + l));
                        }
                        l += 64;
                    }
                }
                let ea = exp_rel::<V, FUSED, MODE>(T::load::<V>(x.add(i)), e);
                let eb = exp_rel::<V, FUSED, MODE>(T::load::<V>(x.add(i + 16)), e);
                let ec = exp_rel::<V, FUSED, MODE>(T::load::<V>(x.add(i + 32)), e);
                let ed = exp_rel::<V, FUSED, MODE>(T::load::<V>(x.add(i + 48)), e);
                if STORE {
                    ea.store_f32(y.add(i));
                    eb.store_f32(y.add(i + 16));
                    ec.store_f32(y.add(i + 32));
                    ed.store_f32(y.add(i + 48));
                }
                a = a.add(ea);
                b = b.add(eb);
                c = c.add(ec);
                d = d.add(ed);
                i += 64;
            }
            acc = V::dadd(acc, a.add(b).add(c.add(d)));
        }
        let mut a = zero;
        while i + 16 <= n {
            let v = exp_rel::<V, FUSED, MODE>(T::load::<V>(x.add(i)), e);
            if STORE {
                v.store_f32(y.add(i));
            }
            a = a.add(v);
            i += 16;
        }
        if i < n {
            // The fill lanes are -inf; without the clamp their exp is NaN, so only lanes 0..n-i
            // enter the sum.
            let v = exp_rel::<V, FUSED, MODE>(
                T::load_partial::<V>(x.add(i), n - i, f32::NEG_INFINITY),
                e,
            );
            if STORE {
                v.store_f32_partial(y.add(i), n - i);
            }
            a = a.add(first_lanes(v, n - i));
        }
        acc = V::dadd(acc, a);
    }
    V::dsum(acc)
}

/// Three-pass softmax pass 2 (f32): `y = exp_rel(x)`, returns the sum.
///
/// # Safety
/// `n` elements readable at `x` and writable at `y` (they may be the same buffer).
#[inline(always)]
pub unsafe fn raddstoreexp<V: V16, const FUSED: bool>(
    n: usize,
    x: *const f32,
    y: *mut f32,
    p: &ExpParams,
) -> f64 {
    // SAFETY: forwarded contract.
    with_mode!(FUSED, exp_mode::<V, FUSED>(p), M => unsafe {
        sum_exp::<V, crate::ukernels::simd::F32, FUSED, true, M>(n, x, y, p, Ahead::NONE)
    })
}

/// Sum of `exp_rel(x)` without storing.
///
/// # Safety
/// `n` elements readable at `x`.
#[inline(always)]
pub unsafe fn raddexp<V: V16, T: Elem, const FUSED: bool>(
    n: usize,
    x: *const T::S,
    p: &ExpParams,
) -> f64 {
    // SAFETY: forwarded contract.
    with_mode!(FUSED, exp_mode::<V, FUSED>(p), M => unsafe {
        sum_exp::<V, T, FUSED, false, M>(n, x, std::ptr::null_mut(), p, Ahead::NONE)
    })
}

/// `y *= s` in place (three-pass softmax pass 3, f32).
///
/// # Safety
/// `n` elements readable and writable at `y`.
#[inline(always)]
pub unsafe fn vscale<V: V16>(n: usize, y: *mut f32, s: f32) {
    let s = V::splat(s);
    let mut i = 0;
    // SAFETY (loads and stores below): every index touched is < n.
    unsafe {
        while i + 64 <= n {
            let a = V::load_f32(y.add(i)).mul(s);
            let b = V::load_f32(y.add(i + 16)).mul(s);
            let c = V::load_f32(y.add(i + 32)).mul(s);
            let d = V::load_f32(y.add(i + 48)).mul(s);
            a.store_f32(y.add(i));
            b.store_f32(y.add(i + 16));
            c.store_f32(y.add(i + 32));
            d.store_f32(y.add(i + 48));
            i += 64;
        }
        while i + 16 <= n {
            V::load_f32(y.add(i)).mul(s).store_f32(y.add(i));
            i += 16;
        }
        if i < n {
            V::load_f32_partial(y.add(i), n - i, 0.0)
                .mul(s)
                .store_f32_partial(y.add(i), n - i);
        }
    }
}

/// One element-wise output pass, 16 lanes at a time (see [`map_pass`]).
trait Lanes<V: V16> {
    /// The output lanes for the input lanes `v`.
    fn apply(&self, v: V) -> V;
}

/// `exp_rel(x) * s` rounded once (the recomputing last pass of softmax).
struct ScaleExp<V, const FUSED: bool, const MODE: u8> {
    e: ExpVec<V>,
    s: V,
}

impl<V: V16, const FUSED: bool, const MODE: u8> Lanes<V> for ScaleExp<V, FUSED, MODE> {
    #[inline(always)]
    fn apply(&self, v: V) -> V {
        exp_scaled::<V, FUSED, MODE>(v, &self.e, self.s)
    }
}

/// `(x - m) - c` (the last pass of log-softmax).
struct LogSub<V> {
    m: V,
    c: V,
}

impl<V: V16> Lanes<V> for LogSub<V> {
    #[inline(always)]
    fn apply(&self, v: V) -> V {
        v.sub(self.m).sub(self.c)
    }
}

/// How far ahead [`map_pass`] fetches its output lines for ownership when it does not stream
/// (measured in its commit: log-softmax 7-18% faster on rows in L2/L3).
const MAP_AHEAD_BYTES: usize = 1024;

/// `y = op(x)` over `n` elements; with `STREAM`, the stores go past the caches from the first
/// element aligned to `T::STREAM_ALIGN` on (plain stores before it and in the tail), and a
/// fence ends the pass.
///
/// # Safety
/// `n` elements readable at `x` and writable at `y` (they may be the same buffer: each
/// element is read before it is written); `y` element-aligned.
#[inline(always)]
unsafe fn map_pass<V: V16, T: Elem, O: Lanes<V>, const STREAM: bool>(
    n: usize,
    x: *const T::S,
    y: *mut T::S,
    op: &O,
) {
    let mut i = 0;
    // SAFETY (loads and stores below): every index touched is < n. Streamed stores start at
    // an element aligned to T::STREAM_ALIGN (y is element-aligned, so `head` is whole
    // elements, < 16). Lanes past n in a partial vector (filled with 0) are never stored.
    unsafe {
        let mis = y as usize % T::STREAM_ALIGN;
        if STREAM && mis != 0 {
            let head = ((T::STREAM_ALIGN - mis) / size_of::<T::S>()).min(n);
            T::store_partial(op.apply(T::load_partial::<V>(x, head, 0.0)), y, head);
            i = head;
        }
        while i + 32 <= n {
            if !STREAM {
                // Own the output lines MAP_AHEAD_BYTES ahead (hints only, any address).
                let p = y.wrapping_add(i).cast::<u8>().wrapping_add(MAP_AHEAD_BYTES);
                let mut l = 0;
                while l < 32 * size_of::<T::S>() {
                    V::prefetch::<true>(p.wrapping_add(l));
                    l += 64;
                }
            }
            let a = op.apply(T::load::<V>(x.add(i)));
            let b = op.apply(T::load::<V>(x.add(i + 16)));
            put::<V, T, STREAM>(a, y.add(i));
            put::<V, T, STREAM>(b, y.add(i + 16));
            i += 32;
        }
        while i + 16 <= n {
            put::<V, T, STREAM>(op.apply(T::load::<V>(x.add(i))), y.add(i));
            i += 16;
        }
        if i < n {
            let v = op.apply(T::load_partial::<V>(x.add(i), n - i, 0.0));
            T::store_partial(v, y.add(i), n - i);
        }
    }
    if STREAM {
        V::stream_fence();
    }
}

/// Stores 16 elements, streamed past the caches when `STREAM`.
///
/// # Safety
/// 16 writable elements at `p`; aligned to `T::STREAM_ALIGN` when `STREAM`.
#[inline(always)]
unsafe fn put<V: V16, T: Elem, const STREAM: bool>(v: V, p: *mut T::S) {
    // SAFETY: forwarded contract.
    unsafe {
        if STREAM {
            T::stream(v, p)
        } else {
            T::store(v, p)
        }
    }
}

/// [`map_pass`] streaming or not, by `stream` (only where `T` has streaming stores).
///
/// # Safety
/// As for [`map_pass`].
#[inline(always)]
unsafe fn map_pass_by<V: V16, T: Elem, O: Lanes<V>>(
    n: usize,
    x: *const T::S,
    y: *mut T::S,
    op: &O,
    stream: bool,
) {
    // SAFETY: forwarded contract.
    unsafe {
        if stream && T::STREAM_ALIGN > 1 {
            map_pass::<V, T, O, true>(n, x, y, op)
        } else {
            map_pass::<V, T, O, false>(n, x, y, op)
        }
    }
}

/// `y = exp_rel(x) * s`, rounded once to `T` (softmax's last pass when exp is recomputed);
/// with `stream`, the stores bypass the caches where `T` and the ISA allow (f32 on AVX2 and
/// AVX-512), for outputs too large to stay cached.
///
/// # Safety
/// `n` elements readable at `x` and writable at `y` (they may be the same buffer).
#[inline(always)]
pub unsafe fn vscaleexp<V: V16, T: Elem, const FUSED: bool>(
    n: usize,
    x: *const T::S,
    y: *mut T::S,
    p: &ExpParams,
    s: f32,
    stream: bool,
) {
    // SAFETY: forwarded contract.
    with_mode!(FUSED, exp_mode_scaled::<V, FUSED>(p, s), M => unsafe {
        let op = ScaleExp::<V, FUSED, M> { e: ExpVec::new::<M>(p), s: V::splat(s) };
        map_pass_by::<V, T, _>(n, x, y, &op, stream)
    })
}

/// `y = (x - m) - c`, rounded once to `T` (log-softmax's last pass); `stream` as for
/// [`vscaleexp`].
///
/// # Safety
/// `n` elements readable at `x` and writable at `y` (they may be the same buffer).
#[inline(always)]
pub unsafe fn vlogsub<V: V16, T: Elem>(
    n: usize,
    x: *const T::S,
    y: *mut T::S,
    m: f32,
    c: f32,
    stream: bool,
) {
    let op = LogSub {
        m: V::splat(m),
        c: V::splat(c),
    };
    // SAFETY: forwarded contract.
    unsafe { map_pass_by::<V, T, _>(n, x, y, &op, stream) }
}

/// The sum of `exp(x)` over a row or chunk kept as `acc * 2^n_ref` (f64 mantissa, integer
/// exponent), with the max: the two-pass algorithm's first pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExtSum {
    /// Mantissa part of the sum.
    pub acc: f64,
    /// Exponent part of the sum (integer-valued; -inf while empty).
    pub n_ref: f32,
    /// Largest element seen (NaN elements may not show).
    pub max: f32,
    /// Smallest element seen (NaN elements may not show).
    pub min: f32,
    /// A block's max was NaN, infinite or beyond ±[`SHIFT_LIMIT`] (or, in
    /// [`rblockstoreexp`], the chunk had more blocks than [`BlockRefs`] holds): redo the row
    /// with the unblocked three-pass path, which handles those.
    pub special: bool,
}

impl ExtSum {
    /// The empty sum.
    pub const EMPTY: ExtSum = ExtSum {
        acc: 0.0,
        n_ref: f32::NEG_INFINITY,
        max: f32::NEG_INFINITY,
        min: f32::INFINITY,
        special: false,
    };

    /// Adds `s * 2^n` (rescaling to the larger exponent, in f64).
    pub fn add(&mut self, s: f64, n: f32) {
        if s == 0.0 {
            return;
        }
        if n > self.n_ref {
            self.acc = scale2(self.acc, self.n_ref - n) + s;
            self.n_ref = n;
        } else {
            self.acc += scale2(s, n - self.n_ref);
        }
    }

    /// Merges another partial sum (in a fixed order, the caller's).
    pub fn merge(&mut self, o: &ExtSum) {
        self.add(o.acc, o.n_ref);
        if o.max > self.max {
            self.max = o.max;
        }
        if o.min < self.min {
            self.min = o.min;
        }
        self.special |= o.special;
    }
}

/// `v * 2^k` in f64 for integer-valued `k <= 0` (0 below the f64 range, and for k = -inf).
fn scale2(v: f64, k: f32) -> f64 {
    if k < -1000.0 {
        0.0
    } else {
        // 2^k built from its exponent bits (normal for k >= -1022; a libm exp2 per block
        // showed in profiles).
        v * f64::from_bits(((1023 + k as i64) as u64) << 52)
    }
}

/// Elements per block of the blocked passes ([`rblockexp`], [`rblockstoreexp`]): their f32 sums
/// still run in blocks of [`BLOCK`]; a longer block spreads the per-block work (max and min
/// trees, parameters, the extended-sum update) over more elements, and 16 KiB of input (plus
/// as much output) stays in L1 between the block's two looks. Measured against 1024 and 2048
/// (AVX-512, ns/element, one run each): f32 softmax 16x4096 0.267 / 0.288 / 0.254 for
/// 1024 / 2048 / 4096, 1x10000 0.281 / 0.283 / 0.270; log-softmax 16x4096 0.319 / 0.313 /
/// 0.283. Chunks are multiples of it.
pub const MAX_BLOCK: usize = 16 * BLOCK;

/// Two-pass softmax pass 1: the extended-exponent sum of `exp(x)` and the max, computed per
/// block of [`MAX_BLOCK`] elements: the block's max `B` (read from memory once; the block stays
/// in L1 for the second look) gives `n_B = round(B log2 e)`, the block's `exp(x) * 2^-n_B` are
/// summed in f32 (no overflow: each is < 2), and the block sum joins the total as
/// `(sum, n_B)`. One pass over memory and one exp per element.
///
/// # Safety
/// `n` elements readable at `x`.
#[inline(always)]
pub unsafe fn rblockexp<V: V16, T: Elem, const FUSED: bool>(
    n: usize,
    x: *const T::S,
    ahead: Ahead,
) -> ExtSum {
    let mut refs = [];
    // SAFETY: forwarded contract; nothing is stored.
    unsafe { block_sums::<V, T, FUSED, false>(n, x, std::ptr::null_mut(), &mut refs, ahead) }
}

/// Blocked three-pass softmax, passes 1 and 2 (f32): per block of [`MAX_BLOCK`] elements, the
/// block's max `B` (the block then stays in L1 for the second look), and `y = exp(x) * 2^-n_B`
/// with `n_B = round(B log2 e)` stored and summed; `refs[b]` receives block `b`'s `n_B`, the
/// total is `(sum, max n_B)`. [`vscaleblocks`] then scales block `b` by
/// `2^(n_B - n_total) / sum`. Against the unblocked passes this reads `x` from memory once
/// instead of twice, and while one block is computed the next one's lines (`x`, and `y` for
/// ownership) are prefetched, the last block's from `ahead`.
///
/// A chunk of more than `refs.len()` blocks, or a block whose max is NaN, infinite or beyond
/// ±[`SHIFT_LIMIT`], stops the pass with `special` set (the caller then uses the unblocked
/// three-pass path, which handles those rows).
///
/// # Safety
/// `n` elements readable at `x` and writable at `y` (they may be the same buffer).
#[inline(always)]
pub unsafe fn rblockstoreexp<V: V16, const FUSED: bool>(
    n: usize,
    x: *const f32,
    y: *mut f32,
    refs: &mut BlockRefs,
    ahead: Ahead,
) -> ExtSum {
    // SAFETY: forwarded contract.
    unsafe { block_sums::<V, crate::ukernels::simd::F32, FUSED, true>(n, x, y, refs, ahead) }
}

/// Blocks per chunk of the blocked three-pass path (the size of [`BlockRefs`]).
pub const BLOCKED_MAX_BLOCKS: usize = 4;

/// Each block's exponent reference in the blocked three-pass path (see [`rblockstoreexp`]).
pub type BlockRefs = [f32; BLOCKED_MAX_BLOCKS];

/// Where a pass prefetches while it computes its last block: the input (and, for the passes
/// that store, the output) of the region processed next, `bytes` long. Hints only: the
/// addresses are never dereferenced.
#[derive(Clone, Copy, Debug)]
pub struct Ahead {
    /// Next input.
    pub x: *const u8,
    /// Next output (prefetched for writing by the storing passes).
    pub y: *const u8,
    /// Bytes of each to prefetch.
    pub bytes: usize,
}

// SAFETY: the pointers are only prefetch hints, never dereferenced.
unsafe impl Send for Ahead {}
// SAFETY: as above.
unsafe impl Sync for Ahead {}

impl Ahead {
    /// Nothing to prefetch.
    pub const NONE: Ahead = Ahead {
        x: std::ptr::null(),
        y: std::ptr::null(),
        bytes: 0,
    };

    /// The first `len` elements at `x` and `y` (of `x`'s size), at most one block of them.
    pub fn new<S, D>(x: *const S, y: *const D, len: usize) -> Ahead {
        Ahead {
            x: x.cast(),
            y: y.cast(),
            bytes: len.min(MAX_BLOCK) * size_of::<S>(),
        }
    }
}

/// [`rblockexp`] and (with `STORE`) [`rblockstoreexp`].
///
/// # Safety
/// `n` elements readable at `x`; with `STORE`, writable at `y` (`T` is f32).
#[inline(always)]
unsafe fn block_sums<V: V16, T: Elem, const FUSED: bool, const STORE: bool>(
    n: usize,
    x: *const T::S,
    y: *mut f32,
    refs: &mut [f32],
    ahead: Ahead,
) -> ExtSum {
    let mut out = ExtSum::EMPTY;
    let mut i = 0;
    let mut block = 0;
    while i < n {
        let len = MAX_BLOCK.min(n - i);
        // SAFETY: the block i..i+len is inside x[..n].
        let (b, lo) = unsafe { rminmax::<V, T>(len, x.add(i)) };
        if b > out.max {
            out.max = b;
        }
        if lo < out.min {
            out.min = lo;
        }
        if b.is_nan() || b.abs() >= SHIFT_LIMIT || (STORE && block >= refs.len()) {
            // NaN, ±inf (an all -inf block may hide a NaN), huge, or too many blocks to keep
            // their references: the three-pass path handles these rows.
            out.special = true;
            return out;
        }
        let p = ExpParams {
            lo: b - UNDERFLOW_SPAN,
            shift: 0.0,
            n_ref: round_log2e(b),
        }
        .with_min(lo);
        let next = if i + len < n {
            Ahead::new(
                x.wrapping_add(i + len),
                y.wrapping_add(i + len).cast_const(),
                n - i - len,
            )
        } else {
            ahead
        };
        // SAFETY: as above; with STORE, y[i..i+len] is writable.
        let s = with_mode!(FUSED, exp_mode::<V, FUSED>(&p), M => unsafe {
            sum_exp::<V, T, FUSED, STORE, M>(len, x.add(i), y.wrapping_add(i), &p, next)
        });
        if STORE {
            refs[block] = p.n_ref;
        }
        out.add(s, p.n_ref);
        i += len;
        block += 1;
    }
    out
}

/// Blocked three-pass pass 3: block `b` of `y` times `inv_sum * 2^(refs[b] - n_ref)` (that
/// factor rounded once to f32; where it is subnormal every result is below 2^-125, within the
/// contract's absolute bound).
///
/// `n` is the chunk [`rblockstoreexp`] filled `refs` for (at most `refs.len()` blocks, or it
/// reported `special` and this pass is not run).
///
/// # Safety
/// `n` elements readable and writable at `y`.
#[inline(always)]
pub unsafe fn vscaleblocks<V: V16>(
    n: usize,
    y: *mut f32,
    refs: &BlockRefs,
    inv_sum: f64,
    n_ref: f32,
) {
    // Last block first: the blocks `rblockstoreexp` stored last are the ones still in L1.
    // Measured (AVX-512, 1 thread, alternated, 1x10000): 2.18/2.13/2.18 -> 2.00/2.01/2.07 us.
    let blocks = n.div_ceil(MAX_BLOCK).min(refs.len());
    for (b, &r) in refs[..blocks].iter().enumerate().rev() {
        let i = b * MAX_BLOCK;
        let len = MAX_BLOCK.min(n - i);
        // SAFETY: the block i..i+len is inside y[..n] (b < n / MAX_BLOCK rounded up).
        unsafe { vscale::<V>(len, y.add(i), scale2(inv_sum, r - n_ref) as f32) };
    }
}
