"""A small, fully deterministic training job used by the resume and distributed tests.

Run directly (`python train_script.py OUT ...`) or under `accelerate launch` / `torchrun`.
"""
import argparse, json, time
from pathlib import Path
import torch
from torch.utils.data import TensorDataset
from trainbook.core.train import TrainConfig, fit


def data():
    g = torch.Generator().manual_seed(123)
    X = torch.randn(512, 8, generator=g)
    w = torch.randn(8, 1, generator=g)
    Y = torch.tanh(X @ w) + 0.05 * torch.randn(512, 1, generator=g)
    return TensorDataset(X[:384], Y[:384]), (X[384:], Y[384:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out"); ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--resume", action="store_true"); ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=32); ap.add_argument("--dropout", type=float, default=0.1)
    a = ap.parse_args()
    train, (Xv, Yv) = data()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(a.dropout), torch.nn.Linear(32, 1))

    def loss_fn(m, b):
        if a.sleep: time.sleep(a.sleep)   # gives the kill test a window inside an epoch
        return torch.nn.functional.mse_loss(m(b[0]), b[1])

    def eval_fn(m): return {"val_loss": torch.nn.functional.mse_loss(m(Xv), Yv).item()}

    cfg = TrainConfig(epochs=a.epochs, lr=3e-3, batch_size=a.batch_size, device="cpu", seed=7,
                      output_dir=str(Path(a.out) / "train"), resume=a.resume, progress=False, restore_best=False)
    r = fit(model, train, loss_fn, cfg, eval_fn=eval_fn)
    import accelerate
    if accelerate.PartialState().is_main_process:
        flat = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
        (Path(a.out) / "result.json").write_text(json.dumps(
            {"val_losses": [h["val_loss"] for h in r.history], "params": flat, "epochs_run": r.epochs_run,
             "num_processes": accelerate.PartialState().num_processes,
             "backend": str(accelerate.PartialState().backend)}))


if __name__ == "__main__":
    main()
