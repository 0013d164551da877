/* Embedding hygiene of nnkern, run by tests/hygiene.rs (linked shared and static):
 *
 * - the only environment variable nnkern reads is NNK_ISA: this program defines getenv, which
 *   interposes the C library's for nnkern too (the executable's definition comes first), and
 *   records every name asked for;
 * - no thread starts unless a pool is created: /proc/self/task is counted around every kind of
 *   call, with and without errors, and a pool of 3 must then add exactly its 2 workers, which
 *   go away when it is destroyed;
 * - nothing is printed: this program itself prints nothing on success, so the test asserts
 *   that stdout and stderr are empty. Failures are written to the file named by argv[1].
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <dirent.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnkern.h"

extern char **environ;

static char asked[64][64];
static int n_asked;

/* The C library's getenv, by scanning environ, recording each name. */
char *getenv(const char *name) {
    size_t len = strlen(name);
    if (n_asked < 64) {
        strncpy(asked[n_asked], name, 63);
        asked[n_asked][63] = 0;
        n_asked++;
    }
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
    return NULL;
}

static char failures[4096];
static int n_failures;

static void fail(const char *what) {
    if (strlen(failures) + strlen(what) + 2 < sizeof failures) {
        strcat(failures, what);
        strcat(failures, "\n");
    }
    n_failures++;
}

