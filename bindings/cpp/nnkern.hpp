// nnkern.hpp — header-only C++17 wrapper over nnkern's C API (include/nnkern.h).
//
// * RAII, move-only handles: nnk::Threadpool, nnk::Operator and the typed operators
//   (nnk::Softmax<T>, nnk::LogSoftmax<T>, nnk::Convert<From, To>, nnk::TopKGating<T>,
//   nnk::QuantizeBlocks<T>, nnk::DequantizeBlocks<T>, nnk::QuantizeBlockwise<T>,
//   nnk::DequantizeBlockwise<T>), and typed one-shot functions for every operator. T is float,
//   nnk::f16 or nnk::bf16 (16-bit storage types holding the IEEE / bfloat16 bits).
// * Pointer + size overloads everywhere; under C++20 also std::span overloads (dense rows).
// * Errors: by default a failing call throws nnk::Error, which carries the nnk_status, and the
//   calls return void. Compiled without exceptions (-fno-exceptions, or with NNK_CPP_NO_EXCEPTIONS
//   defined) the same calls return nnk::Status ([[nodiscard]]) instead, constructors record their
//   status in status(), and nothing throws; RTTI is never needed. `nnk::Result` names the
//   return type of the mode in force.
//
// Every function is a thin inline call of the C function of the same name; the C header
// documents the semantics, layouts and error cases.
#ifndef NNKERN_HPP
#define NNKERN_HPP

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "nnkern.h"

#if !defined(NNK_CPP_NO_EXCEPTIONS) && !(defined(__cpp_exceptions) || defined(__EXCEPTIONS))
#define NNK_CPP_NO_EXCEPTIONS 1
#endif

#ifndef NNK_CPP_NO_EXCEPTIONS
#include <stdexcept>
#include <string>
#endif

#if __cplusplus >= 202002L && defined(__has_include)
#if __has_include(<span>)
#include <span>
#define NNK_CPP_HAS_SPAN 1
#endif
#endif

namespace nnk {

// ------------------------------------------------------------------ status and errors

/// A status code with its name: `ok()` is true for NNK_STATUS_SUCCESS. [[nodiscard]]: in the
/// no-exceptions mode a call's status must be looked at.
class [[nodiscard]] Status {
   public:
    constexpr Status(nnk_status code = NNK_STATUS_SUCCESS) noexcept : code_(code) {}
    constexpr nnk_status code() const noexcept { return code_; }
    constexpr bool ok() const noexcept { return code_ == NNK_STATUS_SUCCESS; }
    constexpr explicit operator bool() const noexcept { return ok(); }
    const char *message() const noexcept { return nnk_status_string(code_); }
    friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }
    friend constexpr bool operator!=(Status a, Status b) noexcept { return a.code_ != b.code_; }

   private:
    nnk_status code_;
};

#ifndef NNK_CPP_NO_EXCEPTIONS
/// Thrown by every wrapper call that fails; status() is the C function's nnk_status.
class Error : public std::runtime_error {
   public:
    Error(nnk_status code, const char *what)
        : std::runtime_error(std::string(what) + ": " + nnk_status_string(code)), code_(code) {}
    nnk_status status() const noexcept { return code_; }

   private:
    nnk_status code_;
};
using Result = void;
#define NNK_CPP_RESULT ::nnk::Result
#else
using Result = Status;
#define NNK_CPP_RESULT ::nnk::Result
#endif

namespace detail {
#ifndef NNK_CPP_NO_EXCEPTIONS
inline void check(nnk_status st, const char *what) {
    if (st != NNK_STATUS_SUCCESS) throw Error(st, what);
}
#else
constexpr Status check(nnk_status st, const char *) noexcept { return Status(st); }
#endif
}  // namespace detail

// ------------------------------------------------------------------ element types

/// IEEE binary16 bits. Standard layout, 2 bytes: arrays of uint16_t can be passed with as_f16().
struct f16 {
    std::uint16_t bits;
};
/// bfloat16 bits (the top half of an f32).
struct bf16 {
    std::uint16_t bits;
};
static_assert(sizeof(f16) == 2 && sizeof(bf16) == 2, "16-bit storage types");

