//! A 16-lane f32 vector abstraction, so that each multi-pass algorithm (softmax, log-softmax)
//! is written once and instantiated per ISA: [`scalar::S16`] (portable, a plain array),
//! [`avx2::A16`] (two `__m256`), [`avx512::Z16`] (one `__m512`).
//!
//! Every implementation has exactly 16 lanes and the same reduction trees ([`V16::hmax`],
//! [`V16::dsum`]), and every non-`FUSED` operation is one IEEE operation per lane; so a
//! generic kernel run with `FUSED = false` gives bit-identical results on every ISA
//! (`NNK_FLAG_CONSISTENT_ARITHMETIC`). `FUSED = true` lets an ISA use FMA (and AVX-512's
//! `scalef`), which is faster and at least as accurate but not reproducible across ISAs.
//!
//! Methods are `#[inline(always)]` and carry no `#[target_feature]`: they are only called from
//! kernels that enable the ISA's features (memchr's approach), into which they inline.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
use crate::ukernels::cvt;

pub mod scalar;

/// 16 f32 lanes.
pub trait V16: Copy {
    /// 16 f64 lanes, for accumulating block sums.
    type D: Copy;
    /// Whether `pow2_scale::<true>` scales exactly (one rounding) for every integer-valued `k`
    /// and every finite `p`, also beyond the normal exponent range of `2^k` (AVX-512 `scalef`).
    const FUSED_POW2_ANY_EXPONENT: bool = false;
    /// Whether the 16 lanes are SIMD registers (not the portable arrays of [`scalar::S16`]).
    const SIMD: bool = true;
    /// Whether gating's small candidate ranking places the first k through a register
    /// rather than storing every candidate at its rank (measured per ISA: see
    /// `gating::rank_small`).
    const RANKS_IN_REGISTER: bool = true;
    /// Whether a blend stored back over one of its own operands in memory may be compiled to
    /// a masked store that is slow on some cores: LLVM folds `store(select(m, a, load(p)), p)`
    /// into AVX2 `vmaskmovps`, microcoded on AMD Zen (see `gating::insert`). AVX-512 masked
    /// stores are native, and the portable form has none.
    const BLEND_STORES_MASKED: bool = false;

    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// Lane-wise `a + b`.
    fn add(self, o: Self) -> Self;
    /// Lane-wise `a - b`.
    fn sub(self, o: Self) -> Self;
    /// Lane-wise `a * b`.
    fn mul(self, o: Self) -> Self;
    /// Lane-wise `if self > o { self } else { o }` (so a NaN in `o` is kept, x86 `maxps`).
    fn max(self, o: Self) -> Self;
    /// Lane-wise `if self < o { self } else { o }` (x86 `minps`: a NaN in `o` is kept).
    fn min(self, o: Self) -> Self;
    /// `a * b + c`: fused where `FUSED` and the ISA has FMA, else two roundings.
    fn fmadd<const FUSED: bool>(a: Self, b: Self, c: Self) -> Self;
    /// `p * 2^k` for integer-valued `k <= 127`. Without `FUSED`: exactly `p * 2^k` for
    /// `k >= -126` and 0 below (no subnormal results). With `FUSED` an ISA may instead round
    /// correctly into the subnormal range (AVX-512 `scalef`).
    fn pow2_scale<const FUSED: bool>(p: Self, k: Self) -> Self;
    /// `p * 2^k` for integer-valued `k <= 127`, rounded once even into the subnormal range
    /// (`k < -190` gives 0). Identical on every ISA, fused or not.
    #[inline(always)]
    fn pow2_scale_exact<const FUSED: bool>(p: Self, k: Self) -> Self {
        // Two exact-then-rounding steps: k1 = min(k + 64, max(k, -62)), k2 = k - k1 in
        // [-64, 0]. For the p >= 2^-28 the kernels pass (a value in [0.7, 1.5) times 1/sum),
        // p * 2^k1 >= 2^-98 stays normal, so it is exact for every k >= -162; the product by
        // 2^k2 then rounds once, exactly as a single correctly rounded p * 2^k (AVX-512
        // `scalef`) would. Below k = -162 both give 0. (`min` is `-max(-a, -b)`: k is an
        // integer-valued float, so the negations are exact.)
        let zero = Self::splat(0.0);
        let hi = k.max(Self::splat(-62.0));
        let k1 = zero.sub(zero.sub(k.add(Self::splat(64.0))).max(zero.sub(hi)));
        let k2 = k.sub(k1);
        Self::pow2_scale::<false>(Self::pow2_scale::<false>(p, k1), k2)
    }
    /// Lane-wise `a / b`, correctly rounded.
    fn div(self, o: Self) -> Self;
    /// Lane-wise `1 / a` for normal `|a|` in [2^-125, 2^125]: correctly rounded without
    /// `FUSED`; with `FUSED` an ISA may use a reciprocal estimate refined by one Newton step
    /// (within 2 ulp).
    fn recip<const FUSED: bool>(self) -> Self;
    /// Lane-wise square root, correctly rounded.
    fn sqrt(self) -> Self;
    /// Bit `i` set iff lane `i` of `self` is `>= t` (false for NaN).
    fn mask_ge(self, t: Self) -> u32;
    /// Bit `i` set iff lane `i` of `self` is `> t` (false for NaN).
    fn mask_gt(self, t: Self) -> u32;
    /// Stores the lanes whose bit is set in `mask` contiguously at `out`; returns their count.
    /// May write up to 16 elements.
    ///
    /// # Safety
    /// 16 writable elements at `out`.
    #[inline(always)]
    unsafe fn compress_store(self, mask: u32, out: *mut f32) -> usize {
        let mut a = [0.0f32; 16];
        // SAFETY: `a` holds 16 elements.
        unsafe { self.store_f32(a.as_mut_ptr()) };
        let mut c = 0;
        let mut m = mask & 0xFFFF;
        while m != 0 {
            // SAFETY: c < 16 (at most 16 bits).
            unsafe { out.add(c).write(a[m.trailing_zeros() as usize]) };
            c += 1;
            m &= m - 1;
        }
        c
    }
    /// Lane-wise `if a < b { x } else { y }` (false for NaN).
    fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self;
    /// The maximum lane, by a fixed tree: lanes (i, i+8), then (i, i+4), (i, i+2), (0, 1).
    fn hmax(self) -> f32;
    /// 16 f64 zeros.
    fn dzero() -> Self::D;
    /// `acc + f64(v)`, lane-wise (exact conversion, one f64 rounding).
    fn dadd(acc: Self::D, v: Self) -> Self::D;
    /// The sum of the 16 f64 lanes by the fixed tree of [`V16::hmax`].
    fn dsum(acc: Self::D) -> f64;
    /// The 16 f64 lanes, lane `i` the sum of lane `i`'s [`V16::dadd`] terms.
    fn dlanes(acc: Self::D) -> [f64; 16];
    /// The 16 x 16 transpose: lane `j` of result `i` is lane `i` of `rows[j]`.
    #[inline(always)]
    fn transpose16(rows: [Self; 16]) -> [Self; 16] {
        let mut a = [[0.0f32; 16]; 16];
        for (r, a) in rows.iter().zip(a.iter_mut()) {
            // SAFETY: `a` holds 16 elements.
            unsafe { r.store_f32(a.as_mut_ptr()) };
        }
        let t: [[f32; 16]; 16] = std::array::from_fn(|i| std::array::from_fn(|j| a[j][i]));
        // SAFETY: each row of `t` holds 16 elements.
        std::array::from_fn(|i| unsafe { Self::load_f32(t[i].as_ptr()) })
    }

