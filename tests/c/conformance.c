/*
 * nnkern C conformance suite: compiled as C99 against include/nnkern.h, linked against
 * libnnkern.a or libnnkern.so, run by `cargo test` (tests/conformance.rs) natively and under
 * qemu-x86_64 with older CPU models.
 *
 * The reference conversions below are this file's own, written from IEEE 754 (they share no
 * code with nnkern). Every check runs at every ISA level the CPU has, from the level in force
 * down to scalar, through nnk_set_isa_limit.
 *
 * Usage: conformance [--expect-isa scalar|avx2|avx512]
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nnkern.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            if (failures < 20) {                                                               \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
                fprintf(stderr, __VA_ARGS__);                                                  \
                fprintf(stderr, "\n");                                                         \
            }                                                                                  \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

#define CHECK_STATUS(call, want) \
    do { nnk_status s_ = (call); CHECK(s_ == (want), "%s -> %d (%s), want %d", #call, s_, nnk_status_string(s_), (int)(want)); } while (0)

/* ---------------------------------------------------------------- reference (IEEE 754) */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Round `v` (an integer) right by `shift` bits, to nearest, ties to even. */
static uint32_t shift_rne(uint32_t v, unsigned shift) {
    uint32_t q, rest, half;
    if (shift == 0) return v;
    if (shift > 31) return 0;
    q = v >> shift;
    rest = v & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
    return q + ((rest > half || (rest == half && (q & 1u))) ? 1u : 0u);
}

static uint16_t ref_f32_to_f16(float f) {
    uint32_t x = f32_bits(f), sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xFFu, m = x & 0x7FFFFFu;
    int exp = (int)e - 127 + 15;
    if (e == 0xFF) return (uint16_t)(sign | 0x7C00u | (m ? 0x200u | (m >> 13) : 0u));
    if (e == 0) return (uint16_t)sign; /* f32 subnormals are far below f16's range */
    if (exp >= 31) return (uint16_t)(sign | 0x7C00u);
    if (exp <= 0) {
        /* f16 subnormal: value / 2^-24 = (m | 2^23) * 2^(e - 150 + 24). */
        unsigned shift = (unsigned)(14 - exp);
        return (uint16_t)(sign | shift_rne(m | 0x800000u, shift));
    }
    /* The carry of rounding may move into the exponent, up to infinity: both are right. */
    return (uint16_t)(sign | (((uint32_t)exp << 10) + shift_rne(m, 13)));
}

static uint16_t ref_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)(((x >> 16) & 0x8000u) | shift_rne(x & 0x7FFFFFFFu, 16));
}

static uint32_t ref_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    float mag;
    if (e == 31) return sign | 0x7F800000u | (m ? 0x400000u | (m << 13) : 0u);
    mag = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(1024u + m), (int)e - 25);
    return sign | f32_bits(mag);
}

static uint32_t ref_bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    if ((h & 0x7FFFu) > 0x7F80u) x |= 0x400000u;
    return x;
}

#include "blocks_ref.h"
#include "blockwise_ref.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float any_f32(void) {
    static const uint32_t special[] = {0x7FC00001u, 0x7F800001u, 0xFF800000u, 0x7F800000u, 0x80000000u,
                                       0x00000001u, 0x477FF000u, 0x33000000u, 0x387FE000u, 0x7F7FFFFFu};
    uint32_t r = rng();
    return (r % 8 == 0) ? bits_f32(special[(r >> 3) % 10]) : bits_f32(rng());
}

/* A region of `bytes` (rounded up to pages) between two PROT_NONE pages. */
typedef struct { unsigned char *map, *first, *end; size_t len; } guarded;

static guarded guard_alloc(size_t bytes) {
    guarded g;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (bytes + page - 1) / page * page;
    g.len = body + 2 * page;
    g.map = mmap(NULL, g.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g.map == MAP_FAILED) { perror("mmap"); exit(2); }
    mprotect(g.map, page, PROT_NONE);
    mprotect(g.map + page + body, page, PROT_NONE);
    g.first = g.map + page;
    g.end = g.map + page + body;
    return g;
}

static void guard_free(guarded *g) { munmap(g->map, g->len); }

typedef enum { F32_F16, F32_BF16, F16_F32, BF16_F32 } conv;
static const char *conv_name[] = {"f32_f16", "f32_bf16", "f16_f32", "bf16_f32"};

static nnk_status convert(conv c, size_t n, const void *x, void *y, nnk_threadpool *tp) {
    switch (c) {
    case F32_F16: return nnk_convert_f32_f16(n, (const float *)x, (uint16_t *)y, tp);
    case F32_BF16: return nnk_convert_f32_bf16(n, (const float *)x, (uint16_t *)y, tp);
    case F16_F32: return nnk_convert_f16_f32(n, (const uint16_t *)x, (float *)y, tp);
    default: return nnk_convert_bf16_f32(n, (const uint16_t *)x, (float *)y, tp);
    }
}

static int narrowing(conv c) { return c == F32_F16 || c == F32_BF16; }

/* Expected output bits of element i of input buffer x. */
static uint32_t expect(conv c, const void *x, size_t i) {
    switch (c) {
    case F32_F16: return ref_f32_to_f16(((const float *)x)[i]);
    case F32_BF16: return ref_f32_to_bf16(((const float *)x)[i]);
    case F16_F32: return ref_f16_to_f32(((const uint16_t *)x)[i]);
    default: return ref_bf16_to_f32(((const uint16_t *)x)[i]);
    }
}

static uint32_t got_bits(conv c, const void *y, size_t i) {
    if (narrowing(c)) return ((const uint16_t *)y)[i];
    return f32_bits(((const float *)y)[i]);
}

static void fill_input(conv c, void *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (narrowing(c)) ((float *)x)[i] = any_f32();
        else ((uint16_t *)x)[i] = (uint16_t)rng();
    }
}

/* Returns the index of the first mismatch, or n. */
static size_t compare(conv c, const void *x, const void *y, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (got_bits(c, y, i) != expect(c, x, i)) return i;
    return n;
}

/* ---------------------------------------------------------------- checks per ISA level */

static void check_all_16_bit_patterns(void) {
    static uint16_t x[65536];
    static float y[65536];
    size_t i;
    conv c;
    for (i = 0; i < 65536; i++) x[i] = (uint16_t)i;
    for (c = F16_F32; c <= BF16_F32; c++) {
        size_t bad;
        CHECK_STATUS(convert(c, 65536, x, y, NULL), NNK_STATUS_SUCCESS);
        bad = compare(c, x, y, 65536);
        CHECK(bad == 65536, "%s bits %04zx: got %08x want %08x", conv_name[c], bad, got_bits(c, y, bad),
              expect(c, x, bad));
    }
}

static void check_random_narrowing(size_t n, nnk_threadpool *tp) {
    float *x = malloc(n * sizeof(float));
    uint16_t *y = malloc(n * sizeof(uint16_t));
    conv c;
    fill_input(F32_F16, x, n);
    for (c = F32_F16; c <= F32_BF16; c++) {
        size_t bad;
        CHECK_STATUS(convert(c, n, x, y, tp), NNK_STATUS_SUCCESS);
        bad = compare(c, x, y, n);
        CHECK(bad == n, "%s n=%zu: input %08x got %04x want %04x", conv_name[c], n, f32_bits(x[bad]),
              (unsigned)y[bad], expect(c, x, bad));
    }
    free(x);
    free(y);
}

static void check_random_widening(size_t n, nnk_threadpool *tp) {
    uint16_t *x = malloc(n * sizeof(uint16_t));
    float *y = malloc(n * sizeof(float));
    conv c;
    fill_input(F16_F32, x, n);
    for (c = F16_F32; c <= BF16_F32; c++) {
        size_t bad;
        CHECK_STATUS(convert(c, n, x, y, tp), NNK_STATUS_SUCCESS);
        bad = compare(c, x, y, n);
        CHECK(bad == n, "%s n=%zu at %zu", conv_name[c], n, bad);
    }
    free(x);
    free(y);
}

/* Every length 0..300; buffers end at a guard page, and start at every offset 0..60 bytes
 * after one. Any over-read or over-write kills the process. */
