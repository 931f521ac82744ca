"""BAM codec speed: encode+decode microseconds per window vs a numpy PCA transform of the same size."""
import time
import numpy as np
import pytest

from trainbook.bam.artifacts import BamCodec, Norm, pca_codec
from trainbook.bam.data import simulated_windows


def _per_window_us(fn, windows, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for x in windows: fn(x)
        best = min(best, (time.perf_counter() - t) / len(windows) * 1e6)
    return best


def _codec(W, hidden, k, delta, packing="int8"):
    rng = np.random.default_rng(0)
    dims = [12 * W] + hidden + [k]
    layers = [(rng.normal(0, 1 / np.sqrt(i), (o, i)).astype(np.float32), rng.normal(0, 1 / np.sqrt(o), (i, o)).astype(np.float32))
              for i, o in zip(dims[:-1], dims[1:])]
    return BamCodec(layers, Norm(np.zeros(12 * W), np.ones(12 * W)), k, packing, 127.0, delta, window_W=W)


@pytest.mark.benchmark
@pytest.mark.parametrize("W, hidden, k", [(1, [64], 4), (1, [], 8), (4, [64], 8), (4, [], 16)])
def test_bench_encode_decode_vs_numpy_pca(W, hidden, k):
    ws = simulated_windows(2000, W=W, seed=1)
    codec = _codec(W, hidden, k, 0.2 if hidden else 0.0)
    # the PCA reference: z-score, project on k components, reconstruct (float, no bytes): the minimum work
    mean, std = ws.X.mean(0), ws.X.std(0) + 1e-9
    P = np.linalg.svd((ws.X - mean) / std, full_matrices=False)[2][:k]
    pca = lambda x: ((((x - mean) / std) @ P.T) @ P) * std + mean
    windows = list(ws.X[:2000])
    t_codec = _per_window_us(lambda x: codec.decode(codec.encode(x)), windows)
    t_pca = _per_window_us(pca, windows)
    # batch path (what eval uses)
    t0 = time.perf_counter(); codec.reconstruct(ws.X); t_batch = (time.perf_counter() - t0) / len(ws.X) * 1e6
    print(f"\nBAM W={W} layers={[12 * W] + hidden + [k]}: encode+decode {t_codec:.1f} us/window (per window, via bytes), "
          f"{t_batch:.2f} us/window batched; numpy PCA transform+inverse {t_pca:.1f} us/window; ratio codec/PCA {t_codec / t_pca:.2f}")
    assert len(codec.encode(windows[0])) == codec.payload_bytes