    /// With `a` and `b` cut into blocks of `W` lanes (`W` = 1, 2, 4 or 8): the even blocks of
    /// `a` and `b` alternating, `[a0, b0, a2, b2, ..]`, and the odd ones, `[a1, b1, a3, b3, ..]`
    /// (block `i` of `a` is lanes `W i .. W (i + 1)`). One level of a reduction of several
    /// vectors at once: lane-wise operations on the two results combine lanes of the same
    /// source vector, and the output holds both sources' partial results.
    #[inline(always)]
    fn pair_blocks<const W: usize>(a: Self, b: Self) -> (Self, Self) {
        const { assert!(W == 1 || W == 2 || W == 4 || W == 8) };
        let (mut x, mut y) = ([0.0f32; 16], [0.0f32; 16]);
        // SAFETY: `x` and `y` hold 16 elements.
        unsafe {
            a.store_f32(x.as_mut_ptr());
            b.store_f32(y.as_mut_ptr());
        }
        let pick = |odd: usize| -> [f32; 16] {
            std::array::from_fn(|i| {
                let src = pair_blocks_source(W, i, odd);
                if src & 16 == 0 { x[src] } else { y[src & 15] }
            })
        };
        let (p, q) = (pick(0), pick(1));
        // SAFETY: `p` and `q` hold 16 elements.
        unsafe { (Self::load_f32(p.as_ptr()), Self::load_f32(q.as_ptr())) }
    }

