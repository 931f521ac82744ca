import json
import numpy as np
import pytest
import torch
from trainbook.core.artifacts import read_json
from trainbook.core.cli import main
from trainbook.rebracket.config import load_rebracket_config
from trainbook.rebracket.pipeline import load_rebracket_model, predict_texts, train_and_report
from trainbook.rebracket.train import cross_validate, cv_table, METHODS

def _tiny(enc, *extra):
    return [f"model.text_encoder.model_name={enc}", "model.text_encoder.max_length=64", "model.classifier.hidden_dims=[8]",
            "training.device=cpu", "training.epochs=2", "data.cv_folds=3", *extra]

def test_tiny_train_cli_with_cv(tiny_encoder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["rebracket", "train", "--out", str(out), "--cv", *_tiny(tiny_encoder, "model.text_encoder.freeze_layers=-1")]) == 0
    for f in ("rebracket_model.pt", "fixed_split.json", "cv.json", "cv_table.csv", "fit/metrics.jsonl", "fit/best.pt"):
        assert (out / f).exists(), f
    cv = read_json(out / "cv.json", "rebracket_cv")
    assert set(cv["per_fold"]) == set(METHODS) and len(cv["folds"]) == 3
    ids = cv["song_ids"]
    for tr, te in cv["folds"]: assert not {ids[i] for i in tr} & {ids[i] for i in te}
    lex = [f["minority_f1"] for f in cv["per_fold"]["lexicon_rule"]]
    assert lex == [1.0, 1.0, 1.0]                       # the labelling rule is the ceiling
    assert all(f["auroc"] == 0.5 for f in cv["per_fold"]["majority"])
    model, meta = load_rebracket_model(out / "rebracket_model.pt")
    assert 0 <= meta["threshold"] <= 1 and meta["head_only"]
    preds = predict_texts(model, meta, ["It was not what it seemed.", "A song about a house."])
    assert len(preds) == 2 and all(isinstance(p, bool) for p in preds)

def test_fine_tuning_path_updates_encoder(tiny_encoder, tmp_path):
    cfg = load_rebracket_config(overrides=_tiny(tiny_encoder, "model.text_encoder.freeze_layers=1", "training.epochs=1",
                                               "training.learning_rate=1e-2", "model.text_encoder.pooling=cls"))
    res = train_and_report(cfg, tmp_path)
    model, meta = load_rebracket_model(tmp_path / "rebracket_model.pt")
    assert not meta["head_only"]
    from trainbook.rebracket.model import TextEncoder
    fresh = TextEncoder(tiny_encoder, freeze_layers=1)
    top = lambda enc: torch.cat([p.flatten() for p in enc.model.encoder.layer[1].parameters()])
    bottom = lambda enc: torch.cat([p.flatten() for p in enc.model.encoder.layer[0].parameters()])
    assert not torch.allclose(top(model.encoder), top(fresh))             # trained
    assert torch.equal(bottom(model.encoder), bottom(fresh))              # frozen
    assert "fixed_model_minority_f1" in res["headline"]

@pytest.mark.parametrize("extra", [["training.focal_gamma=2.0"], ["training.oversample=true", "training.pos_weight=none"],
                                   ["model.text_encoder.pooling=attention"]])
def test_imbalance_and_pooling_options_train(tiny_encoder, extra):
    cfg = load_rebracket_config(overrides=_tiny(tiny_encoder, "model.text_encoder.freeze_layers=-1", *extra))
    tab = cv_table(cross_validate(cfg, verbose=False))
    assert np.isfinite(tab.loc["model", "minority_f1"]) and tab.loc["lexicon_rule", "minority_f1"] == 1.0

@pytest.mark.parametrize("col,tt,key", [("rebracketing_type", "multiclass", "macro_f1"), ("rebracketing_intensity", "regression", "mae")])
def test_later_phases_train(tiny_encoder, col, tt, key):
    cfg = load_rebracket_config(overrides=_tiny(tiny_encoder, "model.text_encoder.freeze_layers=-1",
                                               f"data.target_column={col}", f"data.target_type={tt}"))
    tab = cv_table(cross_validate(cfg, verbose=False))
    assert np.isfinite(tab.loc["model", key])
    if tt == "regression": assert tab.loc["lexicon_rule", "mae"] < 1e-9
    else: assert tab.loc["lexicon_rule", "macro_f1"] == pytest.approx(1.0)

def test_epoch_lines_follow_logging_epochs(tiny_encoder, capsys):
    "A line per epoch by default; `logging.epochs=false` (the run report's setting: it held 3,711 of them) prints none."
    for flag, want in (("true", True), ("false", False)):
        cfg = load_rebracket_config(overrides=_tiny(tiny_encoder, "model.text_encoder.freeze_layers=-1", f"logging.epochs={flag}"))
        cross_validate(cfg, verbose=False)
        assert ("epoch=1 step=" in capsys.readouterr().out) == want, flag