static void check_tails_and_offsets(void) {
    enum { MAX = 300 };
    guarded gi = guard_alloc(MAX * 4 + 64), go = guard_alloc(MAX * 4 + 64);
    static unsigned char src[MAX * 4];
    conv c;
    size_t n, off;
    for (c = F32_F16; c <= BF16_F32; c++) {
        size_t isz = narrowing(c) ? 4 : 2, osz = narrowing(c) ? 2 : 4;
        for (n = 0; n <= MAX; n++) {
            fill_input(c, src, n);
            {
                unsigned char *x = gi.end - n * isz, *y = go.end - n * osz;
                memcpy(x, src, n * isz);
                CHECK_STATUS(convert(c, n, x, y, NULL), NNK_STATUS_SUCCESS);
                CHECK(compare(c, x, y, n) == n, "%s n=%zu at guard end", conv_name[c], n);
            }
            for (off = 0; off < 64; off += 4) {
                unsigned char *x = gi.first + off, *y = go.first + off;
                memcpy(x, src, n * isz);
                CHECK_STATUS(convert(c, n, x, y, NULL), NNK_STATUS_SUCCESS);
                CHECK(compare(c, x, y, n) == n, "%s n=%zu offset %zu", conv_name[c], n, off);
            }
        }
    }
    guard_free(&gi);
    guard_free(&go);
}

/* Strided operator: rows x channels, strides with padding that must stay untouched. */
static void check_operator(nnk_threadpool *tp) {
    enum { ROWS = 37, CH = 129, IS = 131, OS = 133 };
    static float x[ROWS * IS];
    static uint16_t y[ROWS * OS];
    static float back[ROWS * OS];
    nnk_operator *op = NULL, *op2 = NULL;
    size_t r, k;
    const char *name;
    fill_input(F32_F16, x, ROWS * IS);
    memset(y, 0xAB, sizeof(y));
    CHECK_STATUS(nnk_create_convert_nc_f32_f16(0, &op), NNK_STATUS_SUCCESS);
    name = nnk_operator_kernel_name(op);
    CHECK(name != NULL && strncmp(name, "f32_f16_vcvt__", 14) == 0, "kernel name %s", name ? name : "(null)");
    CHECK_STATUS(nnk_setup_convert_nc_f32_f16(op, x, y), NNK_STATUS_INVALID_STATE);
    CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_INVALID_STATE);
    CHECK_STATUS(nnk_reshape_convert_nc_f32_f16(op, 0, IS, OS, ROWS), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_convert_nc_f32_f16(op, CH, CH - 1, OS, ROWS), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_convert_nc_f32_f16(op, CH, IS, CH - 1, ROWS), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_convert_nc_f32_f16(op, 1, SIZE_MAX / 2, 1, 3), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_convert_nc_f32_bf16(op, CH, IS, OS, ROWS), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_convert_nc_f32_f16(op, CH, IS, OS, ROWS), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_INVALID_STATE);
    CHECK_STATUS(nnk_setup_convert_nc_f32_f16(op, x, (uint16_t *)(x + 3)), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_setup_convert_nc_f32_f16(op, x, y), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
    for (r = 0; r < ROWS; r++)
        for (k = 0; k < OS; k++) {
            uint32_t want = k < CH ? ref_f32_to_f16(x[r * IS + k]) : 0xABABu;
            CHECK(y[r * OS + k] == want, "row %zu col %zu: %04x want %04x", r, k, (unsigned)y[r * OS + k], want);
        }
    /* Widening operator over the same output (input stride OS, output stride OS). */
    CHECK_STATUS(nnk_create_convert_nc_f16_f32(0, &op2), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_setup_convert_nc_f16_f32(op, y, back), NNK_STATUS_INVALID_PARAMETER); /* wrong type */
    CHECK_STATUS(nnk_reshape_convert_nc_f16_f32(op2, CH, OS, OS, ROWS), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_setup_convert_nc_f16_f32(op2, y, back), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_run_operator(op2, tp), NNK_STATUS_SUCCESS);
    for (r = 0; r < ROWS; r++)
        for (k = 0; k < CH; k++)
            CHECK(f32_bits(back[r * OS + k]) == ref_f16_to_f32(y[r * OS + k]), "widen row %zu col %zu", r, k);
    /* batch 0: nothing to do, any pointers. */
    CHECK_STATUS(nnk_reshape_convert_nc_f32_f16(op, CH, IS, OS, 0), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_setup_convert_nc_f32_f16(op, NULL, NULL), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_delete_operator(op2), NNK_STATUS_SUCCESS);
}