    /// Lane `i` of the result is lane `idx[i] & 15` of `self`.
    #[inline(always)]
    fn permute_lanes(self, idx: &[u32; 16]) -> Self {
        let mut a = [0.0f32; 16];
        // SAFETY: `a` holds 16 elements.
        unsafe { self.store_f32(a.as_mut_ptr()) };
        let p: [f32; 16] = std::array::from_fn(|i| a[idx[i] as usize & 15]);
        // SAFETY: `p` holds 16 elements.
        unsafe { Self::load_f32(p.as_ptr()) }
    }

    /// Loads 16 f32.
    ///
    /// # Safety
    /// 16 readable elements at `p`.
    unsafe fn load_f32(p: *const f32) -> Self;
    /// Loads `n < 16` f32; lanes `n..16` are `fill`.
    ///
    /// # Safety
    /// `n` readable elements at `p`.
    unsafe fn load_f32_partial(p: *const f32, n: usize, fill: f32) -> Self;
    /// Loads 16 f16 (IEEE half bits), widened exactly.
    ///
    /// # Safety
    /// 16 readable elements at `p`.
    unsafe fn load_f16(p: *const u16) -> Self;
    /// Loads `n < 16` f16; lanes `n..16` are `fill`.
    ///
    /// # Safety
    /// `n` readable elements at `p`.
    unsafe fn load_f16_partial(p: *const u16, n: usize, fill: f32) -> Self;
    /// Loads 16 bf16, widened exactly.
    ///
    /// # Safety
    /// 16 readable elements at `p`.
    unsafe fn load_bf16(p: *const u16) -> Self;
    /// Loads `n < 16` bf16; lanes `n..16` are `fill`.
    ///
    /// # Safety
    /// `n` readable elements at `p`.
    unsafe fn load_bf16_partial(p: *const u16, n: usize, fill: f32) -> Self;
    /// Stores 16 f32.
    ///
    /// # Safety
    /// 16 writable elements at `p`.
    unsafe fn store_f32(self, p: *mut f32);
    /// Stores lanes `0..n` (`n < 16`).
    ///
    /// # Safety
    /// `n` writable elements at `p`.
    unsafe fn store_f32_partial(self, p: *mut f32, n: usize);
    /// Stores 16 f32 past the caches where the ISA has non-temporal stores (call
    /// [`V16::stream_fence`] before the data is handed to another thread).
    ///
    /// # Safety
    /// 16 writable elements at `p`, which is 64-byte aligned.
    #[inline(always)]
    unsafe fn stream_f32(self, p: *mut f32) {
        // SAFETY: forwarded contract.
        unsafe { self.store_f32(p) }
    }
    /// Orders earlier [`V16::stream_f32`] stores before later stores.
    #[inline(always)]
    fn stream_fence() {}
    /// Hints that the 64-byte line at `p` will be read soon (L1); `WRITE`: written soon (the
    /// line is fetched for ownership). A hint only: it never faults and has no visible effect,
    /// so `p` may be any address. No-op where the ISA has no prefetch.
    #[inline(always)]
    fn prefetch<const WRITE: bool>(_p: *const u8) {}
    /// Stores 16 f16, rounded to nearest even.
    ///
    /// # Safety
    /// 16 writable elements at `p`.
    unsafe fn store_f16(self, p: *mut u16);
    /// Stores lanes `0..n` as f16 (`n < 16`).
    ///
    /// # Safety
    /// `n` writable elements at `p`.
    unsafe fn store_f16_partial(self, p: *mut u16, n: usize);
    /// Stores 16 bf16, rounded to nearest even.
    ///
    /// # Safety
    /// 16 writable elements at `p`.
    unsafe fn store_bf16(self, p: *mut u16);
    /// Stores lanes `0..n` as bf16 (`n < 16`).
    ///
    /// # Safety
    /// `n` writable elements at `p`.
    unsafe fn store_bf16_partial(self, p: *mut u16, n: usize);
    /// [`V16::store_bf16`] with the CPU's bf16 conversion instruction where the vector type has
    /// one (AVX512_BF16 for the AVX-512 vector); the same bits. Only [`Bf16Hw`] calls it.
    ///
    /// # Safety
    /// As [`V16::store_bf16`]; the caller is compiled for, and runs on, a CPU with that
    /// instruction.
    #[inline(always)]
    unsafe fn store_bf16_hw(self, p: *mut u16) {
        // SAFETY: forwarded contract.
        unsafe { self.store_bf16(p) }
    }
    /// [`V16::store_bf16_partial`] with the conversion instruction (see [`V16::store_bf16_hw`]).
    ///
    /// # Safety
    /// As [`V16::store_bf16_partial`] and [`V16::store_bf16_hw`].
    #[inline(always)]
    unsafe fn store_bf16_hw_partial(self, p: *mut u16, n: usize) {
        // SAFETY: forwarded contract.
        unsafe { self.store_bf16_partial(p, n) }
    }
}

