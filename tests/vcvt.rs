//! Conversion kernels at every ISA level this machine has: bit-exact with the `half` crate for
//! every input bit pattern, every length 0..=300 at every start offset, tails against guard
//! pages, and large multi-threaded runs through the operator API.

mod common;

use common::{GuardPages, Rng};
use nnkern::IsaLevel;
use nnkern::config::KernelTable;
use nnkern::config::vcvt::*;
use nnkern::ukernels::vcvt::VcvtFn;

fn ref_f32_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}
fn ref_f32_bf16(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}
fn ref_f16_f32(h: u16) -> u32 {
    half::f16::from_bits(h).to_f32().to_bits()
}
fn ref_bf16_f32(h: u16) -> u32 {
    half::bf16::from_bits(h).to_f32().to_bits()
}

/// The AVX512_BF16 tables' avx512 entries need that extension beside the level.
fn bf16_hw_usable<I, O>(table: &'static KernelTable<VcvtFn<I, O>>, level: IsaLevel) -> bool {
    let hw = std::ptr::addr_eq(table, &F32_BF16_AVX512BF16)
        || std::ptr::addr_eq(table, &F32_BF16_NT_AVX512BF16);
    !hw || level < IsaLevel::Avx512 || nnkern::isa::extras().avx512bf16
}

fn levels() -> Vec<IsaLevel> {
    IsaLevel::available().collect()
}

#[test]
fn every_level_has_its_own_kernel() {
    for level in levels() {
        assert_eq!(F32_F16.get(level).isa, level);
        assert_eq!(F16_F32.get(level).isa, level);
        assert_eq!(F32_BF16.get(level).isa, level);
        assert_eq!(BF16_F32.get(level).isa, level);
        for nt in [
            F32_F16_NT.get(level).isa,
            F16_F32_NT.get(level).isa,
            F32_BF16_NT.get(level).isa,
            BF16_F32_NT.get(level).isa,
        ] {
            assert_eq!(nt, level);
        }
    }
}

fn run<I, O: Default + Clone>(k: VcvtFn<I, O>, x: &[I]) -> Vec<O> {
    let mut y = vec![O::default(); x.len()];
    // SAFETY: x and y hold x.len() elements and do not overlap.
    unsafe { k(x.len(), x.as_ptr(), y.as_mut_ptr()) };
    y
}

#[test]
fn widening_every_16_bit_pattern() {
    let x: Vec<u16> = (0..=u16::MAX).collect();
    for level in levels() {
        for table in [&F16_F32, &F16_F32_NT] {
            let y = run(table.get(level).func, &x);
            for (&h, &v) in x.iter().zip(&y) {
                assert_eq!(v.to_bits(), ref_f16_f32(h), "{level:?} f16 {h:#06x}");
            }
        }
        for table in [&BF16_F32, &BF16_F32_NT] {
            let y = run(table.get(level).func, &x);
            for (&h, &v) in x.iter().zip(&y) {
                assert_eq!(v.to_bits(), ref_bf16_f32(h), "{level:?} bf16 {h:#06x}");
            }
        }
    }
}

/// All 2^32 f32 bit patterns through both narrowing conversions at every level (and the
/// AVX512_BF16 kernel and 16-lane helper the bf16 block dequantizers store with, where the CPU
/// has that extension).
#[test]
fn narrowing_every_32_bit_pattern() {
    let levels = levels();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    std::thread::scope(|s| {
        for t in 0..threads {
            let levels = &levels;
            s.spawn(move || {
                let mut x = vec![0f32; 1 << 16];
                let mut want16 = vec![0u16; 1 << 16];
                let mut wantbf = vec![0u16; 1 << 16];
                let mut got = vec![0u16; 1 << 16];
                for hi in (t as u32..=0xFFFF).step_by(threads) {
                    for (lo, v) in x.iter_mut().enumerate() {
                        *v = f32::from_bits(hi << 16 | lo as u32);
                    }
                    for i in 0..x.len() {
                        want16[i] = ref_f32_f16(x[i]);
                        wantbf[i] = ref_f32_bf16(x[i]);
                    }
                    for &level in levels {
                        for (table, want, name) in [
                            (&F32_F16, &want16, "f16"),
                            (&F32_BF16, &wantbf, "bf16"),
                            (&F32_BF16_AVX512BF16, &wantbf, "bf16 (AVX512_BF16)"),
                        ] {
                            if !bf16_hw_usable(table, level) {
                                continue;
                            }
                            // SAFETY: equal lengths, distinct buffers.
                            unsafe {
                                (table.get(level).func)(x.len(), x.as_ptr(), got.as_mut_ptr())
                            };
                            if got != *want {
                                let i = (0..x.len()).find(|&i| got[i] != want[i]).unwrap();
                                panic!(
                                    "{level:?} f32->{name} {:#010x}: got {:#06x} want {:#06x}",
                                    x[i].to_bits(),
                                    got[i],
                                    want[i]
                                );
                            }
                        }
                    }
                    #[cfg(target_arch = "x86_64")]
                    if nnkern::isa::extras().avx512bf16 {
                        use nnkern::ukernels::vcvt::avx512::f32x16_to_bf16_hw;
                        use std::arch::x86_64::{_mm256_storeu_si256, _mm512_loadu_ps};
                        for (c, w) in x.chunks_exact(16).zip(wantbf.chunks_exact(16)) {
                            let mut g = [0u16; 16];
                            // SAFETY: the CPU has AVX-512 and AVX512_BF16; 16 lanes in and out.
                            unsafe {
                                let h = f32x16_to_bf16_hw(_mm512_loadu_ps(c.as_ptr()));
                                _mm256_storeu_si256(g.as_mut_ptr().cast(), h);
                            }
                            assert_eq!(g, w, "f32x16_to_bf16_hw {:#010x}", c[0].to_bits());
                        }
                    }
                }
            });
        }
    });
}

