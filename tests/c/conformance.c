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

static void check_pools(void) {
    nnk_threadpool *tp = NULL, *custom = NULL;
    CHECK_STATUS(nnk_threadpool_create(3, &tp), NNK_STATUS_SUCCESS);
    CHECK(nnk_threadpool_threads(tp) == 3, "threads");
    CHECK(nnk_threadpool_threads(NULL) == 1, "threads of NULL");
    check_random_narrowing((1u << 20) + 7, tp);
    check_random_widening((1u << 20) + 9, tp);
    check_operator(tp);
    CHECK_STATUS(nnk_threadpool_destroy(tp), NNK_STATUS_SUCCESS);
    CHECK_STATUS(nnk_threadpool_destroy(NULL), NNK_STATUS_SUCCESS);

    CHECK_STATUS(nnk_threadpool_create_custom(NULL, NULL, 3, &custom), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_threadpool_create_custom(host_parallel_for, NULL, 0, &custom), NNK_STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nnk_threadpool_create_custom(host_parallel_for, NULL, 3, &custom), NNK_STATUS_SUCCESS);
    host_calls = 0;
    check_random_narrowing((1u << 20) + 7, custom);
    check_random_widening((1u << 20) + 9, custom);
    check_operator(custom);
    CHECK(host_calls > 0, "the host scheduler was never called");
    CHECK_STATUS(nnk_threadpool_destroy(custom), NNK_STATUS_SUCCESS);
}

/* ---------------------------------------------------------------- main */

static const char *isa_name(uint32_t isa) {
    return isa == NNK_ISA_AVX512 ? "avx512" : isa == NNK_ISA_AVX2 ? "avx2" : isa == NNK_ISA_SCALAR ? "scalar" : "?";
}

int main(int argc, char **argv) {
    const char *expect_isa = NULL;
    uint32_t top, level;
    int i;
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
        check_pools();
    }
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("all C conformance checks passed\n");
    return 0;
}
