// nnkern C++ conformance suite: compiled as C++17 against the C++ wrapper bindings/cpp/nnkern.hpp
// (over include/nnkern.h), linked against libnnkern.a, run by `cargo test` (tests/conformance.rs)
// twice: with exceptions (failures throw nnk::Error) and with -fno-exceptions -fno-rtti (calls
// return nnk::Status). CALL() turns either into the nnk_status the checks compare.
//
// Its reference conversions are its own, written from IEEE 754 with frexp/ldexp arithmetic
// (different from the C suite's integer rounding and from nnkern's code). Every check runs at
// every ISA level the CPU has, and through std::thread-based host scheduling.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nnkern.hpp"

// Every member of every wrapper class compiles (a class template's members are otherwise only
// checked where a test happens to call them).
template class nnk::Softmax<float>;
template class nnk::Softmax<nnk::f16>;
template class nnk::Softmax<nnk::bf16>;
template class nnk::LogSoftmax<float>;
template class nnk::LogSoftmax<nnk::f16>;
template class nnk::LogSoftmax<nnk::bf16>;
template class nnk::Convert<float, nnk::f16>;
template class nnk::Convert<nnk::f16, float>;
template class nnk::Convert<float, nnk::bf16>;
template class nnk::Convert<nnk::bf16, float>;
template class nnk::TopKGating<float>;
template class nnk::TopKGating<nnk::f16>;
template class nnk::TopKGating<nnk::bf16>;
template class nnk::QuantizeBlocks<float>;
template class nnk::QuantizeBlocks<nnk::f16>;
template class nnk::QuantizeBlocks<nnk::bf16>;
template class nnk::DequantizeBlocks<float>;
template class nnk::DequantizeBlocks<nnk::f16>;
template class nnk::DequantizeBlocks<nnk::bf16>;
template class nnk::QuantizeBlockwise<float>;
template class nnk::QuantizeBlockwise<nnk::f16>;
template class nnk::QuantizeBlockwise<nnk::bf16>;
template class nnk::DequantizeBlockwise<float>;
template class nnk::DequantizeBlockwise<nnk::f16>;
template class nnk::DequantizeBlockwise<nnk::bf16>;

namespace {

int failures = 0;

void check(bool ok, const std::string &what) {
    if (!ok) {
        if (failures < 20) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
        ++failures;
    }
}

void check_status(nnk_status got, nnk_status want, const char *call) {
    check(got == want, std::string(call) + " -> " + nnk_status_string(got) + ", want " + nnk_status_string(want));
}

#ifdef NNK_CPP_NO_EXCEPTIONS
#define CALL(expr) (expr).code()
#else
template <class F>
nnk_status call_status(F f) {
    try {
        if constexpr (std::is_void_v<decltype(f())>) {
            f();
            return NNK_STATUS_SUCCESS;
        } else {
            return f().code();  // status() accessors
        }
    } catch (const nnk::Error &e) {
        return e.status();
    }
}
#define CALL(expr) call_status([&] { return expr; })
#endif
#define STATUS(call, want) check_status(CALL(call), (want), #call)

using Pool = const nnk::Threadpool *;

std::uint32_t bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

float from_bits(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Rounds |x| to a float format with `mant` stored mantissa bits and minimum normal exponent
// `emin` (IEEE: significand in [1, 2)), ties to even, in double arithmetic; returns the
// magnitude as a double (may be infinity for the caller to detect).
double round_to_format(double ax, int mant, int emin) {
    int e;
    std::frexp(ax, &e);  // ax = f * 2^e, f in [0.5, 1)
    int exp = std::max(e - 1, emin);  // subnormals share the minimum exponent's spacing
    double ulp = std::ldexp(1.0, exp - mant);
    return std::nearbyint(ax / ulp) * ulp;  // default rounding mode: ties to even
}

std::uint16_t ref_f32_to_f16(float x) {
    std::uint16_t sign = (bits(x) >> 16) & 0x8000;
    if (std::isnan(x)) return sign | 0x7E00 | ((bits(x) >> 13) & 0x3FF);
    double r = round_to_format(std::fabs(double(x)), 10, -14);
    if (std::isinf(x) || r >= 65536.0) return sign | 0x7C00;
    if (r == 0) return sign;
    int e;
    std::frexp(r, &e);
    if (e - 1 < -14) return sign | std::uint16_t(r / std::ldexp(1.0, -24));  // subnormal
    double m = r / std::ldexp(1.0, e - 1) - 1.0;                                // in [0, 1)
    return sign | std::uint16_t((e - 1 + 15) << 10) | std::uint16_t(m * 1024.0);
}

std::uint16_t ref_f32_to_bf16(float x) {
    std::uint32_t b = bits(x);
    if (std::isnan(x)) return std::uint16_t((b >> 16) | 0x40);
    double r = round_to_format(std::fabs(double(x)), 7, -126);
    std::uint16_t sign = (b >> 16) & 0x8000;
    if (std::isinf(x) || r >= std::ldexp(1.0, 128)) return sign | 0x7F80;
    // r is representable in bf16, hence in f32: its top 16 bits are the answer.
    return sign | std::uint16_t(bits(float(r)) >> 16);
}

std::uint32_t ref_f16_to_f32(std::uint16_t h) {
    std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 31) return sign | 0x7F800000u | (m ? 0x400000u | (std::uint32_t(m) << 13) : 0u);
    double v = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1.0 + m / 1024.0, e - 15);
    return sign | bits(float(v));
}

std::uint32_t ref_bf16_to_f32(std::uint16_t h) {
    std::uint32_t x = std::uint32_t(h) << 16;
    return ((h & 0x7FFF) > 0x7F80) ? (x | 0x400000u) : x;
}

// The C suite's reference of the GGUF block formats (one reference, two suites).
#include "../c/blocks_ref.h"
#include "../c/blockwise_ref.h"


std::mt19937_64 rng(20261126);

float any_f32() {
    static const std::uint32_t special[] = {0x7FC00001u, 0x7F800001u, 0xFF800000u, 0x7F800000u, 0x80000000u,
                                            0x00000001u, 0x477FF000u, 0x33000000u, 0x387FE000u, 0x7F7FFFFFu,
                                            0x3F808000u, 0x3F818000u, 0x007FFFFFu, 0x00FFFFFFu};
    std::uint64_t r = rng();
    if (r % 6 == 0) return from_bits(special[(r >> 8) % (sizeof(special) / 4)]);
    return from_bits(std::uint32_t(r >> 32));
}

