"""The BAM grid trained together (`trainbook.bam.grid`) against the one-at-a-time trainers, with the same seeds.

Tolerances: FEBAM batched runs the same arithmetic per codec (same init draws, sample order, early
stopping), so its weights match to 1e-6 (summation order only). The gradient grid differs from one at a
time only in the quantisation noise (drawn for the whole stack), so holdout z-MSE per codec is compared
within 2 % relative (measured: < 0.1 % on these grids).
"""
import json
import numpy as np
import pytest
import torch

from trainbook.core.errors import UserError
from trainbook.core.paths import data_dir
from trainbook.bam.data import convert_to_windows, simulated_windows
from trainbook.bam.artifacts import BamCodec
from trainbook.bam.eval import evaluate
from trainbook.bam.febam import FebamConfig, train_febam
from trainbook.bam.gradient import GradientConfig, train_gradient
from trainbook.bam.grid import train_febam_grid, train_gradient_grid, gradient_groups
from trainbook.bam.sweep import SweepConfig, run_sweep

XSENS = data_dir() / "bam" / "xsens_walking" / "walking_xsens_upperLeg.txt"
GRAD_TOL = 0.02


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _zmse(codec, ws):
    return evaluate(codec, ws, "holdout", 0.8, 0)["mse_z"]


def test_febam_grid_equals_one_at_a_time_on_real_data():
    ws = convert_to_windows(XSENS, W=1, stride=1)
    cfgs = [FebamConfig(latent_dim=k, hidden_dims=h, delta=d, eta=1e-3, epochs=4, packing="int8", shuffle_buffer=100000,
                        min_epochs=1, early_stop_patience=1, auto_scale=True)
            for k, h, d in [(1, [], 0.0), (3, [], 0.2), (6, [], 0.3), (2, [8], 0.3), (4, [8], 0.2)]]
    grid = train_febam_grid(ws, cfgs)
    for c, (codec, rep) in zip(cfgs, grid):
        one, rep1 = train_febam(ws, c)
        assert rep["epochs_run"] == rep1["epochs_run"] and rep["stopped_early"] == rep1["stopped_early"]
        assert [list(W.shape) for W, _ in codec.layers] == [list(W.shape) for W, _ in one.layers]
        for (Wa, Va), (Wb, Vb) in zip(codec.layers, one.layers):
            np.testing.assert_allclose(Wa, Wb, atol=1e-6); np.testing.assert_allclose(Va, Vb, atol=1e-6)
        assert codec.scale == pytest.approx(one.scale, rel=1e-6)
        assert _zmse(codec, ws) == pytest.approx(_zmse(one, ws), rel=1e-5)


def test_gradient_grid_matches_one_at_a_time_holdout_zmse():
    ws = convert_to_windows(XSENS, W=4, stride=4)
    cfgs = [GradientConfig(latent_dim=k, hidden_dims=h, delta=d, epochs=30, patience=8, linear_fallback=False)
            for k, h, d in [(2, [], 0.0), (5, [], 0.0), (2, [], 0.3), (4, [], 0.2), (3, [16], 0.3), (6, [16], 0.2)]]
    assert len(gradient_groups(cfgs)) == 2                     # no hidden layer / one of 16: two batched models
    grid = train_gradient_grid(ws, cfgs)
    for c, (codec, rep) in zip(cfgs, grid):
        one, rep1 = train_gradient(ws, c)
        a, b = _zmse(codec, ws), _zmse(one, ws)
        assert abs(a - b) <= GRAD_TOL * b, (c.latent_dim, c.hidden_dims, c.delta, a, b)
        assert rep["kept"] == rep1["kept"] and rep["init"] == rep1["init"]
        assert rep["batched"]["group_size"] in (2, 4) and rep["epochs_run"] <= c.epochs
        assert len(rep["curves"]["val_mse_z"]) == rep["epochs_run"]
        assert min(rep["curves"]["val_mse_z"]) == pytest.approx(rep["best_val_mse_z"])


def test_gradient_grid_stops_codecs_separately():
    ws = simulated_windows(400, W=1, seed=5)
    cfgs = [GradientConfig(latent_dim=k, hidden_dims=[], delta=d, epochs=40, patience=3, linear_fallback=False)
            for k, d in [(2, 0.0), (4, 0.3)]]
    reps = [r for _, r in train_gradient_grid(ws, cfgs)]
    # the linear codec starts at PCA and stops within a few epochs; the nonlinear one keeps improving longer
    assert reps[0]["epochs_run"] < reps[1]["epochs_run"]
    assert reps[0]["stopped_early"]


def test_febam_grid_isolates_a_diverging_codec():
    ws = simulated_windows(300, W=1, seed=6)
    cfgs = [FebamConfig(latent_dim=2, delta=0.0, eta=1e-3, epochs=2, packing="int8"),
            FebamConfig(latent_dim=2, delta=0.0, eta=50.0, epochs=2, packing="int8")]
    (ok, bad) = train_febam_grid(ws, cfgs)
    assert isinstance(ok, tuple) and isinstance(bad, UserError) and "diverged" in str(bad)
    with pytest.raises(UserError, match="diverged"): train_febam(ws, cfgs[1])


def test_sweep_batched_exports_the_same_contract_as_one_at_a_time(tmp_path):
    ws = simulated_windows(300, W=2, seed=4)
    kw = dict(latent_dims=[2, 3], hidden_dims=["", "8"], packings=["int8"], deltas=[0.0, 0.3], trainers=["febam", "gradient"],
              jobs=1, febam={"eta": 1e-3, "epochs": 3, "auto_scale": True}, gradient={"epochs": 8, "patience": 4})
    rb = run_sweep(ws, tmp_path / "b", SweepConfig(**kw, batched=True), log=lambda *_: None)
    ro = run_sweep(ws, tmp_path / "o", SweepConfig(**kw, batched=False), log=lambda *_: None)
    assert rb["n_failed"] == ro["n_failed"] == 0
    rows_o = {r["run_id"]: r for r in ro["runs"]}
    assert sorted(r["run_id"] for r in rb["runs"]) == sorted(rows_o)
    for r in rb["runs"]:
        o = rows_o[r["run_id"]]
        tol = 1e-5 if r["trainer"] == "febam" else GRAD_TOL
        assert r["mse_z"] == pytest.approx(o["mse_z"], rel=tol), r["run_id"]
        db, do = tmp_path / "b" / r["manifest"], tmp_path / "o" / o["manifest"]
        assert sorted(p.name for p in db.parent.iterdir()) == sorted(p.name for p in do.parent.iterdir())
        mb, mo = json.loads(db.read_text()), json.loads(do.read_text())
        assert mb.keys() == mo.keys() and {k: mb[k] for k in mb if k != "scale"} == {k: mo[k] for k in mo if k != "scale"}
        codec = BamCodec.from_manifest(db)                     # loads: ids, schema and norm hashes check out
        assert codec.payload_bytes == r["payload_bytes"]
