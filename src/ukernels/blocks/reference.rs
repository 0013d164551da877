//! The readable statement of every GGUF block format: one function per format and direction,
//! on one block of f32. These are the scalar kernels, and the SIMD kernels must give the same
//! bytes. Each follows ggml's `quantize_row_*_ref` / `dequantize_row_*` operation for operation
//! (facts in `specs/block-formats-notes.md`): separate multiplies and adds where the reference
//! has no FMA, sequential f32 sums in the reference's order, the same strict comparisons (so the
//! same element wins a tie), and C's float → integer conversions as x86 performs them
//! ([`c_int`]). Non-finite inputs follow the same code path and give whatever bytes it gives;
//! nothing here can read or write outside the block.

// The loops index like ggml's so that each line can be checked against the reference.
#![allow(clippy::needless_range_loop)]

use crate::ukernels::cvt::{f16_to_f32, f32_to_f16};

/// Elements per block of the 32-element formats.
pub const QK: usize = 32;
/// Elements per K-quant super-block.
pub const QK_K: usize = 256;
/// ggml's "all zero" threshold for the K-quant scale searches.
const GROUP_MAX_EPS: f32 = 1e-15;
/// The E2M1 code values doubled (ggml's `kvalues_mxfp4`): code `i` means `KVALUES_MXFP4[i] * d`
/// with `d` = half the E8M0 scale.
pub const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// C's `(int)f` as x86-64 executes it (`cvttss2si`): truncation toward zero, and the "integer
/// indefinite" `i32::MIN` for NaN and out-of-range values (where C leaves it undefined). The
/// SIMD kernels' `cvttps2dq` gives the same, so every ISA agrees even on non-finite input.
#[inline(always)]
pub fn c_int(f: f32) -> i32 {
    if !(-2147483648.0..2147483648.0).contains(&f) {
        i32::MIN
    } else {
        f as i32
    }
}

/// ggml's `nearest_int`: adds 1.5·2^23 and reads the low mantissa bits, which rounds half to
/// even for |f| <= 4194303 (bits arithmetic, so anything else is garbage but harmless).
#[inline(always)]
pub fn nearest_int(f: f32) -> i32 {
    let v = f + 12582912.0;
    (v.to_bits() & 0x007F_FFFF) as i32 - 0x0040_0000
}

/// ggml's `roundf`: half away from zero.
#[inline(always)]
fn roundf(f: f32) -> f32 {
    f.round()
}

fn put_f16(out: &mut [u8], at: usize, v: f32) {
    out[at..at + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
}

fn get_f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// The value with the largest magnitude, the first one on ties (ggml's "signed max"), and its
/// magnitude.
fn signed_max(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (max, amax)
}

/// Minimum and maximum (strict comparisons, starting from ±FLT_MAX like ggml).
fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// Q4_0: `f16 d; u8 qs[16]`, q = min(15, (int8)(x·id + 8.5)) with d = max / -8.
pub fn quantize_q4_0(x: &[f32], out: &mut [u8]) {
    let (max, _) = signed_max(&x[..QK]);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    for j in 0..QK / 2 {
        let x0 = x[j] * id;
        let x1 = x[j + QK / 2] * id;
        let q0 = (c_int(x0 + 8.5) as i8).min(15) as u8;
        let q1 = (c_int(x1 + 8.5) as i8).min(15) as u8;
        out[2 + j] = q0 | (q1 << 4);
    }
}

/// Q4_1: `f16 d, m; u8 qs[16]`, q = min(15, (int8)((x - min)·id + 0.5)), d = (max - min) / 15.
pub fn quantize_q4_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(&x[..QK]);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    put_f16(out, 2, min);
    for j in 0..QK / 2 {
        let x0 = (x[j] - min) * id;
        let x1 = (x[j + QK / 2] - min) * id;
        let q0 = (c_int(x0 + 0.5) as i8).min(15) as u8;
        let q1 = (c_int(x1 + 0.5) as i8).min(15) as u8;
        out[4 + j] = q0 | (q1 << 4);
    }
}