void check_every_16_bit_pattern() {
    std::vector<std::uint16_t> x(65536);
    std::vector<float> y(65536);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::uint16_t(i);
    STATUS(nnk::convert(x.size(), nnk::as_f16(x.data()), y.data()), NNK_STATUS_SUCCESS);
    for (std::size_t i = 0; i < x.size(); ++i) check(bits(y[i]) == ref_f16_to_f32(x[i]), "f16 " + std::to_string(i));
    STATUS(nnk::convert(x.size(), nnk::as_bf16(x.data()), y.data()), NNK_STATUS_SUCCESS);
    for (std::size_t i = 0; i < x.size(); ++i) check(bits(y[i]) == ref_bf16_to_f32(x[i]), "bf16 " + std::to_string(i));
}

void check_narrowing(std::size_t n, Pool tp) {
    std::vector<float> x(n);
    std::vector<std::uint16_t> y(n);
    for (auto &v : x) v = any_f32();
    STATUS(nnk::convert(n, x.data(), nnk::as_f16(y.data()), tp), NNK_STATUS_SUCCESS);
    for (std::size_t i = 0; i < n; ++i)
        check(y[i] == ref_f32_to_f16(x[i]), "f32->f16 of bits " + std::to_string(bits(x[i])));
    STATUS(nnk::convert(n, x.data(), nnk::as_bf16(y.data()), tp), NNK_STATUS_SUCCESS);
    for (std::size_t i = 0; i < n; ++i)
        check(y[i] == ref_f32_to_bf16(x[i]), "f32->bf16 of bits " + std::to_string(bits(x[i])));
}

// Every length 0..200 at every 4-byte offset 0..60: results and untouched surroundings.
void check_lengths_and_offsets() {
    const std::size_t max = 200;
    std::vector<float> x(max + 32);
    std::vector<std::uint16_t> y(max + 64);
    std::vector<float> z(max + 32);
    for (std::size_t n = 0; n <= max; ++n) {
        for (std::size_t off = 0; off < 16; ++off) {
            for (auto &v : x) v = any_f32();
            std::fill(y.begin(), y.end(), 0xA5A5);
            STATUS(nnk::convert(n, x.data() + off, nnk::as_f16(y.data() + 2 * off)), NNK_STATUS_SUCCESS);
            for (std::size_t i = 0; i < y.size(); ++i) {
                bool inside = i >= 2 * off && i < 2 * off + n;
                std::uint16_t want = inside ? ref_f32_to_f16(x[off + i - 2 * off]) : 0xA5A5;
                check(y[i] == want, "n=" + std::to_string(n) + " off=" + std::to_string(off) + " i=" + std::to_string(i));
            }
            std::fill(z.begin(), z.end(), -7.0f);
            STATUS(nnk::convert(n, nnk::as_bf16(y.data() + 2 * off), z.data() + off), NNK_STATUS_SUCCESS);
            for (std::size_t i = 0; i < z.size(); ++i) {
                bool inside = i >= off && i < off + n;
                std::uint32_t want = inside ? ref_bf16_to_f32(y[2 * off + i - off]) : bits(-7.0f);
                check(bits(z[i]) == want, "bf16 n=" + std::to_string(n) + " i=" + std::to_string(i));
            }
        }
    }
}

void check_operator(Pool tp) {
    const std::size_t rows = 64, ch = 1000, is = 1003, os = 1001;
    std::vector<float> x(rows * is);
    std::vector<std::uint16_t> y(rows * os, 0x1234);
    for (auto &v : x) v = any_f32();
    nnk::Convert<float, nnk::bf16> op;
    STATUS(op.run(tp), NNK_STATUS_INVALID_STATE);
    // The wrong operator type behind a handle is refused by the C layer.
    STATUS((nnk::Convert<float, nnk::f16>().run(tp)), NNK_STATUS_INVALID_STATE);
    check(nnk_reshape_convert_nc_f32_f16(op.get(), ch, is, os, rows) == NNK_STATUS_INVALID_PARAMETER, "type check");
    STATUS(op.reshape(ch, is, os, rows), NNK_STATUS_SUCCESS);
    STATUS(op.setup(x.data(), nnk::as_bf16(y.data())), NNK_STATUS_SUCCESS);
    STATUS(op.run(tp), NNK_STATUS_SUCCESS);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < os; ++c) {
            std::uint16_t want = c < ch ? ref_f32_to_bf16(x[r * is + c]) : 0x1234;
            check(y[r * os + c] == want, "operator row " + std::to_string(r) + " col " + std::to_string(c));
        }
    const char *name = op.kernel_name();
    check(name && std::string(name).rfind("f32_bf16_vcvt__", 0) == 0, "kernel name");
}


// ---------------------------------------------------------------- softmax / log-softmax

enum class Dt { f32, f16, bf16 };

// Reference in long double with the contract's special-value rules.
std::vector<double> ref_softmax(bool log_sm, const std::vector<double> &x) {
    std::vector<double> out(x.size());
    bool nan = false;
    std::size_t pinf = 0;
    long double m = -INFINITY;
    for (double v : x) {
        nan |= std::isnan(v);
        pinf += v == INFINITY;
        m = std::max<long double>(m, v);
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (nan) out[i] = NAN;
        else if (pinf) out[i] = x[i] == INFINITY ? (log_sm ? -std::log(double(pinf)) : 1.0 / double(pinf)) : (log_sm ? -INFINITY : 0.0);
        else if (m == -INFINITY) out[i] = log_sm ? -INFINITY : 0.0;
    }
    if (nan || pinf || m == -INFINITY) return out;
    long double s = 0;
    for (double v : x) s += std::exp((long double)v - m);
    for (std::size_t i = 0; i < x.size(); ++i)
        out[i] = double(log_sm ? ((long double)x[i] - m) - std::log(s) : std::exp((long double)x[i] - m) / s);
    return out;
}

float to_f32(Dt t, std::uint16_t h) { return from_bits(t == Dt::f16 ? ref_f16_to_f32(h) : ref_bf16_to_f32(h)); }
std::uint16_t from_f32(Dt t, float v) { return t == Dt::f16 ? ref_f32_to_f16(v) : ref_f32_to_bf16(v); }

