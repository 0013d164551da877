// Decoding a GGUF Q4_0 tensor with the C++ wrapper (blocks of 32 elements in 18 bytes: an f16
// scale, then 4-bit codes). The tensor is made by quantizing, as a GGUF writer would.
//
//   cargo build --release
//   c++ -std=c++17 -O2 -Iinclude -Ibindings/cpp examples/cpp/gguf_q4_0.cpp
//       target/release/libnnkern.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o gguf_q4_0
#include <nnkern.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

int main() try {
    constexpr std::size_t rows = 64, cols = 4096, n = rows * cols;
    std::vector<float> w(n), y(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 0.02f * std::sin(0.7f * float(i % 100003) + 0.3f * float(i / cols));
    nnk::initialize();
    const std::size_t bytes = n / nnk::block_size(NNK_BLOCK_Q4_0) * nnk::block_bytes(NNK_BLOCK_Q4_0);
    std::vector<std::uint8_t> blocks(bytes);
    nnk::quantize_blocks(NNK_BLOCK_Q4_0, n, w.data(), blocks.data());

    // A loader decodes the tensor once, to f32 (exact) or straight to bf16 for a bf16 model.
    nnk::Threadpool pool(2);
    nnk::DequantizeBlocks<float> decode(NNK_BLOCK_Q4_0);
    decode.reshape(n);
    decode.setup(blocks.data(), y.data());
    decode.run(&pool);
    std::vector<nnk::bf16> y16(n);
    nnk::dequantize_blocks(NNK_BLOCK_Q4_0, n, blocks.data(), y16.data(), 0, &pool);

    double err = 0, ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
        err += double(y[i] - w[i]) * double(y[i] - w[i]);
        ref += double(w[i]) * double(w[i]);
    }
    std::printf("%zu elements in %zu bytes, relative RMS error %.4f (%s)\n", n, bytes, std::sqrt(err / ref),
                decode.kernel_name());
    if (std::sqrt(err / ref) > 0.1) return 1;
    std::printf("gguf q4_0 done\n");
    return 0;
} catch (const nnk::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
}