/// An element type stored in memory and computed in f32.
pub trait Elem: 'static {
    /// The storage type (`f32`, or `u16` bits).
    type S: Copy + Default + 'static;
    /// Short name used in kernel names.
    const NAME: &'static str;
    /// Loads 16 elements.
    ///
    /// # Safety
    /// 16 readable elements at `p`.
    unsafe fn load<V: V16>(p: *const Self::S) -> V;
    /// Loads `n < 16` elements, other lanes `fill`.
    ///
    /// # Safety
    /// `n` readable elements at `p`.
    unsafe fn load_partial<V: V16>(p: *const Self::S, n: usize, fill: f32) -> V;
    /// Stores 16 elements.
    ///
    /// # Safety
    /// 16 writable elements at `p`.
    unsafe fn store<V: V16>(v: V, p: *mut Self::S);
    /// Stores lanes `0..n`.
    ///
    /// # Safety
    /// `n` writable elements at `p`.
    unsafe fn store_partial<V: V16>(v: V, p: *mut Self::S, n: usize);
    /// Byte alignment [`Elem::stream`] needs (1: it is a plain store).
    const STREAM_ALIGN: usize = 1;
    /// Stores 16 elements, past the caches where the ISA and type allow (see
    /// [`V16::stream_f32`]).
    ///
    /// # Safety
    /// 16 writable elements at `p`, aligned to [`Elem::STREAM_ALIGN`].
    #[inline(always)]
    unsafe fn stream<V: V16>(v: V, p: *mut Self::S) {
        // SAFETY: forwarded contract.
        unsafe { Self::store(v, p) }
    }
    /// One element to f32 (exact).
    fn to_f32(s: Self::S) -> f32;
    /// f32 to one element, rounded to nearest even.
    fn from_f32(v: f32) -> Self::S;
}

/// f32 elements.
pub struct F32;
/// IEEE half elements (`u16` bits).
pub struct F16;
/// bfloat16 elements (`u16` bits).
pub struct Bf16;
/// bfloat16 elements stored with the CPU's conversion instruction ([`V16::store_bf16_hw`]):
/// the same bits as [`Bf16`]. Only for kernels compiled with AVX512_BF16 and selected where
/// `isa::extras().avx512bf16` holds.
pub struct Bf16Hw;