/// Q5_0: `f16 d; u8 qh[4]; u8 qs[16]`, q = min(31, (int8)(x·id + 16.5)) with d = max / -16;
/// bit 4 of element j is bit j of the little-endian `qh`.
pub fn quantize_q5_0(x: &[f32], out: &mut [u8]) {
    let (max, _) = signed_max(&x[..QK]);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let x0 = x[j] * id;
        let x1 = x[j + QK / 2] * id;
        let q0 = (c_int(x0 + 16.5) as i8).min(31) as u8;
        let q1 = (c_int(x1 + 16.5) as i8).min(31) as u8;
        out[6 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= u32::from((q0 & 0x10) >> 4) << j;
        qh |= u32::from((q1 & 0x10) >> 4) << (j + QK / 2);
    }
    out[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// Q5_1: `f16 d, m; u8 qh[4]; u8 qs[16]`, q = (uint8)((x - min)·id + 0.5), d = (max - min) / 31.
pub fn quantize_q5_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(&x[..QK]);
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    put_f16(out, 2, min);
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let x0 = (x[j] - min) * id;
        let x1 = (x[j + QK / 2] - min) * id;
        let q0 = c_int(x0 + 0.5) as u8;
        let q1 = c_int(x1 + 0.5) as u8;
        out[8 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= u32::from((q0 & 0x10) >> 4) << j;
        qh |= u32::from((q1 & 0x10) >> 4) << (j + QK / 2);
    }
    out[4..8].copy_from_slice(&qh.to_le_bytes());
}

/// Q8_0 / Q8_1 elements: d = amax / 127 (f32), q = roundf(x·id) (half away from zero).
/// Writes the 32 quants at `out` and returns (d, sum of the quants).
fn q8_elements(x: &[f32], out: &mut [u8]) -> (f32, i32) {
    // ggml's MAX(amax, fabsf(v)) for every non-NaN input; a NaN is skipped (in ggml it would
    // replace amax until the next element, which no SIMD reduction can reproduce).
    let amax = x[..QK]
        .iter()
        .fold(0.0f32, |a, v| if a < v.abs() { v.abs() } else { a });
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut sum = 0;
    for j in 0..QK {
        let q = c_int(roundf(x[j] * id)) as i8;
        out[j] = q as u8;
        sum += i32::from(q);
    }
    (d, sum)
}

/// Q8_0: `f16 d; i8 qs[32]`.
pub fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    let (d, _) = q8_elements(x, &mut out[2..34]);
    put_f16(out, 0, d);
}

/// Q8_1: `f16 d, s; i8 qs[32]` with s = f16(sum(qs) · d), d the f32 scale before rounding.
pub fn quantize_q8_1(x: &[f32], out: &mut [u8]) {
    let (d, sum) = q8_elements(x, &mut out[4..36]);
    put_f16(out, 0, d);
    put_f16(out, 2, sum as f32 * d);
}

