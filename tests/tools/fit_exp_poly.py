#!/usr/bin/env python3
"""Fits the polynomial of the softmax kernels' exp (src/ukernels/softmax.rs, `C`).

p(t) = 1 + c1 t + ... + c5 t^5 ~ e^t on [-ln2/2, ln2/2], minimax in relative error by
Lawson's iteratively reweighted least squares on a dense grid, then rounded to f32. Prints the
coefficients (bits and hex floats), the approximation error, and the error of the f32 Horner
evaluation with FMA (emulated in f64) on the grid. The exact max error of the kernels over
every f32 input is measured by tests/softmax_exp.rs. Needs numpy.
"""
import numpy as np

DEG = 5
L = np.log(2) / 2
t = np.linspace(-L, L, 20001)
e = np.exp(t)
A = np.stack([t**i / e for i in range(1, DEG + 1)], axis=1)
b = 1 - 1 / e
w = np.full(t.size, 1.0 / t.size)
for _ in range(3000):
    sw = np.sqrt(w)
    c, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
    r = np.abs(A @ c - b)
    w = w * r
    w /= w.sum()
print(f"approximation error (f64 coefficients): {np.max(np.abs(A @ c - b)):.3e}")

cs = np.float32(c)
for i, x in enumerate(cs, 1):
    print(f"c{i} = 0x{int(x.view(np.uint32)):08X}  {float(x).hex()}")

tt = np.float32(np.linspace(-L, L, 400001))


def fma(a, b, c):
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


q = cs[DEG - 1]
for i in range(DEG - 2, -1, -1):
    q = fma(q, tt, cs[i])
p = fma(q, tt, np.float32(1))
rel = np.abs(np.float64(p) / np.exp(np.float64(tt)) - 1)
print(f"f32 Horner with FMA, max relative error on the grid: {rel.max():.3e}")
