"""Tests of libnnkern_onnxruntime.so inside ONNX Runtime (PyPI onnxruntime + onnx + numpy).

Graphs are built with onnx.helper, the library is loaded with
SessionOptions.register_custom_ops_library, and results are compared with ONNX Runtime's own
Softmax/LogSoftmax and with numpy references, under the tolerances of nnkern's numerics contract.

    NNK_ORT_LIB=target/release/libnnkern_onnxruntime.so python -m unittest discover bindings/onnxruntime/tests
"""

import os
import struct
import unittest

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.environ.get(
    "NNK_ORT_LIB",
    os.path.join(HERE, "..", "..", "..", "target", "release", "libnnkern_onnxruntime.so"),
)
DOMAIN = "com.nnkern"
F32, F16, BF16 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16


def setUpModule():
    # For the record (the closing note names the versions tested with); not a test.
    print(f"\nonnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")


def model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(DOMAIN, 1)],
        ir_version=10,
    )
    return m.SerializeToString()


def session(model_bytes, threads=2):
    so = ort.SessionOptions()
    so.register_custom_ops_library(LIB)
    so.intra_op_num_threads = threads
    so.log_severity_level = 4  # errors reach the test as exceptions
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def softmax_model(op, elem, shape, **attrs):
    """float input -> Cast(elem) -> com.nnkern.op -> Cast(float) -> output."""
    nodes, src = [], "x"
    if elem != F32:
        nodes.append(helper.make_node("Cast", ["x"], ["xc"], to=elem))
        src = "xc"
    nodes.append(helper.make_node(op, [src], ["yc"], domain=DOMAIN, **attrs))
    nodes.append(helper.make_node("Cast", ["yc"], ["y"], to=F32))
    return model(
        nodes,
        [helper.make_tensor_value_info("x", F32, shape)],
        [helper.make_tensor_value_info("y", F32, shape)],
    )


def round_to(x, elem):
    """x (float32 array) rounded as ONNX Runtime's Cast rounds it, back in float32."""
    if elem == F16:
        return x.astype(np.float16).astype(np.float32)
    if elem == BF16:
        b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16  # round to nearest even (finite inputs)
        return (b.astype(np.uint32) << 16).view(np.float32)
    return x.astype(np.float32)


def ulp(v, elem):
    """Spacing of the 16-bit format at |v| (normal range)."""
    mant = 10 if elem == F16 else 7
    e = np.floor(np.log2(np.maximum(np.abs(v), 2.0**-14)))
    return 2.0 ** (e - mant)


def ref_softmax(x, log):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    s = np.exp(x - m).sum(axis=-1, keepdims=True)
    return (x - m) - np.log(s) if log else np.exp(x - m) / s


