/* Classifier head: softmax over 1000 classes for a batch of images, then the top-5 classes.
 *
 *   cargo build --release
 *   cc -std=c99 -O2 -Iinclude examples/c/classifier_head.c target/release/libnnkern.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o classifier_head && ./classifier_head
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nnkern.h"

enum { BATCH = 4, CLASSES = 1000 };

int main(void) {
    static float logits[BATCH][CLASSES], probs[BATCH][CLASSES];
    nnk_operator *op = NULL;
    nnk_status st;
    int b, c, k;

    /* Stand-in logits (what the network's last matmul would produce): noise, and one class per
     * image that the network is confident about. */
    for (b = 0; b < BATCH; b++) {
        for (c = 0; c < CLASSES; c++) logits[b][c] = 2.0f * sinf(0.37f * (float)(c + 1) * (float)(b + 1));
        logits[b][(b * 271 + 17) % CLASSES] += 9.0f;
    }

    if ((st = nnk_initialize()) != NNK_STATUS_SUCCESS) goto fail;
    /* The operator form: created once, reshaped when the batch changes, set up per call. */
    if ((st = nnk_create_softmax_nc_f32(0, &op)) != NNK_STATUS_SUCCESS) goto fail;
    if ((st = nnk_reshape_softmax_nc_f32(op, CLASSES, CLASSES, CLASSES, BATCH)) != NNK_STATUS_SUCCESS) goto fail;
    if ((st = nnk_setup_softmax_nc_f32(op, &logits[0][0], &probs[0][0])) != NNK_STATUS_SUCCESS) goto fail;
    if ((st = nnk_run_operator(op, NULL)) != NNK_STATUS_SUCCESS) goto fail;
    printf("kernel: %s\n", nnk_operator_kernel_name(op));

    for (b = 0; b < BATCH; b++) {
        double sum = 0.0;
        int used[CLASSES] = {0};
        for (c = 0; c < CLASSES; c++) sum += probs[b][c];
        printf("image %d (sum of probabilities %.6f): top-5", b, sum);
        for (k = 0; k < 5; k++) {
            int best = -1;
            for (c = 0; c < CLASSES; c++)
                if (!used[c] && (best < 0 || probs[b][c] > probs[b][best])) best = c;
            used[best] = 1;
            printf(" %d:%.4f", best, probs[b][best]);
        }
        printf("\n");
        if (fabs(sum - 1.0) > 1e-4) {
            fprintf(stderr, "probabilities do not sum to 1\n");
            return 1;
        }
    }
    nnk_delete_operator(op);
    printf("classifier head done\n");
    return 0;
fail:
    fprintf(stderr, "nnkern: %s\n", nnk_status_string(st));
    nnk_delete_operator(op);
    return 1;
}