inline const f16 *as_f16(const std::uint16_t *p) noexcept { return reinterpret_cast<const f16 *>(p); }
inline f16 *as_f16(std::uint16_t *p) noexcept { return reinterpret_cast<f16 *>(p); }
inline const bf16 *as_bf16(const std::uint16_t *p) noexcept { return reinterpret_cast<const bf16 *>(p); }
inline bf16 *as_bf16(std::uint16_t *p) noexcept { return reinterpret_cast<bf16 *>(p); }

namespace detail {
// The C element type of a wrapper element type.
template <class T>
struct CType;
template <>
struct CType<float> {
    using type = float;
};
template <>
struct CType<f16> {
    using type = std::uint16_t;
};
template <>
struct CType<bf16> {
    using type = std::uint16_t;
};
template <class T>
using c_t = typename CType<T>::type;

template <class T>
inline const c_t<T> *c(const T *p) noexcept {
    return reinterpret_cast<const c_t<T> *>(p);
}
template <class T>
inline c_t<T> *c(T *p) noexcept {
    return reinterpret_cast<c_t<T> *>(p);
}

// The C functions of each element type.
template <class T>
struct Fn;
#define NNK_CPP_FNS(T, S)                                                                                     \
    template <>                                                                                               \
    struct Fn<T> {                                                                                            \
        static constexpr auto softmax = &nnk_softmax_nc_##S;                                                  \
        static constexpr auto create_softmax = &nnk_create_softmax_nc_##S;                                    \
        static constexpr auto reshape_softmax = &nnk_reshape_softmax_nc_##S;                                  \
        static constexpr auto setup_softmax = &nnk_setup_softmax_nc_##S;                                      \
        static constexpr auto log_softmax = &nnk_log_softmax_nc_##S;                                          \
        static constexpr auto create_log_softmax = &nnk_create_log_softmax_nc_##S;                            \
        static constexpr auto reshape_log_softmax = &nnk_reshape_log_softmax_nc_##S;                          \
        static constexpr auto setup_log_softmax = &nnk_setup_log_softmax_nc_##S;                              \
        static constexpr auto gating = &nnk_topk_gating_##S;                                                  \
        static constexpr auto create_gating = &nnk_create_topk_gating_##S;                                    \
        static constexpr auto reshape_gating = &nnk_reshape_topk_gating_##S;                                  \
        static constexpr auto setup_gating = &nnk_setup_topk_gating_##S;                                      \
        static constexpr auto quantize_blocks = &nnk_quantize_blocks_##S;                                     \
        static constexpr auto create_quantize_blocks = &nnk_create_quantize_blocks_##S;                       \
        static constexpr auto reshape_quantize_blocks = &nnk_reshape_quantize_blocks_##S;                     \
        static constexpr auto setup_quantize_blocks = &nnk_setup_quantize_blocks_##S;                         \
        static constexpr auto dequantize_blocks = &nnk_dequantize_blocks_##S;                                 \
        static constexpr auto create_dequantize_blocks = &nnk_create_dequantize_blocks_##S;                   \
        static constexpr auto reshape_dequantize_blocks = &nnk_reshape_dequantize_blocks_##S;                 \
        static constexpr auto setup_dequantize_blocks = &nnk_setup_dequantize_blocks_##S;                     \
        static constexpr auto quantize_blockwise = &nnk_quantize_blockwise_##S;                               \
        static constexpr auto create_quantize_blockwise = &nnk_create_quantize_blockwise_##S;                 \
        static constexpr auto reshape_quantize_blockwise = &nnk_reshape_quantize_blockwise_##S;               \
        static constexpr auto setup_quantize_blockwise = &nnk_setup_quantize_blockwise_##S;                   \
        static constexpr auto dequantize_blockwise = &nnk_dequantize_blockwise_##S;                           \
        static constexpr auto create_dequantize_blockwise = &nnk_create_dequantize_blockwise_##S;             \
        static constexpr auto reshape_dequantize_blockwise = &nnk_reshape_dequantize_blockwise_##S;           \
        static constexpr auto setup_dequantize_blockwise = &nnk_setup_dequantize_blockwise_##S;               \
    };
NNK_CPP_FNS(float, f32)
NNK_CPP_FNS(f16, f16)
NNK_CPP_FNS(bf16, bf16)
#undef NNK_CPP_FNS

// The conversions that exist: From -> To.
template <class From, class To>
struct Cvt;
#define NNK_CPP_CVT(F, T, S)                                            \
    template <>                                                         \
    struct Cvt<F, T> {                                                  \
        static constexpr auto one_shot = &nnk_convert_##S;              \
        static constexpr auto create = &nnk_create_convert_nc_##S;      \
        static constexpr auto reshape = &nnk_reshape_convert_nc_##S;    \
        static constexpr auto setup = &nnk_setup_convert_nc_##S;        \
    };
NNK_CPP_CVT(float, f16, f32_f16)
NNK_CPP_CVT(f16, float, f16_f32)
NNK_CPP_CVT(float, bf16, f32_bf16)
NNK_CPP_CVT(bf16, float, bf16_f32)
#undef NNK_CPP_CVT
}  // namespace detail