bool within(Dt t, bool log_sm, float got, double want) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return double(got) == want;
    double err = std::fabs(double(got) - want);
    if (log_sm && err <= 2e-6 + 1e-6 * std::fabs(want)) return true;
    if (t == Dt::f32) return !log_sm && err <= 1e-6 * std::fabs(want) + 1e-37;
    float r = to_f32(t, from_f32(t, float(want)));
    if (r == got) return true;
    int e;
    std::frexp(r, &e);
    int emin = t == Dt::f16 ? -14 : -126;
    e = (r == 0 || e - 1 < emin) ? emin : e - 1;
    return std::fabs(double(r) - double(got)) <= std::ldexp(1.0, e - (t == Dt::f16 ? 10 : 7)) * 1.000001;
}

void check_softmax_row(const std::vector<float> &src, std::uint32_t flags, Pool tp, const char *what) {
    const std::size_t n = src.size();
    for (bool log_sm : {false, true}) {
        // f32
        std::vector<float> y(n);
        STATUS(log_sm ? nnk::log_softmax(1, n, src.data(), n, y.data(), n, flags, tp)
                      : nnk::softmax(1, n, src.data(), n, y.data(), n, flags, tp),
               NNK_STATUS_SUCCESS);
        auto want = ref_softmax(log_sm, std::vector<double>(src.begin(), src.end()));
        for (std::size_t i = 0; i < n; ++i)
            check(within(Dt::f32, log_sm, y[i], want[i]), std::string(what) + " f32 i=" + std::to_string(i));
        // f16 and bf16
        for (Dt t : {Dt::f16, Dt::bf16}) {
            std::vector<std::uint16_t> xh(n), yh(n);
            std::vector<double> xd(n);
            for (std::size_t i = 0; i < n; ++i) {
                xh[i] = from_f32(t, src[i]);
                xd[i] = to_f32(t, xh[i]);
            }
            nnk_status st;
            if (t == Dt::f16) {
                const nnk::f16 *in = nnk::as_f16(xh.data());
                nnk::f16 *out = nnk::as_f16(yh.data());
                st = CALL(log_sm ? nnk::log_softmax(1, n, in, n, out, n, flags, tp)
                                 : nnk::softmax(1, n, in, n, out, n, flags, tp));
            } else {
                const nnk::bf16 *in = nnk::as_bf16(xh.data());
                nnk::bf16 *out = nnk::as_bf16(yh.data());
                st = CALL(log_sm ? nnk::log_softmax(1, n, in, n, out, n, flags, tp)
                                 : nnk::softmax(1, n, in, n, out, n, flags, tp));
            }
            check_status(st, NNK_STATUS_SUCCESS, "16-bit softmax");
            auto w = ref_softmax(log_sm, xd);
            for (std::size_t i = 0; i < n; ++i)
                check(within(t, log_sm, to_f32(t, yh[i]), w[i]), std::string(what) + " 16-bit i=" + std::to_string(i));
        }
    }
}

void check_softmax(Pool tp) {
    std::uniform_real_distribution<float> u(-25.0f, 25.0f);
    for (std::size_t n : {1u, 7u, 16u, 17u, 100u, 4099u, 40000u}) {
        std::vector<float> x(n);
        for (auto &v : x) v = u(rng);
        for (std::uint32_t f : {0u, std::uint32_t(NNK_FLAG_SOFTMAX_THREE_PASS), std::uint32_t(NNK_FLAG_SOFTMAX_TWO_PASS)})
            check_softmax_row(x, f, tp, "uniform");
    }
    const float inf = INFINITY;
    check_softmax_row({1.0f, -inf, 3.0f}, 0, tp, "-inf entry");
    check_softmax_row({-inf, -inf}, 0, tp, "all -inf");
    check_softmax_row({2.0f, NAN}, 0, tp, "NaN");
    check_softmax_row({inf, 1.0f, inf}, 0, tp, "+inf");
    // Operator with strides, wrong-type and state errors.
    nnk::LogSoftmax<nnk::bf16> op(NNK_FLAG_CONSISTENT_ARITHMETIC);
    STATUS(op.status(), NNK_STATUS_SUCCESS);
    std::vector<std::uint16_t> x(5 * 70), y(5 * 80, 0xBEEF);
    for (auto &v : x) v = ref_f32_to_bf16(u(rng));
    STATUS(op.setup(nnk::as_bf16(x.data()), nnk::as_bf16(y.data())), NNK_STATUS_INVALID_STATE);
    check(nnk_reshape_softmax_nc_bf16(op.get(), 64, 70, 80, 5) == NNK_STATUS_INVALID_PARAMETER, "type check");
    STATUS(op.reshape(64, 0, 80, 5), NNK_STATUS_INVALID_PARAMETER);
    STATUS(op.reshape(64, 70, 80, 5), NNK_STATUS_SUCCESS);
    STATUS(op.setup(nnk::as_bf16(x.data()), nnk::as_bf16(y.data())), NNK_STATUS_SUCCESS);
    STATUS(op.run(tp), NNK_STATUS_SUCCESS);
    for (std::size_t r = 0; r < 5; ++r) {
        std::vector<double> xd(64);
        for (std::size_t c = 0; c < 64; ++c) xd[c] = to_f32(Dt::bf16, x[r * 70 + c]);
        auto w = ref_softmax(true, xd);
        for (std::size_t c = 0; c < 80; ++c) {
            if (c < 64) check(within(Dt::bf16, true, to_f32(Dt::bf16, y[r * 80 + c]), w[c]), "operator bf16 log");
            else check(y[r * 80 + c] == 0xBEEF, "padding written");
        }
    }
}

// A host scheduler on std::thread: 4 workers pull task indices from an atomic counter.

// ---- MoE top-K gating: a C++ f64 reference (std::sort over a total order) ----

struct Gating {
    const char *name;
    nnk_topk_gating_params p;
    bool bias;
};

nnk_topk_gating_params gp(std::uint32_t e, std::uint32_t k, std::uint32_t score, std::uint32_t post,
                          std::uint32_t norm, float eps, float scale, std::uint32_t ng, std::uint32_t tg,
                          std::uint32_t gsc) {
    nnk_topk_gating_params p{};
    p.num_experts = e;
    p.k = k;
    p.score_fn = score;
    p.post_fn = post;
    p.normalize = norm;
    p.norm_eps = eps;
    p.scale = scale;
    p.n_group = ng;
    p.topk_group = tg;
    p.group_score = gsc;
    return p;
}

double score_of(std::uint32_t fn, double x) {
    if (fn == NNK_SCORE_SIGMOID) return 1.0 / (1.0 + std::exp(-x));
    if (fn == NNK_SCORE_SQRT_SOFTPLUS) return std::sqrt(x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)));
    return x;
}

