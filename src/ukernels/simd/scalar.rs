//! The portable 16-lane vector: a plain array, one IEEE operation per lane. Its results define
//! what every ISA gives under `NNK_FLAG_CONSISTENT_ARITHMETIC`.

use super::{V16, tree16};
use crate::ukernels::cvt;

/// 16 f32 lanes in an array.
#[derive(Clone, Copy, Debug)]
pub struct S16(pub [f32; 16]);

impl S16 {
    #[inline(always)]
    fn zip(self, o: S16, f: impl Fn(f32, f32) -> f32) -> S16 {
        let mut r = [0.0; 16];
        for ((r, a), b) in r.iter_mut().zip(self.0).zip(o.0) {
            *r = f(a, b);
        }
        S16(r)
    }
}

/// `p * 2^k` (k integer-valued, <= 127), 0 below 2^-126: the portable semantics.
#[inline(always)]
pub(crate) fn pow2_scale_flush(p: f32, k: f32) -> f32 {
    if k < -126.0 {
        0.0
    } else {
        p * f32::from_bits(((k as i32 + 127) as u32) << 23)
    }
}

impl V16 for S16 {
    type D = [f64; 16];
    const SIMD: bool = false;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        S16([v; 16])
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.zip(o, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self.zip(o, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        self.zip(o, |a, b| a * b)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        self.zip(o, |a, b| if a > b { a } else { b })
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        self.zip(o, |a, b| if a < b { a } else { b })
    }
    #[inline(always)]
    fn fmadd<const FUSED: bool>(a: Self, b: Self, c: Self) -> Self {
        // No FMA without target features; the scalar path is the unfused reference.
        a.mul(b).add(c)
    }
    #[inline(always)]
    fn pow2_scale<const FUSED: bool>(p: Self, k: Self) -> Self {
        p.zip(k, pow2_scale_flush)
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        self.zip(o, |a, b| a / b)
    }
    #[inline(always)]
    fn recip<const FUSED: bool>(self) -> Self {
        S16(self.0.map(|a| 1.0 / a))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        S16(self.0.map(f32::sqrt))
    }
    #[inline(always)]
    fn mask_ge(self, t: Self) -> u32 {
        let mut m = 0;
        for i in 0..16 {
            m |= u32::from(self.0[i] >= t.0[i]) << i;
        }
        m
    }
    #[inline(always)]
    fn mask_gt(self, t: Self) -> u32 {
        let mut m = 0;
        for i in 0..16 {
            m |= u32::from(self.0[i] > t.0[i]) << i;
        }
        m
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
        S16(std::array::from_fn(|i| {
            if a.0[i] < b.0[i] { x.0[i] } else { y.0[i] }
        }))
    }
    #[inline(always)]
    fn hmax(self) -> f32 {
        tree16(self.0, |a, b| if a > b { a } else { b })
    }
    #[inline(always)]
    fn dzero() -> [f64; 16] {
        [0.0; 16]
    }
    #[inline(always)]
    fn dadd(mut acc: [f64; 16], v: Self) -> [f64; 16] {
        for (a, v) in acc.iter_mut().zip(v.0) {
            *a += f64::from(v);
        }
        acc
    }
    #[inline(always)]
    fn dsum(acc: [f64; 16]) -> f64 {
        tree16(acc, |a, b| a + b)
    }
    #[inline(always)]
    fn dlanes(acc: [f64; 16]) -> [f64; 16] {
        acc
    }

    #[inline(always)]
    unsafe fn load_f32(p: *const f32) -> Self {
        // SAFETY: 16 readable elements (caller).
        S16(unsafe { p.cast::<[f32; 16]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn load_f32_partial(p: *const f32, n: usize, fill: f32) -> Self {
        let mut r = [fill; 16];
        // SAFETY: n readable elements (caller); r holds 16.
        unsafe { std::ptr::copy_nonoverlapping(p, r.as_mut_ptr(), n) };
        S16(r)
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> Self {
        // SAFETY: 16 readable elements (caller).
        let h = unsafe { p.cast::<[u16; 16]>().read_unaligned() };
        S16(h.map(cvt::f16_to_f32))
    }
    #[inline(always)]
    unsafe fn load_f16_partial(p: *const u16, n: usize, fill: f32) -> Self {
        let mut r = [fill; 16];
        for (i, v) in r.iter_mut().enumerate().take(n) {
            // SAFETY: i < n readable elements (caller).
            *v = cvt::f16_to_f32(unsafe { p.add(i).read() });
        }
        S16(r)
    }
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> Self {
        // SAFETY: 16 readable elements (caller).
        let h = unsafe { p.cast::<[u16; 16]>().read_unaligned() };
        S16(h.map(cvt::bf16_to_f32))
    }
    #[inline(always)]
    unsafe fn load_bf16_partial(p: *const u16, n: usize, fill: f32) -> Self {
        let mut r = [fill; 16];
        for (i, v) in r.iter_mut().enumerate().take(n) {
            // SAFETY: i < n readable elements (caller).
            *v = cvt::bf16_to_f32(unsafe { p.add(i).read() });
        }
        S16(r)
    }
    #[inline(always)]
    unsafe fn store_f32(self, p: *mut f32) {
        // SAFETY: 16 writable elements (caller).
        unsafe { p.cast::<[f32; 16]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn store_f32_partial(self, p: *mut f32, n: usize) {
        // SAFETY: n writable elements (caller).
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr(), p, n) }
    }
    #[inline(always)]
    unsafe fn store_f16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller).
        unsafe {
            p.cast::<[u16; 16]>()
                .write_unaligned(self.0.map(cvt::f32_to_f16))
        }
    }
    #[inline(always)]
    unsafe fn store_f16_partial(self, p: *mut u16, n: usize) {
        for i in 0..n {
            // SAFETY: i < n writable elements (caller).
            unsafe { p.add(i).write(cvt::f32_to_f16(self.0[i])) }
        }
    }
    #[inline(always)]
    unsafe fn store_bf16(self, p: *mut u16) {
        // SAFETY: 16 writable elements (caller).
        unsafe {
            p.cast::<[u16; 16]>()
                .write_unaligned(self.0.map(cvt::f32_to_bf16))
        }
    }
    #[inline(always)]
    unsafe fn store_bf16_partial(self, p: *mut u16, n: usize) {
        for i in 0..n {
            // SAFETY: i < n writable elements (caller).
            unsafe { p.add(i).write(cvt::f32_to_bf16(self.0[i])) }
        }
    }
}