static void check_argument_errors(void) {
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint16_t y[8] = {0x5555, 0x5555, 0x5555, 0x5555, 0x5555, 0x5555, 0x5555, 0x5555};
    size_t i;
    nnk_operator *op = NULL;
    CHECK_STATUS(nnk_convert_f32_f16(0, NULL, NULL, NULL), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_convert_f32_f16(8, NULL, y, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_convert_f32_f16(8, x, NULL, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_convert_f32_f16(2, (const float *)((const char *)x + 2), y, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_convert_f32_f16(SIZE_MAX / 2, x, y, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_convert_f16_f32(4, y, (float *)(y + 2), NULL), NNK_STATUS_INVALID_PARAMETER);
    for (i = 0; i < 8; i++) CHECK(y[i] == 0x5555, "written on failure at %zu", i);
    CHECK_STATUS(nnk_create_convert_nc_f32_f16(0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_create_convert_nc_f32_f16(0x80, &op), NNK_STATUS_INVALID_PARAMETER);
    CHECK(op == NULL, "handle written on failure");
    CHECK_STATUS(nnk_run_operator(NULL, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_delete_operator(NULL), NNK_STATUS_SUCCESS);
    CHECK(nnk_operator_kernel_name(NULL) == NULL, "kernel name of NULL");
    CHECK_STATUS(nnk_set_isa_limit(3), NNK_STATUS_INVALID_PARAMETER);
    CHECK(strcmp(nnk_status_string(NNK_STATUS_INVALID_STATE), "invalid state") == 0, "status string");
    CHECK(strcmp(nnk_status_string(99), "unknown status") == 0, "unknown status string");
}


/* ---------------------------------------------------------------- softmax / log-softmax */

typedef enum { T_F32, T_F16, T_BF16 } dtype;
static const char *dtype_name[] = {"f32", "f16", "bf16"};

/* Reference in double: the contract's rules for NaN, +inf, all -inf. */
static void ref_softmax(int log_sm, const double *x, size_t n, int nan_on_empty, double *out) {
    size_t i, pinf = 0;
    double m = -INFINITY, s = 0;
    for (i = 0; i < n; i++) {
        if (isnan(x[i])) { for (i = 0; i < n; i++) out[i] = NAN; return; }
        if (x[i] == INFINITY) pinf++;
        if (x[i] > m) m = x[i];
    }
    if (pinf) {
        for (i = 0; i < n; i++)
            out[i] = x[i] == INFINITY ? (log_sm ? -log((double)pinf) : 1.0 / (double)pinf) : (log_sm ? -INFINITY : 0.0);
        return;
    }
    if (m == -INFINITY) {
        for (i = 0; i < n; i++) out[i] = nan_on_empty ? NAN : (log_sm ? -INFINITY : 0.0);
        return;
    }
    for (i = 0; i < n; i++) s += exp(x[i] - m);
    for (i = 0; i < n; i++) out[i] = log_sm ? (x[i] - m) - log(s) : exp(x[i] - m) / s;
}

static float load_elem(dtype t, const void *p, size_t i) {
    if (t == T_F32) return ((const float *)p)[i];
    if (t == T_F16) return bits_f32(ref_f16_to_f32(((const uint16_t *)p)[i]));
    return bits_f32(ref_bf16_to_f32(((const uint16_t *)p)[i]));
}

static void store_elem(dtype t, void *p, size_t i, float v) {
    if (t == T_F32) ((float *)p)[i] = v;
    else if (t == T_F16) ((uint16_t *)p)[i] = ref_f32_to_f16(v);
    else ((uint16_t *)p)[i] = ref_f32_to_bf16(v);
}

/* The contract: f32 softmax 1e-6 relative + 1e-37; f32 log 2e-6 + 1e-6 relative; 16-bit within
 * 1 ulp of the reference rounded to the type (log outputs near 0: the f32 bound). */
static int within(dtype t, int log_sm, float got, double want) {
    double err;
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return (double)got == want;
    err = fabs((double)got - want);
    if (log_sm && err <= 2e-6 + 1e-6 * fabs(want)) return 1;
    if (t == T_F32) return log_sm ? 0 : err <= 1e-6 * fabs(want) + 1e-37;
    {
        uint16_t r = t == T_F16 ? ref_f32_to_f16((float)want) : ref_f32_to_bf16((float)want);
        float rv = bits_f32(t == T_F16 ? ref_f16_to_f32(r) : ref_bf16_to_f32(r));
        int e, bits = t == T_F16 ? 10 : 7, emin = t == T_F16 ? -14 : -126;
        double ulp;
        if (rv == got) return 1;
        frexp(rv, &e);
        e = (rv == 0 || e - 1 < emin) ? emin : e - 1;
        ulp = ldexp(1.0, e - bits);
        return fabs((double)rv - (double)got) <= ulp * 1.000001;
    }
}

static nnk_status softmax_call(dtype t, int log_sm, size_t batch, size_t ch, const void *x, size_t is, void *y,
                               size_t os, uint32_t flags, nnk_threadpool *tp) {
    if (t == T_F32)
        return log_sm ? nnk_log_softmax_nc_f32(batch, ch, x, is, y, os, flags, tp)
                      : nnk_softmax_nc_f32(batch, ch, x, is, y, os, flags, tp);
    if (t == T_F16)
        return log_sm ? nnk_log_softmax_nc_f16(batch, ch, x, is, y, os, flags, tp)
                      : nnk_softmax_nc_f16(batch, ch, x, is, y, os, flags, tp);
    return log_sm ? nnk_log_softmax_nc_bf16(batch, ch, x, is, y, os, flags, tp)
                  : nnk_softmax_nc_bf16(batch, ch, x, is, y, os, flags, tp);
}

/* One row of n values `src` through every type, both ops, both algorithms. */
static void check_softmax_row(const float *src, size_t n, uint32_t extra_flags, nnk_threadpool *tp, const char *what) {
    void *x = malloc(n * 4), *y = malloc(n * 4);
    double *xd = malloc(n * sizeof(double)), *want = malloc(n * sizeof(double));
    dtype t;
    int log_sm, a;
    size_t i;
    for (t = T_F32; t <= T_BF16; t++) {
        for (i = 0; i < n; i++) {
            store_elem(t, x, i, src[i]);
            xd[i] = load_elem(t, x, i);
        }
        for (log_sm = 0; log_sm < 2; log_sm++) {
            ref_softmax(log_sm, xd, n, (extra_flags & NNK_FLAG_NAN_ON_EMPTY_ROW) != 0, want);
            for (a = 0; a < 3; a++) {
                uint32_t flags = extra_flags | (a == 1 ? NNK_FLAG_SOFTMAX_THREE_PASS : a == 2 ? NNK_FLAG_SOFTMAX_TWO_PASS : 0);
                size_t bad = n;
                CHECK_STATUS(softmax_call(t, log_sm, 1, n, x, n, y, n, flags, tp), NNK_STATUS_SUCCESS);
                for (i = 0; i < n && bad == n; i++)
                    if (!within(t, log_sm, load_elem(t, y, i), want[i])) bad = i;
                CHECK(bad == n, "%s %s %s n=%zu flags=%x at %zu: got %g want %g", what, dtype_name[t],
                      log_sm ? "log_softmax" : "softmax", n, flags, bad, bad < n ? (double)load_elem(t, y, bad) : 0.0,
                      bad < n ? want[bad] : 0.0);
            }
        }
    }
    free(x); free(y); free(xd); free(want);
}

static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(rng() >> 8) / 16777216.0f; }

static void check_softmax(nnk_threadpool *tp) {
    static float row[70000];
    static const size_t lengths[] = {1, 2, 3, 15, 16, 17, 31, 33, 63, 64, 65, 100, 255, 256, 257, 1000, 16385, 70000};
    size_t li, i;
    for (li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
        size_t n = lengths[li];
        for (i = 0; i < n; i++) row[i] = uniform(-20, 20);
        check_softmax_row(row, n, 0, tp, "U(-20,20)");
        for (i = 0; i < n; i++) row[i] = uniform(90, 100);
        check_softmax_row(row, n, 0, tp, "U(90,100)");
    }
    for (i = 0; i < 999; i++) row[i] = i % 3 == 0 ? 1e30f : i % 3 == 1 ? -1e30f : 0.5f;
    check_softmax_row(row, 999, 0, tp, "+-1e30");
    {
        const float inf = INFINITY;
        float a[] = {1, -inf, 2, 3}, b[] = {-inf, -inf, -inf}, c[] = {1, NAN, 3}, d[] = {1, inf, 5, inf}, e[] = {inf, NAN};
        check_softmax_row(a, 4, 0, tp, "-inf entry");
        check_softmax_row(b, 3, 0, tp, "all -inf");
        check_softmax_row(b, 3, NNK_FLAG_NAN_ON_EMPTY_ROW, tp, "all -inf, NaN flag");
        check_softmax_row(c, 3, 0, tp, "NaN");
        check_softmax_row(d, 4, 0, tp, "+inf");
        check_softmax_row(e, 2, 0, tp, "+inf and NaN");
    }
}

/* Operator lifecycle, strides and padding, in place, argument errors (nothing written). */
static void check_softmax_operator(nnk_threadpool *tp) {
    enum { B = 9, C = 300, IS = 301, OS = 310 };
    static float x[B * IS], y[B * OS], z[B * C];
    double xd[C], want[C];
    nnk_operator *op = NULL, *op2 = NULL;
    size_t r, k;
    for (k = 0; k < B * IS; k++) x[k] = uniform(-8, 8);
    for (k = 0; k < B * OS; k++) y[k] = -3.0f;
    CHECK_STATUS(nnk_create_softmax_nc_f32(0x100, &op), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_create_softmax_nc_f32(NNK_FLAG_SOFTMAX_THREE_PASS | NNK_FLAG_SOFTMAX_TWO_PASS, &op),
                 NNK_STATUS_INVALID_PARAMETER);
    CHECK(op == NULL, "handle written on failure");
    CHECK_STATUS(nnk_create_softmax_nc_f32(0, &op), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_setup_softmax_nc_f32(op, x, y), NNK_STATUS_INVALID_STATE);
    CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_INVALID_STATE);
    CHECK_STATUS(nnk_reshape_softmax_nc_f32(op, 0, IS, OS, B), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_softmax_nc_f32(op, C, C - 1, OS, B), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_log_softmax_nc_f32(op, C, IS, OS, B), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_softmax_nc_f16(op, C, IS, OS, B), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_reshape_softmax_nc_f32(op, C, IS, OS, B), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_setup_softmax_nc_f32(op, x, x + 5), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_setup_softmax_nc_f32(op, x, y), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
    CHECK(strstr(nnk_operator_kernel_name(op), "f32_softmax__") != NULL, "kernel name %s", nnk_operator_kernel_name(op));
    for (r = 0; r < B; r++) {
        for (k = 0; k < C; k++) xd[k] = x[r * IS + k];
        ref_softmax(0, xd, C, 0, want);
        for (k = 0; k < OS; k++) {
            if (k < C) CHECK(within(T_F32, 0, y[r * OS + k], want[k]), "operator row %zu col %zu", r, k);
            else CHECK(y[r * OS + k] == -3.0f, "padding written at row %zu col %zu", r, k);
        }
    }
    /* In place (log-softmax, dense). */
    for (k = 0; k < B * C; k++) z[k] = x[k];
    CHECK_STATUS(nnk_create_log_softmax_nc_f32(NNK_FLAG_SOFTMAX_TWO_PASS, &op2), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_reshape_log_softmax_nc_f32(op2, C, C, C, B), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_setup_log_softmax_nc_f32(op2, z, z), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_run_operator(op2, tp), NNK_STATUS_SUCCESS);
    for (r = 0; r < B; r++) {
        for (k = 0; k < C; k++) xd[k] = x[r * C + k];
        ref_softmax(1, xd, C, 0, want);
        for (k = 0; k < C; k++) CHECK(within(T_F32, 1, z[r * C + k], want[k]), "in place row %zu col %zu", r, k);
    }
    CHECK_STATUS(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_delete_operator(op2), NNK_STATUS_SUCCESS);
    /* One-shot errors write nothing. */
    for (k = 0; k < 8; k++) y[k] = 7.0f;
    CHECK_STATUS(nnk_softmax_nc_f32(1, 0, x, 8, y, 8, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_softmax_nc_f32(1, 8, NULL, 8, y, 8, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_softmax_nc_f32(2, 8, x, 7, y, 8, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_softmax_nc_f32(1, 8, x, 8, y, 8, 0x40, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_softmax_nc_f32(0, 8, NULL, 8, NULL, 8, 0, NULL), NNK_STATUS_SUCCESS);
    for (k = 0; k < 8; k++) CHECK(y[k] == 7.0f, "written on failure");
}

/* Guard pages on every tail, f32 and bf16. */
static void check_softmax_guards(void) {
    guarded gi = guard_alloc(4096), go = guard_alloc(4096);
    size_t n, i;
    for (n = 1; n <= 100; n++) {
        float *x = (float *)(gi.end - n * 4), *y = (float *)(go.end - n * 4);
        uint16_t *xb = (uint16_t *)(gi.end - n * 2), *yb = (uint16_t *)(go.end - n * 2);
        for (i = 0; i < n; i++) x[i] = uniform(-3, 3);
        CHECK_STATUS(nnk_softmax_nc_f32(1, n, x, n, y, n, NNK_FLAG_SOFTMAX_THREE_PASS, NULL), NNK_STATUS_SUCCESS);
        CHECK_STATUS(nnk_log_softmax_nc_f32(1, n, x, n, y, n, NNK_FLAG_SOFTMAX_TWO_PASS, NULL), NNK_STATUS_SUCCESS);
        for (i = 0; i < n; i++) xb[i] = ref_f32_to_bf16(uniform(-3, 3));
        CHECK_STATUS(nnk_softmax_nc_bf16(1, n, xb, n, yb, n, 0, NULL), NNK_STATUS_SUCCESS);
        CHECK_STATUS(nnk_log_softmax_nc_f16(1, n, xb, n, yb, n, 0, NULL), NNK_STATUS_SUCCESS);
    }
    guard_free(&gi);
    guard_free(&go);
}

/* NNK_FLAG_CONSISTENT_ARITHMETIC: the same bits at every level; `first` holds the top level's. */
static void check_softmax_consistent(float *first, int record) {
    enum { N = 5000, B = 3 };
    static float x[B * N], y[B * N];
    size_t i;
    uint64_t saved = rng_state;
    rng_state = 77;
    for (i = 0; i < B * N; i++) x[i] = uniform(-30, 30);
    rng_state = saved;
    CHECK_STATUS(nnk_softmax_nc_f32(B, N, x, N, y, N, NNK_FLAG_CONSISTENT_ARITHMETIC, NULL), NNK_STATUS_SUCCESS);
    if (record) memcpy(first, y, sizeof(y));
    else CHECK(memcmp(first, y, sizeof(y)) == 0, "consistent arithmetic differs between levels");
}

/* ---------------------------------------------------------------- a host job system */

typedef struct {
    nnk_task_fn task;
    void *ctx;
    size_t n, next;
    pthread_mutex_t lock;
} host_job;

static void *host_worker(void *arg) {
    host_job *job = arg;
    for (;;) {
        size_t i;
        pthread_mutex_lock(&job->lock);
        i = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= job->n) return NULL;
        job->task(job->ctx, i);
    }
}

static int host_calls = 0;

/* Runs the tasks on 3 fresh pthreads (a stand-in for an engine's scheduler). */
static void host_parallel_for(void *user, nnk_task_fn task, void *ctx, size_t n) {
    host_job job;
    pthread_t t[3];
    int k;
    (void)user;
    host_calls++;
    job.task = task;
    job.ctx = ctx;
    job.n = n;
    job.next = 0;
    pthread_mutex_init(&job.lock, NULL);
    for (k = 0; k < 3; k++) pthread_create(&t[k], NULL, host_worker, &job);
    for (k = 0; k < 3; k++) pthread_join(t[k], NULL);
    pthread_mutex_destroy(&job.lock);
}

/* A long row (split across the pool's threads) and many rows. */
static void check_big_softmax(nnk_threadpool *tp) {
    enum { N = 1 << 18 };
    static float row[N];
    size_t i;
    for (i = 0; i < N; i++) row[i] = uniform(-15, 15);
    check_softmax_row(row, N, 0, tp, "long row");
}

static void check_gating(nnk_threadpool *tp);
static void check_dispatch(nnk_threadpool *tp);

static void check_pools(void) {
    nnk_threadpool *tp = NULL, *custom = NULL;
    CHECK_STATUS(nnk_threadpool_create(3, &tp), NNK_STATUS_SUCCESS);
    CHECK(nnk_threadpool_threads(tp) == 3, "threads");
    CHECK(nnk_threadpool_threads(NULL) == 1, "threads of NULL");
    check_random_narrowing((1u << 20) + 7, tp);
    check_random_widening((1u << 20) + 9, tp);
    check_operator(tp);
    check_softmax_operator(tp);
    check_big_softmax(tp);
    check_gating(tp);
    check_dispatch(tp);
    CHECK_STATUS(nnk_threadpool_destroy(tp), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_threadpool_destroy(NULL), NNK_STATUS_SUCCESS);

    CHECK_STATUS(nnk_threadpool_create_custom(NULL, NULL, 3, &custom), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_threadpool_create_custom(host_parallel_for, NULL, 0, &custom), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_threadpool_create_custom(host_parallel_for, NULL, 3, &custom), NNK_STATUS_SUCCESS);
    host_calls = 0;
    check_random_narrowing((1u << 20) + 7, custom);
    check_random_widening((1u << 20) + 9, custom);
    check_operator(custom);
    check_softmax_operator(custom);
    check_big_softmax(custom);
    check_gating(custom);
    CHECK(host_calls > 0, "the host scheduler was never called");
    CHECK_STATUS(nnk_threadpool_destroy(custom), NNK_STATUS_SUCCESS);
}

/* ---------------------------------------------------------------- main */

static const char *isa_name(uint32_t isa) {
    return isa == NNK_ISA_AVX512 ? "avx512" : isa == NNK_ISA_AVX2 ? "avx2" : isa == NNK_ISA_SCALAR ? "scalar" : "?";
}

/* ---- MoE top-K gating: an f64 reference of the spec's pipeline, written here in C ---- */

typedef struct {
    const char *name;
    nnk_topk_gating_params p;
    int bias; /* bias values: 0.1 * sin(e) when set */
} gating_case;

static double g_bias[65536];

static double ref_score(uint32_t fn, double x) {
    switch (fn) {
    case NNK_SCORE_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case NNK_SCORE_SQRT_SOFTPLUS: return sqrt(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    default: return x;
    }
}

/* +inf entries share `total` equally; returns 1 if there was one. */
static int ref_share(double *w, size_t n, double total) {
    size_t i, c = 0;
    for (i = 0; i < n; i++) c += w[i] == INFINITY;
    if (!c) return 0;
    for (i = 0; i < n; i++) w[i] = w[i] == INFINITY ? total / (double)c : 0.0;
    return 1;
}

/* Is (ka, a) before (kb, b) in the total order? */
static int ref_before(double ka, size_t a, double kb, size_t b) { return ka > kb || (ka == kb && a < b); }

/* Indices of the n best keys (k <= 64), by repeated selection. */
static void ref_top(const double *key, size_t len, size_t n, size_t *out) {
    size_t j, i, q;
    for (j = 0; j < n; j++) {
        size_t best = (size_t)-1;
        for (i = 0; i < len; i++) {
            int used = 0;
            for (q = 0; q < j; q++) used |= out[q] == i;
            if (!used && (best == (size_t)-1 || ref_before(key[i], i, key[best], best))) best = i;
        }
        out[j] = best;
    }
}

static void ref_gating(const nnk_topk_gating_params *p, const double *x, size_t *ids, double *w, double *keys_out) {
    size_t e = p->num_experts, k = p->k, i, j;
    static double score[65536], key[65536], gk[65536];
    static size_t gsel[65536];
    int by_logit = p->selection_bias == NULL &&
                   (p->n_group <= 1 || p->group_score == NNK_GROUP_SCORE_MAX || p->score_fn == NNK_SCORE_IDENTITY);
    if (p->score_fn == NNK_SCORE_SOFTMAX) {
        double m = -INFINITY, s = 0;
        for (i = 0; i < e; i++) score[i] = isnan(x[i]) ? -INFINITY : x[i];
        if (!ref_share(score, e, 1.0)) {
            for (i = 0; i < e; i++) m = score[i] > m ? score[i] : m;
            for (i = 0; i < e; i++) s += m == -INFINITY ? 0 : exp(score[i] - m);
            for (i = 0; i < e; i++) score[i] = m == -INFINITY ? 0 : exp(score[i] - m) / s;
        }
    } else {
        for (i = 0; i < e; i++) score[i] = ref_score(p->score_fn, x[i]);
    }
    for (i = 0; i < e; i++) {
        double kv = by_logit ? x[i] : score[i] + (p->selection_bias ? g_bias[i] : 0.0);
        key[i] = (isnan(x[i]) || x[i] == -INFINITY || isnan(kv)) ? -INFINITY : kv;
        keys_out[i] = key[i];
    }
    if (p->n_group > 1) {
        size_t g = p->n_group, gs = e / g;
        for (j = 0; j < g; j++) {
            double t1 = -INFINITY, t2 = -INFINITY, v;
            for (i = 0; i < gs; i++) {
                v = key[j * gs + i];
                if (v > t1) { t2 = t1; t1 = v; } else if (v > t2) t2 = v;
            }
            v = (p->group_score == NNK_GROUP_SCORE_MAX || gs == 1) ? t1 : t1 + t2;
            gk[j] = isnan(v) ? -INFINITY : v;
        }
        ref_top(gk, g, p->topk_group, gsel);
        for (j = 0; j < g; j++) {
            int kept = 0;
            for (i = 0; i < p->topk_group; i++) kept |= gsel[i] == j;
            if (!kept) for (i = 0; i < gs; i++) key[j * gs + i] = -INFINITY;
        }
    }
    ref_top(key, e, k, ids);
    for (j = 0; j < k; j++) w[j] = key[ids[j]] == -INFINITY ? -INFINITY : score[ids[j]];
    if (p->post_fn == NNK_POST_SOFTMAX && !ref_share(w, k, 1.0)) {
        double m = -INFINITY, s = 0;
        for (j = 0; j < k; j++) m = w[j] > m ? w[j] : m;
        for (j = 0; j < k; j++) s += m == -INFINITY ? 0 : exp(w[j] - m);
        for (j = 0; j < k; j++) w[j] = m == -INFINITY ? 0 : exp(w[j] - m) / s;
    } else if (p->post_fn == NNK_POST_SIGMOID) {
        for (j = 0; j < k; j++) w[j] = 1.0 / (1.0 + exp(-w[j]));
    }
    for (j = 0; j < k; j++) if (w[j] == -INFINITY) w[j] = 0;
    if (p->normalize == NNK_NORMALIZE_SUM) {
        double s = p->norm_eps;
        for (j = 0; j < k; j++) s += w[j];
        if (!ref_share(w, k, 1.0)) for (j = 0; j < k; j++) w[j] = s == 0 ? 0 : w[j] / s;
    }
    for (j = 0; j < k; j++) w[j] *= p->scale;
}

static gating_case g_case(const char *name, uint32_t e, uint32_t k, uint32_t score, uint32_t post, uint32_t norm,
                          float eps, float scale, uint32_t ng, uint32_t tg, uint32_t gsc, int bias) {
    gating_case c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.p.num_experts = e; c.p.k = k; c.p.score_fn = score; c.p.post_fn = post; c.p.normalize = norm;
    c.p.norm_eps = eps; c.p.scale = scale; c.p.n_group = ng; c.p.topk_group = tg; c.p.group_score = gsc;
    c.bias = bias;
    return c;
}

#define N_GCASES 15
static gating_case g_cases[N_GCASES];
static void init_gating_cases(void) {
    int i = 0;
    g_cases[i++] = g_case("switch", 2048, 1, NNK_SCORE_SOFTMAX, 0, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("mixtral", 8, 2, NNK_SCORE_SOFTMAX, 0, NNK_NORMALIZE_SUM, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("qwen2-moe", 60, 4, NNK_SCORE_SOFTMAX, 0, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("qwen3-moe", 128, 8, NNK_SCORE_SOFTMAX, 0, NNK_NORMALIZE_SUM, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("olmoe", 64, 8, NNK_SCORE_SOFTMAX, 0, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("jamba", 16, 2, NNK_SCORE_SOFTMAX, 0, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("gpt-oss", 32, 4, NNK_SCORE_IDENTITY, NNK_POST_SOFTMAX, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("gpt-oss-128", 128, 4, NNK_SCORE_IDENTITY, NNK_POST_SOFTMAX, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("llama4", 16, 1, NNK_SCORE_IDENTITY, NNK_POST_SIGMOID, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("llama4-128", 128, 1, NNK_SCORE_IDENTITY, NNK_POST_SIGMOID, 0, 0, 1, 0, 0, 0, 0);
    g_cases[i++] = g_case("deepseek-v2", 160, 6, NNK_SCORE_SOFTMAX, 0, 0, 0, 16, 8, 3, NNK_GROUP_SCORE_MAX, 0);
    g_cases[i++] = g_case("deepseek-v3", 256, 8, NNK_SCORE_SIGMOID, 0, NNK_NORMALIZE_SUM, 1e-20f, 2.5f, 8, 4,
                          NNK_GROUP_SCORE_SUM_TOP2, 1);
    g_cases[i++] = g_case("minimax-m2", 256, 8, NNK_SCORE_SIGMOID, 0, NNK_NORMALIZE_SUM, 1e-20f, 1, 0, 0, 0, 1);
    g_cases[i++] = g_case("deepseek-v4-style", 256, 6, NNK_SCORE_SQRT_SOFTPLUS, 0, NNK_NORMALIZE_SUM, 0, 1.5f, 0, 0, 0, 1);
    g_cases[i++] = g_case("k=E huge-E", 16, 16, NNK_SCORE_SOFTMAX, 0, NNK_NORMALIZE_SUM, 0, 1, 0, 0, 0, 0);
}

enum { G_F32, G_F16, G_BF16 };

/* Runs one case on `tokens` rows (stride e + 3) of logits of type `ty` through the one-shot
   call and, for f32, the operator; checks against the reference. Buffers end at guard pages. */
static void check_gating_case(const gating_case *c, int ty, size_t tokens, int special, nnk_threadpool *tp) {
    size_t e = c->p.num_experts, k = c->p.k, stride = e + 3, t, j, i;
    size_t esz = ty == G_F32 ? 4 : 2;
    guarded gx = guard_alloc(tokens * stride * esz), gi = guard_alloc(tokens * k * 4), gw = guard_alloc(tokens * k * 4),
            gb = guard_alloc(e * 4);
    void *x = gx.end - tokens * stride * esz;
    int32_t *ids = (int32_t *)(gi.end - tokens * k * 4);
    float *w = (float *)(gw.end - tokens * k * 4);
    float *bias = (float *)(gb.end - e * 4);
    nnk_topk_gating_params p = c->p;
    static double row[65536], keys[65536], rw[64];
    static size_t rid[64];
    nnk_status st;
    for (i = 0; i < e; i++) { bias[i] = (float)(0.1 * sin((double)i)); g_bias[i] = bias[i]; }
    p.selection_bias = c->bias ? bias : NULL;
    for (t = 0; t < tokens; t++) {
        for (i = 0; i < stride; i++) {
            float v = (float)((int)(rng() % 16001) - 8000) * 1e-3f;
            if (special == 1) v = 0.5f;                                 /* ties everywhere */
            if (special == 2) v = (i % 3 == 0) ? NAN : v;               /* NaN */
            if (special == 3) v = (i % 5 == 1) ? -INFINITY : v;         /* -inf */
            if (special == 4) v = (i % 7 == 2) ? INFINITY : -INFINITY;  /* +inf and -inf */
            if (special == 5) v = -INFINITY;                            /* all masked */
            /* finite only at the starts of the second and third quarters (of the groups):
               the -inf keys selected come by index, from masked groups too */
            if (special == 6 && !(i - e / 4 < 2 || i - e / 2 < 2)) v = -INFINITY;
            if (ty == G_F32) ((float *)x)[t * stride + i] = v;
            else ((uint16_t *)x)[t * stride + i] = ty == G_F16 ? ref_f32_to_f16(v) : ref_f32_to_bf16(v);
        }
    }
    if (ty == G_F32) st = nnk_topk_gating_f32(&p, tokens, (const float *)x, stride, ids, w, 0, tp);
    else if (ty == G_F16) st = nnk_topk_gating_f16(&p, tokens, (const uint16_t *)x, stride, ids, w, 0, tp);
    else st = nnk_topk_gating_bf16(&p, tokens, (const uint16_t *)x, stride, ids, w, 0, tp);
    CHECK(st == NNK_STATUS_SUCCESS, "%s gating -> %d", c->name, st);
    for (t = 0; t < tokens && st == NNK_STATUS_SUCCESS; t++) {
        int same = 1;
        for (i = 0; i < e; i++) {
            if (ty == G_F32) row[i] = ((float *)x)[t * stride + i];
            else {
                uint16_t h = ((uint16_t *)x)[t * stride + i];
                row[i] = bits_f32(ty == G_F16 ? ref_f16_to_f32(h) : ref_bf16_to_f32(h));
            }
        }
        ref_gating(&p, row, rid, rw, keys);
        for (j = 0; j < k; j++) same &= (size_t)ids[t * k + j] == rid[j];
        if (!same) {
            /* Only a near-tie of biased keys (rounded in f32 by nnkern) may differ: both keys
               finite (equal infinite keys are an exact tie, which the index breaks). */
            int close = c->bias || p.group_score == NNK_GROUP_SCORE_SUM_TOP2;
            for (j = 0; j < k && close; j++) {
                int32_t a = ids[t * k + j];
                double ka, kb = keys[rid[j]];
                if (a < 0 || (size_t)a >= e) { close = 0; break; }
                if ((size_t)a == rid[j]) continue;
                ka = keys[a];
                close = isfinite(ka) && isfinite(kb) &&
                        (ka == kb || fabs(ka - kb) <= 1e-6 * fmax(fabs(ka), fabs(kb)) + 1e-30);
            }
            CHECK(close, "%s type %d special %d row %zu: ids differ at %zu (%d vs %zu)", c->name, ty, special, t,
                  j, ids[t * k], rid[0]);
            continue;
        }
        for (j = 0; j < k; j++) {
            double got = w[t * k + j], want = rw[j];
            CHECK(isinf(want) ? got == want : fabs(got - want) <= 1e-6 * fabs(want) + 1e-37,
                  "%s type %d special %d row %zu pos %zu: weight %g want %g", c->name, ty, special, t, j, got, want);
        }
    }
    if (ty == G_F32 && special == 0) { /* the operator form gives the same bits */
        nnk_operator *op = NULL;
        int32_t *ids2 = malloc(tokens * k * 4);
        float *w2 = malloc(tokens * k * 4);
        CHECK_STATUS(nnk_create_topk_gating_f32(&p, 0, &op), NNK_STATUS_SUCCESS);
        CHECK_STATUS(nnk_setup_topk_gating_f32(op, (const float *)x, ids2, w2), NNK_STATUS_INVALID_STATE);
        CHECK_STATUS(nnk_reshape_topk_gating_f32(op, tokens, stride), NNK_STATUS_SUCCESS);
        CHECK_STATUS(nnk_setup_topk_gating_f32(op, (const float *)x, ids2, w2), NNK_STATUS_SUCCESS);
        CHECK_STATUS(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
        CHECK(memcmp(ids, ids2, tokens * k * 4) == 0 && memcmp(w, w2, tokens * k * 4) == 0, "%s operator differs", c->name);
        CHECK(strstr(nnk_operator_kernel_name(op), "topk_gating") != NULL, "kernel name %s", nnk_operator_kernel_name(op));
        CHECK_STATUS(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
        free(ids2);
        free(w2);
    }
    guard_free(&gx); guard_free(&gi); guard_free(&gw); guard_free(&gb);
}

static void check_gating(nnk_threadpool *tp) {
    int c, ty, sp;
    init_gating_cases();
    for (c = 0; c < N_GCASES; c++) {
        for (ty = G_F32; ty <= G_BF16; ty++) check_gating_case(&g_cases[c], ty, 37, 0, tp);
        for (sp = 1; sp <= 6; sp++) check_gating_case(&g_cases[c], G_F32, 3, sp, tp);
    }
}

static void check_gating_errors(void) {
    nnk_topk_gating_params p;
    float x[32] = {0};
    int32_t ids[4] = {-5, -5, -5, -5};
    float w[4] = {-5, -5, -5, -5};
    int i;
    nnk_operator *op = NULL;
    init_gating_cases();
    p = g_cases[1].p; /* mixtral, E = 8, k = 2 */
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 8, ids, w, 0x2, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_topk_gating_f32(NULL, 2, x, 8, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 7, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, NULL, 8, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 8, ids, (float *)ids, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    p.k = 9;
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 8, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    p.k = 2; p.score_fn = 7;
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 8, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    p.score_fn = NNK_SCORE_SOFTMAX; p.n_group = 3; p.topk_group = 1;
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 8, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    p.n_group = 4; p.topk_group = 5;
    CHECK_STATUS(nnk_topk_gating_f32(&p, 2, x, 8, ids, w, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_create_topk_gating_f32(&p, 0, &op), NNK_STATUS_INVALID_PARAMETER);
    CHECK(op == NULL, "handle written on failure");
    p.n_group = 0; p.num_experts = 70000; p.k = 2;
    CHECK_STATUS(nnk_topk_gating_f32(&p, 0, x, 70000, ids, w, 0, NULL), NNK_STATUS_UNSUPPORTED_PARAMETER);
    for (i = 0; i < 4; i++) CHECK(ids[i] == -5 && w[i] == -5, "written on failure at %d", i);
    p = g_cases[1].p;
    CHECK_STATUS(nnk_topk_gating_f32(&p, 0, NULL, 8, NULL, NULL, 0, NULL), NNK_STATUS_SUCCESS);
}

static void check_dispatch(nnk_threadpool *tp) {
    enum { T = 3000, K = 4, E = 37 };
    static int32_t ids[T * K], counts[E], offsets[E + 1], perm[T * K], inv[T * K], sorted[T * K + E * 15], be[(T * K + E * 15) / 16];
    size_t i, n = T * K, total = 0, pos, x;
    int32_t c;
    for (i = 0; i < n; i++) ids[i] = (int32_t)(rng() % E);
    CHECK_STATUS(nnk_moe_dispatch_plan(T, K, ids, E, counts, offsets, perm, inv, tp), NNK_STATUS_SUCCESS);
    pos = 0;
    for (x = 0; x < E; x++) {
        CHECK(offsets[x] == (int32_t)pos, "offset %zu", x);
        c = 0;
        for (i = 0; i < n; i++) {
            if (ids[i] == (int32_t)x) {
                CHECK(perm[pos] == (int32_t)i && inv[i] == (int32_t)pos, "perm at %zu", pos);
                pos++;
                c++;
            }
        }
        CHECK(counts[x] == c, "count %zu", x);
    }
    CHECK(offsets[E] == (int32_t)n, "offsets[E]");
    CHECK_STATUS(nnk_moe_align_blocks(T, K, ids, E, 16, sorted, be, &total, tp), NNK_STATUS_SUCCESS);
    pos = 0;
    for (x = 0; x < E; x++) {
        size_t start = pos;
        for (i = 0; i < n; i++) if (ids[i] == (int32_t)x) CHECK(sorted[pos++] == (int32_t)i, "sorted at %zu", pos);
        while ((pos - start) % 16) CHECK(sorted[pos++] == (int32_t)n, "pad at %zu", pos);
        for (i = start / 16; i < pos / 16; i++) CHECK(be[i] == (int32_t)x, "block %zu", i);
    }
    CHECK(total == pos, "padded total %zu want %zu", total, pos);
    ids[5] = E;
    counts[0] = -77;
    CHECK_STATUS(nnk_moe_dispatch_plan(T, K, ids, E, counts, offsets, perm, NULL, tp), NNK_STATUS_INVALID_PARAMETER);
    CHECK(counts[0] == -77, "written on failure");
    ids[5] = -1;
    CHECK_STATUS(nnk_moe_align_blocks(T, K, ids, E, 16, sorted, be, &total, tp), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_moe_align_blocks(T, K, ids, E, 0, sorted, be, &total, tp), NNK_STATUS_INVALID_PARAMETER);
}

/* ---------------------------------------------------------------- GGUF blocks */

static const uint32_t block_formats[] = {NNK_BLOCK_Q4_0, NNK_BLOCK_Q4_1, NNK_BLOCK_Q5_0, NNK_BLOCK_Q5_1,
                                         NNK_BLOCK_Q8_0, NNK_BLOCK_Q8_1, NNK_BLOCK_Q4_K, NNK_BLOCK_Q5_K,
                                         NNK_BLOCK_Q6_K, NNK_BLOCK_Q8_K, NNK_BLOCK_MXFP4};

/* One test value of kind `kind` for element i: normal-ish at many scales, exact ties on the
 * rounding grids, signed zeros, one-hot, subnormal, near powers of two. */
static float block_value(int kind, int i, float scale) {
    float u = (float)(rng() >> 8) / 16777216.0f - 0.5f;
    switch (kind) {
    case 0: return u * scale;
    case 1: return (float)((int)(rng() % 33) - 16) * 0.25f * scale;
    case 2: return (rng() & 1) ? 0.0f : -0.0f;
    case 3: return i == 5 ? -scale : ((rng() & 1) ? 0.0f : -0.0f);
    case 4: return bits_f32(rng() & 0x807FFFFFu);
    case 5: return (rng() & 1) ? scale : -scale;
    case 6: return ldexpf(1.0f, (int)(rng() % 20) - 10) * ((rng() & 1) ? 0.99999994f : 1.0f);
    default: return fabsf(u) * scale + scale; /* all positive: K-quant mins clamp at 0 */
    }
}

static void check_blocks(void) {
    enum { MAXN = 256 * 24 };
    static float x[MAXN], xw[MAXN], yref[MAXN], y[MAXN];
    static uint16_t xh[MAXN], yh[MAXN];
    static uint8_t want[292 * 200], got[292 * 200], qin[292 * 200];
    static const float scales[] = {1.0f, 1e-3f, 3e4f, 1e-30f, 1e30f, 1e-8f};
    size_t fi;
    for (fi = 0; fi < sizeof block_formats / sizeof block_formats[0]; fi++) {
        uint32_t f = block_formats[fi];
        size_t bs = nnk_block_size(f), bb = nnk_block_bytes(f), nb = bs == 256 ? 24 : 192, n = nb * bs, b, i;
        int t;
        for (b = 0; b < nb; b++) {
            float sc = scales[rng() % 6];
            for (i = 0; i < bs; i++) x[b * bs + i] = block_value((int)(b % 8), (int)i, sc);
        }
        /* f32 source, then f16 and bf16 sources (the reference quantizes the widened values). */
        for (t = 0; t < 3; t++) {
            for (i = 0; i < n; i++) {
                if (t == 0) xw[i] = x[i];
                if (t == 1) { xh[i] = ref_f32_to_f16(x[i]); xw[i] = bits_f32(ref_f16_to_f32(xh[i])); }
                if (t == 2) { xh[i] = ref_f32_to_bf16(x[i]); xw[i] = bits_f32(ref_bf16_to_f32(xh[i])); }
                if (t > 0 && !isfinite(xw[i])) { xw[i] = 1.0f; xh[i] = t == 1 ? 0x3C00 : 0x3F80; }
            }
            for (b = 0; b < nb; b++) ref_quantize(f, xw + b * bs, want + b * bb);
            memset(got, 0xA5, nb * bb);
            if (t == 0) CHECK_STATUS(nnk_quantize_blocks_f32(f, n, xw, got, 0, NULL), NNK_STATUS_SUCCESS);
            if (t == 1) CHECK_STATUS(nnk_quantize_blocks_f16(f, n, xh, got, 0, NULL), NNK_STATUS_SUCCESS);
            if (t == 2) CHECK_STATUS(nnk_quantize_blocks_bf16(f, n, xh, got, 0, NULL), NNK_STATUS_SUCCESS);
            for (b = 0; b < nb; b++)
                CHECK(memcmp(want + b * bb, got + b * bb, bb) == 0, "quantize format %u source %s block %u (kind %u)",
                      f, dtype_name[t], (unsigned)b, (unsigned)(b % 8));
        }
        /* Dequantize random blocks with finite scales: f32 exact, f16/bf16 rounded once. */
        for (i = 0; i < nb * bb; i++) qin[i] = (uint8_t)rng();
        for (b = 0; b < nb; b++) {
            uint8_t *p = qin + b * bb;
            if (f == NNK_BLOCK_Q8_K) p[3] &= 0xBF; /* f32 d: exponent never all ones */
            else if (f == NNK_BLOCK_Q6_K) p[209] &= 0xFB;
            else if (f != NNK_BLOCK_MXFP4) { p[1] &= 0xFB; p[3] &= 0xFB; }
            ref_dequantize(f, p, yref + b * bs);
        }
        CHECK_STATUS(nnk_dequantize_blocks_f32(f, n, qin, y, 0, NULL), NNK_STATUS_SUCCESS);
        for (i = 0; i < n; i++)
            CHECK(f32_bits(y[i]) == f32_bits(yref[i]) || (isnan(y[i]) && isnan(yref[i])), "dequantize format %u element %u", f, (unsigned)i);
        CHECK_STATUS(nnk_dequantize_blocks_f16(f, n, qin, yh, 0, NULL), NNK_STATUS_SUCCESS);
        for (i = 0; i < n; i++) CHECK(yh[i] == ref_f32_to_f16(yref[i]) || isnan(yref[i]), "dequantize f16 format %u element %u", f, (unsigned)i);
        CHECK_STATUS(nnk_dequantize_blocks_bf16(f, n, qin, yh, 0, NULL), NNK_STATUS_SUCCESS);
        for (i = 0; i < n; i++) CHECK(yh[i] == ref_f32_to_bf16(yref[i]) || isnan(yref[i]), "dequantize bf16 format %u element %u", f, (unsigned)i);
        /* Errors: nothing written. */
        memset(got, 0xA5, bb);
        CHECK_STATUS(nnk_quantize_blocks_f32(f, bs + 1, x, got, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
        CHECK_STATUS(nnk_quantize_blocks_f32(f, bs, NULL, got, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
        CHECK_STATUS(nnk_quantize_blocks_f32(f, bs, x, got, 0x100, NULL), NNK_STATUS_INVALID_PARAMETER);
        x[3] = NAN;
        CHECK_STATUS(nnk_quantize_blocks_f32(f, bs, x, got, NNK_FLAG_CHECK_FINITE, NULL), NNK_STATUS_INVALID_PARAMETER);
        CHECK(got[0] == 0xA5 && got[bb - 1] == 0xA5, "format %u: written on error", f);
        CHECK_STATUS(nnk_quantize_blocks_f32(f, bs, x, got, 0, NULL), NNK_STATUS_SUCCESS);
    }
    CHECK(nnk_block_size(5) == 0 && nnk_block_bytes(5) == 0, "unknown format has a size");
    CHECK_STATUS(nnk_quantize_blocks_f32(5, 32, x, got, 0, NULL), NNK_STATUS_INVALID_PARAMETER);
}

/* ---------------------------------------------------------------- split-scale blockwise */

static const uint32_t bw_schemes[] = {NNK_SCHEME_INT8, NNK_SCHEME_UINT8, NNK_SCHEME_INT4, NNK_SCHEME_UINT4,
                                      NNK_SCHEME_MXFP8_E4M3, NNK_SCHEME_MXFP8_E5M2, NNK_SCHEME_MXFP6_E2M3,
                                      NNK_SCHEME_MXFP6_E3M2, NNK_SCHEME_MXFP4_E2M1, NNK_SCHEME_MXINT8,
                                      NNK_SCHEME_NVFP4, NNK_SCHEME_BNB_DYNAMIC8, NNK_SCHEME_BNB_NF4,
                                      NNK_SCHEME_BNB_FP4};

static uint32_t bw_block(uint32_t scheme, int variant) {
    if (scheme <= 4) return variant ? 7 : 64;
    if (scheme == NNK_SCHEME_NVFP4) return 16;
    if (scheme == NNK_SCHEME_BNB_DYNAMIC8) return variant ? 256 : 64;
    if (scheme >= 32) return variant ? 64 : 32;
    return 32;
}

static nnk_status bw_quantize(int t, const nnk_blockwise_params *p, size_t n, const void *x, void *q, void *s,
                              void *z, nnk_threadpool *tp) {
    if (t == 0) return nnk_quantize_blockwise_f32(p, n, (const float *)x, q, s, z, tp);
    if (t == 1) return nnk_quantize_blockwise_f16(p, n, (const uint16_t *)x, q, s, z, tp);
    return nnk_quantize_blockwise_bf16(p, n, (const uint16_t *)x, q, s, z, tp);
}

static nnk_status bw_dequantize(int t, const nnk_blockwise_params *p, size_t n, const void *q, const void *s,
                                const void *z, void *y, nnk_threadpool *tp) {
    if (t == 0) return nnk_dequantize_blockwise_f32(p, n, q, s, z, (float *)y, tp);
    if (t == 1) return nnk_dequantize_blockwise_f16(p, n, q, s, z, (uint16_t *)y, tp);
    return nnk_dequantize_blockwise_bf16(p, n, q, s, z, (uint16_t *)y, tp);
}

static void check_blockwise(nnk_threadpool *tp) {
    enum { MAXN = 256 * 12 + 5 };
    static float x[MAXN], xw[MAXN], yref[MAXN], y[MAXN];
    static uint16_t xh[MAXN], yh[MAXN];
    static uint8_t wq[MAXN], ws[MAXN * 4], wz[MAXN], gq[MAXN], gs[MAXN * 4], gz[MAXN];
    static const float scales[] = {1.0f, 1e-3f, 3e4f, 1e-30f, 1e30f, 1e-8f};
    size_t si;
    CHECK(bw_tables_ready, "tests/vectors/bnb_dynamic8.f32 not read");
    for (si = 0; si < sizeof bw_schemes / sizeof bw_schemes[0]; si++) {
        uint32_t sch = bw_schemes[si];
        int variant, given, with_z, t;
        for (variant = 0; variant < 2; variant++)
            for (given = 0; given < 2; given++)
                for (with_z = 0; with_z < 2; with_z++) {
                    nnk_blockwise_params p;
                    size_t bs = bw_block(sch, variant), n = bs * 12 - (variant ? 3 : 0), i, qb, sb, zb;
                    float ts = variant ? 0.013f : 1.0f;
                    if (with_z && sch > 4) continue;
                    if (!with_z && !given && (sch == 2 || sch == 4)) continue; /* needs zero points */
                    p.scheme = sch;
                    p.block_size = (uint32_t)bs;
                    p.flags = given ? NNK_BLOCKWISE_SCALES_GIVEN : 0;
                    p.tensor_scale = ts;
                    qb = nnk_blockwise_q_bytes(&p, n);
                    sb = nnk_blockwise_scale_bytes(&p, n);
                    zb = with_z ? nnk_blockwise_zero_point_bytes(&p, n) : 0;
                    CHECK(qb == (n * (size_t)bwref_bits(sch) + 7) / 8 && sb > 0, "scheme %u sizes", sch);
                    for (i = 0; i < n; i += bs) {
                        size_t j;
                        float sc = scales[rng() % 6];
                        int kind = (int)(rng() % 8);
                        for (j = i; j < n && j < i + bs; j++) x[j] = block_value(kind, (int)(j - i), sc);
                    }
                    for (i = 0; i < sb; i++) ws[i] = (uint8_t)rng();
                    if (given && (sch <= 4 || sch >= 32))
                        for (i = 0; i < sb / 4; i++) bwref_set_f32(ws + 4 * i, ((float)(rng() % 1000) + 1.0f) * 0.003f);
                    for (i = 0; i < zb; i++) wz[i] = (uint8_t)rng();
                    for (t = 0; t < 3; t++) {
                        for (i = 0; i < n; i++) {
                            if (t == 0) xw[i] = x[i];
                            if (t == 1) { xh[i] = ref_f32_to_f16(x[i]); xw[i] = bits_f32(ref_f16_to_f32(xh[i])); }
                            if (t == 2) { xh[i] = ref_f32_to_bf16(x[i]); xw[i] = bits_f32(ref_bf16_to_f32(xh[i])); }
                        }
                        memset(wq, 0, qb);
                        if (!given) { memset(ws, 0, sb); memset(wz, 0, zb); }
                        memcpy(gs, ws, sb);
                        memcpy(gz, wz, zb);
                        memset(gq, 0xA5, qb);
                        bwref_quantize(sch, bs, given, ts, n, xw, wq, ws, with_z ? wz : NULL);
                        CHECK_STATUS(bw_quantize(t, &p, n, t ? (const void *)xh : (const void *)xw, gq, gs, with_z ? gz : NULL, tp),
                                     NNK_STATUS_SUCCESS);
                        CHECK(memcmp(wq, gq, qb) == 0, "quantize scheme %u block %u given %d zp %d source %s: codes", sch,
                              (unsigned)bs, given, with_z, dtype_name[t]);
                        CHECK(memcmp(ws, gs, sb) == 0, "quantize scheme %u block %u given %d source %s: scales", sch,
                              (unsigned)bs, given, dtype_name[t]);
                        CHECK(memcmp(wz, gz, zb) == 0, "quantize scheme %u block %u: zero points", sch, (unsigned)bs);
                    }
                    /* Dequantize random codes with these scales and zero points. */
                    for (i = 0; i < qb; i++) gq[i] = (uint8_t)rng();
                    bwref_dequantize(sch, bs, ts, n, gq, ws, with_z ? wz : NULL, yref);
                    for (t = 0; t < 3; t++) {
                        CHECK_STATUS(bw_dequantize(t, &p, n, gq, ws, with_z ? wz : NULL, t ? (void *)yh : (void *)y, tp),
                                     NNK_STATUS_SUCCESS);
                        for (i = 0; i < n; i++) {
                            int ok;
                            if (t == 0) ok = f32_bits(y[i]) == f32_bits(yref[i]) || (isnan(y[i]) && isnan(yref[i]));
                            else if (t == 1) ok = yh[i] == ref_f32_to_f16(yref[i]) || isnan(yref[i]);
                            else ok = yh[i] == ref_f32_to_bf16(yref[i]) || isnan(yref[i]);
                            if (!ok) {
                                CHECK(0, "dequantize scheme %u block %u to %s element %u", sch, (unsigned)bs, dtype_name[t], (unsigned)i);
                                break;
                            }
                        }
                    }
                    /* Errors write nothing: unknown flag, zero points where there are none. */
                    memset(gq, 0xA5, qb);
                    p.flags = 0x80;
                    CHECK_STATUS(bw_quantize(0, &p, n, x, gq, gs, with_z ? gz : NULL, tp), NNK_STATUS_INVALID_PARAMETER);
                    p.flags = 0;
                    if (sch > 4) CHECK_STATUS(bw_quantize(0, &p, n, x, gq, gs, gz, tp), NNK_STATUS_INVALID_PARAMETER);
                    CHECK(gq[0] == 0xA5 && gq[qb - 1] == 0xA5, "scheme %u: written on error", sch);
                }
    }
    {
        nnk_blockwise_params p = {99, 32, 0, 1.0f};
        CHECK(nnk_blockwise_q_bytes(&p, 64) == 0, "unknown scheme has a size");
        CHECK_STATUS(nnk_quantize_blockwise_f32(&p, 64, x, gq, gs, NULL, NULL), NNK_STATUS_INVALID_PARAMETER);
    }
}

int main(int argc, char **argv) {
    const char *expect_isa = NULL;
    uint32_t top, level;
    int i;
    static float consistent[3 * 5000];
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect-isa") == 0 && i + 1 < argc) expect_isa = argv[++i];
    }
    {
        float x = 1.0f;
        uint16_t y = 0;
        CHECK_STATUS(nnk_convert_f32_f16(1, &x, &y, NULL), NNK_STATUS_UNINITIALIZED);
    }
    CHECK_STATUS(nnk_initialize(), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_initialize(), NNK_STATUS_SUCCESS);
    bwref_init("tests/vectors/bnb_dynamic8.f32"); /* cargo runs the suite from the crate root */
    top = nnk_isa();
    printf("nnkern %s, ISA in force: %s\n", nnk_version_string(), isa_name(top));
    if (expect_isa) CHECK(strcmp(expect_isa, isa_name(top)) == 0, "expected ISA %s, got %s", expect_isa, isa_name(top));
    check_argument_errors();
    for (level = top + 1; level-- > 0;) {
        CHECK_STATUS(nnk_set_isa_limit(level), NNK_STATUS_SUCCESS);
        CHECK(nnk_isa() == level, "limit %u not in force", level);
        printf("  level %s\n", isa_name(level));
        check_all_16_bit_patterns();
        check_random_narrowing(100003, NULL);
        check_random_widening(100003, NULL);
        check_tails_and_offsets();
        check_operator(NULL);
        check_softmax(NULL);
        check_softmax_operator(NULL);
        check_softmax_guards();
        check_softmax_consistent(consistent, level == top);
        check_pools();
        check_gating(NULL);
        check_dispatch(NULL);
        check_blocks();
        check_blockwise(NULL);
    }
    check_gating_errors();
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("all C conformance checks passed\n");
    return 0;
}