/// Runs `table`'s kernel at every level for every length 0..=300 and start offset 0..64
/// bytes, with input and output against guard pages at both ends.
trait Bits: Copy {
    fn bits(self) -> u32;
}
impl Bits for f32 {
    fn bits(self) -> u32 {
        self.to_bits()
    }
}
impl Bits for u16 {
    fn bits(self) -> u32 {
        u32::from(self)
    }
}

fn lengths_offsets_guards<I: Copy, O: Bits>(
    table: &'static KernelTable<VcvtFn<I, O>>,
    gen_input: impl Fn(&mut Rng) -> I,
    reference: impl Fn(I) -> u32,
) {
    const MAX: usize = 300;
    let gin = GuardPages::new(MAX * size_of::<I>() + 64);
    let gout = GuardPages::new(MAX * size_of::<O>() + 64);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for level in levels() {
        if !bf16_hw_usable(table, level) {
            continue;
        }
        let k = table.get(level).func;
        for n in 0..=MAX {
            let src: Vec<I> = (0..n).map(|_| gen_input(&mut rng)).collect();
            let want: Vec<u32> = src.iter().map(|&v| reference(v)).collect();
            // Tails: both buffers end right before a guard page.
            let (x, y) = (gin.at_end::<I>(n), gout.at_end::<O>(n));
            // SAFETY: x and y are n-element buffers in distinct mappings.
            let got = unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), x, n);
                k(n, x, y);
                std::slice::from_raw_parts(y, n)
                    .iter()
                    .map(|v| v.bits())
                    .collect::<Vec<u32>>()
            };
            assert_eq!(got, want, "{level:?} n={n} at guard end");
            // Heads: every element-aligned start offset in 0..64 bytes after a guard page.
            for off in (0..64).step_by(size_of::<I>().max(size_of::<O>())) {
                let (x, y) = (gin.at_start::<I>(off, n), gout.at_start::<O>(off, n));
                // SAFETY: as above.
                let got = unsafe {
                    std::ptr::copy_nonoverlapping(src.as_ptr(), x, n);
                    k(n, x, y);
                    std::slice::from_raw_parts(y, n)
                        .iter()
                        .map(|v| v.bits())
                        .collect::<Vec<u32>>()
                };
                assert_eq!(got, want, "{level:?} n={n} offset={off}");
            }
        }
    }
}

/// Mostly ordinary values, with NaNs, infinities, zeros and subnormals mixed in.
fn any_f32(rng: &mut Rng) -> f32 {
    const SPECIAL: [u32; 8] = [
        0x7FC0_0001,
        0x7F80_0001,
        0xFF80_0000,
        0x7F80_0000,
        0x8000_0000,
        0x0000_0001,
        0x477F_F000,
        0x3300_0000,
    ];
    let r = rng.next_u32();
    if r.is_multiple_of(8) {
        f32::from_bits(SPECIAL[(r >> 3) as usize % 8])
    } else {
        f32::from_bits(rng.next_u32())
    }
}

#[test]
fn f32_f16_lengths_offsets_guards() {
    lengths_offsets_guards(&F32_F16, any_f32, |x| u32::from(ref_f32_f16(x)));
    lengths_offsets_guards(&F32_F16_NT, any_f32, |x| u32::from(ref_f32_f16(x)));
}

#[test]
fn f32_bf16_lengths_offsets_guards() {
    lengths_offsets_guards(&F32_BF16, any_f32, |x| u32::from(ref_f32_bf16(x)));
    lengths_offsets_guards(&F32_BF16_NT, any_f32, |x| u32::from(ref_f32_bf16(x)));
    lengths_offsets_guards(&F32_BF16_AVX512BF16, any_f32, |x| {
        u32::from(ref_f32_bf16(x))
    });
    lengths_offsets_guards(&F32_BF16_NT_AVX512BF16, any_f32, |x| {
        u32::from(ref_f32_bf16(x))
    });
}

#[test]
fn f16_f32_lengths_offsets_guards() {
    lengths_offsets_guards(&F16_F32, |r| r.next_u32() as u16, ref_f16_f32);
    lengths_offsets_guards(&F16_F32_NT, |r| r.next_u32() as u16, ref_f16_f32);
}

#[test]
fn bf16_f32_lengths_offsets_guards() {
    lengths_offsets_guards(&BF16_F32, |r| r.next_u32() as u16, ref_bf16_f32);
    lengths_offsets_guards(&BF16_F32_NT, |r| r.next_u32() as u16, ref_bf16_f32);
}