// Returns ids and weights; keys (unmasked) for the near-tie rule.
void ref_gate(const nnk_topk_gating_params &p, const std::vector<float> &bias, const std::vector<double> &x,
              std::vector<std::size_t> &ids, std::vector<double> &w, std::vector<double> &keys) {
    const std::size_t e = p.num_experts, k = p.k;
    const double ninf = -INFINITY;
    std::vector<double> score(e);
    if (p.score_fn == NNK_SCORE_SOFTMAX) {
        double m = ninf;
        std::size_t inf = 0;
        for (double v : x) {
            if (!std::isnan(v)) m = std::max(m, v);
            inf += v == INFINITY;
        }
        double s = 0;
        for (std::size_t i = 0; i < e; i++) score[i] = std::isnan(x[i]) || m == ninf || inf ? 0 : std::exp(x[i] - m);
        if (inf)
            for (std::size_t i = 0; i < e; i++) score[i] = x[i] == INFINITY ? 1.0 / double(inf) : 0.0;
        for (double v : score) s += v;
        if (!inf && m != ninf)
            for (auto &v : score) v /= s;
    } else {
        for (std::size_t i = 0; i < e; i++) score[i] = score_of(p.score_fn, x[i]);
    }
    const bool by_logit = p.selection_bias == nullptr &&
                          (p.n_group <= 1 || p.group_score == NNK_GROUP_SCORE_MAX || p.score_fn == NNK_SCORE_IDENTITY);
    std::vector<double> key(e);
    for (std::size_t i = 0; i < e; i++) {
        double kv = by_logit ? x[i] : score[i] + (p.selection_bias ? double(bias[i]) : 0.0);
        key[i] = std::isnan(x[i]) || x[i] == ninf || std::isnan(kv) ? ninf : kv;
    }
    keys = key;
    auto order = [](const std::vector<double> &kk) {
        std::vector<std::size_t> idx(kk.size());
        for (std::size_t i = 0; i < idx.size(); i++) idx[i] = i;
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return kk[a] > kk[b]; });
        return idx;
    };
    if (p.n_group > 1) {
        const std::size_t g = p.n_group, gs = e / g;
        std::vector<double> gk(g);
        for (std::size_t j = 0; j < g; j++) {
            std::vector<double> m(key.begin() + long(j * gs), key.begin() + long((j + 1) * gs));
            std::sort(m.begin(), m.end(), std::greater<double>());
            double v = p.group_score == NNK_GROUP_SCORE_MAX || gs == 1 ? m[0] : m[0] + m[1];
            gk[j] = std::isnan(v) ? ninf : v;
        }
        auto go = order(gk);
        for (std::size_t r = p.topk_group; r < g; r++)
            for (std::size_t i = 0; i < gs; i++) key[go[r] * gs + i] = ninf;
    }
    auto eo = order(key);
    ids.assign(eo.begin(), eo.begin() + long(k));
    w.resize(k);
    for (std::size_t j = 0; j < k; j++) w[j] = key[ids[j]] == ninf ? ninf : score[ids[j]];
    if (p.post_fn == NNK_POST_SOFTMAX) {
        double m = ninf, s = 0;
        std::size_t inf = 0;
        for (double v : w) { m = std::max(m, v); inf += v == INFINITY; }
        for (auto &v : w) v = inf ? (v == INFINITY ? 1.0 / double(inf) : 0.0) : (m == ninf ? 0 : std::exp(v - m));
        for (double v : w) s += v;
        if (!inf && m != ninf)
            for (auto &v : w) v /= s;
    } else if (p.post_fn == NNK_POST_SIGMOID) {
        for (auto &v : w) v = 1.0 / (1.0 + std::exp(-v));
    }
    for (auto &v : w)
        if (v == ninf) v = 0;
    if (p.normalize == NNK_NORMALIZE_SUM) {
        double s = p.norm_eps;
        std::size_t inf = 0;
        for (double v : w) { s += v; inf += v == INFINITY; }
        for (auto &v : w) v = inf ? (v == INFINITY ? 1.0 / double(inf) : 0.0) : (s == 0 ? 0 : v / s);
    }
    for (auto &v : w) v *= p.scale;
}

