// Classifier head with the C++ wrapper: softmax over 1000 classes for a batch, then the top-5.
//
//   cargo build --release
//   c++ -std=c++17 -O2 -Iinclude -Ibindings/cpp examples/cpp/classifier_head.cpp
//       target/release/libnnkern.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o classifier_head
#include <nnkern.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

int main() try {
    constexpr std::size_t batch = 4, classes = 1000;
    std::vector<float> logits(batch * classes), probs(batch * classes);
    for (std::size_t b = 0; b < batch; ++b) {
        for (std::size_t c = 0; c < classes; ++c)
            logits[b * classes + c] = 2.0f * std::sin(0.37f * float(c + 1) * float(b + 1));
        logits[b * classes + (b * 271 + 17) % classes] += 9.0f;
    }
    nnk::initialize();
    nnk::Threadpool pool(2);
    nnk::Softmax<float> softmax;  // throws nnk::Error on failure, as every call below
    softmax.reshape(classes, classes, classes, batch);
    softmax.setup(logits.data(), probs.data());
    softmax.run(&pool);
    std::printf("kernel: %s\n", softmax.kernel_name());
    for (std::size_t b = 0; b < batch; ++b) {
        const float *row = &probs[b * classes];
        std::vector<int> order(classes);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int i, int j) { return row[i] > row[j]; });
        double sum = std::accumulate(row, row + classes, 0.0);
        std::printf("image %zu (sum %.6f): top-5", b, sum);
        for (int k = 0; k < 5; ++k) std::printf(" %d:%.4f", order[k], row[order[k]]);
        std::printf("\n");
        if (std::fabs(sum - 1.0) > 1e-4) return 1;
    }
    std::printf("classifier head done\n");
    return 0;
} catch (const nnk::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
}
