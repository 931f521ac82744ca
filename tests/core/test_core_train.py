"""The shared training loop: resume after a real SIGKILL, and 2-process distributed training."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("train_script.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _run(*args, timeout=300):
    subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], check=True, env=ENV, timeout=timeout,
                   stdout=subprocess.DEVNULL)


def _result(d): return json.loads((Path(d) / "result.json").read_text())


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    _run(tmp_path / "straight", "--epochs", 6)
    # same job, killed with SIGKILL in the middle of epoch 3 (after epoch 2's checkpoint)
    killed = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, str(SCRIPT), str(killed), "--epochs", "6", "--sleep", "0.05"],
                         env=ENV, stdout=subprocess.DEVNULL)
    metrics = killed / "train" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2: break
        time.sleep(0.05)
    time.sleep(0.2)
    assert p.poll() is None, "the job finished before it could be killed"
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (killed / "result.json").exists()
    done_before = len(metrics.read_text().splitlines())
    assert 2 <= done_before < 6
    _run(killed, "--epochs", 6, "--resume")
    a, b = _result(tmp_path / "straight"), _result(killed)
    assert a["epochs_run"] == b["epochs_run"] == 6
    assert a["val_losses"] == b["val_losses"]          # bit-identical: same seed, same data order
    assert np.array_equal(a["params"], b["params"])
    assert len(metrics.read_text().splitlines()) == 6  # no duplicated epochs in the log


def test_two_process_ddp_matches_single_process(tmp_path):
    """2 CPU processes (gloo) with the same global batch reach the single-process result.

    Tolerance: parameters within 1e-4 absolute and validation losses within 1e-4 relative after
    6 epochs; the only differences are float summation order in the all-reduce.
    """
    _run(tmp_path / "one", "--epochs", 6, "--dropout", 0.0)
    # torchrun is the CPU launcher (`accelerate launch` on CPU hands multi-process runs to mpirun);
    # on GPUs `accelerate launch --multi_gpu --num_processes N` runs the same script unchanged.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           str(SCRIPT), str(tmp_path / "two"), "--epochs", "6", "--dropout", "0.0"]
    r = subprocess.run(cmd, env=ENV, timeout=600, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _result(tmp_path / "one"), _result(tmp_path / "two")
    assert (a["num_processes"], b["num_processes"], b["backend"]) == (1, 2, "gloo")
    print(f"\nDDP vs 1 process: max |param diff| = {np.abs(np.subtract(a['params'], b['params'])).max():.2e}, "
          f"final val_loss {a['val_losses'][-1]:.6f} vs {b['val_losses'][-1]:.6f}")
    np.testing.assert_allclose(b["params"], a["params"], atol=1e-4)
    np.testing.assert_allclose(b["val_losses"], a["val_losses"], rtol=1e-4)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_plain_steps_equal_accelerate_wrappers(monkeypatch, dropout):
    "On one full-precision process `fit` calls torch directly; the weights and history equal the Accelerate-wrapped path's."
    import torch
    import trainbook.core.train as T
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 8, generator=g); y = (X[:, 0] > 0).long()
    ds = torch.utils.data.TensorDataset(X, y)
    def run(plain):
        monkeypatch.setattr(T, "PLAIN_STEPS", plain)
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(16, 2))
        cfg = T.TrainConfig(epochs=3, batch_size=32, lr=1e-2, device="cpu", progress=False, max_grad_norm=0.5)
        res = T.fit(m, ds, lambda mm, b: torch.nn.functional.cross_entropy(mm(b[0]), b[1]), cfg,
                    eval_fn=lambda mm: {"val_loss": float(torch.nn.functional.cross_entropy(mm(X[:64]), y[:64]))})
        return [r["train_loss"] for r in res.history], [r["val_loss"] for r in res.history], m.state_dict()
    a, b = run(True), run(False)
    assert a[0] == b[0] and a[1] == b[1]
    assert all(torch.equal(a[2][k], b[2][k]) for k in a[2])
