#!/usr/bin/env python3
"""Generates the split-scale blockwise test vectors from the public references.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx==1.23.2 ml-dtypes==0.6.0 \\
        torch bitsandbytes==0.50.2 numpy
    /tmp/venv/bin/python tests/vectors/gen_blockwise.py

References, per scheme (see specs/block-formats-notes.md):
  int8/uint8/int4/uint4  onnx.reference QuantizeLinear-21 / DequantizeLinear-21 (blocked, axis 0)
                         with given scales; computed scales follow nnkern's documented rule
                         (symmetric amax/qmax; uint: DynamicQuantizeLinear per block, checked
                         here against onnx.reference's DynamicQuantizeLinear for uint8)
  MX*                    ml_dtypes 0.6.0 casts of x / 2^shared (clipped to the format's max
                         first: saturating), shared from the exponent bits (np.frexp)
  NVFP4                  modelopt NVFP4QTensor.quantize/dequantize, transcribed with torch
  bnb dynamic-8          bitsandbytes 0.50.2 default backend's quantize_blockwise (transcribed:
                         on CPU bitsandbytes dispatches to an approximate LUT kernel instead),
                         dequantize_blockwise of bitsandbytes itself
  bnb NF4/FP4            bitsandbytes.functional.quantize_4bit / dequantize_4bit (CPU: the
                         default backend)

ONNX's reference converts rint(x / scale) to int32 before clipping, so quotients beyond 2^31
(and NaN/inf) are excluded from the ONNX vectors: nnkern saturates them. NVFP4 vectors hold no
NaN/inf (modelopt propagates a NaN into the block scale; nnkern skips it).

Writes tests/vectors/blockwise/<name>.bin, little-endian:
  u32 magic 0x4B4E4E42 ('BNNK'), scheme, block_size, flags (1: scales given), f32 tensor_scale,
  u32 n, u32 has_zero_points, u32 f16_exact (x exact in f16), u32 bf16_exact,
  f32 x[n], u8 q[], u8 scales[], u8 zero_points[], f32 y[n] (dequantize of q/scales/zps)
and bnb_dynamic8.f32 (the 256-entry signed dynamic map).
"""

import os
import struct

import ml_dtypes as md
import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import bitsandbytes.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "blockwise")
rng = np.random.default_rng(20261127)
f32 = np.float32

INT = {1: ("int8", TensorProto.INT8, -128, 127, 8), 2: ("uint8", TensorProto.UINT8, 0, 255, 8),
       3: ("int4", TensorProto.INT4, -8, 7, 4), 4: ("uint4", TensorProto.UINT4, 0, 15, 4)}
MX = {16: ("mxfp8_e4m3", md.float8_e4m3fn, 448.0, 8, 8), 17: ("mxfp8_e5m2", md.float8_e5m2, 57344.0, 15, 8),
      18: ("mxfp6_e2m3", md.float6_e2m3fn, 7.5, 2, 6), 19: ("mxfp6_e3m2", md.float6_e3m2fn, 28.0, 4, 6),
      20: ("mxfp4_e2m1", md.float4_e2m1fn, 6.0, 2, 4), 21: ("mxint8", None, None, 0, 8)}