class SoftmaxTest(unittest.TestCase):
    def test_against_onnxruntime_float(self):
        rng = np.random.default_rng(1)
        for op in ("Softmax", "LogSoftmax"):
            for shape in ([3, 1000], [2, 5, 17], [1, 70000], [4, 1]):
                x = rng.uniform(-20, 20, size=shape).astype(np.float32)
                ours = session(softmax_model(op, F32, shape)).run(None, {"x": x})[0]
                theirs_model = model(
                    [helper.make_node(op, ["x"], ["y"], axis=-1)],
                    [helper.make_tensor_value_info("x", F32, shape)],
                    [helper.make_tensor_value_info("y", F32, shape)],
                )
                theirs = session(theirs_model).run(None, {"x": x})[0]
                ref = ref_softmax(x, op == "LogSoftmax")
                if op == "Softmax":
                    # nnkern's contract: 1e-6 relative to the f64 reference.
                    np.testing.assert_array_less(np.abs(ours - ref), 1e-6 * np.abs(ref) + 1e-37)
                    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-30)
                else:
                    np.testing.assert_array_less(np.abs(ours - ref), 2e-6 + 1e-6 * np.abs(ref))
                    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)

    def test_float16_against_onnxruntime_and_bfloat16_against_numpy(self):
        rng = np.random.default_rng(2)
        shape = [6, 333]
        x = rng.uniform(-8, 8, size=shape).astype(np.float32)
        for op in ("Softmax", "LogSoftmax"):
            log = op == "LogSoftmax"
            for elem in (F16, BF16):
                ours = session(softmax_model(op, elem, shape)).run(None, {"x": x})[0]
                # Computed in f32 from the rounded input, rounded once on store: within one
                # 16-bit ulp of the f64 reference (the rounding itself is half an ulp).
                ref = ref_softmax(round_to(x, elem), log)
                err = np.abs(ours.astype(np.float64) - ref)
                tol = ulp(ref, elem) + (2e-6 if log else 0.0)
                self.assertTrue(np.all(err <= tol), f"{op} {elem}: max err {err.max()}")
            # ONNX Runtime's own float16 kernels agree, within their own error: measured here
            # (onnxruntime 1.32) up to 4.2 f16 ulps from the f64 reference, where nnkern's
            # outputs are within 0.5 ulp (rounded once).
            theirs_model = model(
                [
                    helper.make_node("Cast", ["x"], ["xc"], to=F16),
                    helper.make_node(op, ["xc"], ["yc"], axis=-1),
                    helper.make_node("Cast", ["yc"], ["y"], to=F32),
                ],
                [helper.make_tensor_value_info("x", F32, shape)],
                [helper.make_tensor_value_info("y", F32, shape)],
            )
            theirs = session(theirs_model).run(None, {"x": x})[0]
            ours = session(softmax_model(op, F16, shape)).run(None, {"x": x})[0]
            ref = ref_softmax(round_to(x, F16), log)
            u = ulp(ref, F16)
            self.assertLessEqual((np.abs(ours - ref) / u).max(), (np.abs(theirs - ref) / u).max())
            self.assertTrue(np.all(np.abs(ours - theirs) <= 8 * u))

    def test_special_values(self):
        x = np.array([[1.0, -np.inf, 3.0], [-np.inf, -np.inf, -np.inf], [2.0, np.nan, 0.0]], np.float32)
        y = session(softmax_model("Softmax", F32, [3, 3])).run(None, {"x": x})[0]
        self.assertEqual(y[0, 1], 0.0)
        self.assertTrue(np.all(y[1] == 0.0))  # a fully masked row gives zeros
        self.assertTrue(np.all(np.isnan(y[2])))

    def test_threads_do_not_change_results(self):
        x = np.random.default_rng(3).normal(size=[64, 4096]).astype(np.float32)
        a = session(softmax_model("Softmax", F32, [64, 4096]), threads=1).run(None, {"x": x})[0]
        b = session(softmax_model("Softmax", F32, [64, 4096]), threads=2).run(None, {"x": x})[0]
        np.testing.assert_array_equal(a, b)

    def test_axis(self):
        x = np.random.default_rng(7).normal(size=[2, 3]).astype(np.float32)
        want = ref_softmax(x, False)
        for axis in (-1, 1):
            y = session(softmax_model("Softmax", F32, [2, 3], axis=axis)).run(None, {"x": x})[0]
            np.testing.assert_allclose(y, want, rtol=1e-6)
        # Not the last axis: refused when the session is made (negative) or at run time.
        with self.assertRaisesRegex(Exception, "only the last axis"):
            session(softmax_model("Softmax", F32, [2, 3], axis=-2))
        s = session(softmax_model("Softmax", F32, [2, 3], axis=0))
        with self.assertRaisesRegex(Exception, "only the last axis"):
            s.run(None, {"x": x})
        with self.assertRaisesRegex(Exception, "attribute 'axis'"):
            session(softmax_model("LogSoftmax", F32, [2, 3], axis=1.5))


def gating_model(elem, tokens, e, k, bias=None, **attrs):
    nodes, src = [], "x"
    if elem != F32:
        nodes.append(helper.make_node("Cast", ["x"], ["xc"], to=elem))
        src = "xc"
    inputs = [src] + (["bias"] if bias is not None else [])
    nodes.append(
        helper.make_node("TopKGating", inputs, ["ids", "w"], domain=DOMAIN, num_experts=e, k=k, **attrs)
    )
    inits = [helper.make_tensor("bias", F32, [e], bias.tolist())] if bias is not None else []
    return model(
        nodes,
        [helper.make_tensor_value_info("x", F32, [tokens, e])],
        [
            helper.make_tensor_value_info("ids", TensorProto.INT32, [tokens, k]),
            helper.make_tensor_value_info("w", F32, [tokens, k]),
        ],
        inits,
    )


