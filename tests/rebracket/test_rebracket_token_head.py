"Token-level head (`pooling: token_*`): a learned marker detector over cached per-token encoder states."
import numpy as np
import pandas as pd
import pytest
import torch
from trainbook.core.errors import ConfigError
from trainbook.rebracket.config import load_rebracket_config
from trainbook.rebracket.model import TextEncoder, build_model
from trainbook.rebracket.pipeline import load_rebracket_model, predict_texts, train_and_report
from trainbook.rebracket.train import EmbeddingCache, make_cache, predict, train_model

def _cfg(enc, *extra):
    return load_rebracket_config(overrides=[f"model.text_encoder.model_name={enc}", "model.text_encoder.max_length=64",
                                            "model.text_encoder.freeze_layers=-1", "model.classifier.hidden_dims=[16]",
                                            "model.classifier.dropout=0.0", "training.device=cpu", *extra])

def _marker_songs(n, seed):
    "Texts of filler words; label = the marker word 'not' occurs (once, anywhere): the shape of the real task."
    rng = np.random.default_rng(seed); filler = ["the", "a", "song", "is", "was", "like"]
    rows = []
    for i in range(n):
        words = list(rng.choice(filler, size=int(rng.integers(3, 12))))
        y = i % 2
        if y: words.insert(int(rng.integers(0, len(words) + 1)), "not")
        rows.append({"id": f"s{seed}_{i}", "concept": " ".join(words), "target": float(y), "n_tracks": 1})
    return pd.DataFrame(rows)

def test_token_max_head_learns_a_marker_word(tiny_encoder):
    "Trained on bag-level labels only, the token head finds the marker and generalises to unseen texts."
    cfg = _cfg(tiny_encoder, "model.text_encoder.pooling=token_max", "model.text_encoder.hidden_layer=0",
               "model.classifier.hidden_dims=[32]", "training.epochs=150", "training.early_stopping.patience=150",
               "training.batch_size=8", "training.head_learning_rate=1e-2", "training.pos_weight=none")
    songs = pd.concat([_marker_songs(40, 0), _marker_songs(40, 1)], ignore_index=True)
    _, enc = build_model(cfg, with_encoder=False)
    cache = make_cache(cfg, enc)
    assert isinstance(cache, EmbeddingCache) and cache.tokens          # token states are cached, not a pooled vector
    tm = train_model(cfg, songs, np.arange(0, 32), np.arange(32, 40), cache=cache)
    ds = cache.dataset(songs["concept"][40:], songs["target"][40:].to_numpy(), None)
    p = predict(tm.model, ds, cache.collate)
    acc = float(((p >= tm.threshold) == (songs["target"][40:].to_numpy() > 0.5)).mean())
    assert acc == 1.0, acc

def test_hidden_layer_selects_token_states(tiny_encoder):
    e0 = TextEncoder(tiny_encoder, pooling="token_max", hidden_layer=0)
    e_last = TextEncoder(tiny_encoder, pooling="token_max", hidden_layer=-1)
    e2 = TextEncoder(tiny_encoder, pooling="token_max", hidden_layer=2)       # 2 layers: index 2 is the last
    tok = e0.tokenize(["the song is not"])
    h0, hl, h2 = (e.eval().token_states(**tok) for e in (e0, e_last, e2))
    assert not torch.allclose(h0, hl) and torch.allclose(hl, h2, atol=1e-6)
    with pytest.raises(ConfigError, match="hidden_layer"): TextEncoder(tiny_encoder, hidden_layer=3)
    with pytest.raises(ConfigError, match="hidden_layer"): _cfg(tiny_encoder, "model.text_encoder.hidden_layer=-2")

@pytest.mark.parametrize("pooling,tt,col", [("token_lse", "binary", "has_rebracketing_markers"),
                                            ("token_mean", "regression", "rebracketing_intensity")])
def test_token_head_checkpoint_round_trip(tiny_encoder, tmp_path, pooling, tt, col):
    "The head trained on cached token states predicts the same from raw text after reloading (encoder re-loaded by name)."
    cfg = _cfg(tiny_encoder, f"model.text_encoder.pooling={pooling}", "model.text_encoder.hidden_layer=1",
               "training.epochs=2", f"data.target_type={tt}", f"data.target_column={col}")
    res = train_and_report(cfg, tmp_path)
    model, meta = load_rebracket_model(tmp_path / "rebracket_model.pt")
    assert meta["head_only"] and model.pooling == pooling and model.encoder.hidden_layer == 1
    texts = ["It was not what it seemed.", "A song about a house."]
    preds = predict_texts(model, meta, texts)
    assert len(preds) == 2
    trained = res["fixed"]["results"]["model"]
    assert np.all(np.isfinite(trained["song_pred"]))
    # reloaded model on raw text == the same head on cached token states
    cache = EmbeddingCache(model.encoder, tokens=True)
    from trainbook.rebracket.manifest import normalize_text
    direct = model(model.encoder.tokenize([normalize_text(t) for t in texts])).detach()
    cached = torch.as_tensor(predict(model, cache.dataset([normalize_text(t) for t in texts], np.zeros(2), None), cache.collate))
    if tt == "binary": direct = torch.sigmoid(direct)
    assert torch.allclose(direct.float(), cached.float(), atol=1e-4)

def test_threshold_none_keeps_half_and_baseline_stays_tuned(tiny_encoder):
    from trainbook.rebracket.train import cross_validate
    cfg = _cfg(tiny_encoder, "model.text_encoder.pooling=token_lse", "training.epochs=1", "data.cv_folds=2",
               "training.threshold_metric=none")
    cv = cross_validate(cfg, methods=("model", "tfidf_lr"), verbose=False)
    assert all(f["metrics"]["threshold"] == 0.5 for f in cv["per_fold"]["model"])
    assert all(0 <= f["metrics"]["threshold"] <= 1 for f in cv["per_fold"]["tfidf_lr"])