def pack(codes, bits, high_first=False):
    codes = np.asarray(codes, dtype=np.int64) & ((1 << bits) - 1)
    if bits == 8:
        return codes.astype(np.uint8).tobytes()
    if bits == 4:
        c = np.concatenate([codes, np.zeros(len(codes) % 2, np.int64)])
        a, b = c[0::2], c[1::2]
        return ((a << 4 | b) if high_first else (a | b << 4)).astype(np.uint8).tobytes()
    out = bytearray()
    for g in range(0, len(codes), 4):
        grp = codes[g:g + 4]
        w = sum(int(v) << (6 * j) for j, v in enumerate(grp))
        out += w.to_bytes(3, "little")[:(6 * len(grp) + 7) // 8]
    return bytes(out)


def data(n, bs, kind):
    """Test values: kind 0 gaussian at random scales per block, 1 grid ties, 2 zeros/one-hot,
    3 subnormal/huge mixes, 4 with NaN/inf."""
    x = np.zeros(n, f32)
    for b in range(0, n, bs):
        m = min(bs, n - b)
        sc = f32(rng.choice([1.0, 1e-3, 3e4, 1e-30, 1e30, 2.0 ** -130, 0.37]))
        k = kind if kind != 5 else int(rng.integers(0, 4))
        if k == 0:
            v = rng.standard_normal(m).astype(f32) * sc
        elif k == 1:
            v = (rng.integers(-32, 33, m) * f32(0.25)).astype(f32)
        elif k == 2:
            v = np.zeros(m, f32)
            if rng.integers(0, 2):
                v[rng.integers(0, m)] = sc * f32(rng.choice([-1, 1]))
            if rng.integers(0, 2):
                v[rng.integers(0, m)] = f32(-0.0)
        elif k == 3:
            v = (rng.standard_normal(m) * np.where(rng.integers(0, 2, m), 1e-40, 1e30)).astype(f32)
        else:
            v = rng.standard_normal(m).astype(f32)
            v[rng.integers(0, m, 2)] = rng.choice([np.nan, np.inf, -np.inf], 2)
        x[b:b + m] = v
    return x


def write(name, scheme, bs, given, ts, x, q, s, z, y):
    x = np.asarray(x, f32)
    f16_exact = bool(np.all((x.astype(np.float16).astype(f32) == x) | np.isnan(x)))
    bf16_exact = bool(np.all((x.astype(md.bfloat16).astype(f32) == x) | np.isnan(x)))
    hdr = struct.pack("<IIIIfIIII", 0x4B4E4E42, scheme, bs, 1 if given else 0, ts, len(x),
                      0 if z is None else 1, f16_exact, bf16_exact)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(hdr + x.tobytes() + q + s + (z or b"") + np.asarray(y, f32).tobytes())


def onnx_run(op, inputs, attrs, out_type=None):
    names = [f"i{k}" for k in range(len(inputs))]
    node = helper.make_node(op, names, ["y"], **attrs)
    ins = [helper.make_tensor_value_info(nm, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for nm, a in zip(names, inputs)]
    outs = [helper.make_tensor_value_info("y", out_type or TensorProto.FLOAT, None)]
    g = helper.make_graph([node], "g", ins, outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    return ReferenceEvaluator(m).run(None, dict(zip(names, inputs)))[0]


def onnx_case(scheme, bs, n, kind, given, with_zp):
    name, ttype, qmin, qmax, bits = INT[scheme]
    x = data(n, bs, kind)
    nb = -(-n // bs)
    if given:
        s = (rng.uniform(0.01, 4, nb) * rng.choice([1e-3, 1.0, 100.0], nb)).astype(f32)
        zp = rng.integers(qmin, qmax + 1, nb) if with_zp else np.zeros(nb, np.int64)
        # Keep every quotient inside int32 (the reference's intermediate).
        lim = (np.repeat(s, bs)[:n] * f32(1e9)).astype(f32)
        x = np.where(np.isfinite(x) & (np.abs(x) < lim), x, f32(0.5)).astype(f32)
    else:
        x = np.where(np.isfinite(x), x, f32(1.0)).astype(f32)
        s = np.zeros(nb, f32)
        zp = np.zeros(nb, np.int64)
        for b in range(nb):
            blk = x[b * bs:(b + 1) * bs]
            if qmin < 0:
                sc = f32(np.max(np.abs(blk)) / f32(qmax))
                z0 = 0
            else:
                lo, hi = min(f32(0), blk.min()), max(f32(0), blk.max())
                sc = f32(f32(hi - lo) / f32(qmax))
                z0 = None
            if sc == 0:
                sc = f32(1)
            if z0 is None:
                z0 = int(np.clip(np.rint(-lo / sc), 0, qmax))
                if scheme == 2 and hi - lo > 0 and np.isfinite(hi - lo):
                    y_s, y_zp = onnx_dyn(blk)
                    assert y_s == sc and y_zp == z0, (y_s, sc, y_zp, z0)
            s[b], zp[b] = sc, z0
    npt = {8: (np.int8 if qmin < 0 else np.uint8), 4: (md.int4 if qmin < 0 else md.uint4)}[bits]
    zpa = zp.astype(npt)
    q = onnx_run("QuantizeLinear", [x, s, zpa], {"axis": 0, "block_size": bs}, ttype)
    qi = np.asarray(q).astype(np.int64)
    y = onnx_run("DequantizeLinear", [q, s, zpa], {"axis": 0, "block_size": bs})
    zbytes = pack(zp, bits) if (with_zp or (not given and qmin >= 0)) else None
    if not given and qmin < 0 and with_zp:
        zbytes = pack(np.zeros(nb, np.int64), bits)
    tag = f"{name}_b{bs}_n{n}_k{kind}_{'given' if given else 'computed'}{'_zp' if zbytes else ''}"
    write(tag, scheme, bs, given, 1.0, x, pack(qi, bits), s.tobytes(), zbytes, y)


def onnx_dyn(blk):
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, blk.shape)],
                          [helper.make_tensor_value_info(v, TensorProto.UNDEFINED, None) for v in "ysz"])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    _, s, z = ReferenceEvaluator(m).run(None, {"x": blk})
    return f32(s), int(z)


def mx_case(scheme, n, kind, given):
    name, dt, vmax, emax, bits = MX[scheme]
    bs = 32
    x = data(n, bs, kind)
    nb = -(-n // bs)
    sb = np.zeros(nb, np.uint8)
    codes = np.zeros(n, np.int64)
    y = np.zeros(n, f32)
    for b in range(nb):
        blk = x[b * bs:(b + 1) * bs]
        if given:
            byte = int(rng.integers(0, 256))
        elif not np.all(np.isfinite(blk)):
            byte = 0xFF
        else:
            amax = f32(np.max(np.abs(blk)))
            fl = -126 if amax == 0 else int(np.frexp(amax)[1]) - 1
            byte = max(fl - emax, -127) + 127
        sb[b] = byte
        if byte == 0xFF:
            y[b * bs:b * bs + len(blk)] = np.nan
            continue
        v = (blk / f32(2.0 ** (byte - 127))).astype(f32) if byte != 0 else (blk * f32(2.0 ** 127)).astype(f32)
        if dt is None:
            c = np.clip(np.rint(np.nan_to_num(v * f32(64), nan=0.0)), -127, 127).astype(np.int64)
            val = (c.astype(f32) / f32(64)).astype(f32)
        else:
            vc = np.clip(v, -vmax, vmax).astype(f32)  # NaN passes through: ml_dtypes decides
            vc = np.where(np.isnan(vc), np.copysign(f32(vmax), vc), vc).astype(f32)
            e = vc.astype(dt)
            c = e.view(np.uint8).astype(np.int64)
            val = e.astype(f32)
        codes[b * bs:b * bs + len(blk)] = c
        y[b * bs:b * bs + len(blk)] = (val.astype(np.float64) * 2.0 ** (byte - 127)).astype(f32)
    tag = f"{name}_n{n}_k{kind}_{'given' if given else 'computed'}"
    write(tag, scheme, bs, given, 1.0, x, pack(codes, bits), sb.tobytes(), None, y)


E2M1_BOUNDS = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5])
E2M1_VALUES = torch.tensor([0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6])


