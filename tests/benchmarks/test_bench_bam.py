"""BAM speed: encode+decode microseconds per window vs a numpy PCA transform of the same size; the sweep grid trained
together (`bam.grid`) vs one codec at a time (CPU-s speed-up and the largest holdout z-MSE difference)."""
import os, time
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


@pytest.mark.benchmark
def test_bench_grid_batched_vs_one_at_a_time():
    "A slice of the committed sweep grid (W = 1, real walking log) trained together (bam.grid) and one codec at a time."
    import torch
    from trainbook.core.paths import data_dir
    from trainbook.bam.data import convert_to_windows
    from trainbook.bam.eval import evaluate
    from trainbook.bam.febam import FebamConfig, train_febam
    from trainbook.bam.gradient import GradientConfig, train_gradient
    from trainbook.bam.grid import train_febam_grid, train_gradient_grid
    old = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        ws = convert_to_windows(data_dir() / "bam" / "xsens_walking" / "walking_xsens_upperLeg.txt", W=1)
        grad = [GradientConfig(latent_dim=k, hidden_dims=[], delta=d, epochs=40, patience=40, linear_fallback=False)
                for k in (2, 4, 6, 8) for d in (0.0, 0.2, 0.3)]
        feb = [FebamConfig(latent_dim=k, hidden_dims=[], delta=d, eta=1e-3, epochs=5, packing="int8", shuffle_buffer=100000,
                           min_epochs=3, early_stop_patience=3, early_stop_min_delta=1e-5, auto_scale=True)
               for k in (2, 4, 6, 8) for d in (0.0, 0.2, 0.3)]
        for name, cfgs, batched, single in (("gradient", grad, train_gradient_grid, train_gradient), ("febam", feb, train_febam_grid, train_febam)):
            t = time.process_time(); tw = time.perf_counter(); rb = batched(ws, cfgs); cb, wb = time.process_time() - t, time.perf_counter() - tw
            t = time.process_time(); tw = time.perf_counter(); ro = [single(ws, c) for c in cfgs]; co, wo = time.process_time() - t, time.perf_counter() - tw
            dz = max(abs(evaluate(a[0], ws)["mse_z"] / evaluate(b[0], ws)["mse_z"] - 1) for a, b in zip(rb, ro))
            print(f"\nBAM grid, {len(cfgs)} {name} codecs (W=1, 1 thread): batched {cb:.1f} CPU-s ({wb:.0f} s wall), one at a time "
                  f"{co:.1f} CPU-s ({wo:.0f} s wall): speed-up x{co / cb:.1f} CPU (x{wo / wb:.1f} wall); "
                  f"max relative holdout z-MSE difference {dz:.2%}; load average {os.getloadavg()[0]:.1f}")
            assert len(rb) == len(cfgs)
    finally:
        torch.set_num_threads(old)
