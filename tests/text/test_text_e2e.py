"A tiny end-to-end run: train on the committed samples, reload from the run folder, predict, CLI, attention maps."
import json

import numpy as np
import pytest

from trainbook.core.cli import main
from trainbook.core.paths import repo_root
from trainbook.text.inference import MultiTaskPredictor, plot_attention
from trainbook.text.train import load_text_config, train_multitask

TINY = ["tokenizer.name=bpe", "tokenizer.vocab_size=600", "model.init_encoder=null", "model.preset=tiny", "model.heads=0",
        "model.ffn=0", "model.decoder_layers=0", "tokenizer.max_source_len=64", "tokenizer.max_target_len=16",
        "data.max_train={emotion: 120, topic: 120, summarization: 48}", "data.max_val={emotion: 40, topic: 40, summarization: 16}",
        "trainer.steps_per_epoch=6", "trainer.eval_rows=16", "trainer.batch_sizes={summarization: 8, emotion: 16, topic: 16}",
        "train.epochs=2", "train.device=cpu", "eval.num_beams=2", "eval.max_summary_len=8", "eval.tune_rows=4"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("text_run")
    run = train_multitask(load_text_config(repo_root() / "configs/training/default.yaml", TINY), out)
    return out, run


def test_run_folder_layout(tiny_run):
    out, run = tiny_run
    for rel in ["config.yaml", "artifacts/hf_tokenizer/tokenizer.json", "artifacts/labels.json", "checkpoints/model.pt",
                "checkpoints/best.pt", "checkpoints/last.pt", "checkpoints/metrics.jsonl"]:
        assert (out / rel).exists(), rel
    hist = [json.loads(l) for l in (out / "checkpoints" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2] and all("val_topic_accuracy" in h for h in hist)
    assert run.meta["train_rows"] == {"summarization": 48, "emotion": 120, "topic": 120}
    # decoding settings picked on validation over the configured grid, and stored with the checkpoint
    grid = run.meta["decoding_tuning"]
    assert len(grid) == len(run.config.eval.tune_repeat_penalty) * len(run.config.eval.tune_length_penalty)
    best = max(grid, key=lambda r: r["rouge1"])
    pred = MultiTaskPredictor.from_run(out)
    assert (pred.config.eval.repeat_penalty, pred.config.eval.length_penalty) == (best["repeat_penalty"], best["length_penalty"])


def test_emotion_head_refit_is_chosen_on_validation_and_saved(tiny_run):
    "The refit picks the candidate of best validation micro F1, and the checkpoint holds that layer (reloaded, it scores the same)."
    from sklearn.metrics import f1_score
    from trainbook.text.evaluate import classify_probs
    from trainbook.text.metrics import decide_emotions, tune_multilabel_threshold
    out, run = tiny_run
    r = run.meta["emotion_refit"]
    assert set(r["val_micro_f1"]) == {"trained head", "C=0.0625", "C=0.25", "C=1"}
    assert r["val_micro_f1"][r["chosen"]] == max(r["val_micro_f1"].values())
    pred = MultiTaskPredictor.from_run(out)
    val = run.datasets["validation"]["emotion"]
    P = classify_probs(pred.model, pred.tokenizer, val.texts, run.config.tokenizer.max_text_len)[0]
    Y = val.targets.astype(int)
    f1 = f1_score(Y, decide_emotions(P, tune_multilabel_threshold(Y, P)), average="micro", zero_division=0)
    assert abs(f1 - r["val_micro_f1"][r["chosen"]]) < 1e-6, (f1, r)


def test_optimizer_groups_and_emotion_prior(tiny_run):
    from trainbook.text.train import make_optimizer
    out, run = tiny_run
    cfg = load_text_config(repo_root() / "configs/training/default.yaml", TINY + ["trainer.head_lr=0.01", "train.lr=0.001"])
    opt = make_optimizer(run.model, cfg)
    head = {id(p) for h in (run.model.emotion_head, run.model.topic_head) for p in h.parameters()}
    for g in opt.param_groups:
        assert g["lr"] == (0.01 if all(id(p) in head for p in g["params"]) else 0.001)
    assert sum(len(g["params"]) for g in opt.param_groups if g["lr"] == 0.01) == len(head)


def test_predict_from_run_folder(tiny_run):
    out, run = tiny_run
    pred = MultiTaskPredictor.from_run(out)
    res = pred.predict(["Stocks fell sharply on Monday after the bank raised rates.", "I love this so much!"])
    assert len(res) == 2
    for r in res:
        assert set(r) == {"summary", "emotions", "topic", "topic_probs"}
        assert isinstance(r["summary"], str) and len(r["emotions"]) == 28
        assert r["topic"] in {"World", "Sports", "Business", "Sci/Tech"}
        assert abs(sum(r["topic_probs"].values()) - 1) < 1e-3
        assert all(0 <= p <= 1 for p in r["emotions"].values())
    # the reloaded model is the trained one
    import torch
    a = dict(run.model.state_dict()); b = pred.model.state_dict()
    assert all(torch.equal(a[k].cpu(), b[k]) for k in a)


def test_attention_maps(tiny_run):
    out, _ = tiny_run
    maps = MultiTaskPredictor.from_run(out).attention_maps("We propose a new method for summarization of papers.")
    L, H, S, S2 = maps["encoder"].shape
    assert S == S2 == len(maps["source_tokens"])
    Lc, Hc, T, Sc = maps["cross"].shape
    assert Sc == S and T == len(maps["summary_tokens"])
    assert np.allclose(maps["encoder"].sum(-1), 1, atol=1e-4) and np.allclose(maps["cross"].sum(-1), 1, atol=1e-4)
    assert plot_attention(maps, "cross") is not None


def test_cli_predict_and_errors(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    assert main(["text", "predict", "--checkpoint", str(out), "--beams", "1", "The team won the final game."]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert {"summary", "emotions", "topic", "topic_probs"} <= set(row)
    f = tmp_path / "in.jsonl"; f.write_text('{"text": "Oil prices rose."}\n{"text": ""}\n')
    assert main(["text", "predict", "--checkpoint", str(out), "--input", str(f)]) == 2
    assert "in.jsonl: line 2" in capsys.readouterr().err
    assert main(["text", "predict", "--checkpoint", str(tmp_path), "hi"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["text", "train", "--config", str(repo_root() / "configs/training/default.yaml"), "model.nonsense=1"]) == 2
    assert "unknown config key 'model.nonsense'" in capsys.readouterr().err


def test_cli_train_tiny(tmp_path, capsys):
    rc = main(["text", "train", "--config", str(repo_root() / "configs/training/default.yaml"), "--out", str(tmp_path / "r"), *TINY, "train.epochs=1"])
    assert rc == 0 and (tmp_path / "r" / "checkpoints" / "model.pt").exists()
    assert "run folder" in capsys.readouterr().out
