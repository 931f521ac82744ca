"""The training loop's own cost: `core.train.fit` against a bare PyTorch loop doing the same work.

Same model, data, seed, batch size, AdamW, warmup + cosine schedule, gradient clipping and one
evaluation per epoch; the bare loop is what a user would write by hand. Printed: CPU seconds of each
(best of 3, alternating; CPU time because the machine is shared) and the overhead ratio fit / bare
(target <= 1.05). One torch thread, so both measure the same single-core work.
"""
import contextlib, io, math, time
import pytest
import torch

from trainbook.core.train import TrainConfig, fit, make_scheduler, seed_everything

EPOCHS, BATCH = 3, 64


def _mlp():
    return torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 4))


class _Tiny(torch.nn.Module):
    "A small Transformer encoder classifier over token ids."
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(64, 64)
        layer = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(64, 4)

    def forward(self, x): return self.head(self.enc(self.emb(x)).mean(1))


def _data(kind, n=2048):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 32, generator=g) if kind == "mlp" else torch.randint(0, 64, (n, 32), generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    return torch.utils.data.TensorDataset(X, y)


def _cfg(epochs=EPOCHS):
    return TrainConfig(epochs=epochs, lr=1e-3, batch_size=BATCH, device="cpu", seed=0, progress=False, monitor="val_loss",
                       max_grad_norm=1.0, warmup_ratio=0.1)


def _run_fit(make, ds, val, epochs=EPOCHS):
    model = make(); cfg = _cfg(epochs)
    loss = lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1])
    ev = lambda m: {"val_loss": float(torch.nn.functional.cross_entropy(m(val[0]), val[1]))}
    t = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()): res = fit(model, ds, loss, cfg, eval_fn=ev)   # its one line per epoch
    return time.process_time() - t, res.history[-1]["val_loss"]


def _run_bare(make, ds, val, epochs=EPOCHS):
    model = make(); cfg = _cfg(epochs)
    t = time.process_time()
    seed_everything(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = make_scheduler(opt, cfg, len(loader) * epochs)
    best, best_state = None, None
    for epoch in range(1, epochs + 1):
        seed_everything(cfg.seed + epoch); model.train()
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step(); sched.step(); opt.zero_grad()
        model.eval()
        with torch.no_grad(): v = float(torch.nn.functional.cross_entropy(model(val[0]), val[1]))
        if best is None or v < best: best, best_state = v, {k: p.detach().clone() for k, p in model.state_dict().items()}
    model.load_state_dict(best_state)
    return time.process_time() - t, v


@pytest.mark.benchmark
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_bench_fit_overhead_vs_bare_loop(kind):
    old = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        make = _mlp if kind == "mlp" else _Tiny
        ds, val = _data(kind), _data(kind, 256).tensors
        _run_fit(make, ds, val); _run_bare(make, ds, val)          # warm-up: imports, allocator
        tf, tb, tf1, tb1 = [], [], [], []
        for _ in range(3):
            tf.append(_run_fit(make, ds, val)); tb.append(_run_bare(make, ds, val))
            tf1.append(_run_fit(make, ds, val, 1)[0]); tb1.append(_run_bare(make, ds, val, 1)[0])
        f, b = min(t for t, _ in tf), min(t for t, _ in tb)
        steps = EPOCHS * math.ceil(len(ds) / BATCH)
        # the per-epoch cost from the difference of 3-epoch and 1-epoch runs; what is left is start-up (Accelerator etc.)
        pe_f, pe_b = (f - min(tf1)) / (EPOCHS - 1), (b - min(tb1)) / (EPOCHS - 1)
        print(f"\ncore.train.fit vs bare loop ({kind}, {steps} steps of {BATCH}, 1 thread): fit {f:.3f} CPU-s, "
              f"bare {b:.3f} CPU-s, overhead ratio {f / b:.3f} (target <= 1.05); per epoch (steady state) fit {pe_f:.3f} "
              f"bare {pe_b:.3f} CPU-s, ratio {pe_f / pe_b:.3f}; fixed start-up cost of fit {max(min(tf1) - pe_f, 0):.3f} CPU-s; "
              f"final val loss fit {tf[-1][1]:.4f} bare {tb[-1][1]:.4f}")
        assert math.isfinite(tf[-1][1]) and math.isfinite(tb[-1][1])
    finally:
        torch.set_num_threads(old)
