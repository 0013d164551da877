// MoE router step with the C++ wrapper: DeepSeek-V3's router (sigmoid scores, a selection bias,
// 8 groups of which 4 are kept by their top-2 sum, top-8 renormalized and scaled by 2.5) over
// 64 experts, then the dispatch plan for the grouped GEMM.
//
//   cargo build --release
//   c++ -std=c++17 -O2 -Iinclude -Ibindings/cpp examples/cpp/moe_router.cpp
//       target/release/libnnkern.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o moe_router
#include <nnkern.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() try {
    constexpr std::size_t tokens = 32, experts = 64, k = 8;
    std::vector<float> logits(tokens * experts), bias(experts), weights(tokens * k);
    for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = 2.0f * std::sin(1.9f * float(i) * float(i % 7 + 3));
    for (std::size_t e = 0; e < experts; ++e) bias[e] = 0.01f * float(e % 5);
    // The DeepSeek-V3/R1 preset from nnkern.h.
    nnk_topk_gating_params p{};
    p.num_experts = experts;
    p.k = k;
    p.score_fn = NNK_SCORE_SIGMOID;
    p.normalize = NNK_NORMALIZE_SUM;
    p.norm_eps = 1e-20f;
    p.scale = 2.5f;
    p.n_group = 8;
    p.topk_group = 4;
    p.group_score = NNK_GROUP_SCORE_SUM_TOP2;
    p.selection_bias = bias.data();

    nnk::initialize();
    std::vector<std::int32_t> ids(tokens * k), counts(experts), offsets(experts + 1), perm(tokens * k), inverse(tokens * k);
    nnk::TopKGating<float> router(p);  // the operator copies the bias at creation
    router.reshape(tokens, experts);
    router.setup(logits.data(), ids.data(), weights.data());
    router.run();
    nnk::moe_dispatch_plan(tokens, k, ids.data(), experts, counts.data(), offsets.data(), perm.data(), inverse.data());

    double w0 = 0;
    for (std::size_t j = 0; j < k; ++j) w0 += weights[j];
    std::printf("token 0: experts");
    for (std::size_t j = 0; j < k; ++j) std::printf(" %d", ids[j]);
    std::printf(" (weights sum to %.4f)\n", w0);
    std::size_t busiest = 0;
    for (std::size_t e = 1; e < experts; ++e)
        if (counts[e] > counts[busiest]) busiest = e;
    std::printf("busiest expert %zu: %d of %zu slots\n", busiest, counts[busiest], tokens * k);
    for (std::size_t i = 0; i < perm.size(); ++i)
        if (inverse[std::size_t(perm[i])] != std::int32_t(i)) return 1;
    if (std::fabs(w0 - 2.5) > 1e-5 || offsets[experts] != std::int32_t(tokens * k)) return 1;
    std::printf("moe router done\n");
    return 0;
} catch (const nnk::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
}
