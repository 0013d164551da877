/*
 * The split-scale blockwise schemes in plain C99, written for nnkern's conformance tests from
 * specs/block-formats.md and block-formats-notes.md, sharing no code with nnkern and computing
 * differently where it can: small-float codes by a nearest search over every code's value in
 * double (ties to the even code), MX exponents with frexpf, bitsandbytes codes by counting
 * midpoints, FP4's order by a stable sort of its values.
 *
 * bwref_quantize / bwref_dequantize take the same arguments as the C API (elements as f32;
 * f16/bf16 sources are widened by the caller). Non-finite inputs follow nnkern's documented
 * rules (MX blocks with NaN/inf get scale 0xFF and zero codes; ONNX NaN gives the zero point;
 * bitsandbytes NaN the last code).
 */
#ifndef NNK_BLOCKWISE_REF_H
#define NNK_BLOCKWISE_REF_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int e, m, bias;
    double max;
    int e4m3_nan; /* S.1111.111 is NaN */
    int e5m2_inf; /* exponent all ones is Inf/NaN */
} bwref_fmt;

static const bwref_fmt BW_E4M3 = {4, 3, 7, 448.0, 1, 0};
static const bwref_fmt BW_E5M2 = {5, 2, 15, 57344.0, 0, 1};
static const bwref_fmt BW_E2M3 = {2, 3, 1, 7.5, 0, 0};
static const bwref_fmt BW_E3M2 = {3, 2, 3, 28.0, 0, 0};
static const bwref_fmt BW_E2M1 = {2, 1, 1, 6.0, 0, 0};

static double bwref_fp_value(bwref_fmt f, uint32_t c) {
    uint32_t mag = c & ((1u << (f.e + f.m)) - 1), ex = mag >> f.m, man = mag & ((1u << f.m) - 1);
    double v;
    if (f.e4m3_nan && mag == 0x7F) return NAN;
    if (f.e5m2_inf && ex == 31) v = man ? NAN : INFINITY;
    else if (ex == 0) v = ldexp((double)man, 1 - f.bias - f.m);
    else v = ldexp((double)((1u << f.m) + man), (int)ex - f.bias - f.m);
    return (c >> (f.e + f.m)) & 1 ? -v : v;
}

/* Nearest finite magnitude code to |v| (saturating; NaN saturates), ties to the even code. */
static uint32_t bwref_fp_encode(bwref_fmt f, float v, int neg) {
    double a = fabs((double)v), best_d = INFINITY;
    uint32_t c, best = 0, top = 1u << (f.e + f.m);
    if (!(a < f.max)) a = f.max;
    for (c = 0; c < top; c++) {
        double val = bwref_fp_value(f, c), d;
        if (!isfinite(val)) continue;
        d = fabs(val - a);
        if (d < best_d || (d == best_d && (c & 1) == 0)) { best_d = d; best = c; }
    }
    return best | (neg ? top : 0);
}

static float bwref_rint(float v) { return nearbyintf(v); } /* default mode: nearest even */

/* bitsandbytes code books. */
static float bw_nf4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                           -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                           0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                           0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                           0.7229568362236023f, 1.0f};
static float bw_fp4[16];
static float bw_dyn8[256];
static int bw_tables_ready = 0;

typedef struct {
    const float *values;
    int n;
    int order[256];
    float mids[255];
} bwref_book;
static bwref_book bw_books[3];

static void bwref_book_init(bwref_book *b, const float *values, int n) {
    int i, j;
    b->values = values;
    b->n = n;
    for (i = 0; i < n; i++) b->order[i] = i;
    for (i = 1; i < n; i++) /* stable insertion sort by value */
        for (j = i; j > 0 && values[b->order[j - 1]] > values[b->order[j]]; j--) {
            int t = b->order[j];
            b->order[j] = b->order[j - 1];
            b->order[j - 1] = t;
        }
    for (i = 0; i + 1 < n; i++) b->mids[i] = (values[b->order[i]] + values[b->order[i + 1]]) / 2.0f;
}

/* Reads bitsandbytes' dynamic map dumped by tests/vectors/gen_blockwise.py; 0 on failure. */
static int bwref_init(const char *dyn8_path) {
    static const float fp4_mag[8] = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f};
    FILE *fp;
    int i;
    for (i = 0; i < 8; i++) {
        bw_fp4[i] = fp4_mag[i] / 12.0f;
        bw_fp4[i + 8] = i == 0 ? 0.0f : -fp4_mag[i] / 12.0f;
    }
    fp = fopen(dyn8_path, "rb");
    if (!fp) return 0;
    if (fread(bw_dyn8, 4, 256, fp) != 256) { fclose(fp); return 0; }
    fclose(fp);
    bwref_book_init(&bw_books[0], bw_dyn8, 256);
    bwref_book_init(&bw_books[1], bw_nf4, 16);
    bwref_book_init(&bw_books[2], bw_fp4, 16);
    bw_tables_ready = 1;
    return 1;
}

