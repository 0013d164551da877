/* Decoding a GGUF Q4_0 tensor: 32 elements per 18-byte block (an f16 scale d, then 16 bytes of
 * 4-bit codes q, element = d * (q - 8)). Here the tensor is made by nnk_quantize_blocks_f32, as
 * a GGUF writer would, then decoded to f32 and to f16 as a runtime loading the file would.
 *
 *   cargo build --release
 *   cc -std=c99 -O2 -Iinclude examples/c/gguf_q4_0.c target/release/libnnkern.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o gguf_q4_0 && ./gguf_q4_0
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nnkern.h"

enum { ROWS = 64, COLS = 4096 };

int main(void) {
    const size_t n = (size_t)ROWS * COLS;
    const size_t bytes = n / nnk_block_size(NNK_BLOCK_Q4_0) * nnk_block_bytes(NNK_BLOCK_Q4_0);
    float *w = malloc(n * sizeof *w), *y = malloc(n * sizeof *y);
    uint16_t *y16 = malloc(n * sizeof *y16);
    unsigned char *blocks = malloc(bytes);
    double err = 0.0, ref = 0.0;
    nnk_status st = NNK_STATUS_OUT_OF_MEMORY;
    size_t i;

    if (!w || !y || !y16 || !blocks) goto fail;
    for (i = 0; i < n; i++) w[i] = 0.02f * sinf(0.7f * (float)(i % 100003) + 0.3f * (float)(i / COLS));
    if ((st = nnk_initialize()) != NNK_STATUS_SUCCESS) goto fail;
    if ((st = nnk_quantize_blocks_f32(NNK_BLOCK_Q4_0, n, w, blocks, 0, NULL)) != NNK_STATUS_SUCCESS) goto fail;

    /* What a GGUF loader does with the tensor's bytes. */
    if ((st = nnk_dequantize_blocks_f32(NNK_BLOCK_Q4_0, n, blocks, y, 0, NULL)) != NNK_STATUS_SUCCESS) goto fail;
    if ((st = nnk_dequantize_blocks_f16(NNK_BLOCK_Q4_0, n, blocks, y16, 0, NULL)) != NNK_STATUS_SUCCESS) goto fail;

    /* Element 5 of block 0 by hand: the low nibble of code byte 5, the scale from bytes 0-1. */
    {
        uint16_t h = (uint16_t)(blocks[0] | blocks[1] << 8);
        int e = (h >> 10) & 31, m = h & 1023;
        float d = (e ? ldexpf(1.0f + (float)m / 1024.0f, e - 15) : ldexpf((float)m, -24)) * ((h & 0x8000) ? -1.0f : 1.0f);
        float by_hand = d * (float)((blocks[2 + 5] & 0x0F) - 8);
        printf("element 5 by hand %.6f, decoded %.6f\n", by_hand, y[5]);
        if (by_hand != y[5]) return 1;
    }
    for (i = 0; i < n; i++) {
        err += (double)(y[i] - w[i]) * (double)(y[i] - w[i]);
        ref += (double)w[i] * (double)w[i];
    }
    printf("%zu elements in %zu bytes (%.2f bits each), relative RMS error %.4f\n", n, bytes, 8.0 * (double)bytes / (double)n,
           sqrt(err / ref));
    free(w);
    free(y);
    free(y16);
    free(blocks);
    printf("gguf q4_0 done\n");
    return 0;
fail:
    fprintf(stderr, "nnkern: %s\n", nnk_status_string(st));
    free(w);
    free(y);
    free(y16);
    free(blocks);
    return 1;
}