def nvfp4_case(n, kind, given, ts):
    x = data(n, 16, kind)
    x = np.where(np.isfinite(x), x, f32(2.0)).astype(f32)
    t = torch.from_numpy(x.copy())
    nb = -(-n // 16)
    pad = nb * 16 - n
    tp = torch.nn.functional.pad(t, (0, pad)).view(nb, 16)
    s2 = torch.tensor(ts, dtype=torch.float32)
    if given:
        sc = torch.from_numpy(rng.integers(0, 0x7F, nb).astype(np.uint8)).view(torch.float8_e4m3fn)
    else:
        amax = tp.abs().amax(dim=-1).float()
        v = amax / (6.0 * s2)
        v[v == 0] = 1.0
        v = torch.clamp(v, min=2.0 ** -9, max=448.0)  # newer modelopt clamps; nnkern saturates
        sc = v.to(torch.float8_e4m3fn)
    scaled = tp / (sc.to(torch.float32) * s2).unsqueeze(-1)
    w = scaled.reshape(-1)
    sign = (w < 0).to(torch.uint8)
    a = w.abs()
    ordv = torch.searchsorted(E2M1_BOUNDS, a, out_int32=True).to(torch.uint8)
    eq = torch.any(a.unsqueeze(-1) == E2M1_BOUNDS[[1, 3, 5]], dim=-1).to(torch.uint8)
    q = ((sign << 3) + ordv + eq)[:n].numpy().astype(np.int64)
    y = (E2M1_VALUES[torch.from_numpy(q)].view(-1) * torch.repeat_interleave(sc.to(torch.float32) * s2, 16)[:n]).numpy()
    tag = f"nvfp4_n{n}_k{kind}_{'given' if given else 'computed'}_ts{ts:g}"
    write(tag, 24, 16, given, ts, x, pack(q, 4), sc.view(torch.uint8).numpy().tobytes(), None, y)


def bnb8_case(bs, n, kind):
    """bitsandbytes 0.50.2 backends/default/ops.py quantize_blockwise, line for line."""
    code = F.create_dynamic_map(signed=True)
    A = torch.from_numpy(data(n, bs, kind))
    A_flat = A.reshape(-1).float()
    rem = n % bs
    full = n - rem
    blocks = full // bs
    A_com = A_flat[:full].reshape(blocks, bs)
    absmax = A_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(A_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = A_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(A_flat[full:] / am, -1, 1)])
    bounds = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
    y = F.dequantize_blockwise(q, absmax=absmax, code=code, blocksize=bs)
    write(f"bnb_dynamic8_b{bs}_n{n}_k{kind}", 32, bs, False, 1.0, A.numpy(), q.numpy().tobytes(),
          absmax.numpy().astype(f32).tobytes(), None, y.numpy())


