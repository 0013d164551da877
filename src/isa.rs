//! Instruction-set levels, CPU detection and the ceiling override.
//!
//! Each level is one exact feature set, used both for detection and for the kernels'
//! `#[target_feature]` attributes:
//! - [`IsaLevel::Avx2`]: AVX2 + FMA + F16C, with the BMI1, BMI2 and POPCNT that every AVX2 CPU
//!   (Haswell, Zen and later) also has (`"avx2,fma,f16c,bmi1,bmi2,popcnt"`),
//! - [`IsaLevel::Avx512`]: the AVX2 set plus AVX-512 F, BW, DQ and VL
//!   (`"avx2,fma,f16c,bmi1,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl"`).
//!
//! Detection runs once, lazily. The ceiling starts at `NNK_ISA` (if set to `scalar`, `avx2` or
//! `avx512`) and can be changed with [`set_limit`]; it never rises above what the CPU has.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// A kernel level. Ordered: a CPU that has a level has every lower one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum IsaLevel {
    /// Portable Rust, any CPU and any architecture.
    Scalar = 0,
    /// x86-64 with AVX2, FMA and F16C.
    Avx2 = 1,
    /// x86-64 with AVX-512 F, BW, DQ and VL (and the AVX2 set).
    Avx512 = 2,
}

impl IsaLevel {
    /// Every level, lowest first.
    pub const ALL: [IsaLevel; 3] = [IsaLevel::Scalar, IsaLevel::Avx2, IsaLevel::Avx512];

    /// The level with C code `v` (`NNK_ISA_*`), or `None` for an unknown value.
    pub const fn from_u32(v: u32) -> Option<IsaLevel> {
        match v {
            0 => Some(IsaLevel::Scalar),
            1 => Some(IsaLevel::Avx2),
            2 => Some(IsaLevel::Avx512),
            _ => None,
        }
    }

    /// The lower-case name used by `NNK_ISA` and `nnkern info`.
    pub const fn name(self) -> &'static str {
        match self {
            IsaLevel::Scalar => "scalar",
            IsaLevel::Avx2 => "avx2",
            IsaLevel::Avx512 => "avx512",
        }
    }

    /// Parses a `NNK_ISA` value (case-insensitive, surrounding spaces ignored).
    pub fn parse(s: &str) -> Option<IsaLevel> {
        let s = s.trim();
        IsaLevel::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
    }

    /// The levels this CPU can run, lowest first: what tests and benches loop over.
    pub fn available() -> impl Iterator<Item = IsaLevel> {
        let top = detected();
        IsaLevel::ALL.into_iter().filter(move |l| *l <= top)
    }
}

/// Optional extensions detected beside the level (reported by `nnkern info`; kernels that use
/// them check them separately).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// AVX512_BF16.
    pub avx512bf16: bool,
    /// AVX512_FP16.
    pub avx512fp16: bool,
    /// AVX512_VNNI.
    pub avx512vnni: bool,
}

/// Data-cache sizes in bytes (per core for L1d/L2, the whole cache for L3), from CPUID, with
/// conservative defaults where CPUID does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache.
    pub l1d: usize,
    /// Level-2 cache.
    pub l2: usize,
    /// Last-level (L3) cache, 0 if none.
    pub l3: usize,
}

impl Default for CacheSizes {
    fn default() -> Self {
        CacheSizes {
            l1d: 32 << 10,
            l2: 1 << 20,
            l3: 0,
        }
    }
}

struct Detection {
    level: IsaLevel,
    extras: Extras,
    caches: CacheSizes,
    env_raw: Option<String>,
    env_limit: Option<IsaLevel>,
}

static DETECTION: OnceLock<Detection> = OnceLock::new();
/// The ceiling set by [`set_limit`]; `NO_LIMIT` until then.
static LIMIT: AtomicU8 = AtomicU8::new(NO_LIMIT);
const NO_LIMIT: u8 = u8::MAX;
static INITIALIZED: AtomicBool = AtomicBool::new(false);

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpuid_avx2_fma, "avx2", "fma", "bmi1", "bmi2", "popcnt");
#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpuid_avx512, "avx512f", "avx512bw", "avx512dq", "avx512vl");