// ------------------------------------------------------------------ library

/// nnk_initialize: call once before anything else (idempotent, thread-safe).
inline NNK_CPP_RESULT initialize() { return detail::check(nnk_initialize(), "nnk_initialize"); }
/// The ISA level in force: NNK_ISA_SCALAR, NNK_ISA_AVX2 or NNK_ISA_AVX512.
inline std::uint32_t isa() noexcept { return nnk_isa(); }
/// Lowers (or restores) the ISA ceiling; clamped to what the CPU has.
inline NNK_CPP_RESULT set_isa_limit(std::uint32_t level) {
    return detail::check(nnk_set_isa_limit(level), "nnk_set_isa_limit");
}
inline const char *version() noexcept { return nnk_version_string(); }
inline const char *status_string(nnk_status st) noexcept { return nnk_status_string(st); }

// ------------------------------------------------------------------ threadpool

/// Owns an nnk_threadpool (move-only). A default-constructed pool is empty: get() is NULL,
/// which every call accepts as "run on the calling thread".
class Threadpool {
   public:
    Threadpool() noexcept = default;
    /// nnk_threadpool_create(threads) (0: one per CPU).
    explicit Threadpool(std::size_t threads) {
        status_ = detail_create(nnk_threadpool_create(threads, &tp_), "nnk_threadpool_create");
    }
    /// nnk_threadpool_create_custom: nnkern schedules through the host's parallel-for.
    Threadpool(nnk_parallel_for_fn parallel_for, void *user, std::size_t concurrency) {
        status_ = detail_create(nnk_threadpool_create_custom(parallel_for, user, concurrency, &tp_),
                                "nnk_threadpool_create_custom");
    }
    Threadpool(Threadpool &&o) noexcept : tp_(std::exchange(o.tp_, nullptr)), status_(o.status_) {}
    Threadpool &operator=(Threadpool &&o) noexcept {
        if (this != &o) {
            reset();
            tp_ = std::exchange(o.tp_, nullptr);
            status_ = o.status_;
        }
        return *this;
    }
    Threadpool(const Threadpool &) = delete;
    Threadpool &operator=(const Threadpool &) = delete;
    ~Threadpool() { reset(); }

    nnk_threadpool *get() const noexcept { return tp_; }
    /// Threads the pool runs work on (1 for an empty pool).
    std::size_t threads() const noexcept { return tp_ ? nnk_threadpool_threads(tp_) : 1; }
    /// How creation went (always success in the exceptions mode, which throws instead).
    Status status() const noexcept { return status_; }
    void reset() noexcept {
        if (tp_) nnk_threadpool_destroy(tp_);
        tp_ = nullptr;
    }

   private:
    static nnk_status detail_create(nnk_status st, const char *what) {
#ifndef NNK_CPP_NO_EXCEPTIONS
        detail::check(st, what);
#else
        (void)what;
#endif
        return st;
    }
    nnk_threadpool *tp_ = nullptr;
    nnk_status status_ = NNK_STATUS_SUCCESS;
};

namespace detail {
inline nnk_threadpool *pool(const Threadpool *tp) noexcept { return tp ? tp->get() : nullptr; }
}  // namespace detail

// ------------------------------------------------------------------ operators

/// Owns an nnk_operator (move-only): run(), kernel_name(). The typed operators below derive from
/// it and add reshape() and setup() with their own argument types.
class Operator {
   public:
    Operator() noexcept = default;
    Operator(Operator &&o) noexcept : op_(std::exchange(o.op_, nullptr)), status_(o.status_) {}
    Operator &operator=(Operator &&o) noexcept {
        if (this != &o) {
            reset();
            op_ = std::exchange(o.op_, nullptr);
            status_ = o.status_;
        }
        return *this;
    }
    Operator(const Operator &) = delete;
    Operator &operator=(const Operator &) = delete;
    ~Operator() { reset(); }

