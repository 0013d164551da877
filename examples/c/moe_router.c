/* MoE router step: top-2 of 8 experts per token (Mixtral: softmax, then renormalize the two
 * weights), then the dispatch plan that groups the token slots by expert for a grouped GEMM.
 *
 *   cargo build --release
 *   cc -std=c99 -O2 -Iinclude examples/c/moe_router.c target/release/libnnkern.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o moe_router && ./moe_router
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nnkern.h"

enum { TOKENS = 12, EXPERTS = 8, K = 2 };

int main(void) {
    float logits[TOKENS][EXPERTS];
    int32_t ids[TOKENS * K], counts[EXPERTS], offsets[EXPERTS + 1], perm[TOKENS * K], inverse[TOKENS * K];
    float weights[TOKENS * K];
    nnk_topk_gating_params p;
    nnk_threadpool *tp = NULL;
    nnk_status st;
    int t, e, i;

    for (t = 0; t < TOKENS; t++) /* stand-in router logits */
        for (e = 0; e < EXPERTS; e++) logits[t][e] = 2.0f * sinf(1.9f * (float)(t * EXPERTS + e) * (float)(e + 3));

    memset(&p, 0, sizeof p); /* Mixtral's preset: {SOFTMAX, NONE, SUM, 0, 1, 0, 0, MAX, NULL} */
    p.num_experts = EXPERTS;
    p.k = K;
    p.score_fn = NNK_SCORE_SOFTMAX;
    p.post_fn = NNK_POST_NONE;
    p.normalize = NNK_NORMALIZE_SUM;
    p.scale = 1.0f;

    if ((st = nnk_initialize()) != NNK_STATUS_SUCCESS) goto fail;
    if ((st = nnk_threadpool_create(2, &tp)) != NNK_STATUS_SUCCESS) goto fail;
    st = nnk_topk_gating_f32(&p, TOKENS, &logits[0][0], EXPERTS, ids, weights, 0, tp);
    if (st != NNK_STATUS_SUCCESS) goto fail;
    st = nnk_moe_dispatch_plan(TOKENS, K, ids, EXPERTS, counts, offsets, perm, inverse, tp);
    if (st != NNK_STATUS_SUCCESS) goto fail;

    for (t = 0; t < 3; t++)
        printf("token %d -> expert %d (%.4f), expert %d (%.4f)\n", t, ids[t * K], weights[t * K], ids[t * K + 1],
               weights[t * K + 1]);
    for (e = 0; e < EXPERTS; e++) {
        printf("expert %d: %d slots:", e, counts[e]);
        for (i = offsets[e]; i < offsets[e + 1]; i++) {
            /* A slot t*K+j is token t's j-th choice: its row of the grouped GEMM input. */
            printf(" t%d", perm[i] / K);
            if (ids[perm[i]] != e || inverse[perm[i]] != i) {
                fprintf(stderr, "inconsistent plan\n");
                return 1;
            }
        }
        printf("\n");
    }
    if (offsets[EXPERTS] != TOKENS * K) return 1;
    nnk_threadpool_destroy(tp);
    printf("moe router done\n");
    return 0;
fail:
    fprintf(stderr, "nnkern: %s\n", nnk_status_string(st));
    nnk_threadpool_destroy(tp);
    return 1;
}