#[cfg(target_arch = "x86_64")]
fn detect_cpu() -> (IsaLevel, Extras) {
    // cpufeatures checks CPUID and that the OS saves the YMM/ZMM state (XCR0); it does not know
    // F16C or the AVX-512 extras, which std's detection covers.
    let avx2 = cpuid_avx2_fma::get() && std::arch::is_x86_feature_detected!("f16c");
    let avx512 = avx2 && cpuid_avx512::get();
    let level = if avx512 {
        IsaLevel::Avx512
    } else if avx2 {
        IsaLevel::Avx2
    } else {
        IsaLevel::Scalar
    };
    let extras = Extras {
        avx512bf16: avx512 && std::arch::is_x86_feature_detected!("avx512bf16"),
        avx512fp16: avx512 && std::arch::is_x86_feature_detected!("avx512fp16"),
        avx512vnni: avx512 && std::arch::is_x86_feature_detected!("avx512vnni"),
    };
    (level, extras)
}

/// Reads the deterministic cache parameters (CPUID leaf 4 on Intel, 0x8000_001D on AMD).
#[cfg(target_arch = "x86_64")]
fn detect_caches() -> CacheSizes {
    use std::arch::x86_64::__cpuid_count;
    let mut sizes = CacheSizes::default();
    let max_basic = __cpuid_count(0, 0).eax;
    let max_ext = __cpuid_count(0x8000_0000, 0).eax;
    let leaf = if max_basic >= 4 && __cpuid_count(4, 0).eax & 0x1F != 0 {
        4
    } else if max_ext >= 0x8000_001D {
        0x8000_001D
    } else {
        return sizes;
    };
    for sub in 0..16 {
        let r = __cpuid_count(leaf, sub);
        let kind = r.eax & 0x1F; // 0 none, 1 data, 2 instruction, 3 unified
        if kind == 0 {
            break;
        }
        if kind == 2 {
            continue;
        }
        let level = (r.eax >> 5) & 0x7;
        let ways = ((r.ebx >> 22) & 0x3FF) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3FF) as usize + 1;
        let line = (r.ebx & 0xFFF) as usize + 1;
        let sets = r.ecx as usize + 1;
        let bytes = ways * partitions * line * sets;
        match level {
            1 => sizes.l1d = bytes,
            2 => sizes.l2 = bytes,
            3 => sizes.l3 = bytes,
            _ => {}
        }
    }
    sizes
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_caches() -> CacheSizes {
    CacheSizes::default()
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_cpu() -> (IsaLevel, Extras) {
    (IsaLevel::Scalar, Extras::default())
}

fn detection() -> &'static Detection {
    DETECTION.get_or_init(|| {
        let (level, extras) = detect_cpu();
        let env_raw = std::env::var("NNK_ISA").ok();
        let env_limit = env_raw.as_deref().and_then(IsaLevel::parse);
        Detection {
            level,
            extras,
            caches: detect_caches(),
            env_raw,
            env_limit,
        }
    })
}

/// Detects the CPU (once) and marks the library initialized. Idempotent and thread-safe.
pub fn initialize() {
    detection();
    INITIALIZED.store(true, Ordering::Release);
}

/// Whether [`initialize`] has run.
pub fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

/// The highest level this CPU supports.
pub fn detected() -> IsaLevel {
    detection().level
}

/// Optional extensions of this CPU.
pub fn extras() -> Extras {
    detection().extras
}

/// Cache sizes of this CPU.
pub fn caches() -> CacheSizes {
    detection().caches
}

/// The raw `NNK_ISA` value read at detection, and the level it named (`None` if unrecognized,
/// in which case it is ignored).
pub fn env_setting() -> (Option<&'static str>, Option<IsaLevel>) {
    let d = detection();
    (d.env_raw.as_deref(), d.env_limit)
}

/// The level in force for operators created and one-shot calls made now: the detected level,
/// lowered by `NNK_ISA` and by [`set_limit`].
pub fn current() -> IsaLevel {
    let d = detection();
    let ceiling = match LIMIT.load(Ordering::Relaxed) {
        NO_LIMIT => d.env_limit.unwrap_or(d.level),
        v => IsaLevel::from_u32(u32::from(v)).unwrap_or(IsaLevel::Scalar),
    };
    ceiling.min(d.level)
}

/// Sets the ceiling (clamped to the detected level). Returns the level now in force.
pub fn set_limit(level: IsaLevel) -> IsaLevel {
    let clamped = level.min(detected());
    LIMIT.store(clamped as u8, Ordering::Relaxed);
    clamped
}