macro_rules! elem {
    ($t:ident, $s:ty, $name:literal, $load:ident, $loadp:ident, $store:ident, $storep:ident, $to:expr, $from:expr $(, stream: $stream:ident)?) => {
        impl Elem for $t {
            $(
            const STREAM_ALIGN: usize = 64;
            #[inline(always)]
            unsafe fn stream<V: V16>(v: V, p: *mut $s) {
                // SAFETY: forwarded contract.
                unsafe { v.$stream(p) }
            }
            )?
            type S = $s;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn to_f32(s: $s) -> f32 {
                $to(s)
            }
            #[inline(always)]
            fn from_f32(v: f32) -> $s {
                $from(v)
            }
            #[inline(always)]
            unsafe fn load<V: V16>(p: *const $s) -> V {
                // SAFETY: forwarded contract.
                unsafe { V::$load(p) }
            }
            #[inline(always)]
            unsafe fn load_partial<V: V16>(p: *const $s, n: usize, fill: f32) -> V {
                // SAFETY: forwarded contract.
                unsafe { V::$loadp(p, n, fill) }
            }
            #[inline(always)]
            unsafe fn store<V: V16>(v: V, p: *mut $s) {
                // SAFETY: forwarded contract.
                unsafe { v.$store(p) }
            }
            #[inline(always)]
            unsafe fn store_partial<V: V16>(v: V, p: *mut $s, n: usize) {
                // SAFETY: forwarded contract.
                unsafe { v.$storep(p, n) }
            }
        }
    };
}
elem!(
    F32,
    f32,
    "f32",
    load_f32,
    load_f32_partial,
    store_f32,
    store_f32_partial,
    |v| v,
    |v| v,
    stream: stream_f32
);
elem!(
    F16,
    u16,
    "f16",
    load_f16,
    load_f16_partial,
    store_f16,
    store_f16_partial,
    cvt::f16_to_f32,
    cvt::f32_to_f16
);
elem!(
    Bf16,
    u16,
    "bf16",
    load_bf16,
    load_bf16_partial,
    store_bf16,
    store_bf16_partial,
    cvt::bf16_to_f32,
    cvt::f32_to_bf16
);
elem!(
    Bf16Hw,
    u16,
    "bf16",
    load_bf16,
    load_bf16_partial,
    store_bf16_hw,
    store_bf16_hw_partial,
    cvt::bf16_to_f32,
    cvt::f32_to_bf16
);

/// The source of lane `i` of [`V16::pair_blocks`]'s even (`odd` = 0) or odd (`odd` = 1)
/// result: a lane of `a` (0..16) or of `b` (16 + lane), the `_mm512_permutex2var_ps` index.
pub(crate) const fn pair_blocks_source(w: usize, i: usize, odd: usize) -> usize {
    let q = i / w; // output block
    let block = 2 * (q / 2) + odd; // source block
    ((q % 2) << 4) | (block * w + i % w)
}

/// The shared lane-index tree of `hmax`/`dsum` on a plain array: (i, i+8), (i, i+4), (i, i+2),
/// then (0, 1).
#[inline(always)]
pub(crate) fn tree16<T: Copy>(mut v: [T; 16], f: impl Fn(T, T) -> T) -> T {
    let mut width = 8;
    while width >= 1 {
        for i in 0..width {
            v[i] = f(v[i], v[i + width]);
        }
        width /= 2;
    }
    v[0]
}

/// [`V16::prefetch`] for the x86 vector types (one implementation for AVX2 and AVX-512).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn x86_prefetch<const WRITE: bool>(p: *const u8) {
    // SAFETY: a prefetch never faults and changes no architectural state. PREFETCHW is
    // written as assembly (its target feature is not stable in Rust); CPUs without it execute
    // the encoding as a NOP.
    unsafe {
        if WRITE {
            std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
        } else {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
        }
    }
}