#define CHECK(cond) \
    do {            \
        if (!(cond)) fail(#cond); \
    } while (0)

static int threads(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* The thread count once it reaches `want`, waiting up to about two seconds: a joined thread
 * can stay listed in /proc/self/task for a moment (the kernel wakes pthread_join when the
 * thread releases its memory, before it removes the task), seen once on a loaded machine. */
static int threads_settled(int want) {
    int i, n = threads();
    for (i = 0; i < 2000 && n != want; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        n = threads();
    }
    return n;
}

/* One call of every operator family, successful and failing, without a pool. */
static void every_family(nnk_threadpool *tp) {
    enum { N = 1 << 16 };
    static float x[N], y[N];
    static uint16_t h[N];
    static unsigned char q[N * 2], s[N];
    static int32_t ids[N], perm[N], inv[N], slots[N + 64 * 7], bexp[N];
    int32_t counts[64], offsets[65];
    size_t padded = 0;
    size_t i;
    nnk_operator *op = NULL;
    nnk_topk_gating_params gp;
    nnk_blockwise_params bp;
    for (i = 0; i < N; i++) x[i] = (float)((i * 7919) % 1000) / 100.0f - 5.0f;

    CHECK(nnk_softmax_nc_f32(N / 1024, 1024, x, 1024, y, 1024, 0, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_log_softmax_nc_f32(1, N, x, N, y, N, NNK_FLAG_SOFTMAX_TWO_PASS, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_softmax_nc_f32(1, 0, x, 1, y, 1, 0, tp) == NNK_STATUS_INVALID_PARAMETER);
    CHECK(nnk_convert_f32_bf16(N, x, h, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_softmax_nc_bf16(64, 1024, h, 1024, h, 1024, 0, tp) == NNK_STATUS_SUCCESS);

    memset(&gp, 0, sizeof gp);
    gp.num_experts = 64;
    gp.k = 6;
    gp.score_fn = NNK_SCORE_SOFTMAX;
    gp.normalize = NNK_NORMALIZE_SUM;
    gp.scale = 1.0f;
    CHECK(nnk_topk_gating_f32(&gp, N / 64, x, 64, ids, y, 0, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_moe_dispatch_plan(N / 64, 6, ids, 64, counts, offsets, perm, inv, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_moe_align_blocks(N / 64, 6, ids, 64, 8, slots, bexp, &padded, tp) == NNK_STATUS_SUCCESS);
    gp.k = 65;
    CHECK(nnk_topk_gating_f32(&gp, 1, x, 64, ids, y, 0, tp) == NNK_STATUS_INVALID_PARAMETER);
    ids[0] = 99;
    CHECK(nnk_moe_dispatch_plan(1, 1, ids, 64, counts, offsets, perm, inv, tp) == NNK_STATUS_INVALID_PARAMETER);

    CHECK(nnk_quantize_blocks_f32(NNK_BLOCK_Q4_K, N, x, q, 0, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_dequantize_blocks_f32(NNK_BLOCK_Q4_K, N, q, y, 0, tp) == NNK_STATUS_SUCCESS);
    x[5] = 1.0f / 0.0f;
    CHECK(nnk_quantize_blocks_f32(NNK_BLOCK_Q8_0, 32, x, q, NNK_FLAG_CHECK_FINITE, tp) == NNK_STATUS_INVALID_PARAMETER);
    x[5] = 0.0f;
    CHECK(nnk_quantize_blocks_f32(77, 32, x, q, 0, tp) == NNK_STATUS_INVALID_PARAMETER);

    bp.scheme = NNK_SCHEME_BNB_NF4;
    bp.block_size = 64;
    bp.flags = 0;
    bp.tensor_scale = 1.0f;
    CHECK(nnk_quantize_blockwise_f32(&bp, N, x, q, s, NULL, tp) == NNK_STATUS_SUCCESS);
    CHECK(nnk_dequantize_blockwise_f32(&bp, N, q, s, NULL, y, tp) == NNK_STATUS_SUCCESS);
    bp.block_size = 3;
    CHECK(nnk_quantize_blockwise_f32(&bp, N, x, q, s, NULL, tp) == NNK_STATUS_INVALID_PARAMETER);

    /* Operator misuse. */
    CHECK(nnk_create_softmax_nc_f32(0x80, &op) == NNK_STATUS_INVALID_PARAMETER);
    CHECK(nnk_create_softmax_nc_f32(0, &op) == NNK_STATUS_SUCCESS);
    CHECK(nnk_run_operator(op, tp) == NNK_STATUS_INVALID_STATE);
    CHECK(nnk_reshape_log_softmax_nc_f32(op, 8, 8, 8, 1) == NNK_STATUS_INVALID_PARAMETER);
    CHECK(nnk_run_operator(NULL, tp) == NNK_STATUS_INVALID_PARAMETER);
    CHECK(nnk_delete_operator(op) == NNK_STATUS_SUCCESS);
    CHECK(nnk_delete_operator(NULL) == NNK_STATUS_SUCCESS);
    CHECK(nnk_set_isa_limit(42) == NNK_STATUS_INVALID_PARAMETER);
    CHECK(nnk_status_string(12345) != NULL);
}

int main(int argc, char **argv) {
    int base, i;
    nnk_threadpool *tp = NULL;
    if (argc != 2) return 2;

    base = threads();
    CHECK(base == 1);
    /* Before initialization calls fail cleanly. */
    CHECK(nnk_softmax_nc_f32(1, 1, (const float[]){0.0f}, 1, (float[]){0.0f}, 1, 0, NULL) == NNK_STATUS_UNINITIALIZED);
    CHECK(nnk_version_string() != NULL);
    CHECK(nnk_initialize() == NNK_STATUS_SUCCESS);
    CHECK(nnk_initialize() == NNK_STATUS_SUCCESS);
    for (i = 0; i < 2; i++) {
        CHECK(nnk_set_isa_limit(i == 0 ? NNK_ISA_AVX512 : NNK_ISA_SCALAR) == NNK_STATUS_SUCCESS);
        every_family(NULL);
    }
    CHECK(threads() == base);

    CHECK(nnk_threadpool_create(3, &tp) == NNK_STATUS_SUCCESS);
    CHECK(threads() == base + 2); /* proves the count would see threads */
    every_family(tp);
    CHECK(nnk_threadpool_destroy(tp) == NNK_STATUS_SUCCESS);
    CHECK(threads_settled(base) == base);
    CHECK(nnk_threadpool_destroy(NULL) == NNK_STATUS_SUCCESS);

    for (i = 0; i < n_asked; i++) {
        if (strcmp(asked[i], "NNK_ISA") != 0) {
            fail("environment variable read, named on the next line:");
            fail(asked[i]);
        }
    }
    {
        int saw_nnk_isa = 0;
        for (i = 0; i < n_asked; i++) saw_nnk_isa |= strcmp(asked[i], "NNK_ISA") == 0;
        CHECK(saw_nnk_isa); /* proves the interposition sees nnkern's reads */
    }

    if (n_failures) {
        FILE *f = fopen(argv[1], "w");
        if (f) {
            fputs(failures, f);
            fclose(f);
        }
        return 1;
    }
    return 0;
}