static uint32_t bwref_book_encode(const bwref_book *b, float v) {
    int pos = 0, i;
    if (isnan(v)) pos = b->n - 1;
    else for (i = 0; i + 1 < b->n; i++) pos += b->mids[i] < v;
    return (uint32_t)b->order[pos];
}

static int bwref_bits(uint32_t scheme) {
    switch (scheme) {
    case 3: case 4: case 20: case 24: case 33: case 34: return 4;
    case 18: case 19: return 6;
    default: return 8;
    }
}

static void bwref_put(uint8_t *q, size_t i, uint32_t code, int bits, int high_first) {
    if (bits == 8) q[i] = (uint8_t)code;
    else if (bits == 4) {
        int high = (int)(i & 1) != high_first;
        uint8_t c = (uint8_t)(code & 15);
        if (high) q[i / 2] = (uint8_t)((q[i / 2] & 0x0F) | (c << 4));
        else q[i / 2] = (uint8_t)((q[i / 2] & 0xF0) | c);
    } else {
        size_t bit = 6 * i, k;
        for (k = 0; k < 6; k++) {
            size_t at = bit + k;
            q[at / 8] = (uint8_t)((q[at / 8] & ~(1u << (at % 8))) | (((code >> k) & 1u) << (at % 8)));
        }
    }
}

static uint32_t bwref_get(const uint8_t *q, size_t i, int bits, int high_first) {
    if (bits == 8) return q[i];
    if (bits == 4) return ((int)(i & 1) != high_first) ? (uint32_t)(q[i / 2] >> 4) : (uint32_t)(q[i / 2] & 15);
    {
        size_t bit = 6 * i, k;
        uint32_t c = 0;
        for (k = 0; k < 6; k++) c |= (uint32_t)((q[(bit + k) / 8] >> ((bit + k) % 8)) & 1) << k;
        return c;
    }
}

static float bwref_f32(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }
static void bwref_set_f32(uint8_t *p, float f) { memcpy(p, &f, 4); }
static int32_t bwref_sext(uint32_t c, int bits) { return (int32_t)(c ^ (1u << (bits - 1))) - (1 << (bits - 1)); }

static const bwref_book *bwref_book_of(uint32_t scheme) { return &bw_books[scheme - 32]; }
static bwref_fmt bwref_mx_fmt(uint32_t scheme) {
    switch (scheme) {
    case 16: return BW_E4M3;
    case 17: return BW_E5M2;
    case 18: return BW_E2M3;
    case 19: return BW_E3M2;
    default: return BW_E2M1;
    }
}
static int bwref_emax(uint32_t scheme) {
    static const int e[] = {8, 15, 2, 4, 2, 0};
    return e[scheme - 16];
}

