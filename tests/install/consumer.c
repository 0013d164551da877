/* A tiny program that uses an installed nnkern (tests/install.rs builds it with pkg-config
 * and with CMake, against the shared and the static library). */
#include <nnkern.h>
#include <stdio.h>

int main(void) {
    const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float y[4];
    if (nnk_initialize() != NNK_STATUS_SUCCESS) return 1;
    if (nnk_softmax_nc_f32(1, 4, x, 4, y, 4, 0, NULL) != NNK_STATUS_SUCCESS) return 2;
    printf("nnkern %s: softmax [1 2 3 4] = %.6f %.6f %.6f %.6f\n", nnk_version_string(), y[0], y[1], y[2], y[3]);
    return 0;
}
