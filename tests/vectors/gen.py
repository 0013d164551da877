#!/usr/bin/env python3
"""Generates the GGUF block-format test vectors from the public reference, PyPI `gguf`
(gguf-py, byte-identical to ggml's C reference built without FMA for these quantizers and for
every dequantizer; see specs/block-formats-notes.md).

    python3 -m venv /tmp/gguf && /tmp/gguf/bin/pip install gguf==0.19.0 numpy
    /tmp/gguf/bin/python tests/vectors/gen.py

Writes, for each format F, little-endian raw files next to this script:
  F.quant.in.f32   inputs (f32), whole blocks          (quantizers gguf implements)
  F.quant.out.bin  gguf.quants.quantize of those inputs
  F.deq.in.bin     block bytes (finite scales, every code)
  F.deq.out.f32    gguf.quants.dequantize of those bytes
The Rust and C tests read them; nothing at test time needs Python.
"""

import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261127)

QUANT = {"q4_0": (T.Q4_0, 32, 8), "q4_1": (T.Q4_1, 32, 15), "q5_0": (T.Q5_0, 32, 16),
         "q5_1": (T.Q5_1, 32, 31), "q8_0": (T.Q8_0, 32, 127), "mxfp4": (T.MXFP4, 32, 6)}
DEQ = {"q4_0": (T.Q4_0, 32, 18), "q4_1": (T.Q4_1, 32, 20), "q5_0": (T.Q5_0, 32, 22),
       "q5_1": (T.Q5_1, 32, 24), "q8_0": (T.Q8_0, 32, 34), "mxfp4": (T.MXFP4, 32, 17),
       "q4_K": (T.Q4_K, 256, 144), "q5_K": (T.Q5_K, 256, 176), "q6_K": (T.Q6_K, 256, 210)}
# f16 scale offsets inside each block (kept finite: non-finite scales are outside the contract).
F16_AT = {"q4_0": [0], "q4_1": [0, 2], "q5_0": [0], "q5_1": [0, 2], "q8_0": [0],
          "q4_K": [0, 2], "q5_K": [0, 2], "q6_K": [208], "mxfp4": []}


def block(kind, bs, grid):
    """One block of test values."""
    scale = float(rng.choice([1.0, 1e-3, 3e4, 1e-30, 1e30, 2.0 ** -140, 65504.0]))
    if kind == 5:  # keep the f16 values finite
        scale = min(scale, 1e4)
    if kind == 0:  # normal-ish
        return rng.standard_normal(bs).astype(np.float32) * np.float32(scale)
    if kind == 1:  # ties: half-integers on the format's grid, the extreme first
        v = rng.integers(-2 * grid, 2 * grid + 1, bs).astype(np.float32) * np.float32(0.5)
        v[rng.integers(0, bs)] = -grid
        return v * np.float32(2.0 ** int(rng.integers(-20, 20)))
    if kind == 2:  # all zero, some negative zeros
        return np.where(rng.random(bs) < 0.5, np.float32(0.0), np.float32(-0.0)).astype(np.float32)
    if kind == 3:  # one-hot
        v = np.zeros(bs, np.float32)
        v[rng.integers(0, bs)] = np.float32(scale) * np.float32(rng.choice([-1, 1]))
        return v
    if kind == 4:  # f32 subnormals
        return (rng.integers(-(2 ** 23), 2 ** 23, bs).astype(np.float32) * np.float32(2.0 ** -149))
    if kind == 5:  # f16-representable values
        return (rng.standard_normal(bs) * scale).astype(np.float16).astype(np.float32)
    if kind == 6:  # bf16-representable values
        v = (rng.standard_normal(bs) * scale).astype(np.float32)
        return (v.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    if kind == 7:  # near powers of two (MXFP4's log2f), and exact E2M1 midpoints
        e = int(rng.integers(-20, 20))
        v = rng.choice([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0], bs).astype(np.float32)
        v *= np.where(rng.random(bs) < 0.5, -1, 1).astype(np.float32)
        v[0] = np.nextafter(np.float32(8.0), np.float32(0.0))
        return v * np.float32(2.0 ** e)
    # equal magnitudes of both signs
    return np.where(rng.random(bs) < 0.5, np.float32(scale), np.float32(-scale)).astype(np.float32)


def fix_zero(v):
    """gguf-py takes the signed max from the first element even when every |x| is 0, where ggml
    keeps its initial +0.0 (so Q4_0/Q5_0 write d = -0.0 whatever the zeros' signs): a block of
    zeros led by -0.0 is the one input where the two disagree, so the vectors avoid it."""
    if not np.any(np.abs(v) > 0):
        v[0] = np.float32(0.0)
    return v


def write(name, arr):
    arr.tofile(os.path.join(HERE, name))


def main():
    for name, (qt, bs, grid) in QUANT.items():
        x = np.concatenate([fix_zero(block(i % 9, bs, grid)) for i in range(512)]).astype(np.float32)
        if name in ("q4_1", "q5_1"):
            # numpy's min/max of +0.0 and -0.0 may return either sign; ggml keeps the first
            # zero it meets. Only +0.0 here (the C-reference tests cover mixed zeros).
            x = np.where(x == 0, np.float32(0.0), x).astype(np.float32)
        q = quants.quantize(x.reshape(1, -1), qt).reshape(-1)
        write(f"{name}.quant.in.f32", x)
        write(f"{name}.quant.out.bin", q.view(np.uint8))
    for name, (qt, bs, nbytes) in DEQ.items():
        nblocks = 256 if bs == 32 else 32
        b = rng.integers(0, 256, (nblocks, nbytes), dtype=np.uint8)
        for at in F16_AT[name]:
            h = b[:, at:at + 2].copy().view(np.uint16)
            h &= np.uint16(0xFBFF)  # exponent never all ones: finite
            b[:, at:at + 2] = h.view(np.uint8)
        y = quants.dequantize(b.reshape(1, -1), qt).reshape(-1).astype(np.float32)
        write(f"{name}.deq.in.bin", b.reshape(-1))
        write(f"{name}.deq.out.f32", y)


if __name__ == "__main__":
    main()