/* q, s, z zero-initialised by the caller (the packing ORs into bytes). */
static void bwref_quantize(uint32_t scheme, size_t bs, int given, float ts, size_t n, const float *x, uint8_t *q,
                           uint8_t *s, uint8_t *z) {
    int bits = bwref_bits(scheme), high = scheme == 33 || scheme == 34;
    size_t nb = (n + bs - 1) / bs, b, i;
    for (b = 0; b < nb; b++) {
        size_t len = n - b * bs < bs ? n - b * bs : bs;
        const float *xb = x + b * bs;
        if (scheme <= 4) {
            int qmin = scheme == 1 ? -128 : scheme == 3 ? -8 : 0;
            int qmax = scheme == 1 ? 127 : scheme == 2 ? 255 : scheme == 3 ? 7 : 15;
            float sc, zp = 0.0f;
            if (given) {
                sc = bwref_f32(s + 4 * b);
                if (z) zp = (float)(qmin < 0 ? bwref_sext(bwref_get(z, b, bits, 0), bits) : (int32_t)bwref_get(z, b, bits, 0));
            } else {
                float amax = 0.0f, lo = 0.0f, hi = 0.0f;
                for (i = 0; i < len; i++) {
                    if (fabsf(xb[i]) > amax) amax = fabsf(xb[i]);
                    if (xb[i] < lo) lo = xb[i];
                    if (xb[i] > hi) hi = xb[i];
                }
                if (qmin < 0) sc = amax / (float)qmax;
                else sc = (hi - lo) / (float)qmax;
                if (sc == 0.0f) sc = 1.0f;
                if (qmin == 0) {
                    float t = -lo / sc;
                    if (isnan(t)) t = 0.0f;
                    zp = bwref_rint(t < 0.0f ? 0.0f : t > (float)qmax ? (float)qmax : t);
                }
                bwref_set_f32(s + 4 * b, sc);
                if (z) bwref_put(z, b, (uint32_t)(int32_t)zp, bits, 0);
            }
            for (i = 0; i < len; i++) {
                float v = xb[i] / sc, lo = (float)qmin - zp, hi = (float)qmax - zp;
                if (isnan(v)) v = 0.0f;
                v = v < lo ? lo : v > hi ? hi : v;
                bwref_put(q, b * bs + i, (uint32_t)(int32_t)(bwref_rint(v) + zp), bits, 0);
            }
        } else if (scheme <= 21) {
            int byte, nonfinite = 0, ex;
            float amax = 0.0f;
            for (i = 0; i < len; i++) {
                if (!isfinite(xb[i])) nonfinite = 1;
                else if (fabsf(xb[i]) > amax) amax = fabsf(xb[i]);
            }
            if (given) byte = s[b];
            else {
                if (nonfinite) byte = 0xFF;
                else {
                    int fl = amax == 0.0f ? -126 : (frexpf(amax, &ex), ex - 1);
                    int sh = fl - bwref_emax(scheme);
                    byte = (sh < -127 ? -127 : sh) + 127;
                }
                s[b] = (uint8_t)byte;
            }
            for (i = 0; i < len; i++) {
                uint32_t code = 0;
                if (byte != 0xFF) {
                    double vd = ldexp((double)xb[i], 127 - byte); /* exact unless below f32's range */
                    float v = (float)vd;
                    if (scheme == 21) {
                        float t = v * 64.0f;
                        if (isnan(t)) t = 0.0f;
                        t = t < -127.0f ? -127.0f : t > 127.0f ? 127.0f : t;
                        code = (uint32_t)(int32_t)bwref_rint(t) & 0xFF;
                    } else {
                        code = bwref_fp_encode(bwref_mx_fmt(scheme), v, signbit(v) != 0);
                    }
                }
                bwref_put(q, b * bs + i, code, bits, 0);
            }
        } else if (scheme == 24) {
            int byte;
            float d;
            if (given) byte = s[b];
            else {
                float amax = 0.0f, v;
                for (i = 0; i < len; i++)
                    if (fabsf(xb[i]) > amax) amax = fabsf(xb[i]);
                v = amax / (6.0f * ts);
                if (v == 0.0f) v = 1.0f;
                else if (!(v > 0.001953125f)) v = 0.001953125f;
                byte = (int)bwref_fp_encode(BW_E4M3, v, 0);
                s[b] = (uint8_t)byte;
            }
            d = (float)bwref_fp_value(BW_E4M3, (uint32_t)byte) * ts;
            for (i = 0; i < len; i++) {
                float v = xb[i] / d;
                bwref_put(q, b * bs + i, bwref_fp_encode(BW_E2M1, v, v < 0.0f), bits, 0);
            }
        } else {
            const bwref_book *bk = bwref_book_of(scheme);
            float absmax = 0.0f, am, inv;
            if (given) absmax = bwref_f32(s + 4 * b);
            else {
                for (i = 0; i < len; i++) {
                    float a = fabsf(xb[i]);
                    if (isnan(a) || a > absmax) absmax = isnan(absmax) ? absmax : a;
                }
            }
            am = absmax < 1e-38f ? 1e-38f : absmax;
            if (!given) bwref_set_f32(s + 4 * b, len == bs ? absmax : am);
            inv = 1.0f / am;
            for (i = 0; i < len; i++) {
                float v = len == bs ? xb[i] * inv : xb[i] / am;
                bwref_put(q, b * bs + i, bwref_book_encode(bk, v), bits, high);
            }
        }
    }
    if (bits == 4 && (n & 1)) /* the unused nibble: bitsandbytes encodes a padding 0 */
        bwref_put(q, n, (scheme == 33 || scheme == 34) ? bwref_book_encode(bwref_book_of(scheme), 0.0f) : 0, bits, high);
}

static void bwref_dequantize(uint32_t scheme, size_t bs, float ts, size_t n, const uint8_t *q, const uint8_t *s,
                             const uint8_t *z, float *y) {
    int bits = bwref_bits(scheme), high = scheme == 33 || scheme == 34;
    size_t i;
    for (i = 0; i < n; i++) {
        size_t b = i / bs;
        uint32_t c = bwref_get(q, i, bits, high);
        if (scheme <= 4) {
            int sgn = scheme == 1 || scheme == 3;
            float qv = (float)(sgn ? bwref_sext(c, bits) : (int32_t)c), zp = 0.0f;
            if (z) zp = (float)(sgn ? bwref_sext(bwref_get(z, b, bits, 0), bits) : (int32_t)bwref_get(z, b, bits, 0));
            y[i] = (qv - zp) * bwref_f32(s + 4 * b);
        } else if (scheme <= 21) {
            double v = scheme == 21 ? bwref_sext(c, 8) / 64.0 : bwref_fp_value(bwref_mx_fmt(scheme), c);
            y[i] = s[b] == 0xFF ? NAN : (float)ldexp(v, s[b] - 127); /* exact in f32 */
        } else if (scheme == 24) {
            double e = bwref_fp_value(BW_E2M1, c);
            if (e == 0.0) e = 0.0; /* modelopt decodes code 8 as +0 */
            y[i] = (float)e * ((float)bwref_fp_value(BW_E4M3, s[b]) * ts);
        } else {
            y[i] = bwref_book_of(scheme)->values[c] * bwref_f32(s + 4 * b);
        }
    }
}

#endif