/// Q8_K: `f32 d; i8 qs[256]; i16 bsums[16]`, iscale = -127 / (signed max), q = min(127,
/// nearest_int(iscale·x)), d = 1 / iscale. An all-zero block is all zero bytes (ggml leaves
/// its `bsums` unwritten; nnkern writes their true value, 0).
pub fn quantize_q8_k(x: &[f32], out: &mut [u8]) {
    let (max, amax) = signed_max(&x[..QK_K]);
    if amax == 0.0 {
        out[..292].fill(0);
        return;
    }
    let iscale = -127.0 / max;
    for j in 0..QK_K {
        out[4 + j] = nearest_int(iscale * x[j]).min(127) as i8 as u8;
    }
    for j in 0..QK_K / 16 {
        let sum: i32 = (0..16).map(|i| i32::from(out[4 + 16 * j + i] as i8)).sum();
        out[260 + 2 * j..262 + 2 * j].copy_from_slice(&(sum as i16).to_le_bytes());
    }
    out[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
}

/// ggml's `make_qkx2_quants` (scale and min of one sub-block by a grid search of `nstep + 1`
/// inverse scales and a weighted least-squares fit each): returns (scale, -min) and leaves the
/// chosen quants in `l`. Every sum is sequential f32 in index order, as in ggml.
#[allow(clippy::too_many_arguments)]
pub fn make_qkx2_quants(
    x: &[f32],
    weights: &[f32],
    nmax: i32,
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (f32, f32) {
    let n = x.len();
    let mut laux = [0u8; 32];
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l[..n].fill(0);
        return (0.0, -min);
    }
    let nmaxf = nmax as f32;
    let mut iscale = nmaxf / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let li = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = li as u8;
        let diff = scale * li as f32 + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmaxf) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let li = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = li as u8;
            let w = weights[i];
            let lf = li as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if cur_error < best_error {
                l[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` from the 12 packed bytes.
pub fn get_scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Packs the eight 6-bit scales and mins of a Q4_K/Q5_K block into 12 bytes.
fn pack_scales_k4(ls: &[u8; 8], lm: &[u8; 8], s: &mut [u8]) {
    s[..12].fill(0);
    for j in 0..8 {
        if j < 4 {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            s[j - 4] |= (ls[j] >> 4) << 6;
            s[j] |= (lm[j] >> 4) << 6;
        }
    }
}

/// The common part of Q4_K and Q5_K: per-sub-block search, 6-bit scales, requantized levels.
/// Writes d, dmin and the scales at `out[0..16]` and returns the 256 levels.
fn quantize_k4_levels(x: &[f32], out: &mut [u8], nmax: i32, rmin: f32, nstep: i32) -> [u8; QK_K] {
    let search = k4_search(x, nmax, rmin, nstep);
    k4_finish(x, &search, nmax, out)
}

/// The per-sub-block part of Q4_K/Q5_K: [`make_qkx2_quants`] on each 32 elements with weights
/// `sqrt(Σx²/32) + |x|`. (The SIMD kernels compute this with one lane per sub-block.)
#[derive(Clone, Copy, Debug)]
pub struct K4Search {
    /// Sub-block scales.
    pub scales: [f32; 8],
    /// Sub-block mins (negated, as make_qkx2_quants returns them).
    pub mins: [f32; 8],
    /// The levels the search chose.
    pub levels: [u8; QK_K],
}

/// [`K4Search`] of one super-block.
pub fn k4_search(x: &[f32], nmax: i32, rmin: f32, nstep: i32) -> K4Search {
    let mut r = K4Search {
        scales: [0.0; 8],
        mins: [0.0; 8],
        levels: [0; QK_K],
    };
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut w = [0.0f32; 32];
        for (wi, &v) in w.iter_mut().zip(xs) {
            *wi = av_x + v.abs();
        }
        let (s, m) = make_qkx2_quants(
            xs,
            &w,
            nmax,
            &mut r.levels[32 * j..32 * j + 32],
            rmin,
            0.1,
            nstep,
        );
        r.scales[j] = s;
        r.mins[j] = m;
    }
    r
}

/// The super-block part of Q4_K/Q5_K after the search: 6-bit scales and mins, d and dmin
/// (written to `out[0..16]`), and the requantized levels (returned).
pub fn k4_finish(x: &[f32], search: &K4Search, nmax: i32, out: &mut [u8]) -> [u8; QK_K] {
    let (scales, mins) = (&search.scales, &search.mins);
    let mut l = search.levels;
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    pack_scales_k4(&ls, &lm, &mut out[4..16]);
    let d16 = f32_to_f16(max_scale / 63.0);
    let dmin16 = f32_to_f16(max_min / 63.0);
    out[0..2].copy_from_slice(&d16.to_le_bytes());
    out[2..4].copy_from_slice(&dmin16.to_le_bytes());
    for j in 0..8 {
        let (sc, m) = get_scale_min_k4(j, &out[4..16]);
        let d = f16_to_f32(d16) * f32::from(sc);
        if d == 0.0 {
            continue;
        }
        let dm = f16_to_f32(dmin16) * f32::from(m);
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / d).clamp(0, nmax) as u8;
        }
    }
    l
}

/// Q4_K: `f16 d, dmin; u8 scales[12]; u8 qs[128]`; per 64 elements, 32 bytes holding sub-block
/// 2c in the low nibbles and 2c+1 in the high nibbles.
pub fn quantize_q4_k(x: &[f32], out: &mut [u8]) {
    let l = quantize_k4_levels(x, out, 15, -1.0, 20);
    pack_q4_k(&l, out);
}

/// Packs Q4_K levels after the 16-byte header.
pub fn pack_q4_k(l: &[u8; QK_K], out: &mut [u8]) {
    for c in 0..4 {
        for i in 0..32 {
            out[16 + 32 * c + i] = l[64 * c + i] | (l[64 * c + 32 + i] << 4);
        }
    }
}

/// Q5_K: `f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]`; low 4 bits as Q4_K, bit 4 of
/// element 64c + i in bit 2c of `qh[i]`, of 64c + 32 + i in bit 2c + 1.
pub fn quantize_q5_k(x: &[f32], out: &mut [u8]) {
    let l = quantize_k4_levels(x, out, 31, -0.5, 15);
    pack_q5_k(&l, out);
}

/// Packs Q5_K levels after the 16-byte header.
pub fn pack_q5_k(l: &[u8; QK_K], out: &mut [u8]) {
    out[16..48].fill(0);
    for c in 0..4 {
        for i in 0..32 {
            let l1 = l[64 * c + i];
            let l2 = l[64 * c + 32 + i];
            out[16 + i] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
            out[48 + 32 * c + i] = (l1 & 0xF) | ((l2 & 0xF) << 4);
        }
    }
}

/// ggml's `make_qx_quants` with `rmse_type = 1` (weights x²) and no importance weights: the
/// signed scale of one 16-element sub-block, trying 18 inverse scales around `-nmax / max`, and
/// the levels (level + nmax) it leaves behind (all 0 for an all-zero sub-block).
pub fn make_qx_quants(x: &[f32], nmax: i32) -> (f32, [u8; 16]) {
    let mut levels = [0u8; 16];
    let (max, amax) = signed_max(&x[..16]);
    if amax < GROUP_MAX_EPS {
        return (0.0, levels);
    }
    let nmaxf = nmax as f32;
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let try_scale = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in &x[..16] {
            let l = level(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let set_levels = |levels: &mut [u8; 16], iscale: f32| {
        for (o, &v) in levels.iter_mut().zip(x) {
            *o = (level(iscale, v) + nmax) as u8;
        }
    };
    let iscale = -nmaxf / max;
    set_levels(&mut levels, iscale);
    let (sumlx, suml2) = try_scale(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        let iscale = -(nmaxf + 0.1 * is as f32) / max;
        let (sumlx, suml2) = try_scale(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            set_levels(&mut levels, iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    (scale, levels)
}

/// Q6_K: `u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d`. Per 128 elements (half h):
/// `ql[64h + i] = q(i) | q(i+64) << 4`, `ql[64h + 32 + i] = q(i+32) | q(i+96) << 4`, and
/// `qh[32h + i]` the high 2 bits of q(i), q(i+32), q(i+64), q(i+96) at bits 0, 2, 4, 6.
pub fn quantize_q6_k(x: &[f32], out: &mut [u8]) {
    let mut scales = [0.0f32; 16];
    let mut l = [0u8; QK_K];
    for ib in 0..16 {
        let (s, levels) = make_qx_quants(&x[16 * ib..16 * ib + 16], 32);
        scales[ib] = s;
        l[16 * ib..16 * ib + 16].copy_from_slice(&levels);
    }
    q6_finish(x, &scales, l, out);
}

/// The super-block part of Q6_K after the 16 sub-block searches (`scales`, `l` their levels):
/// 8-bit scales, d, requantized levels and the packing.
pub fn q6_finish(x: &[f32], scales: &[f32; 16], mut l: [u8; QK_K], out: &mut [u8]) {
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for &s in scales {
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = s;
        }
    }
    out[..210].fill(0);
    if max_abs_scale < GROUP_MAX_EPS {
        return;
    }
    let iscale = -128.0 / max_scale;
    let d16 = f32_to_f16(1.0 / iscale);
    out[208..210].copy_from_slice(&d16.to_le_bytes());
    for ib in 0..16 {
        out[192 + ib] = nearest_int(iscale * scales[ib]).min(127) as i8 as u8;
    }
    for j in 0..16 {
        // A sub-block whose 8-bit scale is 0 keeps make_qx_quants' levels, as in ggml.
        let d = f16_to_f32(d16) * f32::from(out[192 + j] as i8);
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-32, 31) + 32) as u8;
        }
    }
    for h in 0..2 {
        let (ql, lh) = (128 * h, 64 * h);
        for i in 0..32 {
            let q = |k: usize| l[ql + 32 * k + i];
            out[lh + i] = (q(0) & 0xF) | ((q(2) & 0xF) << 4);
            out[lh + 32 + i] = (q(1) & 0xF) | ((q(3) & 0xF) << 4);
            out[128 + 32 * h + i] =
                (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
        }
    }
}

/// MXFP4's shared exponent byte as ggml computes it: `(uint8)(floorf(log2f(amax)) - 2 + 127)`
/// for amax > 0, else 0. `log2f` rounds to f32, so an amax just below a power of two gets the
/// exponent above (nextafter(16, 0) → 4); the f64 log2 rounded to f32 reproduces that.
pub fn mxfp4_exponent(amax: f32) -> u8 {
    if amax > 0.0 {
        let lg = (f64::from(amax)).log2() as f32;
        c_int(lg.floor() - 2.0 + 127.0) as u8
    } else {
        0
    }
}

/// `GGML_E8M0_TO_FP32_HALF`: 2^(e - 128), exactly (subnormal for e < 2).
pub fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// ggml's `best_index_mxfp4`: the first code with the strictly smallest |k·d - x| (ties go to
/// the smaller magnitude; -0 is never chosen).
pub fn best_index_mxfp4(x: f32, d: f32) -> u8 {
    let mut best = 0u8;
    let mut best_err = (f32::from(KVALUES_MXFP4[0]) * d - x).abs();
    for i in 1..16 {
        let err = (f32::from(KVALUES_MXFP4[i]) * d - x).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

/// MXFP4 (ggml layout): `u8 e; u8 qs[16]`, element j in the low nibble of byte j, j + 16 in the
/// high nibble.
pub fn quantize_mxfp4(x: &[f32], out: &mut [u8]) {
    let mut amax = 0.0f32;
    for &v in &x[..QK] {
        if amax < v.abs() {
            amax = v.abs();
        }
    }
    let e = mxfp4_exponent(amax);
    let d = e8m0_half(e);
    out[0] = e;
    for j in 0..QK / 2 {
        out[1 + j] = best_index_mxfp4(x[j], d) | (best_index_mxfp4(x[j + QK / 2], d) << 4);
    }
}

/// Q4_0 → f32: (q - 8)·d.
pub fn dequantize_q4_0(b: &[u8], y: &mut [f32]) {
    let d = get_f16(b, 0);
    for j in 0..QK / 2 {
        y[j] = (i32::from(b[2 + j] & 0xF) - 8) as f32 * d;
        y[j + QK / 2] = (i32::from(b[2 + j] >> 4) - 8) as f32 * d;
    }
}

/// Q4_1 → f32: q·d + m.
pub fn dequantize_q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (get_f16(b, 0), get_f16(b, 2));
    for j in 0..QK / 2 {
        y[j] = f32::from(b[4 + j] & 0xF) * d + m;
        y[j + QK / 2] = f32::from(b[4 + j] >> 4) * d + m;
    }
}

fn q5_levels(qh: u32, qs: &[u8], j: usize) -> (u8, u8) {
    let h0 = (((qh >> j) << 4) & 0x10) as u8;
    let h1 = ((qh >> (j + 12)) & 0x10) as u8;
    ((qs[j] & 0xF) | h0, (qs[j] >> 4) | h1)
}

/// Q5_0 → f32: (q - 16)·d.
pub fn dequantize_q5_0(b: &[u8], y: &mut [f32]) {
    let d = get_f16(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..QK / 2 {
        let (q0, q1) = q5_levels(qh, &b[6..22], j);
        y[j] = (i32::from(q0) - 16) as f32 * d;
        y[j + QK / 2] = (i32::from(q1) - 16) as f32 * d;
    }
}

/// Q5_1 → f32: q·d + m.
pub fn dequantize_q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (get_f16(b, 0), get_f16(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..QK / 2 {
        let (q0, q1) = q5_levels(qh, &b[8..24], j);
        y[j] = f32::from(q0) * d + m;
        y[j + QK / 2] = f32::from(q1) * d + m;
    }
}

/// Q8_0 → f32: q·d.
pub fn dequantize_q8_0(b: &[u8], y: &mut [f32]) {
    let d = get_f16(b, 0);
    for j in 0..QK {
        y[j] = f32::from(b[2 + j] as i8) * d;
    }
}

/// Q8_1 → f32: q·d (ggml has no Q8_1 dequantizer; `s` is not needed).
pub fn dequantize_q8_1(b: &[u8], y: &mut [f32]) {
    let d = get_f16(b, 0);
    for j in 0..QK {
        y[j] = f32::from(b[4 + j] as i8) * d;
    }
}

/// Q8_K → f32: q·d with the f32 d.
pub fn dequantize_q8_k(b: &[u8], y: &mut [f32]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for j in 0..QK_K {
        y[j] = f32::from(b[4 + j] as i8) * d;
    }
}

/// Q4_K / Q5_K → f32: (d·sc)·q - dmin·m per sub-block; `qh` is `Some` for Q5_K.
fn dequantize_k4(b: &[u8], qh: Option<&[u8]>, qs: &[u8], y: &mut [f32]) {
    let (d, dmin) = (get_f16(b, 0), get_f16(b, 2));
    for c in 0..4 {
        let (sc1, m1) = get_scale_min_k4(2 * c, &b[4..16]);
        let (sc2, m2) = get_scale_min_k4(2 * c + 1, &b[4..16]);
        let (d1, m1) = (d * f32::from(sc1), dmin * f32::from(m1));
        let (d2, m2) = (d * f32::from(sc2), dmin * f32::from(m2));
        for i in 0..32 {
            let q = qs[32 * c + i];
            let (h1, h2) = match qh {
                Some(h) => (
                    ((h[i] >> (2 * c)) & 1) << 4,
                    ((h[i] >> (2 * c + 1)) & 1) << 4,
                ),
                None => (0, 0),
            };
            y[64 * c + i] = d1 * f32::from((q & 0xF) | h1) - m1;
            y[64 * c + 32 + i] = d2 * f32::from((q >> 4) | h2) - m2;
        }
    }
}

/// Q4_K → f32.
pub fn dequantize_q4_k(b: &[u8], y: &mut [f32]) {
    dequantize_k4(b, None, &b[16..144], y);
}

/// Q5_K → f32.
pub fn dequantize_q5_k(b: &[u8], y: &mut [f32]) {
    dequantize_k4(b, Some(&b[16..48]), &b[48..176], y);
}

/// Q6_K → f32: d·sc·(q - 32).
pub fn dequantize_q6_k(b: &[u8], y: &mut [f32]) {
    let d = get_f16(b, 208);
    for h in 0..2 {
        let (ql, qh, sc) = (&b[64 * h..], &b[128 + 32 * h..], &b[192 + 8 * h..]);
        for i in 0..32 {
            let is = i / 16;
            let q1 = ((ql[i] & 0xF) | ((qh[i] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[i + 32] & 0xF) | (((qh[i] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[i] >> 4) | (((qh[i] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[i + 32] >> 4) | (((qh[i] >> 6) & 3) << 4)) as i32 - 32;
            let s = |k: usize| d * f32::from(sc[is + 2 * k] as i8);
            let o = 128 * h;
            y[o + i] = s(0) * q1 as f32;
            y[o + i + 32] = s(1) * q2 as f32;
            y[o + i + 64] = s(2) * q3 as f32;
            y[o + i + 96] = s(3) * q4 as f32;
        }
    }
}

/// MXFP4 → f32: kvalue·2^(e-128).
pub fn dequantize_mxfp4(b: &[u8], y: &mut [f32]) {
    let d = e8m0_half(b[0]);
    for j in 0..QK / 2 {
        y[j] = f32::from(KVALUES_MXFP4[usize::from(b[1 + j] & 0xF)]) * d;
        y[j + QK / 2] = f32::from(KVALUES_MXFP4[usize::from(b[1 + j] >> 4)]) * d;
    }
}