void check_gating(Pool tp) {
    const Gating cases[] = {
        {"mixtral", gp(8, 2, NNK_SCORE_SOFTMAX, NNK_POST_NONE, NNK_NORMALIZE_SUM, 0, 1, 0, 0, 0), false},
        {"qwen3", gp(128, 8, NNK_SCORE_SOFTMAX, NNK_POST_NONE, NNK_NORMALIZE_SUM, 0, 1, 0, 0, 0), false},
        {"gpt-oss", gp(32, 4, NNK_SCORE_IDENTITY, NNK_POST_SOFTMAX, NNK_NORMALIZE_NONE, 0, 1, 0, 0, 0), false},
        {"llama4", gp(16, 1, NNK_SCORE_IDENTITY, NNK_POST_SIGMOID, NNK_NORMALIZE_NONE, 0, 1, 0, 0, 0), false},
        {"deepseek-v2", gp(160, 6, NNK_SCORE_SOFTMAX, NNK_POST_NONE, NNK_NORMALIZE_NONE, 0, 16, 8, 3, NNK_GROUP_SCORE_MAX), false},
        {"deepseek-v3", gp(256, 8, NNK_SCORE_SIGMOID, NNK_POST_NONE, NNK_NORMALIZE_SUM, 1e-20f, 2.5f, 8, 4, NNK_GROUP_SCORE_SUM_TOP2), true},
        {"minimax-m2", gp(256, 8, NNK_SCORE_SIGMOID, NNK_POST_NONE, NNK_NORMALIZE_SUM, 1e-20f, 1, 0, 0, 0), true},
        {"v4-style", gp(96, 6, NNK_SCORE_SQRT_SOFTPLUS, NNK_POST_NONE, NNK_NORMALIZE_SUM, 0, 1.5f, 0, 0, 0), true},
        {"switch", gp(1000, 1, NNK_SCORE_SOFTMAX, NNK_POST_NONE, NNK_NORMALIZE_NONE, 0, 1, 0, 0, 0), false},
    };
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> u(-6.0f, 6.0f);
    for (const auto &c : cases) {
        const std::size_t e = c.p.num_experts, k = c.p.k, tokens = 29, stride = e + 1;
        std::vector<float> bias(e);
        for (std::size_t i = 0; i < e; i++) bias[i] = 0.05f * std::cos(float(i));
        nnk_topk_gating_params p = c.p;
        p.selection_bias = c.bias ? bias.data() : nullptr;
        for (int special = 0; special < 3; special++) {
            std::vector<float> x(tokens * stride);
            for (std::size_t i = 0; i < x.size(); i++) {
                x[i] = u(gen);
                if (special == 1) x[i] = i % 4 == 0 ? NAN : (i % 4 == 1 ? -INFINITY : x[i]);
                if (special == 2) x[i] = 1.0f;
            }
            std::vector<std::int32_t> ids(tokens * k), ids16(tokens * k);
            std::vector<float> w(tokens * k), w16(tokens * k);
            std::vector<std::uint16_t> xb(x.size());
            for (std::size_t i = 0; i < x.size(); i++) xb[i] = from_f32(Dt::bf16, x[i]);
            STATUS(nnk::topk_gating(p, tokens, x.data(), stride, ids.data(), w.data(), 0, tp), NNK_STATUS_SUCCESS);
            STATUS(nnk::topk_gating(p, tokens, nnk::as_bf16(xb.data()), stride, ids16.data(), w16.data(), 0, tp), NNK_STATUS_SUCCESS);
            for (int pass = 0; pass < 2; pass++) {
                const auto &gi = pass ? ids16 : ids;
                const auto &gw = pass ? w16 : w;
                for (std::size_t r = 0; r < tokens; r++) {
                    std::vector<double> row(e), rw, keys;
                    std::vector<std::size_t> rid;
                    for (std::size_t i = 0; i < e; i++)
                        row[i] = pass ? to_f32(Dt::bf16, xb[r * stride + i]) : x[r * stride + i];
                    ref_gate(p, bias, row, rid, rw, keys);
                    bool same = true;
                    for (std::size_t j = 0; j < k; j++) same = same && std::size_t(gi[r * k + j]) == rid[j];
                    if (!same) {
                        bool close = c.bias;
                        for (std::size_t j = 0; j < k && close; j++) {
                            std::size_t a = std::size_t(gi[r * k + j]);
                            close = a < e && std::fabs(keys[a] - keys[rid[j]]) <=
                                                 1e-6 * std::max(std::fabs(keys[a]), std::fabs(keys[rid[j]])) + 1e-30;
                        }
                        check(close, std::string(c.name) + " ids differ, row " + std::to_string(r));
                        continue;
                    }
                    for (std::size_t j = 0; j < k; j++) {
                        double got = gw[r * k + j], want = rw[j];
                        check(std::fabs(got - want) <= 1e-6 * std::fabs(want) + 1e-37,
                              std::string(c.name) + " weight row " + std::to_string(r) + ": " + std::to_string(got) +
                                  " want " + std::to_string(want));
                    }
                }
            }
        }
    }
    // Invalid: k > E writes nothing.
    nnk_topk_gating_params bad = gp(8, 9, NNK_SCORE_SOFTMAX, 0, 0, 0, 1, 0, 0, 0);
    float x[8] = {};
    std::int32_t ids[9] = {-3};
    float w[9] = {-3};
    STATUS(nnk::topk_gating(bad, 1, x, 8, ids, w, 0, tp), NNK_STATUS_INVALID_PARAMETER);
    check(ids[0] == -3 && w[0] == -3, "gating wrote on failure");
    // Dispatch plan of the ids of a gating run.
    const std::size_t T = 500, K = 3, E = 11;
    std::vector<std::int32_t> pid(T * K);
    for (std::size_t i = 0; i < pid.size(); i++) pid[i] = std::int32_t(gen() % E);
    std::vector<std::int32_t> counts(E), offsets(E + 1), perm(T * K), inv(T * K);
    STATUS(nnk::moe_dispatch_plan(T, K, pid.data(), E, counts.data(), offsets.data(), perm.data(), inv.data(), tp),
           NNK_STATUS_SUCCESS);
    std::vector<std::int32_t> want(T * K);
    for (std::size_t i = 0; i < want.size(); i++) want[i] = std::int32_t(i);
    std::stable_sort(want.begin(), want.end(), [&](std::int32_t a, std::int32_t b) { return pid[std::size_t(a)] < pid[std::size_t(b)]; });
    check(perm == want, "dispatch permutation");
    for (std::size_t i = 0; i < perm.size(); i++) check(inv[std::size_t(perm[i])] == std::int32_t(i), "inverse");
    check(offsets[E] == std::int32_t(T * K), "offsets[E]");
}

void host_parallel_for(void *user, nnk_task_fn task, void *ctx, std::size_t n) {
    static_cast<std::atomic<int> *>(user)->fetch_add(1);
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t)
        workers.emplace_back([&] {
            for (std::size_t i; (i = next.fetch_add(1)) < n;) task(ctx, i);
        });
    for (auto &w : workers) w.join();
}

const char *isa_name(std::uint32_t isa) {
    switch (isa) {
        case NNK_ISA_AVX512: return "avx512";
        case NNK_ISA_AVX2: return "avx2";
        case NNK_ISA_SCALAR: return "scalar";
        default: return "?";
    }
}

