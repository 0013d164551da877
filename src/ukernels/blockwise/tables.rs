//! Code books and decode tables.
//!
//! The bitsandbytes tables are bitsandbytes' own f32 values (the dynamic map dumped from
//! `bitsandbytes.functional.create_dynamic_map(signed=True)` 0.50.2 by
//! `tests/vectors/gen_blockwise.py`, which also writes `tests/vectors/bnb_dynamic8.f32`; a test
//! compares the two). Quantizing picks the code whose value is nearest, ties to the lower
//! sorted position: the count of sorted midpoints strictly below the scaled value, as
//! bitsandbytes' default backend computes it with `torch.bucketize`.

use super::FpFormat;

/// A bitsandbytes code book.
#[derive(Debug, PartialEq)]
pub struct CodeBook {
    /// Value of each code.
    pub values: &'static [f32],
    /// `(v[i] + v[i + 1]) / 2` in f32 of the values in ascending order (one fewer than codes).
    pub mids: &'static [f32],
    /// The code at each ascending position.
    pub order: &'static [u8],
    /// For 256-code books, the midpoints by float bucket (see [`Buckets`]).
    pub buckets: Option<&'static Buckets>,
}

/// Mantissa bits of a value that, with its sign and exponent, name its bucket.
pub const BUCKET_MANT_BITS: u32 = 6;
/// The bits of a value below its bucket's: `23 - BUCKET_MANT_BITS`.
pub const BUCKET_SHIFT: u32 = 23 - BUCKET_MANT_BITS;
/// Buckets per sign.
pub const BUCKETS: usize = 1536;
/// A value's bits below its bucket (`low` and `t` in [`Buckets`]).
pub const BUCKET_LOW: u32 = (1 << BUCKET_SHIFT) - 1;
/// Where a [`Buckets`] entry's `base` starts (above `t` and a zero bit).
pub const BUCKET_BASE_SHIFT: u32 = BUCKET_SHIFT + 1;

/// The count of a book's sorted midpoints below a value in one table lookup and one compare.
/// A value's bucket is its sign and its magnitude's bits above [`BUCKET_SHIFT`] (exponent and
/// top 6 mantissa bits); the dynamic map has at most one midpoint in any bucket (checked when
/// the table is built). Bucket keys `lo..lo + BUCKETS` per sign; a magnitude whose key lies
/// outside (zero, tiny, >= 2, inf, NaN) takes the clamped end bucket, which holds no midpoint
/// and the count every value there has. Entry `sign · BUCKETS + key - lo` is
/// `base << BUCKET_BASE_SHIFT | t`: `base` midpoints below every value of the bucket, then one more where
/// `low > t`, with `low` the value's 17 bits below the bucket (complemented for a negative
/// value: a smaller magnitude is the larger value) and `t` the same of the bucket's midpoint,
/// or [`BUCKET_LOW`] (never exceeded) for a bucket without one.
#[derive(Debug, PartialEq)]
pub struct Buckets {
    /// The first bucket key.
    pub lo: u32,
    /// `2 · BUCKETS` entries: positive values, then negative.
    pub entries: [u32; 2 * BUCKETS],
}

impl Buckets {
    /// The count of midpoints below `v` (any for NaN: callers blend NaN themselves).
    #[inline(always)]
    pub fn search(&self, v: f32) -> u32 {
        let b = v.to_bits();
        let (a, neg) = (b & 0x7FFF_FFFF, b >> 31);
        let key = (a >> BUCKET_SHIFT).clamp(self.lo, self.lo + BUCKETS as u32 - 1) - self.lo;
        let e = self.entries[(neg * BUCKETS as u32 + key) as usize];
        let low = (a ^ neg.wrapping_neg()) & BUCKET_LOW;
        (e >> BUCKET_BASE_SHIFT) + u32::from(low > e & BUCKET_LOW)
    }
}

/// How many of the ascending `mids` are below `x` (`or_equal`: at most `x`).
const fn count_below(mids: &[f32], x: f32, or_equal: bool) -> u32 {
    let (mut lo, mut hi) = (0, mids.len());
    while lo < hi {
        let m = (lo + hi) / 2;
        if mids[m] < x || (or_equal && mids[m] == x) {
            lo = m + 1;
        } else {
            hi = m;
        }
    }
    lo as u32
}

