//! Softmax and log-softmax microkernels, written once over [`V16`] and instantiated per ISA in
//! `scalar`, `avx2` and `avx512`.
//!
//! # exp
//! `exp_rel(x)` computes `exp(x - shift) * 2^-n_ref` with `x - shift` clamped below at `lo` (a
//! NaN stays NaN), by range reduction and a polynomial:
//! - `n = round(x * log2(e))` (magic-bias rounding), `t = x - n*LN2_HI - n*LN2_LO` (Cody–Waite:
//!   `LN2_HI` has 13 significant bits, so `n * LN2_HI` is exact for `|n| < 2^11`, i.e.
//!   `|x| < 1419`; callers keep `|x| < 1024`);
//! - `p(t) = 1 + t*(c1 + t*(c2 + ... + t*c6))`, a degree-6 polynomial fitted here (Lawson's
//!   minimax iteration on relative error over `[-ln2/2, ln2/2]`, then rounded to f32: 1.7e-8
//!   relative approximation error, 0.15 ulp);
//! - the result `p * 2^(n - n_ref)` (exact scaling; 0 below 2^-126 when not `FUSED`).
//!
//! Max error, measured over every f32 in [-87.3, 88.3] against f64 `exp` by
//! `tests/softmax.rs::exp_max_ulp_over_every_float`: see [`EXP_MAX_ULP`].
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
        use crate::ukernels::softmax::{ExpParams, ExtSum};

        /// Row maximum.
        ///
        /// # Safety
        /// `n` readable elements at `x`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn rmax<T: Elem>(n: usize, x: *const T::S) -> f32 {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::rmax::<$V, T>(n, x) }
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

        /// `y = exp_rel(x) * s`.
        ///
        /// # Safety
        /// `n` elements readable at `x`, writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn vscaleexp<T: Elem, const FUSED: bool>(n: usize, x: *const T::S, y: *mut T::S, p: &ExpParams, s: f32) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::vscaleexp::<$V, T, FUSED>(n, x, y, p, s) }
        }

        /// `y = (x - m) - c`.
        ///
        /// # Safety
        /// `n` elements readable at `x`, writable at `y`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn vlogsub<T: Elem>(n: usize, x: *const T::S, y: *mut T::S, m: f32, c: f32) {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::vlogsub::<$V, T>(n, x, y, m, c) }
        }

        /// Extended-exponent sum of `exp(x)` and the max.
        ///
        /// # Safety
        /// `n` readable elements at `x`; the CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn rblockexp<T: Elem, const FUSED: bool>(n: usize, x: *const T::S) -> ExtSum {
            // SAFETY: forwarded contract.
            unsafe { crate::ukernels::softmax::rblockexp::<$V, T, FUSED>(n, x) }
        }

        /// `exp_rel` on 16 lanes, for the exp accuracy test.
        ///
        /// # Safety
        /// The CPU has this module's ISA.
        $(#[target_feature(enable = $features)])?
        pub unsafe fn exp16<const FUSED: bool>(x: &[f32; 16], p: &ExpParams) -> [f32; 16] {
            let mut out = [0f32; 16];
            // SAFETY: 16 elements each.
            unsafe {
                let v = <$V as crate::ukernels::simd::V16>::load_f32(x.as_ptr());
                crate::ukernels::simd::V16::store_f32(crate::ukernels::softmax::exp_rel::<$V, FUSED, true>(v, p), out.as_mut_ptr());
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
/// 1.334 ulp unfused (scalar, and every ISA under `NNK_FLAG_CONSISTENT_ARITHMETIC`, worst at
/// x = -27.37557), 1.059 ulp with FMA (AVX2, AVX-512; worst at x = 5.2011814).
pub const EXP_MAX_ULP: f64 = 1.34;

const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B); // 1.44269504
const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
const LN2_HI: f32 = f32::from_bits(0x3F31_7000); // 0x1.62Ep-1, 13 significant bits
const LN2_LO: f32 = f32::from_bits(0x3805_FDF4); // ln2 - LN2_HI, rounded
const C1: f32 = 1.0;
const C2: f32 = f32::from_bits(0x3EFF_FFFE); // 0x1.fffffcp-2
const C3: f32 = f32::from_bits(0x3E2A_AA0D); // 0x1.55541ap-3
const C4: f32 = f32::from_bits(0x3D2A_AC11); // 0x1.555822p-5
const C5: f32 = f32::from_bits(0x3C09_33D2); // 0x1.1267a4p-7
const C6: f32 = f32::from_bits(0x3AB5_7388); // 0x1.6ae710p-10

/// Rows whose max magnitude reaches this use the `shift = max` form (see the module docs).
pub const SHIFT_LIMIT: f32 = 1024.0;
/// Elements below `max - UNDERFLOW_SPAN` contribute exactly 0 (exp(-105) < 2^-151).
pub const UNDERFLOW_SPAN: f32 = 105.0;

/// Elements per block (see "Sums" in the module docs).
pub const BLOCK: usize = 256;

/// Parameters of `exp_rel`: `exp(max(x - shift, lo)) * 2^-n_ref`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpParams {
    /// Lower clamp of `x - shift`; NaN inputs are kept.
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

    /// `ln(exp(shift) * 2^n_ref) - max` in f64: what to add to `ln(sum of results)` to get
    /// `ln(sum of exp(x - max))`.
    pub fn log_offset(&self, max: f32) -> f64 {
        f64::from(self.n_ref) * std::f64::consts::LN_2 + f64::from(self.shift) - f64::from(max)
    }
}

/// `exp(max(x - shift, lo)) * 2^-n_ref` as `(p, k)` with the value `p * 2^k`, `p` in
/// [0.7, 1.5) (NaN for NaN input) and `k` integer-valued.
#[inline(always)]
pub fn exp_parts<V: V16, const FUSED: bool, const SHIFT: bool>(x: V, p: &ExpParams) -> (V, V) {
    // `x - 0.0` is `x` for every input, so skipping the subtraction when `shift` is 0 (the
    // common case) changes no result.
    let x = if SHIFT { x.sub(V::splat(p.shift)) } else { x };
    let x = V::splat(p.lo).max(x);
    let n = V::fmadd::<FUSED>(x, V::splat(LOG2E), V::splat(MAGIC)).sub(V::splat(MAGIC));
    let t = V::fmadd::<FUSED>(n, V::splat(-LN2_HI), x);
    let t = V::fmadd::<FUSED>(n, V::splat(-LN2_LO), t);
    let mut q = V::fmadd::<FUSED>(V::splat(C6), t, V::splat(C5));
    q = V::fmadd::<FUSED>(q, t, V::splat(C4));
    q = V::fmadd::<FUSED>(q, t, V::splat(C3));
    q = V::fmadd::<FUSED>(q, t, V::splat(C2));
    q = V::fmadd::<FUSED>(q, t, V::splat(C1));
    (
        V::fmadd::<FUSED>(q, t, V::splat(1.0)),
        n.sub(V::splat(p.n_ref)),
    )
}

/// `exp(max(x - shift, lo)) * 2^-n_ref`, see the module docs (results below 2^-126 may be
/// flushed to 0: fine for sums, and for f32 outputs within the 1e-37 absolute bound).
#[inline(always)]
pub fn exp_rel<V: V16, const FUSED: bool, const SHIFT: bool>(x: V, p: &ExpParams) -> V {
    let (e, k) = exp_parts::<V, FUSED, SHIFT>(x, p);
    V::pow2_scale::<FUSED>(e, k)
}

/// `exp_rel(x) * s` rounded once, also in the subnormal range (bf16 outputs keep theirs).
#[inline(always)]
fn exp_scaled<V: V16, const FUSED: bool, const SHIFT: bool>(x: V, p: &ExpParams, s: V) -> V {
    let (e, k) = exp_parts::<V, FUSED, SHIFT>(x, p);
    V::pow2_scale_exact::<FUSED>(e.mul(s), k)
}

/// Row maximum. NaN inputs may or may not show (the sums catch them).
///
/// # Safety
/// `n` readable elements at `x`; the ISA of `V` available.
#[inline(always)]
pub unsafe fn rmax<V: V16, T: Elem>(n: usize, x: *const T::S) -> f32 {
    let ninf = V::splat(f32::NEG_INFINITY);
    let (mut a, mut b, mut c, mut d) = (ninf, ninf, ninf, ninf);
    let mut i = 0;
    // SAFETY (loads below): every index read is < n.
    unsafe {
        while i + 64 <= n {
            a = a.max(T::load::<V>(x.add(i)));
            b = b.max(T::load::<V>(x.add(i + 16)));
            c = c.max(T::load::<V>(x.add(i + 32)));
            d = d.max(T::load::<V>(x.add(i + 48)));
            i += 64;
        }
        while i + 16 <= n {
            a = a.max(T::load::<V>(x.add(i)));
            i += 16;
        }
        if i < n {
            b = b.max(T::load_partial::<V>(x.add(i), n - i, f32::NEG_INFINITY));
        }
    }
    a.max(b).max(c.max(d)).hmax()
}

/// Sums `exp_rel` over `n` elements, storing each value to `y` when `STORE` (f32 only), in the
/// block order of the module docs.
#[inline(always)]
unsafe fn sum_exp<V: V16, T: Elem, const FUSED: bool, const STORE: bool, const SHIFT: bool>(
    n: usize,
    x: *const T::S,
    y: *mut f32,
    p: &ExpParams,
) -> f64 {
    let zero = V::splat(0.0);
    let mut acc = V::dzero();
    let mut i = 0;
    // SAFETY (loads and stores below): every index touched is < n.
    unsafe {
        while i + BLOCK <= n {
            let (mut a, mut b, mut c, mut d) = (zero, zero, zero, zero);
            let end = i + BLOCK;
            while i < end {
                let ea = exp_rel::<V, FUSED, SHIFT>(T::load::<V>(x.add(i)), p);
                let eb = exp_rel::<V, FUSED, SHIFT>(T::load::<V>(x.add(i + 16)), p);
                let ec = exp_rel::<V, FUSED, SHIFT>(T::load::<V>(x.add(i + 32)), p);
                let ed = exp_rel::<V, FUSED, SHIFT>(T::load::<V>(x.add(i + 48)), p);
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
            let e = exp_rel::<V, FUSED, SHIFT>(T::load::<V>(x.add(i)), p);
            if STORE {
                e.store_f32(y.add(i));
            }
            a = a.add(e);
            i += 16;
        }
        if i < n {
            let e = exp_rel::<V, FUSED, SHIFT>(
                T::load_partial::<V>(x.add(i), n - i, f32::NEG_INFINITY),
                p,
            );
            if STORE {
                e.store_f32_partial(y.add(i), n - i);
            }
            a = a.add(e);
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
    unsafe {
        if p.shift == 0.0 {
            sum_exp::<V, crate::ukernels::simd::F32, FUSED, true, false>(n, x, y, p)
        } else {
            sum_exp::<V, crate::ukernels::simd::F32, FUSED, true, true>(n, x, y, p)
        }
    }
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
    unsafe {
        if p.shift == 0.0 {
            sum_exp::<V, T, FUSED, false, false>(n, x, std::ptr::null_mut(), p)
        } else {
            sum_exp::<V, T, FUSED, false, true>(n, x, std::ptr::null_mut(), p)
        }
    }
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

/// [`vscaleexp`] with the shift known at compile time.
///
/// # Safety
/// As for [`vscaleexp`].
#[inline(always)]
unsafe fn vscaleexp_impl<V: V16, T: Elem, const FUSED: bool, const SHIFT: bool>(
    n: usize,
    x: *const T::S,
    y: *mut T::S,
    p: &ExpParams,
    s: f32,
) {
    let s = V::splat(s);
    let mut i = 0;
    // SAFETY (loads and stores below): every index touched is < n; each element is read
    // before it is written, so in-place works.
    unsafe {
        while i + 32 <= n {
            let a = exp_scaled::<V, FUSED, SHIFT>(T::load::<V>(x.add(i)), p, s);
            let b = exp_scaled::<V, FUSED, SHIFT>(T::load::<V>(x.add(i + 16)), p, s);
            T::store(a, y.add(i));
            T::store(b, y.add(i + 16));
            i += 32;
        }
        while i + 16 <= n {
            T::store(
                exp_scaled::<V, FUSED, SHIFT>(T::load::<V>(x.add(i)), p, s),
                y.add(i),
            );
            i += 16;
        }
        if i < n {
            let e = exp_scaled::<V, FUSED, SHIFT>(
                T::load_partial::<V>(x.add(i), n - i, f32::NEG_INFINITY),
                p,
                s,
            );
            T::store_partial(e, y.add(i), n - i);
        }
    }
}

/// `y = exp_rel(x) * s`, rounded once to `T` (softmax's last pass when exp is recomputed).
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
) {
    // SAFETY: forwarded contract.
    unsafe {
        if p.shift == 0.0 {
            vscaleexp_impl::<V, T, FUSED, false>(n, x, y, p, s)
        } else {
            vscaleexp_impl::<V, T, FUSED, true>(n, x, y, p, s)
        }
    }
}

/// `y = (x - m) - c`, rounded once to `T` (log-softmax's last pass).
///
/// # Safety
/// `n` elements readable at `x` and writable at `y` (they may be the same buffer).
#[inline(always)]
pub unsafe fn vlogsub<V: V16, T: Elem>(n: usize, x: *const T::S, y: *mut T::S, m: f32, c: f32) {
    let (m, c) = (V::splat(m), V::splat(c));
    let mut i = 0;
    // SAFETY (loads and stores below): every index touched is < n.
    unsafe {
        while i + 32 <= n {
            let a = T::load::<V>(x.add(i)).sub(m).sub(c);
            let b = T::load::<V>(x.add(i + 16)).sub(m).sub(c);
            T::store(a, y.add(i));
            T::store(b, y.add(i + 16));
            i += 32;
        }
        while i + 16 <= n {
            T::store(T::load::<V>(x.add(i)).sub(m).sub(c), y.add(i));
            i += 16;
        }
        if i < n {
            T::store_partial(
                T::load_partial::<V>(x.add(i), n - i, 0.0).sub(m).sub(c),
                y.add(i),
                n - i,
            );
        }
    }
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
    /// A block's max was NaN, infinite or beyond ±[`SHIFT_LIMIT`]: redo the row with the
    /// three-pass path, which handles those.
    pub special: bool,
}

impl ExtSum {
    /// The empty sum.
    pub const EMPTY: ExtSum = ExtSum {
        acc: 0.0,
        n_ref: f32::NEG_INFINITY,
        max: f32::NEG_INFINITY,
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
        self.special |= o.special;
    }
}

/// `v * 2^k` in f64 for integer-valued `k <= 0` (0 below the f64 range, and for k = -inf).
fn scale2(v: f64, k: f32) -> f64 {
    if k < -1000.0 {
        0.0
    } else {
        v * f64::from(k).exp2()
    }
}

/// Two-pass softmax pass 1: the extended-exponent sum of `exp(x)` and the max, computed per
/// block of [`BLOCK`] elements: the block's max `B` (read from memory once; the block stays in
/// L1 for the second look) gives `n_B = round(B log2 e)`, the block's `exp(x) * 2^-n_B` are
/// summed in f32 (no overflow: each is < 2), and the block sum joins the total as
/// `(sum, n_B)`. One pass over memory and one exp per element.
///
/// # Safety
/// `n` elements readable at `x`.
#[inline(always)]
pub unsafe fn rblockexp<V: V16, T: Elem, const FUSED: bool>(n: usize, x: *const T::S) -> ExtSum {
    let mut out = ExtSum::EMPTY;
    let mut i = 0;
    while i < n {
        let len = BLOCK.min(n - i);
        // SAFETY: the block i..i+len is inside x[..n].
        let b = unsafe { rmax::<V, T>(len, x.add(i)) };
        if b > out.max {
            out.max = b;
        }
        if b.is_nan() || b.abs() >= SHIFT_LIMIT {
            // NaN, ±inf (an all -inf block may hide a NaN) or huge: the three-pass path
            // handles these rows exactly.
            out.special = true;
        } else {
            let p = ExpParams {
                lo: b - UNDERFLOW_SPAN,
                shift: 0.0,
                n_ref: round_log2e(b),
            };
            // SAFETY: as above.
            let s = unsafe {
                sum_exp::<V, T, FUSED, false, false>(len, x.add(i), std::ptr::null_mut(), &p)
            };
            out.add(s, p.n_ref);
        }
        i += len;
    }
    out
}