// Every GGUF format from every source type and to every destination type, against the C
// reference, through a threadpool when one is given; 16-bit sources are random finite bit
// patterns (decoded exactly for the reference).
void check_blocks(Pool tp) {
    const std::uint32_t formats[] = {NNK_BLOCK_Q4_0, NNK_BLOCK_Q4_1, NNK_BLOCK_Q5_0, NNK_BLOCK_Q5_1,
                                     NNK_BLOCK_Q8_0, NNK_BLOCK_Q8_1, NNK_BLOCK_Q4_K, NNK_BLOCK_Q5_K,
                                     NNK_BLOCK_Q6_K, NNK_BLOCK_Q8_K, NNK_BLOCK_MXFP4};
    std::mt19937 gen(2026);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (std::uint32_t f : formats) {
        const std::size_t bs = nnk::block_size(f), bb = nnk::block_bytes(f), nb = bs == 256 ? 96 : 768;
        const std::size_t n = nb * bs;
        std::vector<float> x(n), xw(n), yref(n), y(n);
        std::vector<std::uint16_t> xh(n), yh(n);
        std::vector<std::uint8_t> want(nb * bb), got(nb * bb);
        for (std::size_t i = 0; i < n; ++i) x[i] = normal(gen) * std::ldexp(1.0f, int(i / bs % 40) - 20);
        for (int t = 0; t < 3; ++t) {
            for (std::size_t i = 0; i < n; ++i) {
                if (t == 0) {
                    xw[i] = x[i];
                    continue;
                }
                std::uint16_t h = std::uint16_t(gen());
                if (t == 1 && (h & 0x7C00) == 0x7C00) h &= 0xBFFF;
                if (t == 2 && (h & 0x7F80) == 0x7F80) h &= 0xBFFF;
                xh[i] = h;
                xw[i] = from_bits(t == 1 ? ref_f16_to_f32(h) : ref_bf16_to_f32(h));
            }
            for (std::size_t b = 0; b < nb; ++b) ref_quantize(f, &xw[b * bs], &want[b * bb]);
            std::fill(got.begin(), got.end(), std::uint8_t(0xA5));
            if (t == 0) STATUS(nnk::quantize_blocks(f, n, xw.data(), got.data(), 0, tp), NNK_STATUS_SUCCESS);
            if (t == 1) STATUS(nnk::quantize_blocks(f, n, nnk::as_f16(xh.data()), got.data(), 0, tp), NNK_STATUS_SUCCESS);
            if (t == 2) STATUS(nnk::quantize_blocks(f, n, nnk::as_bf16(xh.data()), got.data(), 0, tp), NNK_STATUS_SUCCESS);
            check(got == want, "quantize format " + std::to_string(f) + " source " + std::to_string(t));
        }
        // Dequantize what was just quantized (finite scales): f32 exact, 16-bit rounded once.
        for (std::size_t b = 0; b < nb; ++b) ref_dequantize(f, &want[b * bb], &yref[b * bs]);
        STATUS(nnk::dequantize_blocks(f, n, want.data(), y.data(), 0, tp), NNK_STATUS_SUCCESS);
        bool same = true;
        for (std::size_t i = 0; i < n; ++i) same &= bits(y[i]) == bits(yref[i]);
        check(same, "dequantize f32 format " + std::to_string(f));
        STATUS(nnk::dequantize_blocks(f, n, want.data(), nnk::as_f16(yh.data()), 0, tp), NNK_STATUS_SUCCESS);
        same = true;
        for (std::size_t i = 0; i < n; ++i) same &= yh[i] == ref_f32_to_f16(yref[i]);
        check(same, "dequantize f16 format " + std::to_string(f));
        const std::vector<std::uint16_t> yh16 = yh;
        STATUS(nnk::dequantize_blocks(f, n, want.data(), nnk::as_bf16(yh.data()), 0, tp), NNK_STATUS_SUCCESS);
        same = true;
        for (std::size_t i = 0; i < n; ++i) same &= yh[i] == ref_f32_to_bf16(yref[i]);
        check(same, "dequantize bf16 format " + std::to_string(f));
        // The operator form gives the same bytes.
        nnk::QuantizeBlocks<float> op(f);
        STATUS(op.reshape(n), NNK_STATUS_SUCCESS);
        std::vector<std::uint8_t> again(nb * bb);
        STATUS(op.setup(x.data(), again.data()), NNK_STATUS_SUCCESS);
        STATUS(op.run(tp), NNK_STATUS_SUCCESS);
        std::vector<std::uint8_t> once(nb * bb);
        STATUS(nnk::quantize_blocks(f, n, x.data(), once.data()), NNK_STATUS_SUCCESS);
        check(again == once, "operator form format " + std::to_string(f));
        STATUS(nnk::quantize_blocks(f, bs - 1, x.data(), got.data(), 0, tp), NNK_STATUS_INVALID_PARAMETER);
        // The dequantize operator gives the one-shot values.
        nnk::DequantizeBlocks<nnk::f16> dop(f);
        std::vector<std::uint16_t> dh(n);
        STATUS(dop.reshape(n), NNK_STATUS_SUCCESS);
        STATUS(dop.setup(want.data(), nnk::as_f16(dh.data())), NNK_STATUS_SUCCESS);
        STATUS(dop.run(tp), NNK_STATUS_SUCCESS);
        check(dh == yh16, "dequantize operator format " + std::to_string(f));
    }
}

