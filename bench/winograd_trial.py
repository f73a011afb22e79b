"""A trial, not part of digitnet: Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2015) against
digitnet's im2col convolution, on DeepConvNet's five 3x3 layers at batch 100.

    python bench/winograd_trial.py [--repeats 7]

It prints each layer's CPU time both ways (process time, steadier than the wall clock on a shared machine)
and checks that both give the same output. On the machine of docs/performance.md it was slower on every layer:
the transforms are a dozen NumPy passes over strided views, and cost more than the products they save.

A 3x3 stride-1 convolution as 16 matrix products over 4x4 input tiles, 2.25 times fewer multiplications
than im2col's one product.

For each 2x2 block of output pixels, the 4x4 input tile d around it is transformed to V = Bᵀ d B and each
filter g to U = G g Gᵀ (both 4x4). The 16 elements of the transformed domain are independent: element (a, b)
of every tile's output is V[a, b] (tiles x C) times U[a, b] (C x K), a matrix product over channels. The
output block is Aᵀ M A, M the 4x4 of products. Bᵀ, G and Aᵀ hold only 0, ±1 and ±1/2, so both transforms
are a few additions of whole strided views, the matrix products one batched np.matmul.

The result equals the direct convolution up to float rounding (the transforms add and subtract before the
products): within about 1e-6 relative for float32 inputs of unit scale, 1e-15 for float64.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digitnet.im2col import batch_chunks, pad_nhwc
from digitnet.layers import Convolution

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def transformed_filters(W):
    """W (K, C, 3, 3) -> U (16, C, K): G g Gᵀ for every filter and channel, element (a, b) first."""
    U = np.einsum("ay,kcyx,bx->abck", G, W.astype(np.float64), G)
    return U.reshape(16, W.shape[1], W.shape[0]).astype(W.dtype)


def _input_transform(xp, tiles_h, tiles_w, V):
    """V (16, N*tiles_h*tiles_w, C) = Bᵀ d B of every 4x4 tile of xp (N, 2*tiles_h+2, 2*tiles_w+2, C)."""
    n, _, _, C = xp.shape
    rows = [xp[:, r:r + 2 * tiles_h:2] for r in range(4)]  # row r of every tile, (N, tiles_h, W, C)
    # Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], once along the rows, once the columns
    U = (rows[0] - rows[2], rows[1] + rows[2], rows[2] - rows[1], rows[1] - rows[3])
    V = V.reshape(4, 4, n, tiles_h, tiles_w, C)
    for a, u in enumerate(U):
        cols = [u[:, :, c:c + 2 * tiles_w:2] for c in range(4)]
        np.subtract(cols[0], cols[2], out=V[a, 0])
        np.add(cols[1], cols[2], out=V[a, 1])
        np.subtract(cols[2], cols[1], out=V[a, 2])
        np.subtract(cols[1], cols[3], out=V[a, 3])


def _output_transform(M, out, tiles_h, tiles_w):
    """out (N, 2*tiles_h, 2*tiles_w, K) = Aᵀ m A of every tile's 4x4 of products M (16, N*tiles, K)."""
    n, K = out.shape[0], out.shape[3]
    M = M.reshape(4, 4, n, tiles_h, tiles_w, K)
    # Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]: rows first (two per tile), then columns
    top = M[0] + M[1] + M[2]
    bottom = M[1] - M[2] - M[3]
    for i, P in enumerate((top, bottom)):
        np.add(P[0] + P[1], P[2], out=out[:, i::2, 0::2])
        np.subtract(P[1] - P[2], P[3], out=out[:, i::2, 1::2])


def winograd_conv3x3(xp, W, U=None, budget=1 << 20):
    """The stride-1 3x3 convolution of the padded channels-last xp (N, H, W, C) with W (K, C, 3, 3), without
    bias: (N, H-2, W-2, K), channels last. U: transformed_filters(W) when the caller has it already.

    Processed in batch chunks whose transformed tiles take about `budget` bytes, so they stay in the cache
    between the transform, the products and the inverse transform.
    """
    N, H, Wd, C = xp.shape
    K = W.shape[0]
    out_h, out_w = H - 2, Wd - 2
    tiles_h, tiles_w = (out_h + 1) // 2, (out_w + 1) // 2
    if (2 * tiles_h, 2 * tiles_w) != (out_h, out_w):  # an odd side: one more row or column of zeros
        xp = np.pad(xp, [(0, 0), (0, 2 * tiles_h - out_h), (0, 2 * tiles_w - out_w), (0, 0)])
    U = transformed_filters(W) if U is None else U
    dtype = np.result_type(xp, U)
    out = np.empty((N, 2 * tiles_h, 2 * tiles_w, K), dtype=dtype)
    tiles = tiles_h * tiles_w
    chunks = batch_chunks(N, 16 * tiles * max(C, K) * np.dtype(dtype).itemsize, budget)
    most = chunks[0].stop * tiles
    V_buffer, M_buffer = np.empty(16 * most * C, dtype=dtype), np.empty(16 * most * K, dtype=dtype)
    for s in chunks:
        rows = (s.stop - s.start) * tiles  # the last chunk may be smaller: contiguous views of the buffers' start
        V, M = V_buffer[:16 * rows * C].reshape(16, rows, C), M_buffer[:16 * rows * K].reshape(16, rows, K)
        _input_transform(xp[s], tiles_h, tiles_w, V)
        np.matmul(V, U, out=M)
        _output_transform(M, out[s], tiles_h, tiles_w)
    return out[:, :out_h, :out_w]


# DeepConvNet's 3x3 layers after the first: (in channels, out channels, input side, padding)
LAYERS = [(16, 16, 28, 1), (16, 32, 14, 1), (32, 32, 14, 2), (32, 64, 8, 1), (64, 64, 8, 1)]


def cpu_ms(repeats, fn, *args):
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - start)
    return best * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    threadpool_limits(1)
    rng = np.random.default_rng(0)
    print("layer (C -> K, side)   im2col ms   Winograd ms   ratio   max |difference| / max |output|")
    for C, K, side, pad in LAYERS:
        x = rng.standard_normal((100, side, side, C), dtype=np.float32).transpose(0, 3, 1, 2)  # as in the net
        W, b = rng.standard_normal((K, C, 3, 3), dtype=np.float32), np.zeros(K, np.float32)
        conv, U = Convolution(W, b, 1, pad), transformed_filters(W)
        xp = pad_nhwc(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), pad)
        direct, wino = conv.infer(x).transpose(0, 2, 3, 1), winograd_conv3x3(xp, W, U)
        error = np.abs(direct - wino).max() / np.abs(direct).max()
        a, w = cpu_ms(args.repeats, conv.infer, x), cpu_ms(args.repeats, winograd_conv3x3, xp, W, U)
        print(f"{C:3d} -> {K:3d}, {side:2d}x{side:<2d}       {a:9.2f}   {w:11.2f}   {w / a:5.2f}   {error:.1e}")


if __name__ == "__main__":
    main()