    nnk_operator *get() const noexcept { return op_; }
    /// How creation went (always success in the exceptions mode, which throws instead).
    Status status() const noexcept { return status_; }
    /// The microkernel the operator runs (NULL for an empty operator).
    const char *kernel_name() const noexcept { return nnk_operator_kernel_name(op_); }
    /// nnk_run_operator on the pool, or on the calling thread for NULL.
    NNK_CPP_RESULT run(const Threadpool *tp = nullptr) {
        return detail::check(nnk_run_operator(op_, detail::pool(tp)), "nnk_run_operator");
    }
    void reset() noexcept {
        if (op_) nnk_delete_operator(op_);
        op_ = nullptr;
    }

   protected:
    // Records (or, with exceptions, throws) a create call's status.
    void created(nnk_status st, const char *what) {
        status_ = st;
#ifndef NNK_CPP_NO_EXCEPTIONS
        detail::check(st, what);
#else
        (void)what;
#endif
    }
    nnk_operator *op_ = nullptr;
    nnk_status status_ = NNK_STATUS_SUCCESS;
};

/// nnk_create_softmax_nc_*: reshape(channels, input_stride, output_stride, batch), setup(in, out).
template <class T>
class Softmax : public Operator {
   public:
    explicit Softmax(std::uint32_t flags = 0) { created(detail::Fn<T>::create_softmax(flags, &op_), "nnk_create_softmax_nc"); }
    NNK_CPP_RESULT reshape(std::size_t channels, std::size_t input_stride, std::size_t output_stride, std::size_t batch) {
        return detail::check(detail::Fn<T>::reshape_softmax(op_, channels, input_stride, output_stride, batch),
                             "nnk_reshape_softmax_nc");
    }
    NNK_CPP_RESULT setup(const T *input, T *output) {
        return detail::check(detail::Fn<T>::setup_softmax(op_, detail::c(input), detail::c(output)), "nnk_setup_softmax_nc");
    }
};

/// nnk_create_log_softmax_nc_*: as Softmax.
template <class T>
class LogSoftmax : public Operator {
   public:
    explicit LogSoftmax(std::uint32_t flags = 0) {
        created(detail::Fn<T>::create_log_softmax(flags, &op_), "nnk_create_log_softmax_nc");
    }
    NNK_CPP_RESULT reshape(std::size_t channels, std::size_t input_stride, std::size_t output_stride, std::size_t batch) {
        return detail::check(detail::Fn<T>::reshape_log_softmax(op_, channels, input_stride, output_stride, batch),
                             "nnk_reshape_log_softmax_nc");
    }
    NNK_CPP_RESULT setup(const T *input, T *output) {
        return detail::check(detail::Fn<T>::setup_log_softmax(op_, detail::c(input), detail::c(output)),
                             "nnk_setup_log_softmax_nc");
    }
};

/// nnk_create_convert_nc_*: From -> To, one of float -> f16/bf16 and f16/bf16 -> float.
template <class From, class To>
class Convert : public Operator {
   public:
    explicit Convert(std::uint32_t flags = 0) { created(detail::Cvt<From, To>::create(flags, &op_), "nnk_create_convert_nc"); }
    NNK_CPP_RESULT reshape(std::size_t channels, std::size_t input_stride, std::size_t output_stride, std::size_t batch) {
        return detail::check(detail::Cvt<From, To>::reshape(op_, channels, input_stride, output_stride, batch),
                             "nnk_reshape_convert_nc");
    }
    NNK_CPP_RESULT setup(const From *input, To *output) {
        return detail::check(detail::Cvt<From, To>::setup(op_, detail::c(input), detail::c(output)), "nnk_setup_convert_nc");
    }
};

/// nnk_create_topk_gating_*: reshape(tokens, logits_stride), setup(logits, ids, weights). The
/// operator copies p.selection_bias at creation.
template <class T>
class TopKGating : public Operator {
   public:
    explicit TopKGating(const nnk_topk_gating_params &p, std::uint32_t flags = 0) {
        created(detail::Fn<T>::create_gating(&p, flags, &op_), "nnk_create_topk_gating");
    }
    NNK_CPP_RESULT reshape(std::size_t tokens, std::size_t logits_stride) {
        return detail::check(detail::Fn<T>::reshape_gating(op_, tokens, logits_stride), "nnk_reshape_topk_gating");
    }
    NNK_CPP_RESULT setup(const T *logits, std::int32_t *ids, float *weights) {
        return detail::check(detail::Fn<T>::setup_gating(op_, detail::c(logits), ids, weights), "nnk_setup_topk_gating");
    }
};