def bnb4_case(qt, bs, n, kind):
    A = torch.from_numpy(data(n, bs, kind))
    q, st = F.quantize_4bit(A, blocksize=bs, quant_type=qt, compress_statistics=False)
    y = F.dequantize_4bit(q, st)
    scheme = 33 if qt == "nf4" else 34
    write(f"bnb_{qt}_b{bs}_n{n}_k{kind}", scheme, bs, False, 1.0, A.numpy(),
          q.numpy().reshape(-1)[:(n + 1) // 2].tobytes(), st.absmax.numpy().astype(f32).tobytes(), None,
          y.numpy().reshape(-1))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    F.create_dynamic_map(signed=True).numpy().astype(f32).tofile(os.path.join(HERE, "bnb_dynamic8.f32"))
    for scheme in INT:
        for bs, n in [(32, 32 * 24), (64, 64 * 8 + 13), (7, 7 * 30 + 3)]:
            for kind in [0, 1, 5]:
                onnx_case(scheme, bs, n, kind, True, kind != 1)
            onnx_case(scheme, bs, n, 5, False, True)
            onnx_case(scheme, bs, n, 0, False, scheme in (2, 4))
    for scheme in MX:
        for kind in [0, 1, 2, 3, 4, 5]:
            mx_case(scheme, 32 * 24 + (kind == 5) * 17, kind, False)
        mx_case(scheme, 32 * 16, 0, True)
    for ts in [1.0, 0.013, 3e-5]:
        for kind in [0, 1, 2, 5]:
            nvfp4_case(16 * 40 + (kind == 5) * 9, kind, False, ts)
        nvfp4_case(16 * 24, 0, True, ts)
    for bs in [64, 256]:
        for kind in [0, 1, 2, 3, 4, 5]:
            bnb8_case(bs, bs * 6 + (kind == 5) * 37, kind)
    for qt in ["nf4", "fp4"]:
        for bs in [32, 64]:
            for kind in [0, 1, 2, 3, 4, 5]:
                bnb4_case(qt, bs, bs * 10 + (kind == 5) * 21, kind)


if __name__ == "__main__":
    main()