class TopKGatingTest(unittest.TestCase):
    def test_mixtral_softmax_topk_renormalized(self):
        rng = np.random.default_rng(4)
        t, e, k = 200, 8, 2
        x = rng.normal(size=[t, e]).astype(np.float32)
        for elem in (F32, F16, BF16):
            ids, w = session(gating_model(elem, t, e, k, normalize=1)).run(None, {"x": x})
            xr = round_to(x, elem).astype(np.float64)
            p = np.exp(xr - xr.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            # Descending score, ties to the lower index (stable sort of -p).
            want = np.argsort(-p, axis=-1, kind="stable")[:, :k]
            np.testing.assert_array_equal(ids, want.astype(np.int32))
            pw = np.take_along_axis(p, want, -1)
            pw /= pw.sum(-1, keepdims=True)
            np.testing.assert_allclose(w, pw, rtol=1e-6, atol=1e-37)

    def test_deepseek_v3_sigmoid_groups_bias(self):
        rng = np.random.default_rng(5)
        t, e, k, ng, tg = 64, 64, 8, 8, 4
        x = rng.normal(size=[t, e]).astype(np.float32)
        bias = rng.normal(scale=0.1, size=[e]).astype(np.float32)
        attrs = dict(score_fn=2, normalize=1, norm_eps=1e-20, scale=2.5, n_group=ng, topk_group=tg, group_score=1)
        ids, w = session(gating_model(F32, t, e, k, bias=bias, **attrs)).run(None, {"x": x})
        s = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
        key = s + bias
        for r in range(t):
            g = key[r].reshape(ng, e // ng)
            gs = np.sort(g, axis=1)[:, ::-1][:, :2].sum(1)
            keep = np.argsort(-gs, kind="stable")[:tg]
            masked = np.full(e, -np.inf)
            for j in keep:
                masked[j * (e // ng) : (j + 1) * (e // ng)] = key[r, j * (e // ng) : (j + 1) * (e // ng)]
            want = np.argsort(-masked, kind="stable")[:k]
            np.testing.assert_array_equal(ids[r], want)
            ws = s[r, want]
            np.testing.assert_allclose(w[r], ws / (ws.sum() + 1e-20) * 2.5, rtol=1e-6)

    def test_bad_attributes_fail_session_creation(self):
        with self.assertRaisesRegex(Exception, "k=9"):
            session(gating_model(F32, 4, 8, 9))
        with self.assertRaisesRegex(Exception, "score_fn=7"):
            session(gating_model(F32, 4, 8, 2, score_fn=7))
        with self.assertRaisesRegex(Exception, "out of range"):
            session(gating_model(F32, 4, 8, 2, n_group=-1))
        nodes = [helper.make_node("TopKGating", ["x"], ["ids", "w"], domain=DOMAIN, k=2)]
        m = model(
            nodes,
            [helper.make_tensor_value_info("x", F32, [4, 8])],
            [
                helper.make_tensor_value_info("ids", TensorProto.INT32, [4, 2]),
                helper.make_tensor_value_info("w", F32, [4, 2]),
            ],
        )
        with self.assertRaisesRegex(Exception, "'num_experts' is required"):
            session(m)

    def test_wrong_input_width_fails_the_run(self):
        nodes = [helper.make_node("TopKGating", ["x"], ["ids", "w"], domain=DOMAIN, num_experts=8, k=2)]
        m = model(
            nodes,
            [helper.make_tensor_value_info("x", F32, [None, None])],
            [
                helper.make_tensor_value_info("ids", TensorProto.INT32, None),
                helper.make_tensor_value_info("w", F32, None),
            ],
        )
        s = session(m)
        with self.assertRaisesRegex(Exception, "num_experts = 8"):
            s.run(None, {"x": np.zeros([3, 7], np.float32)})
        ids, _ = s.run(None, {"x": np.eye(8, dtype=np.float32)[:3]})
        np.testing.assert_array_equal(ids[:, 0], [0, 1, 2])


def q4_0_blocks(x):
    """Reference Q4_0 encoder (ggml's quantize_row_q4_0_ref) for 32-element blocks."""
    out = bytearray()
    for b in x.reshape(-1, 32).astype(np.float32):
        i = int(np.argmax(np.abs(b)))
        mx = b[i]
        d = np.float32(mx / np.float32(-8.0))
        idd = np.float32(1.0) / d if d != 0 else np.float32(0.0)
        q = np.minimum(np.float32(15), np.trunc(b * idd + np.float32(8.5)).astype(np.float32)).astype(np.uint8)
        out += np.float16(d).tobytes()
        out += bytes((q[j] | (q[j + 16] << 4)) for j in range(16))
    return np.frombuffer(bytes(out), np.uint8)


def q4_0_decode(blocks):
    out = []
    for blk in blocks.reshape(-1, 18):
        d = np.float32(np.frombuffer(blk[:2].tobytes(), np.float16)[0])
        qs = blk[2:]
        lo = (qs & 0x0F).astype(np.int32) - 8
        hi = (qs >> 4).astype(np.int32) - 8
        out.append(np.concatenate([lo, hi]).astype(np.float32) * d)
    return np.concatenate(out)


class GgufDequantizeTest(unittest.TestCase):
    def run_model(self, nbytes, out_shape, attrs, shape_input=None):
        inputs = [helper.make_tensor_value_info("b", TensorProto.UINT8, [nbytes])]
        names = ["b"]
        feeds = {}
        if shape_input is not None:
            inputs.append(helper.make_tensor_value_info("s", TensorProto.INT64, [len(shape_input)]))
            names.append("s")
            feeds["s"] = np.array(shape_input, np.int64)
        m = model(
            [helper.make_node("GgufDequantize", names, ["y"], domain=DOMAIN, **attrs)],
            inputs,
            [helper.make_tensor_value_info("y", F32, out_shape)],
        )
        return session(m), feeds

    def test_q4_0_against_numpy(self):
        x = np.random.default_rng(6).normal(size=[4, 64]).astype(np.float32)
        blocks = q4_0_blocks(x)
        want = q4_0_decode(blocks).reshape(4, 64)
        s, feeds = self.run_model(blocks.size, [4, 64], dict(format=2, shape=[4, 64]))
        np.testing.assert_array_equal(s.run(None, {"b": blocks, **feeds})[0], want)
        s, feeds = self.run_model(blocks.size, None, dict(format=2), shape_input=[2, 128])
        np.testing.assert_array_equal(s.run(None, {"b": blocks, **feeds})[0], want.reshape(2, 128))
        s, feeds = self.run_model(blocks.size, None, dict(format=2))
        np.testing.assert_array_equal(s.run(None, {"b": blocks})[0], want.reshape(-1))

    def test_q8_0_exact(self):
        # One Q8_0 block: f16 scale 0.5, codes -128..127 step 8.
        codes = np.arange(-128, 128, 8, dtype=np.int8)
        blk = np.frombuffer(np.float16(0.5).tobytes() + codes.tobytes(), np.uint8)
        s, _ = self.run_model(blk.size, [32], dict(format=8, shape=[32]))
        np.testing.assert_array_equal(s.run(None, {"b": blk})[0], codes.astype(np.float32) * 0.5)

    def test_bad_format_and_sizes(self):
        with self.assertRaisesRegex(Exception, "'format' = 1 is not a GGUF block type"):
            self.run_model(18, [32], dict(format=1))
        with self.assertRaisesRegex(Exception, "'format'.*required"):
            self.run_model(18, [32], dict())
        with self.assertRaisesRegex(Exception, "negative dimension"):
            self.run_model(18, [32], dict(format=2, shape=[-32]))
        s, _ = self.run_model(20, None, dict(format=2, shape=[32]))
        with self.assertRaisesRegex(Exception, "do not hold"):
            s.run(None, {"b": np.zeros(20, np.uint8)})


class LibraryTest(unittest.TestCase):
    def test_library_exports_register_custom_ops(self):
        import ctypes

        lib = ctypes.CDLL(LIB)
        self.assertTrue(hasattr(lib, "RegisterCustomOps"))



if __name__ == "__main__":
    unittest.main()