/// nnk_create_quantize_blocks_*: a GGUF format (NNK_BLOCK_*); reshape(n), setup(x, blocks).
template <class T>
class QuantizeBlocks : public Operator {
   public:
    QuantizeBlocks(std::uint32_t format, std::uint32_t flags = 0) {
        created(detail::Fn<T>::create_quantize_blocks(format, flags, &op_), "nnk_create_quantize_blocks");
    }
    NNK_CPP_RESULT reshape(std::size_t n) {
        return detail::check(detail::Fn<T>::reshape_quantize_blocks(op_, n), "nnk_reshape_quantize_blocks");
    }
    NNK_CPP_RESULT setup(const T *x, void *blocks) {
        return detail::check(detail::Fn<T>::setup_quantize_blocks(op_, detail::c(x), blocks), "nnk_setup_quantize_blocks");
    }
};

/// nnk_create_dequantize_blocks_*: reshape(n), setup(blocks, y).
template <class T>
class DequantizeBlocks : public Operator {
   public:
    DequantizeBlocks(std::uint32_t format, std::uint32_t flags = 0) {
        created(detail::Fn<T>::create_dequantize_blocks(format, flags, &op_), "nnk_create_dequantize_blocks");
    }
    NNK_CPP_RESULT reshape(std::size_t n) {
        return detail::check(detail::Fn<T>::reshape_dequantize_blocks(op_, n), "nnk_reshape_dequantize_blocks");
    }
    NNK_CPP_RESULT setup(const void *blocks, T *y) {
        return detail::check(detail::Fn<T>::setup_dequantize_blocks(op_, blocks, detail::c(y)), "nnk_setup_dequantize_blocks");
    }
};

/// nnk_create_quantize_blockwise_*: reshape(n), setup(x, q, scales, zero_points).
template <class T>
class QuantizeBlockwise : public Operator {
   public:
    explicit QuantizeBlockwise(const nnk_blockwise_params &p) {
        created(detail::Fn<T>::create_quantize_blockwise(&p, &op_), "nnk_create_quantize_blockwise");
    }
    NNK_CPP_RESULT reshape(std::size_t n) {
        return detail::check(detail::Fn<T>::reshape_quantize_blockwise(op_, n), "nnk_reshape_quantize_blockwise");
    }
    NNK_CPP_RESULT setup(const T *x, void *q, void *scales, void *zero_points = nullptr) {
        return detail::check(detail::Fn<T>::setup_quantize_blockwise(op_, detail::c(x), q, scales, zero_points),
                             "nnk_setup_quantize_blockwise");
    }
};

/// nnk_create_dequantize_blockwise_*: reshape(n), setup(q, scales, zero_points, y).
template <class T>
class DequantizeBlockwise : public Operator {
   public:
    explicit DequantizeBlockwise(const nnk_blockwise_params &p) {
        created(detail::Fn<T>::create_dequantize_blockwise(&p, &op_), "nnk_create_dequantize_blockwise");
    }
    NNK_CPP_RESULT reshape(std::size_t n) {
        return detail::check(detail::Fn<T>::reshape_dequantize_blockwise(op_, n), "nnk_reshape_dequantize_blockwise");
    }
    NNK_CPP_RESULT setup(const void *q, const void *scales, const void *zero_points, T *y) {
        return detail::check(detail::Fn<T>::setup_dequantize_blockwise(op_, q, scales, zero_points, detail::c(y)),
                             "nnk_setup_dequantize_blockwise");
    }
};

// ------------------------------------------------------------------ one-shot calls

/// nnk_softmax_nc_*: `batch` rows of `channels`, strides in elements.
template <class T>
NNK_CPP_RESULT softmax(std::size_t batch, std::size_t channels, const T *input, std::size_t input_stride, T *output,
                       std::size_t output_stride, std::uint32_t flags = 0, const Threadpool *tp = nullptr) {
    return detail::check(detail::Fn<T>::softmax(batch, channels, detail::c(input), input_stride, detail::c(output),
                                                 output_stride, flags, detail::pool(tp)),
                         "nnk_softmax_nc");
}