/// The [`Buckets`] of ascending, nonzero `mids`; fails to compile (panics in const evaluation)
/// if a bucket would hold two midpoints or the keys do not fit.
const fn buckets(mids: &[f32]) -> Buckets {
    let mut lo = u32::MAX;
    let mut hi = 0;
    let mut i = 0;
    while i < mids.len() {
        assert!(mids[i] != 0.0 && !mids[i].is_nan());
        let key = (mids[i].to_bits() & 0x7FFF_FFFF) >> BUCKET_SHIFT;
        if key < lo {
            lo = key;
        }
        if key > hi {
            hi = key;
        }
        i += 1;
    }
    // Empty end buckets: the clamped keys land where no midpoint is.
    lo -= 1;
    assert!(hi + 1 < lo + BUCKETS as u32);
    let mut entries = [0u32; 2 * BUCKETS];
    let mut j = 0;
    while j < BUCKETS {
        let key = lo + j as u32;
        let low_edge = f32::from_bits(key << BUCKET_SHIFT);
        let high_edge = f32::from_bits((key + 1) << BUCKET_SHIFT);
        // Positive values in [low_edge, high_edge); negative ones in (-high_edge, -low_edge].
        let pos_base = count_below(mids, low_edge, false);
        let pos_in = count_below(mids, high_edge, false) - pos_base;
        let neg_base = count_below(mids, -high_edge, true);
        let neg_in = count_below(mids, -low_edge, true) - neg_base;
        assert!(pos_in <= 1 && neg_in <= 1);
        let pos_t = if pos_in == 1 {
            mids[pos_base as usize].to_bits() & BUCKET_LOW
        } else {
            BUCKET_LOW
        };
        let neg_t = if neg_in == 1 {
            !mids[neg_base as usize].to_bits() & BUCKET_LOW
        } else {
            BUCKET_LOW
        };
        entries[j] = pos_base << BUCKET_BASE_SHIFT | pos_t;
        entries[BUCKETS + j] = neg_base << BUCKET_BASE_SHIFT | neg_t;
        j += 1;
    }
    Buckets { lo, entries }
}

impl CodeBook {
    /// Code of the scaled value `v`: the number of midpoints below `v` (NaN: the last), mapped
    /// through `order`.
    pub fn encode(&self, v: f32) -> u8 {
        let pos = if v.is_nan() {
            self.mids.len()
        } else {
            self.mids.iter().filter(|&&m| m < v).count()
        };
        self.order[pos]
    }
}

const fn mids<const N: usize, const M: usize>(v: &[f32; N], order: &[u8; N]) -> [f32; M] {
    let mut m = [0.0; M];
    let mut i = 0;
    while i < M {
        m[i] = (v[order[i] as usize] + v[order[i + 1] as usize]) / 2.0;
        i += 1;
    }
    m
}

const fn identity<const N: usize>() -> [u8; N] {
    let mut o = [0u8; N];
    let mut i = 0;
    while i < N {
        o[i] = i as u8;
        i += 1;
    }
    o
}

const fn from_bits<const N: usize>(b: [u32; N]) -> [f32; N] {
    let mut v = [0.0; N];
    let mut i = 0;
    while i < N {
        v[i] = f32::from_bits(b[i]);
        i += 1;
    }
    v
}

const DYN8_VALUES: [f32; 256] = from_bits([
    0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333, 0xbf68999a, 0xbf650000,
    0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a, 0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333,
    0xbf44999a, 0xbf410000, 0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666,
    0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd, 0xbf123334, 0xbf0e999a,
    0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333, 0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a,
    0xbedc6666, 0xbed53333, 0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
    0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999, 0xbe6f3333, 0xbe60cccd,
    0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333, 0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334,
    0xbdc9eb85, 0xbdc428f7, 0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a,
    0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b, 0xbd728f5d, 0xbd670a3d,
    0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3, 0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148,
    0xbcfeb852, 0xbce7ae15, 0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
    0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3, 0xbbcfdf3b, 0xbbbd70a4,
    0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a, 0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d,
    0xba7765ff, 0xba59e83e, 0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b,
    0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94, 0xb513a3b7, 0x00000000,
    0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b,
    0x398ce705, 0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
    0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4,
    0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148,
    0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148,
    0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000, 0x3d5b851f, 0x3d670a3d,
    0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a,
    0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
    0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd,
    0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000,
    0x3eb13333, 0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a,
    0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a,
    0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666,
    0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
    0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd, 0x3f616666, 0x3f650000,
    0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000,
]);
const DYN8_ORDER: [u8; 256] = identity();
const DYN8_MIDS: [f32; 255] = mids(&DYN8_VALUES, &DYN8_ORDER);
static DYN8_BUCKETS: Buckets = buckets(&DYN8_MIDS);