// Every split-scale scheme, computed and given scales, from every source type and to every
// destination type, against the C reference (large enough to split across the pool), then the
// operator form against the one-shot call.
void check_blockwise(Pool tp) {
    const std::uint32_t schemes[] = {NNK_SCHEME_INT8, NNK_SCHEME_UINT8, NNK_SCHEME_INT4, NNK_SCHEME_UINT4,
                                     NNK_SCHEME_MXFP8_E4M3, NNK_SCHEME_MXFP8_E5M2, NNK_SCHEME_MXFP6_E2M3,
                                     NNK_SCHEME_MXFP6_E3M2, NNK_SCHEME_MXFP4_E2M1, NNK_SCHEME_MXINT8,
                                     NNK_SCHEME_NVFP4, NNK_SCHEME_BNB_DYNAMIC8, NNK_SCHEME_BNB_NF4,
                                     NNK_SCHEME_BNB_FP4};
    check(bw_tables_ready != 0, "tests/vectors/bnb_dynamic8.f32 not read");
    std::mt19937 gen(77);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (std::uint32_t sch : schemes) {
        const std::uint32_t bs = sch <= 4 ? 128 : sch == NNK_SCHEME_NVFP4 ? 16 : sch == NNK_SCHEME_BNB_DYNAMIC8 ? 256 : 32;
        const std::size_t n = (std::size_t(1) << 16) + 37;
        const bool zp = sch <= 4;
        for (int given = 0; given < 2; ++given) {
            const nnk_blockwise_params p = {sch, bs, given ? NNK_BLOCKWISE_SCALES_GIVEN : 0u, 0.02f};
            const std::size_t qb = nnk::blockwise_q_bytes(p, n), sb = nnk::blockwise_scale_bytes(p, n),
                              zb = nnk::blockwise_zero_point_bytes(p, n);
            std::vector<float> x(n), xw(n), yref(n), y(n);
            std::vector<std::uint16_t> xh(n), yh(n);
            std::vector<std::uint8_t> s0(sb), z0(zb);
            for (std::size_t i = 0; i < n; ++i) x[i] = normal(gen) * std::ldexp(1.0f, int(i / bs % 40) - 20);
            for (auto &b : s0) b = std::uint8_t(gen());
            if (given && (sch <= 4 || sch >= 32))
                for (std::size_t i = 0; i < sb / 4; ++i) bwref_set_f32(&s0[4 * i], float(gen() % 1000 + 1) * 1e-4f);
            for (auto &b : z0) b = std::uint8_t(gen());
            for (int t = 0; t < 3; ++t) {
                for (std::size_t i = 0; i < n; ++i) {
                    if (t == 0) { xw[i] = x[i]; continue; }
                    xh[i] = t == 1 ? ref_f32_to_f16(x[i]) : ref_f32_to_bf16(x[i]);
                    xw[i] = from_bits(t == 1 ? ref_f16_to_f32(xh[i]) : ref_bf16_to_f32(xh[i]));
                }
                std::vector<std::uint8_t> wq(qb), ws = given ? s0 : std::vector<std::uint8_t>(sb),
                                                  wz = given ? z0 : std::vector<std::uint8_t>(zb);
                std::vector<std::uint8_t> gq(qb, 0xA5), gs = s0, gz = z0;
                bwref_quantize(sch, bs, given, p.tensor_scale, n, xw.data(), wq.data(), ws.data(), zp ? wz.data() : nullptr);
                void *zz = zp ? gz.data() : nullptr;
                if (t == 0) STATUS(nnk::quantize_blockwise(p, n, xw.data(), gq.data(), gs.data(), zz, tp), NNK_STATUS_SUCCESS);
                if (t == 1) STATUS(nnk::quantize_blockwise(p, n, nnk::as_f16(xh.data()), gq.data(), gs.data(), zz, tp), NNK_STATUS_SUCCESS);
                if (t == 2) STATUS(nnk::quantize_blockwise(p, n, nnk::as_bf16(xh.data()), gq.data(), gs.data(), zz, tp), NNK_STATUS_SUCCESS);
                check(gq == wq && gs == ws && gz == wz,
                      "blockwise quantize scheme " + std::to_string(sch) + " given " + std::to_string(given) + " source " + std::to_string(t));
                if (t != 0) continue;
                // Dequantize those codes to each destination type.
                bwref_dequantize(sch, bs, p.tensor_scale, n, wq.data(), ws.data(), zp ? wz.data() : nullptr, yref.data());
                const void *zr = zp ? wz.data() : nullptr;
                STATUS(nnk::dequantize_blockwise(p, n, wq.data(), ws.data(), zr, y.data(), tp), NNK_STATUS_SUCCESS);
                bool same = true;
                for (std::size_t i = 0; i < n; ++i) same &= bits(y[i]) == bits(yref[i]) || (y[i] != y[i] && yref[i] != yref[i]);
                check(same, "blockwise dequantize f32 scheme " + std::to_string(sch));
                STATUS(nnk::dequantize_blockwise(p, n, wq.data(), ws.data(), zr, nnk::as_f16(yh.data()), tp), NNK_STATUS_SUCCESS);
                same = true;
                for (std::size_t i = 0; i < n; ++i) same &= yh[i] == ref_f32_to_f16(yref[i]) || yref[i] != yref[i];
                check(same, "blockwise dequantize f16 scheme " + std::to_string(sch));
                STATUS(nnk::dequantize_blockwise(p, n, wq.data(), ws.data(), zr, nnk::as_bf16(yh.data()), tp), NNK_STATUS_SUCCESS);
                same = true;
                for (std::size_t i = 0; i < n; ++i) same &= yh[i] == ref_f32_to_bf16(yref[i]) || yref[i] != yref[i];
                check(same, "blockwise dequantize bf16 scheme " + std::to_string(sch));
                // The operator form gives the one-shot bytes.
                nnk::QuantizeBlockwise<float> op(p);
                STATUS(op.reshape(n), NNK_STATUS_SUCCESS);
                std::vector<std::uint8_t> oq(qb), os = s0, oz = z0;
                STATUS(op.setup(xw.data(), oq.data(), os.data(), zp ? oz.data() : nullptr), NNK_STATUS_SUCCESS);
                STATUS(op.run(tp), NNK_STATUS_SUCCESS);
                check(oq == wq && os == ws && oz == wz, "blockwise operator scheme " + std::to_string(sch));
                nnk::DequantizeBlockwise<float> dop(p);
                std::vector<float> oy(n);
                STATUS(dop.reshape(n), NNK_STATUS_SUCCESS);
                STATUS(dop.setup(wq.data(), ws.data(), zr, oy.data()), NNK_STATUS_SUCCESS);
                STATUS(dop.run(tp), NNK_STATUS_SUCCESS);
                check(std::memcmp(oy.data(), y.data(), n * 4) == 0, "blockwise dequantize operator scheme " + std::to_string(sch));
            }
        }
    }
}