/// nnk_log_softmax_nc_*.
template <class T>
NNK_CPP_RESULT log_softmax(std::size_t batch, std::size_t channels, const T *input, std::size_t input_stride, T *output,
                           std::size_t output_stride, std::uint32_t flags = 0, const Threadpool *tp = nullptr) {
    return detail::check(detail::Fn<T>::log_softmax(batch, channels, detail::c(input), input_stride, detail::c(output),
                                                     output_stride, flags, detail::pool(tp)),
                         "nnk_log_softmax_nc");
}

/// nnk_convert_*: n elements From -> To.
template <class From, class To>
NNK_CPP_RESULT convert(std::size_t n, const From *x, To *y, const Threadpool *tp = nullptr) {
    return detail::check(detail::Cvt<From, To>::one_shot(n, detail::c(x), detail::c(y), detail::pool(tp)), "nnk_convert");
}

/// nnk_topk_gating_*: ids and weights are [tokens][p.k], dense.
template <class T>
NNK_CPP_RESULT topk_gating(const nnk_topk_gating_params &p, std::size_t tokens, const T *logits, std::size_t logits_stride,
                           std::int32_t *ids, float *weights, std::uint32_t flags = 0, const Threadpool *tp = nullptr) {
    return detail::check(
        detail::Fn<T>::gating(&p, tokens, detail::c(logits), logits_stride, ids, weights, flags, detail::pool(tp)),
        "nnk_topk_gating");
}

/// nnk_moe_dispatch_plan: counts [E], offsets [E+1], permutation and inverse [tokens*k]
/// (inverse may be NULL).
inline NNK_CPP_RESULT moe_dispatch_plan(std::size_t tokens, std::size_t k, const std::int32_t *ids,
                                        std::size_t num_experts, std::int32_t *counts, std::int32_t *offsets,
                                        std::int32_t *permutation, std::int32_t *inverse,
                                        const Threadpool *tp = nullptr) {
    return detail::check(nnk_moe_dispatch_plan(tokens, k, ids, num_experts, counts, offsets, permutation, inverse,
                                               detail::pool(tp)),
                         "nnk_moe_dispatch_plan");
}

/// nnk_moe_align_blocks: sorted_slots has capacity tokens*k + E*(block-1).
inline NNK_CPP_RESULT moe_align_blocks(std::size_t tokens, std::size_t k, const std::int32_t *ids,
                                       std::size_t num_experts, std::size_t block, std::int32_t *sorted_slots,
                                       std::int32_t *block_expert, std::size_t *padded_total,
                                       const Threadpool *tp = nullptr) {
    return detail::check(nnk_moe_align_blocks(tokens, k, ids, num_experts, block, sorted_slots, block_expert,
                                              padded_total, detail::pool(tp)),
                         "nnk_moe_align_blocks");
}

/// Elements per block of a GGUF format (0 if unknown).
inline std::size_t block_size(std::uint32_t format) noexcept { return nnk_block_size(format); }
/// Bytes per block of a GGUF format (0 if unknown).
inline std::size_t block_bytes(std::uint32_t format) noexcept { return nnk_block_bytes(format); }

/// nnk_quantize_blocks_*: n (a multiple of the block size) elements into n / block_size blocks.
template <class T>
NNK_CPP_RESULT quantize_blocks(std::uint32_t format, std::size_t n, const T *x, void *blocks, std::uint32_t flags = 0,
                               const Threadpool *tp = nullptr) {
    return detail::check(detail::Fn<T>::quantize_blocks(format, n, detail::c(x), blocks, flags, detail::pool(tp)),
                         "nnk_quantize_blocks");
}

/// nnk_dequantize_blocks_*.
template <class T>
NNK_CPP_RESULT dequantize_blocks(std::uint32_t format, std::size_t n, const void *blocks, T *y, std::uint32_t flags = 0,
                                 const Threadpool *tp = nullptr) {
    return detail::check(detail::Fn<T>::dequantize_blocks(format, n, blocks, detail::c(y), flags, detail::pool(tp)),
                         "nnk_dequantize_blocks");
}