/// bitsandbytes' signed dynamic map (`code[127] = 0`, `code[255] = 1`, no -1).
pub static DYNAMIC8: CodeBook = CodeBook {
    values: &DYN8_VALUES,
    mids: &DYN8_MIDS,
    order: &DYN8_ORDER,
    buckets: Some(&DYN8_BUCKETS),
};

const NF4_VALUES: [f32; 16] = from_bits([
    0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000,
    0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
]);
const NF4_ORDER: [u8; 16] = identity();
const NF4_MIDS: [f32; 15] = mids(&NF4_VALUES, &NF4_ORDER);

/// QLoRA's NF4 (ascending already).
pub static NF4: CodeBook = CodeBook {
    values: &NF4_VALUES,
    mids: &NF4_MIDS,
    order: &NF4_ORDER,
    buckets: None,
};

/// bitsandbytes FP4 (its own: bit 3 the sign, magnitudes 0, 0.0625, 8, 12, 4, 6, 2, 3 / 12;
/// code 8 is a second zero, stored as +0.0 like bitsandbytes' table).
const FP4_VALUES: [f32; 16] = from_bits([
    0x00000000, 0x3baaaaab, 0x3f2aaaab, 0x3f800000, 0x3eaaaaab, 0x3f000000, 0x3e2aaaab, 0x3e800000,
    0x00000000, 0xbbaaaaab, 0xbf2aaaab, 0xbf800000, 0xbeaaaaab, 0xbf000000, 0xbe2aaaab, 0xbe800000,
]);
/// `torch.argsort` of the values as bitsandbytes computes it (the two zeros: code 0 first).
const FP4_ORDER: [u8; 16] = [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3];
const FP4_MIDS: [f32; 15] = mids(&FP4_VALUES, &FP4_ORDER);

/// bitsandbytes FP4.
pub static FP4: CodeBook = CodeBook {
    values: &FP4_VALUES,
    mids: &FP4_MIDS,
    order: &FP4_ORDER,
    buckets: None,
};

/// Value of code `c` of `f` (sign bit on top): subnormals, E4M3's NaN (S.1111.111), E5M2's
/// Inf and NaN (exponent 31).
pub const fn fp_decode(f: FpFormat, c: u32) -> f32 {
    let mag = c & ((1 << (f.e + f.m)) - 1);
    let neg = c >> (f.e + f.m) & 1 != 0;
    let (ex, mant) = (mag >> f.m, mag & ((1 << f.m) - 1));
    let v = if f.e == 4 && f.m == 3 && mag == 0x7F {
        f32::NAN
    } else if f.e == 5 && ex == 31 {
        if mant == 0 { f32::INFINITY } else { f32::NAN }
    } else if ex == 0 {
        // mant · 2^(emin - m): exact (a small integer times a power of two).
        mant as f32 * pow2(f.emin() - f.m as i32)
    } else {
        ((1 << f.m) + mant) as f32 * pow2(ex as i32 - f.bias - f.m as i32)
    };
    if neg { -v } else { v }
}

/// 2^k for k in the normal range, exactly.
pub const fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

const fn fp_table<const N: usize>(f: FpFormat) -> [f32; N] {
    let mut t = [0.0; N];
    let mut i = 0;
    while i < N {
        t[i] = fp_decode(f, i as u32);
        i += 1;
    }
    t
}

/// E4M3 values of the 256 codes.
pub static E4M3: [f32; 256] = fp_table(FpFormat::E4M3);
/// E5M2 values.
pub static E5M2: [f32; 256] = fp_table(FpFormat::E5M2);
/// E2M3 values.
pub static E2M3: [f32; 64] = fp_table(FpFormat::E2M3);
/// E3M2 values.
pub static E3M2: [f32; 64] = fp_table(FpFormat::E3M2);
/// E2M1 values.
pub static E2M1: [f32; 16] = fp_table(FpFormat::E2M1);

/// NVFP4's E2M1 values as modelopt decodes them: code 8 (−0) gives +0.
pub static NVFP4_E2M1: [f32; 16] = {
    let mut t = fp_table::<16>(FpFormat::E2M1);
    t[8] = 0.0;
    t
};

/// The decode table of `f`.
pub fn fp_values(f: FpFormat) -> &'static [f32] {
    match (f.e, f.m) {
        (4, 3) => &E4M3,
        (5, 2) => &E5M2,
        (2, 3) => &E2M3,
        (3, 2) => &E3M2,
        _ => &E2M1,
    }
}
