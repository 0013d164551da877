/*
 * The GGUF block formats in plain C99, written for nnkern's conformance tests from the facts
 * in specs/block-formats-notes.md (layouts, ggml's operation order, rounding and tie rules).
 * It shares no code with nnkern. ISO C mode does not contract a*b + c into an FMA, and the
 * float-to-integer conversions go through ref_c_int (x86's cvttss2si result, defined for every
 * input), so the bytes are ggml's reference bytes for every finite input.
 *
 * ref_quantize(format, x, out) / ref_dequantize(format, in, y): one block; the f16 scale
 * conversions are the including file's ref_f32_to_f16 / ref_f16_to_f32 (the C++ suite includes
 * this file too, inside its anonymous namespace, after defining them).
 */
#ifndef NNK_BLOCKS_REF_H
#define NNK_BLOCKS_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef __cplusplus
static uint16_t ref_f32_to_f16(float f);
static uint32_t ref_f16_to_f32(uint16_t h);
#endif

static float bref_h2f(const uint8_t *p) {
    uint32_t u = ref_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void bref_f2h(uint8_t *p, float f) {
    uint16_t h = ref_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* (int)f as x86 computes it: truncation, INT32_MIN for NaN and out of range. */
static int32_t ref_c_int(float f) {
    if (!(f >= -2147483648.0f && f < 2147483648.0f)) return INT32_MIN;
    return (int32_t)f;
}

/* ggml's nearest_int: round half to even through the 1.5 * 2^23 trick. */
static int ref_nearest_int(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}

static int bref_clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* The first element with the largest |x| (+0 if all are zero); NaN skipped. */
static float bref_signed_max(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    int i;
    for (i = 0; i < n; i++) {
        if (amax < fabsf(x[i])) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

static void bref_q4_0(const float *x, uint8_t *y) {
    float max = bref_signed_max(x, 32, NULL), d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
    int j;
    bref_f2h(y, d);
    for (j = 0; j < 16; j++) {
        int8_t a = (int8_t)ref_c_int(x[j] * id + 8.5f), b = (int8_t)ref_c_int(x[j + 16] * id + 8.5f);
        uint8_t q0 = (uint8_t)(a < 15 ? a : 15), q1 = (uint8_t)(b < 15 ? b : 15);
        y[2 + j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void bref_minmax(const float *x, float *mn, float *mx) {
    int j;
    *mn = 3.402823466e38f;
    *mx = -3.402823466e38f;
    for (j = 0; j < 32; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

static void bref_q4_1(const float *x, uint8_t *y) {
    float mn, mx, d, id;
    int j;
    bref_minmax(x, &mn, &mx);
    d = (mx - mn) / 15;
    id = d != 0.0f ? 1.0f / d : 0.0f;
    bref_f2h(y, d);
    bref_f2h(y + 2, mn);
    for (j = 0; j < 16; j++) {
        int8_t a = (int8_t)ref_c_int((x[j] - mn) * id + 0.5f), b = (int8_t)ref_c_int((x[j + 16] - mn) * id + 0.5f);
        uint8_t q0 = (uint8_t)(a < 15 ? a : 15), q1 = (uint8_t)(b < 15 ? b : 15);
        y[4 + j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void bref_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t bref_get32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void bref_q5_0(const float *x, uint8_t *y) {
    float max = bref_signed_max(x, 32, NULL), d = max / -16, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint32_t qh = 0;
    int j;
    bref_f2h(y, d);
    for (j = 0; j < 16; j++) {
        int8_t a = (int8_t)ref_c_int(x[j] * id + 16.5f), b = (int8_t)ref_c_int(x[j + 16] * id + 16.5f);
        uint8_t q0 = (uint8_t)(a < 31 ? a : 31), q1 = (uint8_t)(b < 31 ? b : 31);
        y[6 + j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
        qh |= (uint32_t)((q0 >> 4) & 1) << j;
        qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
    }
    bref_put32(y + 2, qh);
}

static void bref_q5_1(const float *x, uint8_t *y) {
    float mn, mx, d, id;
    uint32_t qh = 0;
    int j;
    bref_minmax(x, &mn, &mx);
    d = (mx - mn) / 31;
    id = d != 0.0f ? 1.0f / d : 0.0f;
    bref_f2h(y, d);
    bref_f2h(y + 2, mn);
    for (j = 0; j < 16; j++) {
        uint8_t q0 = (uint8_t)ref_c_int((x[j] - mn) * id + 0.5f), q1 = (uint8_t)ref_c_int((x[j + 16] - mn) * id + 0.5f);
        y[8 + j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
        qh |= (uint32_t)((q0 >> 4) & 1) << j;
        qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
    }
    bref_put32(y + 4, qh);
}

/* Q8_0 / Q8_1: d = amax / 127, roundf (half away from zero); Q8_1: s = f16(sum * d). */
static void bref_q8(const float *x, uint8_t *y, int with_sum) {
    float amax = 0.0f, d, id;
    int j, sum = 0, at = with_sum ? 4 : 2;
    for (j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    d = amax / 127;
    id = d != 0.0f ? 1.0f / d : 0.0f;
    bref_f2h(y, d);
    for (j = 0; j < 32; j++) {
        int8_t q = (int8_t)ref_c_int(roundf(x[j] * id));
        y[at + j] = (uint8_t)q;
        sum += q;
    }
    if (with_sum) bref_f2h(y + 2, (float)sum * d);
}

static void bref_q8_k(const float *x, uint8_t *y) {
    float amax, max = bref_signed_max(x, 256, &amax), iscale, d;
    int j, i;
    if (amax == 0.0f) {
        memset(y, 0, 292);
        return;
    }
    iscale = -127.0f / max;
    for (j = 0; j < 256; j++) {
        int v = ref_nearest_int(iscale * x[j]);
        y[4 + j] = (uint8_t)(int8_t)(v < 127 ? v : 127);
    }
    for (j = 0; j < 16; j++) {
        int s = 0;
        for (i = 0; i < 16; i++) s += (int8_t)y[4 + 16 * j + i];
        y[260 + 2 * j] = (uint8_t)(s & 0xFF);
        y[261 + 2 * j] = (uint8_t)((s >> 8) & 0xFF);
    }
    d = 1.0f / iscale;
    memcpy(y, &d, 4);
}

/* ggml's make_qkx2_quants: grid search of (scale, min) by weighted least squares; sums are
 * sequential in index order. Returns the scale, writes -min and the levels. */
static float bref_qkx2(const float *x, const float *w, int nmax, uint8_t *L, float *the_min,
                       float rmin, float rdelta, int nstep) {
    float mn = x[0], mx = x[0], sum_w = w[0], sum_x = sum_w * x[0], iscale, scale, best = 0.0f;
    uint8_t aux[32];
    int i, is;
    for (i = 1; i < 32; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx == mn) {
        memset(L, 0, 32);
        *the_min = -mn;
        return 0.0f;
    }
    iscale = nmax / (mx - mn);
    scale = 1 / iscale;
    for (i = 0; i < 32; i++) {
        float diff;
        L[i] = (uint8_t)bref_clamp(ref_nearest_int(iscale * (x[i] - mn)), 0, nmax);
        diff = scale * L[i] + mn - x[i];
        best += w[i] * (diff * diff);
    }
    for (is = 0; is <= nstep; is++) {
        float sl = 0, sl2 = 0, sxl = 0, D;
        iscale = (rmin + rdelta * is + nmax) / (mx - mn);
        for (i = 0; i < 32; i++) {
            int l = bref_clamp(ref_nearest_int(iscale * (x[i] - mn)), 0, nmax);
            aux[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        D = sum_w * sl2 - sl * sl;
        if (D > 0) {
            float ts = (sum_w * sxl - sum_x * sl) / D, tm = (sl2 * sum_x - sl * sxl) / D, err = 0;
            if (tm > 0) {
                tm = 0;
                ts = sxl / sl2;
            }
            for (i = 0; i < 32; i++) {
                float diff = ts * aux[i] + tm - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best) {
                memcpy(L, aux, 32);
                best = err;
                scale = ts;
                mn = tm;
            }
        }
    }
    *the_min = -mn;
    return scale;
}

static void bref_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K (nmax 15) / Q5_K (nmax 31): levels into L, header (d, dmin, scales) into y[0..16]. */
static void bref_k4_levels(const float *x, uint8_t *y, uint8_t *L, int nmax, float rmin, int nstep) {
    float scales[8], mins[8], max_scale = 0, max_min = 0, inv_s, inv_m, d0, dm0;
    int j, l;
    for (j = 0; j < 8; j++) {
        float w[32], sx2 = 0, av;
        for (l = 0; l < 32; l++) sx2 += x[32 * j + l] * x[32 * j + l];
        av = sqrtf(sx2 / 32);
        for (l = 0; l < 32; l++) w[l] = av + fabsf(x[32 * j + l]);
        scales[j] = bref_qkx2(x + 32 * j, w, nmax, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    inv_s = max_scale > 0 ? 63.f / max_scale : 0.f;
    inv_m = max_min > 0 ? 63.f / max_min : 0.f;
    memset(y + 4, 0, 12);
    for (j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)ref_nearest_int(inv_s * scales[j]), lm = (uint8_t)ref_nearest_int(inv_m * mins[j]);
        uint8_t *s = y + 4;
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    bref_f2h(y, max_scale / 63.f);
    bref_f2h(y + 2, max_min / 63.f);
    d0 = bref_h2f(y);
    dm0 = bref_h2f(y + 2);
    for (j = 0; j < 8; j++) {
        uint8_t sc, m;
        float d, dm;
        bref_scale_min_k4(j, y + 4, &sc, &m);
        d = d0 * sc;
        if (d == 0.0f) continue;
        dm = dm0 * m;
        for (l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)bref_clamp(ref_nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

static void bref_q4_k(const float *x, uint8_t *y) {
    uint8_t L[256];
    int c, i;
    bref_k4_levels(x, y, L, 15, -1.0f, 20);
    for (c = 0; c < 4; c++)
        for (i = 0; i < 32; i++) y[16 + 32 * c + i] = (uint8_t)(L[64 * c + i] | (L[64 * c + 32 + i] << 4));
}

static void bref_q5_k(const float *x, uint8_t *y) {
    uint8_t L[256];
    int c, i;
    bref_k4_levels(x, y, L, 31, -0.5f, 15);
    memset(y + 16, 0, 32);
    for (c = 0; c < 4; c++)
        for (i = 0; i < 32; i++) {
            int l1 = L[64 * c + i], l2 = L[64 * c + 32 + i];
            if (l1 > 15) { l1 -= 16; y[16 + i] |= (uint8_t)(1 << (2 * c)); }
            if (l2 > 15) { l2 -= 16; y[16 + i] |= (uint8_t)(2 << (2 * c)); }
            y[48 + 32 * c + i] = (uint8_t)(l1 | (l2 << 4));
        }
}

/* ggml's make_qx_quants(16, nmax, x, L, rmse_type 1, NULL): weights x^2, 18 trial scales. */
static float bref_qx(const float *x, int nmax, int8_t *L) {
    float amax, max = bref_signed_max(x, 16, &amax), iscale, slx = 0, sl2 = 0, scale, best;
    int i, is;
    if (amax < 1e-15f) {
        memset(L, 0, 16);
        return 0.0f;
    }
    iscale = -nmax / max;
    for (i = 0; i < 16; i++) {
        int l = bref_clamp(ref_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        L[i] = (int8_t)(l + nmax);
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    scale = sl2 != 0.0f ? slx / sl2 : 0.0f;
    best = scale * slx;
    for (is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        slx = sl2 = 0;
        for (i = 0; i < 16; i++) {
            int l = bref_clamp(ref_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            slx += w * x[i] * l;
            sl2 += w * l * l;
        }
        if (sl2 > 0 && slx * slx > best * sl2) {
            for (i = 0; i < 16; i++) L[i] = (int8_t)(nmax + bref_clamp(ref_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = slx / sl2;
            best = scale * slx;
        }
    }
    return scale;
}

static void bref_q6_k(const float *x, uint8_t *y) {
    int8_t L[256];
    float scales[16], max_scale = 0, max_abs = 0, iscale, d0;
    int ib, j, i, h;
    for (ib = 0; ib < 16; ib++) {
        scales[ib] = bref_qx(x + 16 * ib, 32, L + 16 * ib);
        if (fabsf(scales[ib]) > max_abs) {
            max_abs = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    memset(y, 0, 210);
    if (max_abs < 1e-15f) return;
    iscale = -128.0f / max_scale;
    bref_f2h(y + 208, 1 / iscale);
    for (ib = 0; ib < 16; ib++) {
        int v = ref_nearest_int(iscale * scales[ib]);
        y[192 + ib] = (uint8_t)(int8_t)(v < 127 ? v : 127);
    }
    d0 = bref_h2f(y + 208);
    for (j = 0; j < 16; j++) {
        float d = d0 * (int8_t)y[192 + j];
        if (d == 0.0f) continue;
        for (i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(bref_clamp(ref_nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    for (h = 0; h < 2; h++)
        for (i = 0; i < 32; i++) {
            const int8_t *l = L + 128 * h;
            y[64 * h + i] = (uint8_t)((l[i] & 0xF) | ((l[i + 64] & 0xF) << 4));
            y[64 * h + 32 + i] = (uint8_t)((l[i + 32] & 0xF) | ((l[i + 96] & 0xF) << 4));
            y[128 + 32 * h + i] = (uint8_t)((l[i] >> 4) | ((l[i + 32] >> 4) << 2) | ((l[i + 64] >> 4) << 4) | ((l[i + 96] >> 4) << 6));
        }
}

static const int8_t bref_kvalues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* 2^(e - 128), exactly. */
static float bref_e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void bref_mxfp4(const float *x, uint8_t *y) {
    float amax = 0.0f, d;
    uint8_t e;
    int j, i;
    for (j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    /* log2f rounds to float: an amax just below a power of two gets the exponent above. */
    e = amax > 0.0f ? (uint8_t)ref_c_int(floorf((float)log2((double)amax)) - 2 + 127) : 0;
    d = bref_e8m0_half(e);
    y[0] = e;
    for (j = 0; j < 32; j++) {
        int best = 0;
        float best_err = fabsf(bref_kvalues[0] * d - x[j]);
        for (i = 1; i < 16; i++) {
            float err = fabsf(bref_kvalues[i] * d - x[j]);
            if (err < best_err) {
                best = i;
                best_err = err;
            }
        }
        if (j < 16) y[1 + j] = (uint8_t)best;
        else y[1 + j - 16] |= (uint8_t)(best << 4);
    }
}

static void ref_quantize(uint32_t format, const float *x, uint8_t *y) {
    switch (format) {
    case NNK_BLOCK_Q4_0: bref_q4_0(x, y); break;
    case NNK_BLOCK_Q4_1: bref_q4_1(x, y); break;
    case NNK_BLOCK_Q5_0: bref_q5_0(x, y); break;
    case NNK_BLOCK_Q5_1: bref_q5_1(x, y); break;
    case NNK_BLOCK_Q8_0: bref_q8(x, y, 0); break;
    case NNK_BLOCK_Q8_1: bref_q8(x, y, 1); break;
    case NNK_BLOCK_Q4_K: bref_q4_k(x, y); break;
    case NNK_BLOCK_Q5_K: bref_q5_k(x, y); break;
    case NNK_BLOCK_Q6_K: bref_q6_k(x, y); break;
    case NNK_BLOCK_Q8_K: bref_q8_k(x, y); break;
    default: bref_mxfp4(x, y); break;
    }
}

/* Dequantization: every product is exact in float. */
static void ref_dequantize(uint32_t format, const uint8_t *b, float *y) {
    int j, c, h;
    float d, m;
    switch (format) {
    case NNK_BLOCK_Q4_0:
        d = bref_h2f(b);
        for (j = 0; j < 16; j++) { y[j] = ((b[2 + j] & 15) - 8) * d; y[j + 16] = ((b[2 + j] >> 4) - 8) * d; }
        break;
    case NNK_BLOCK_Q4_1:
        d = bref_h2f(b); m = bref_h2f(b + 2);
        for (j = 0; j < 16; j++) { y[j] = (b[4 + j] & 15) * d + m; y[j + 16] = (b[4 + j] >> 4) * d + m; }
        break;
    case NNK_BLOCK_Q5_0: case NNK_BLOCK_Q5_1: {
        int affine = format == NNK_BLOCK_Q5_1, o = affine ? 4 : 2;
        uint32_t qh = bref_get32(b + o);
        d = bref_h2f(b); m = affine ? bref_h2f(b + 2) : 0.0f;
        for (j = 0; j < 16; j++) {
            int q0 = (b[o + 4 + j] & 15) | (int)(((qh >> j) & 1) << 4);
            int q1 = (b[o + 4 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = affine ? q0 * d + m : (q0 - 16) * d;
            y[j + 16] = affine ? q1 * d + m : (q1 - 16) * d;
        }
        break;
    }
    case NNK_BLOCK_Q8_0: case NNK_BLOCK_Q8_1: {
        int o = format == NNK_BLOCK_Q8_1 ? 4 : 2;
        d = bref_h2f(b);
        for (j = 0; j < 32; j++) y[j] = (int8_t)b[o + j] * d;
        break;
    }
    case NNK_BLOCK_Q8_K:
        memcpy(&d, b, 4);
        for (j = 0; j < 256; j++) y[j] = (int8_t)b[4 + j] * d;
        break;
    case NNK_BLOCK_Q4_K: case NNK_BLOCK_Q5_K: {
        int five = format == NNK_BLOCK_Q5_K;
        const uint8_t *qh = b + 16, *qs = b + (five ? 48 : 16);
        d = bref_h2f(b); m = bref_h2f(b + 2);
        for (c = 0; c < 4; c++) {
            uint8_t s1, m1, s2, m2;
            bref_scale_min_k4(2 * c, b + 4, &s1, &m1);
            bref_scale_min_k4(2 * c + 1, b + 4, &s2, &m2);
            for (j = 0; j < 32; j++) {
                int l1 = qs[32 * c + j] & 15, l2 = qs[32 * c + j] >> 4;
                if (five) { l1 |= ((qh[j] >> (2 * c)) & 1) << 4; l2 |= ((qh[j] >> (2 * c + 1)) & 1) << 4; }
                y[64 * c + j] = d * s1 * l1 - m * m1;
                y[64 * c + 32 + j] = d * s2 * l2 - m * m2;
            }
        }
        break;
    }
    case NNK_BLOCK_Q6_K:
        d = bref_h2f(b + 208);
        for (h = 0; h < 2; h++)
            for (j = 0; j < 32; j++) {
                const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
                const int8_t *sc = (const int8_t *)(b + 192 + 8 * h);
                int is = j / 16;
                int q1 = ((ql[j] & 15) | ((qh[j] & 3) << 4)) - 32, q2 = ((ql[j + 32] & 15) | (((qh[j] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[j] >> 4) | (((qh[j] >> 4) & 3) << 4)) - 32, q4 = ((ql[j + 32] >> 4) | (((qh[j] >> 6) & 3) << 4)) - 32;
                y[128 * h + j] = d * sc[is] * q1;
                y[128 * h + j + 32] = d * sc[is + 2] * q2;
                y[128 * h + j + 64] = d * sc[is + 4] * q3;
                y[128 * h + j + 96] = d * sc[is + 6] * q4;
            }
        break;
    default:
        d = bref_e8m0_half(b[0]);
        for (j = 0; j < 16; j++) { y[j] = bref_kvalues[b[1 + j] & 15] * d; y[j + 16] = bref_kvalues[b[1 + j] >> 4] * d; }
        break;
    }
}

#endif