/// Bytes of codes, scales and zero points that n elements take (0 for invalid parameters).
inline std::size_t blockwise_q_bytes(const nnk_blockwise_params &p, std::size_t n) noexcept {
    return nnk_blockwise_q_bytes(&p, n);
}
inline std::size_t blockwise_scale_bytes(const nnk_blockwise_params &p, std::size_t n) noexcept {
    return nnk_blockwise_scale_bytes(&p, n);
}
inline std::size_t blockwise_zero_point_bytes(const nnk_blockwise_params &p, std::size_t n) noexcept {
    return nnk_blockwise_zero_point_bytes(&p, n);
}

/// nnk_quantize_blockwise_*.
template <class T>
NNK_CPP_RESULT quantize_blockwise(const nnk_blockwise_params &p, std::size_t n, const T *x, void *q, void *scales,
                                  void *zero_points = nullptr, const Threadpool *tp = nullptr) {
    return detail::check(detail::Fn<T>::quantize_blockwise(&p, n, detail::c(x), q, scales, zero_points, detail::pool(tp)),
                         "nnk_quantize_blockwise");
}

/// nnk_dequantize_blockwise_*.
template <class T>
NNK_CPP_RESULT dequantize_blockwise(const nnk_blockwise_params &p, std::size_t n, const void *q, const void *scales,
                                    const void *zero_points, T *y, const Threadpool *tp = nullptr) {
    return detail::check(
        detail::Fn<T>::dequantize_blockwise(&p, n, q, scales, zero_points, detail::c(y), detail::pool(tp)),
        "nnk_dequantize_blockwise");
}

#ifdef NNK_CPP_HAS_SPAN
// ------------------------------------------------------------------ C++20 std::span overloads
//
// Dense rows: a span of rows * channels elements. The element type is deduced from the output
// span; calls whose only typed span is an input name it: nnk::topk_gating<float>(...). A size that does not fit the call is
// NNK_STATUS_INVALID_PARAMETER (thrown or returned like any other failure), nothing written.

namespace detail {
template <class T>
using same_t = typename std::type_identity<T>::type;  // not deduced: T comes from the output
}  // namespace detail

#define NNK_CPP_GUARD(cond, what)                                              \
    if (!(cond)) return detail::check(NNK_STATUS_INVALID_PARAMETER, what)

/// Softmax over rows of `channels`: input.size() == output.size(), a multiple of channels.
template <class T>
NNK_CPP_RESULT softmax(std::span<const detail::same_t<T>> input, std::span<T> output, std::size_t channels, std::uint32_t flags = 0,
                       const Threadpool *tp = nullptr) {
    NNK_CPP_GUARD(channels != 0 && input.size() == output.size() && input.size() % channels == 0, "nnk::softmax(span)");
    return softmax<T>(input.size() / channels, channels, input.data(), channels, output.data(), channels, flags, tp);
}

template <class T>
NNK_CPP_RESULT log_softmax(std::span<const detail::same_t<T>> input, std::span<T> output, std::size_t channels, std::uint32_t flags = 0,
                           const Threadpool *tp = nullptr) {
    NNK_CPP_GUARD(channels != 0 && input.size() == output.size() && input.size() % channels == 0,
                  "nnk::log_softmax(span)");
    return log_softmax<T>(input.size() / channels, channels, input.data(), channels, output.data(), channels, flags, tp);
}

template <class From, class To>
NNK_CPP_RESULT convert(std::span<const From> x, std::span<To> y, const Threadpool *tp = nullptr) {
    NNK_CPP_GUARD(x.size() == y.size(), "nnk::convert(span)");
    return convert<From, To>(x.size(), x.data(), y.data(), tp);
}

/// Gating over logits [tokens][p.num_experts]: ids and weights hold tokens * p.k.
template <class T>
NNK_CPP_RESULT topk_gating(const nnk_topk_gating_params &p, std::span<const T> logits, std::span<std::int32_t> ids,
                           std::span<float> weights, std::uint32_t flags = 0, const Threadpool *tp = nullptr) {
    const std::size_t e = p.num_experts, k = p.k;
    NNK_CPP_GUARD(e != 0 && logits.size() % e == 0 && ids.size() == logits.size() / e * k &&
                      weights.size() == ids.size(),
                  "nnk::topk_gating(span)");
    return topk_gating<T>(p, logits.size() / e, logits.data(), e, ids.data(), weights.data(), flags, tp);
}