// The wrapper itself: failures in the mode in force, move-only handles, and (C++20) the span
// overloads, which check sizes before calling C.
void check_wrapper() {
#ifdef NNK_CPP_NO_EXCEPTIONS
    nnk::Softmax<float> bad(0x80000000u);
    check(bad.status() == NNK_STATUS_INVALID_PARAMETER && bad.get() == nullptr, "no-exceptions create failure");
    nnk::Status st = nnk::set_isa_limit(99);
    check(!st && st.code() == NNK_STATUS_INVALID_PARAMETER && std::string(st.message()) == nnk_status_string(st.code()),
          "returned status");
#else
    bool thrown = false;
    try {
        nnk::Softmax<float> bad(0x80000000u);
    } catch (const nnk::Error &e) {
        thrown = e.status() == NNK_STATUS_INVALID_PARAMETER && std::string(e.what()).find("nnk_create_softmax_nc") == 0;
    }
    check(thrown, "exception on create failure");
#endif
    STATUS(nnk::Softmax<float>(NNK_FLAG_SOFTMAX_TWO_PASS | NNK_FLAG_SOFTMAX_THREE_PASS).status(), NNK_STATUS_INVALID_PARAMETER);
    // Move-only handles: the moved-to object owns the operator, the moved-from one is empty.
    static_assert(!std::is_copy_constructible<nnk::Operator>::value && std::is_nothrow_move_constructible<nnk::Operator>::value,
                  "move-only operator");
    static_assert(!std::is_copy_assignable<nnk::Threadpool>::value && std::is_nothrow_move_assignable<nnk::Threadpool>::value,
                  "move-only pool");
    nnk::Softmax<float> a;
    nnk::Softmax<float> b(std::move(a));
    check(a.get() == nullptr && b.get() != nullptr, "operator move");
    std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, y(6, -1.0f), z(6, -1.0f);
    STATUS(b.reshape(3, 3, 3, 2), NNK_STATUS_SUCCESS);
    STATUS(b.setup(x.data(), y.data()), NNK_STATUS_SUCCESS);
    nnk::Softmax<float> c;
    c = std::move(b);
    STATUS(c.run(), NNK_STATUS_SUCCESS);
    STATUS(nnk::softmax(2, 3, x.data(), 3, z.data(), 3), NNK_STATUS_SUCCESS);
    check(y == z && std::fabs(y[2] - 0.66524096f) < 1e-6f, "moved operator runs");
    nnk::Threadpool p1(2), p2;
    p2 = std::move(p1);
    check(p1.get() == nullptr && p2.get() != nullptr && p2.threads() == 2 && p1.threads() == 1, "pool move");
    // Align-blocks through the wrapper: 3 tokens, k 2, 2 experts, blocks of 4.
    const std::int32_t ids[6] = {0, 1, 1, 0, 1, 1};
    std::vector<std::int32_t> slots(6 + 2 * 3, -1), bexp(3, -1);
    std::size_t total = 0;
    STATUS(nnk::moe_align_blocks(3, 2, ids, 2, 4, slots.data(), bexp.data(), &total), NNK_STATUS_SUCCESS);
    check(total == 8 && slots[0] == 0 && slots[1] == 3 && slots[2] == 6 && slots[4] == 1 && slots[7] == 5 && bexp[0] == 0 &&
              bexp[1] == 1,
          "align blocks");
#ifdef NNK_CPP_HAS_SPAN
    std::vector<float> out(6, -1.0f);
    STATUS(nnk::softmax(std::span<const float>(x), std::span<float>(out).first(5), 3), NNK_STATUS_INVALID_PARAMETER);
    check(out == std::vector<float>(6, -1.0f), "span size failure wrote");
    STATUS(nnk::softmax(std::span<const float>(x), std::span<float>(out), 3), NNK_STATUS_SUCCESS);
    check(out == z, "span softmax");
    STATUS(nnk::log_softmax(std::span<const float>(x), std::span<float>(out), 3), NNK_STATUS_SUCCESS);
    check(std::fabs(out[5] - std::log(0.66524096f)) < 2e-6f, "span log-softmax");
    std::vector<nnk::bf16> xb(6);
    STATUS((nnk::convert<float, nnk::bf16>(x, xb)), NNK_STATUS_SUCCESS);
    check(xb[5].bits == 0x40C0, "span convert");
    nnk_topk_gating_params gpar = gp(3, 2, NNK_SCORE_SOFTMAX, 0, NNK_NORMALIZE_SUM, 0, 1, 0, 0, 0);
    std::vector<std::int32_t> gid(4);
    std::vector<float> gw(4);
    STATUS(nnk::topk_gating<float>(gpar, x, gid, std::span<float>(gw).first(3)), NNK_STATUS_INVALID_PARAMETER);
    STATUS(nnk::topk_gating<float>(gpar, x, gid, gw), NNK_STATUS_SUCCESS);
    check(gid == std::vector<std::int32_t>({2, 1, 2, 1}), "span gating ids");
    std::vector<std::int32_t> cnt(3), off(4), perm(4), inv;
    STATUS(nnk::moe_dispatch_plan(2, gid, cnt, off, perm, inv), NNK_STATUS_SUCCESS);
    check(perm == std::vector<std::int32_t>({1, 3, 0, 2}) && off[3] == 4, "span dispatch plan");
    std::vector<float> xq(64, 127.0f), yq(64);  // scale 1: exact
    std::vector<std::uint8_t> blocks(2 * 34);
    STATUS(nnk::quantize_blocks<float>(NNK_BLOCK_Q8_0, xq, std::span<std::uint8_t>(blocks).first(67)), NNK_STATUS_INVALID_PARAMETER);
    STATUS(nnk::quantize_blocks<float>(NNK_BLOCK_Q8_0, xq, blocks), NNK_STATUS_SUCCESS);
    STATUS(nnk::dequantize_blocks<float>(NNK_BLOCK_Q8_0, blocks, yq), NNK_STATUS_SUCCESS);
    check(yq == xq, "span blocks round trip");
    const nnk_blockwise_params bp = {NNK_SCHEME_INT8, 32, 0, 0.0f};
    std::vector<std::uint8_t> q(64), sc(8), zero;
    STATUS(nnk::quantize_blockwise<float>(bp, xq, q, std::span<std::uint8_t>(sc).first(4)), NNK_STATUS_INVALID_PARAMETER);
    STATUS(nnk::quantize_blockwise<float>(bp, xq, q, sc), NNK_STATUS_SUCCESS);
    STATUS(nnk::dequantize_blockwise<float>(bp, q, sc, zero, yq), NNK_STATUS_SUCCESS);
    check(yq == xq, "span blockwise round trip");
#endif
}

}  // namespace

int main() {
    STATUS(nnk::initialize(), NNK_STATUS_SUCCESS);
    bwref_init("tests/vectors/bnb_dynamic8.f32");  // cargo runs the suite from the crate root
    std::uint32_t top = nnk::isa();
    std::printf("nnkern %s, ISA in force: %s\n", nnk::version(), isa_name(top));

    nnk::Threadpool pool(2);
    STATUS(pool.status(), NNK_STATUS_SUCCESS);
    std::atomic<int> host_calls{0};
    nnk::Threadpool host(host_parallel_for, &host_calls, 4);
    STATUS(host.status(), NNK_STATUS_SUCCESS);
    check_wrapper();

    for (std::uint32_t level = top + 1; level-- > 0;) {
        STATUS(nnk::set_isa_limit(level), NNK_STATUS_SUCCESS);
        std::printf("  level %s\n", isa_name(nnk::isa()));
        check_every_16_bit_pattern();
        check_narrowing(200003, nullptr);
        check_narrowing((1u << 20) + 5, &pool);
        check_narrowing((1u << 20) + 5, &host);
        check_lengths_and_offsets();
        check_operator(nullptr);
        check_operator(&pool);
        check_operator(&host);
        check_softmax(nullptr);
        check_softmax(&host);
        check_gating(nullptr);
        check_gating(&host);
        check_blocks(nullptr);
        check_blocks(&host);
        check_blockwise(nullptr);
        check_blockwise(&host);
    }
    check(host_calls.load() > 0, "host scheduler used");
    if (failures) {
        std::printf("%d failures\n", failures);
        return 1;
    }
    std::printf("all C++ conformance checks passed\n");
    return 0;
}