/// Dispatch plan of ids [tokens][k]: counts [E], offsets [E+1], permutation [tokens*k], inverse
/// empty or [tokens*k].
inline NNK_CPP_RESULT moe_dispatch_plan(std::size_t k, std::span<const std::int32_t> ids, std::span<std::int32_t> counts,
                                        std::span<std::int32_t> offsets, std::span<std::int32_t> permutation,
                                        std::span<std::int32_t> inverse, const Threadpool *tp = nullptr) {
    const std::size_t e = counts.size();
    NNK_CPP_GUARD(k != 0 && ids.size() % k == 0 && offsets.size() == e + 1 && permutation.size() == ids.size() &&
                      (inverse.empty() || inverse.size() == ids.size()),
                  "nnk::moe_dispatch_plan(span)");
    return moe_dispatch_plan(ids.size() / k, k, ids.data(), e, counts.data(), offsets.data(), permutation.data(),
                             inverse.empty() ? nullptr : inverse.data(), tp);
}

/// Quantize x (a multiple of the block size) into blocks (exactly the bytes they take).
template <class T>
NNK_CPP_RESULT quantize_blocks(std::uint32_t format, std::span<const T> x, std::span<std::uint8_t> blocks,
                               std::uint32_t flags = 0, const Threadpool *tp = nullptr) {
    const std::size_t bs = nnk_block_size(format);
    NNK_CPP_GUARD(bs != 0 && x.size() % bs == 0 && blocks.size() == x.size() / bs * nnk_block_bytes(format),
                  "nnk::quantize_blocks(span)");
    return quantize_blocks<T>(format, x.size(), x.data(), blocks.data(), flags, tp);
}

template <class T>
NNK_CPP_RESULT dequantize_blocks(std::uint32_t format, std::span<const std::uint8_t> blocks, std::span<T> y,
                                 std::uint32_t flags = 0, const Threadpool *tp = nullptr) {
    const std::size_t bs = nnk_block_size(format);
    NNK_CPP_GUARD(bs != 0 && y.size() % bs == 0 && blocks.size() == y.size() / bs * nnk_block_bytes(format),
                  "nnk::dequantize_blocks(span)");
    return dequantize_blocks<T>(format, y.size(), blocks.data(), y.data(), flags, tp);
}

/// Blockwise quantize: q, scales and zero_points (empty when the scheme has none) exactly the
/// sizes nnk_blockwise_*_bytes give for x.size().
template <class T>
NNK_CPP_RESULT quantize_blockwise(const nnk_blockwise_params &p, std::span<const T> x, std::span<std::uint8_t> q,
                                  std::span<std::uint8_t> scales, std::span<std::uint8_t> zero_points = {},
                                  const Threadpool *tp = nullptr) {
    const std::size_t n = x.size();
    NNK_CPP_GUARD(q.size() == nnk_blockwise_q_bytes(&p, n) && scales.size() == nnk_blockwise_scale_bytes(&p, n) &&
                      (zero_points.empty() || zero_points.size() == nnk_blockwise_zero_point_bytes(&p, n)),
                  "nnk::quantize_blockwise(span)");
    return quantize_blockwise<T>(p, n, x.data(), q.data(), scales.data(),
                                 zero_points.empty() ? nullptr : zero_points.data(), tp);
}

template <class T>
NNK_CPP_RESULT dequantize_blockwise(const nnk_blockwise_params &p, std::span<const std::uint8_t> q,
                                    std::span<const std::uint8_t> scales, std::span<const std::uint8_t> zero_points,
                                    std::span<T> y, const Threadpool *tp = nullptr) {
    const std::size_t n = y.size();
    NNK_CPP_GUARD(q.size() == nnk_blockwise_q_bytes(&p, n) && scales.size() == nnk_blockwise_scale_bytes(&p, n) &&
                      (zero_points.empty() || zero_points.size() == nnk_blockwise_zero_point_bytes(&p, n)),
                  "nnk::dequantize_blockwise(span)");
    return dequantize_blockwise<T>(p, n, q.data(), scales.data(), zero_points.empty() ? nullptr : zero_points.data(),
                                   y.data(), tp);
}

#undef NNK_CPP_GUARD
#endif  // NNK_CPP_HAS_SPAN

}  // namespace nnk

#endif  // NNKERN_HPP
