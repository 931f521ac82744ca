"""Issue 18, BAM part: bad input, tampered artifacts and escaping paths against every `trainbook bam` command.

Each refusal is checked the way a user meets it: exit code 2, ONE line on stderr naming the file (and line or
byte where there is one), no traceback, and no output file or folder left behind. The CLI runs in-process
(`trainbook.core.cli.main`) except for two subprocess checks at the end.

Classes of the issue covered here (see the report): 1 tampering (hashes), 2 manifest paths confined,
4 negative / zero / NaN counts and rates, 5 non-UTF-8, folders, wrong types and out-of-range numbers,
output paths, 6 unsafe `.npz` refused in our words, 8 duplicate keys.
"""
import hashlib, json, shutil, sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from trainbook.bam.artifacts import SEED_ARTIFACT_KEYS, file_hashes, pca_codec
from trainbook.bam.data import ORDER, simulated_windows, write_dataset
from trainbook.bam.runspec import example_runspec_dict
from faults import cli, edit_json, in_our_words, json_edited, one_line, refused, refused_process, replaced, unwritable   # tests/faults.py

LATIN1 = "caf\xe9".encode("latin-1")          # one byte that is not UTF-8
HUGE = 10 ** 400                                # a 400-digit integer: valid JSON, not a float64
HYP = settings(max_examples=25, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    "A dataset, a tiny exported codec (z-PCA, no training: milliseconds), a sweep folder around it, and RunSpecs."
    b = tmp_path_factory.mktemp("bamfaults")
    ws = simulated_windows(60, W=1, seed=1)
    write_dataset(b / "ds.jsonl", ws)
    sweep = b / "sweep"; codec_dir = sweep / "runs" / "r1"
    pca_codec(ws.X, 4, "int8").export(codec_dir, train_split={"train_ratio": 0.8, "split_seed": 0})
    (codec_dir / "eval.json").write_text(json.dumps({"schema": "bam_sweep_point", "schema_version": 1, "eval": {
        "subset": "holdout", "n_windows": 12, "mae_raw": 1.0, "mse_raw": 1.0, "mae_z": 0.1, "mse_z": 0.1}}))
    row = {"run_id": "r1", "status": "ok", "payload_bytes": 4, "mse_z": 0.1, "trainer": "pca",
           "manifest": "runs/r1/bam_manifest.json"}
    (sweep / "sweep_report.json").write_text(json.dumps({
        "schema": "bam_sweep_report", "schema_version": 1, "config": {"train_ratio": 0.8, "split_seed": 0},
        "dataset": {}, "runs": [row], "payload_table": []}))
    for role in ("tx", "rx"):
        d = example_runspec_dict(role, max_windows=5, max_retries=0)
        d["logging"]["out_dir"] = str(b / "unused_logs")
        (b / f"{role}.yaml").write_text(yaml.safe_dump(d))
    return b


@pytest.fixture
def sw(base, tmp_path):
    "A fresh copy of the sweep folder (codec inside) to tamper with; returns (sweep dir, codec dir, manifest)."
    s = tmp_path / "sweep"; shutil.copytree(base / "sweep", s)
    return s, s / "runs" / "r1", s / "runs" / "r1" / "bam_manifest.json"


def manifest_commands(base, sw, tmp):
    "Every command that loads a BAM codec, and the outputs each would write."
    s, _, man = sw
    return {
        "eval": (["bam", "eval", "--dataset", base / "ds.jsonl", "--bam-manifest", man, "--out", tmp / "ev.json"], [tmp / "ev.json"]),
        "tx": (["bam", "tx", "--runspec", base / "tx.yaml", "--manifest", man, "--dataset", base / "ds.jsonl", "--radio", "mock",
                "--out-dir", tmp / "logs"], [tmp / "logs"]),
        "rx": (["bam", "rx", "--runspec", base / "rx.yaml", "--manifest", man, "--listen", "127.0.0.1:0", "--start-timeout", "1",
                "--out-dir", tmp / "logs"], [tmp / "logs"]),
        "record": (["bam", "record", "--sweep-report", s / "sweep_report.json", "--budget-bytes", "4", "--out", tmp / "rec.yaml"],
                   [tmp / "rec.yaml"]),
    }

COMMANDS = ["eval", "tx", "rx", "record"]


def rehash(d: Path):
    "Re-sign a codec folder as `export` would (the attacker who can also rewrite artifacts.json): isolates the parser checks."
    a = json.loads((d / "artifacts.json").read_text())
    a["files"] = file_hashes(d, [d / "bam_manifest.json", *sorted(d.glob("layer_*.npz")), d / "norm.json"])
    a["norm_params_hash"] = hashlib.sha256((d / "norm.json").read_bytes()).hexdigest()
    (d / "artifacts.json").write_text(json.dumps(a))


# ---------------------------------------------------------------------------------------------- controls
def test_untampered_codec_loads_in_every_command(base, sw, tmp_path, capsys):
    "The positive control: the same commands succeed on the untouched copy (so every refusal below is the check's)."
    cmds = manifest_commands(base, sw, tmp_path)
    for name in ("eval", "tx", "record"):
        rc, out, err = cli(capsys, *cmds[name][0])
        assert rc == 0, (name, err)
    assert (tmp_path / "ev.json").exists() and (tmp_path / "rec.yaml").exists() and (tmp_path / "logs").is_dir()


# ---------------------------------------------------------------------------------------------- class 1: hashes
def _w_times_minus_3(d):
    z = dict(np.load(d / "layer_0.npz")); z["W"] = z["W"] * -3; np.savez(d / "layer_0.npz", **z)

TAMPER = {   # name -> (edit of the codec folder, what the refusal must say)
    "W_times_-3": (_w_times_minus_3, ["layer_0.npz: sha256 differs from", "artifacts.json", "tampered or replaced"]),
    "extra_layer": (lambda d: shutil.copy(d / "layer_0.npz", d / "layer_1.npz"), ["layer_1.npz: not listed in", "artifacts.json"]),
    "junk_layer": (lambda d: (d / "layer_0.npz").write_bytes(b"junk"), ["layer_0.npz: sha256 differs"]),
    "manifest_delta": (lambda d: edit_json(d / "bam_manifest.json", delta=0.3), ["bam_manifest.json: sha256 differs"]),
    "manifest_scale": (lambda d: edit_json(d / "bam_manifest.json", scale=99.0), ["artifacts.json: payload_schema_hash"]),
    "norm_mean": (lambda d: (d / "norm.json").write_text((d / "norm.json").read_text().replace("[", "[1.5, ", 1)),
                  ["norm_params_hash does not match", "norm.json"]),
    "hash_list_dropped": (lambda d: edit_json(d / "artifacts.json", files=None), ["artifacts.json: no file hashes", "re-export"]),
    "seed_format": (lambda d: (d / "artifacts.json").write_text(json.dumps(
        {k: v for k, v in json.loads((d / "artifacts.json").read_text()).items() if k in SEED_ARTIFACT_KEYS})), ["re-export"]),
    "listed_file_missing": (lambda d: edit_json(d / "artifacts.json", files={**json.loads((d / "artifacts.json").read_text())["files"],
                                                                              "layer_1.npz": "0" * 64}), ["lists 'layer_1.npz'"]),
}

@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("case", list(TAMPER))
def test_tampering_is_refused_naming_the_file(base, sw, tmp_path, capsys, cmd, case):
    edit, needles = TAMPER[case]
    edit(sw[1])
    argv, leaves = manifest_commands(base, sw, tmp_path)[cmd]
    refused(capsys, *argv, says=needles, leaves=leaves)


@pytest.mark.parametrize("cmd", ["eval", "tx"])
def test_unsafe_or_corrupt_npz_is_refused_in_our_words(base, sw, tmp_path, capsys, cmd):
    "Class 6: even with matching hashes (artifacts.json re-signed), a pickled or truncated layer never loads."
    d = sw[1]
    np.savez(d / "layer_0.npz", W=np.array([{"a": 1}], dtype=object), V=np.zeros((12, 4), np.float32))
    rehash(d)
    argv, leaves = manifest_commands(base, sw, tmp_path)[cmd]
    in_our_words(refused(capsys, *argv, says=("layer_0.npz: refused", "pickle"), leaves=leaves))
    (d / "layer_0.npz").write_bytes((d / "layer_0.npz").read_bytes()[:100]); rehash(d)
    refused(capsys, *argv, says=("layer_0.npz: corrupt or truncated",), leaves=leaves)


# ---------------------------------------------------------------------------------------------- class 2: confinement
ESCAPES = [("model_path", "/etc"), ("model_path", "../../.."), ("norm_path", "/etc/passwd"), ("norm_path", "../../sweep_report.json")]

@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("key, value", ESCAPES)
def test_manifest_paths_stay_in_their_folder(base, sw, tmp_path, capsys, cmd, key, value):
    edit_json(sw[2], **{key: value})
    argv, leaves = manifest_commands(base, sw, tmp_path)[cmd]
    refused(capsys, *argv, says=(f"bam_manifest.json: {key} '{value}' leaves its folder",), leaves=leaves)


def test_symlinked_layer_folder_out_of_the_manifest_folder_is_refused(base, sw, tmp_path, capsys):
    outside = tmp_path / "outside"; shutil.copytree(sw[1], outside)
    (sw[1] / "m").symlink_to(outside, target_is_directory=True)
    edit_json(sw[2], model_path="m")
    refused(capsys, *manifest_commands(base, sw, tmp_path)["eval"][0], says=("model_path 'm' leaves its folder",))


def test_record_confines_the_reports_manifest_path(base, sw, tmp_path, capsys):
    with json_edited(sw[0] / "sweep_report.json") as o: o["runs"][0]["manifest"] = "../../../../etc/passwd"
    refused(capsys, *manifest_commands(base, sw, tmp_path)["record"][0], says=("manifest '../../../../etc/passwd' leaves its folder",),
            leaves=[tmp_path / "rec.yaml"])


# ---------------------------------------------------------------------------------------------- class 4: counts and rates
def _args(base, tmp):
    ds, out = base / "ds.jsonl", tmp / "out"
    train = ["bam", "train", "--dataset", ds, "--out-dir", out]
    link = ["--runspec", base / "tx.yaml", "--dataset", ds, "--radio", "mock", "--out-dir", out]
    return out, [
        (train + ["--epochs", "-1"], "--epochs"), (train + ["--epochs", "0"], "--epochs"), (train + ["--window-W", "0"], "--window-W"),
        (train + ["--lr", "nan"], "--lr"), (train + ["--batch-size", "0"], "--batch-size"), (train + ["--train-ratio", "1.0"], "--train-ratio"),
        (train + ["--train-ratio", "0"], "--train-ratio"), (train + ["--latent-dim", "0"], "--latent-dim"), (train + ["--scale", "inf"], "--scale"),
        (train + ["--eta", "-1e-3"], "--eta"), (train + ["--delta", "nan"], "--delta"), (train + ["--stride", "-2"], "--stride"),
        (["bam", "convert", "--input", ds, "--out", out, "--sample-hz", "nan"], "--sample-hz"),
        (["bam", "convert", "--input", ds, "--out", out, "--sample-hz", "inf"], "--sample-hz"),
        (["bam", "convert", "--input", ds, "--out", out, "--sample-hz", "0"], "--sample-hz"),
        (["bam", "convert", "--input", ds, "--out", out, "--window-W", "0"], "--window-W"),
        (["bam", "eval", "--dataset", ds, "--bam-manifest", "m.json", "--train-ratio", "1.0", "--out", out], "--train-ratio"),
        (["bam", "sweep", "--dataset", ds, "--out-dir", out, "--jobs", "0"], "--jobs"),
        (["bam", "sweep", "--dataset", ds, "--out-dir", out, "--latent-dims", "0,2"], "--latent-dims"),
        (["bam", "sweep", "--dataset", ds, "--out-dir", out, "--deltas", "0,nan"], "--deltas"),
        (["bam", "sweep", "--dataset", ds, "--out-dir", out, "--gradient-epochs", "-5"], "--gradient-epochs"),
        (["bam", "record", "--sweep-report", "r.json", "--out", out, "--budget-bytes", "0"], "--budget-bytes"),
        (["bam", "tx", *link, "--max-seconds", "nan"], "--max-seconds"), (["bam", "tx", *link, "--max-windows", "0"], "--max-windows"),
        (["bam", "tx", *link, "--loss", "nan"], "--loss"), (["bam", "tx", *link, "--jitter-ms", "-1"], "--jitter-ms"),
        (["bam", "rx", "--runspec", base / "rx.yaml", "--listen", "127.0.0.1:0", "--start-timeout", "nan", "--out-dir", out], "--start-timeout"),
    ]

def test_bad_counts_and_rates_are_refused_before_anything_runs(base, tmp_path, capsys):
    out, cases = _args(base, tmp_path)
    for argv, opt in cases:
        refused(capsys, *argv, says=(opt,), leaves=[out])


@HYP
@given(v=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10)))
def test_generated_train_ratio_is_refused_unless_strictly_between_0_and_1(base, tmp_path, capsys, v):
    # a valid ratio reaches the dataset reader (a missing file here): the refusal names --train-ratio iff invalid
    err = refused(capsys, "bam", "eval", "--dataset", tmp_path / "missing.jsonl", "--bam-manifest", "m.json", "--train-ratio", repr(v))
    assert ("--train-ratio" in err) == (not (0 < v < 1)), (v, err)


# ---------------------------------------------------------------------------------------------- class 5 / 8: inputs
def _bad_dataset_lines():
    w = [0.0] * 12
    return {   # name -> (line, what the refusal says); every case is line 2 of the file
        "order_5": (json.dumps({"order": 5, "window": w}), "line 2: channel order 5 differs"),
        "ts_nan": ('{"ts_ms": NaN, "window": [0,0,0,0,0,0,0,0,0,0,0,0]}', ":2: NaN is not a JSON number"),
        "ts_1e300": (json.dumps({"ts_ms": 1e300, "window": w}), "line 2: ts_ms must be a finite number"),
        "ts_huge_int": (json.dumps({"ts_ms": HUGE, "window": w}), "line 2: ts_ms must be a finite number"),
        "value_huge_int": (json.dumps({"window": [HUGE] + w[1:]}), "line 2: non-finite value at window index 0"),
        "window_id_huge": (json.dumps({"window_id": HUGE, "window": w}), "line 2: window_id must be an integer in the int64 range"),
        "window_string": (json.dumps({"window": "abc"}), "line 2: 'window' must be a list of numbers"),
        "units_list": (json.dumps({"units": [1], "window": w}), "line 2: units must name exactly"),
        "run_id_object": (json.dumps({"run_id": {"a": 1}, "window": w}), "line 2: run_id must be a string"),
        "duplicate_key": ('{"window": [0,0,0,0,0,0,0,0,0,0,0,0], "window": [1,1,1,1,1,1,1,1,1,1,1,1]}', ":2: duplicate key 'window'"),
        "not_utf8": (LATIN1, ":2: byte "),
    }

def _dataset_readers(base, ds, tmp):
    "Every command that reads a dataset_raw.jsonl, and what it would write."
    out = tmp / "out"
    return {
        "train": (["bam", "train", "--dataset", ds, "--out-dir", out], [out]),
        "eval": (["bam", "eval", "--dataset", ds, "--bam-manifest", base / "sweep/runs/r1/bam_manifest.json", "--out", out], [out]),
        "sweep": (["bam", "sweep", "--dataset", ds, "--out-dir", out], [out]),
        "tx": (["bam", "tx", "--runspec", base / "tx.yaml", "--manifest", base / "sweep/runs/r1/bam_manifest.json", "--dataset", ds,
                "--radio", "mock", "--out-dir", out], [out]),
        "rx": (["bam", "rx", "--runspec", base / "rx.yaml", "--manifest", base / "sweep/runs/r1/bam_manifest.json", "--dataset", ds,
                "--listen", "127.0.0.1:0", "--start-timeout", "1", "--out-dir", out], [out]),
    }

@pytest.mark.parametrize("cmd", ["train", "eval", "sweep", "tx", "rx"])
def test_bad_dataset_lines_name_file_and_line(base, tmp_path, capsys, cmd):
    good = (base / "ds.jsonl").read_text().splitlines()[0]
    for name, (line, msg) in _bad_dataset_lines().items():
        ds = tmp_path / f"{name}.jsonl"
        ds.write_bytes(good.encode() + b"\n" + (line if isinstance(line, bytes) else line.encode()) + b"\n")
        argv, leaves = _dataset_readers(base, ds, tmp_path)[cmd]
        refused(capsys, *argv, says=(f"{ds}", msg), leaves=leaves)


@pytest.mark.parametrize("cmd", ["train", "eval", "sweep", "tx", "rx"])
def test_dataset_that_is_a_folder_or_missing(base, tmp_path, capsys, cmd):
    (tmp_path / "dir.jsonl").mkdir()
    for ds, msg in [(tmp_path / "dir.jsonl", "is a directory"), (tmp_path / "nope.jsonl", "not found")]:
        argv, leaves = _dataset_readers(base, ds, tmp_path)[cmd]
        refused(capsys, *argv, says=(ds, msg), leaves=leaves)


def test_sweep_of_a_dataset_too_small_for_its_split(base, tmp_path, capsys):
    "One window: `bam sweep` refuses in one line naming the dataset before any point runs; no folder, no `eval.json` left."
    ds = tmp_path / "one.jsonl"; ds.write_text((base / "ds.jsonl").read_text().splitlines()[0] + "\n")
    refused(capsys, "bam", "sweep", "--dataset", ds, "--out-dir", tmp_path / "new", names=ds, says=("training windows under train_ratio",),
            leaves=[tmp_path / "new"])
    old = tmp_path / "old"; old.mkdir(); (old / "notes.txt").write_text("kept")
    refused(capsys, "bam", "sweep", "--dataset", ds, "--out-dir", old, names=ds, says=("training windows under train_ratio",), folder=old)


def test_convert_inputs(base, tmp_path, capsys):
    "`bam convert --input`: a folder, bytes that are not UTF-8 (CSV, Xsens text, sensor JSONL), bad fields in a CSV."
    out = tmp_path / "out.jsonl"
    conv = lambda p, *extra: ["bam", "convert", "--input", p, "--out", out, *extra]
    (tmp_path / "d").mkdir()
    refused(capsys, *conv(tmp_path / "d"), says=("d: is a directory",), leaves=[out])
    header = "ts_ms," + ",".join(ORDER) + "\n"
    row = lambda t: f"{t}," + ",".join(["1.0"] * 12) + "\n"
    cases = {
        "latin1.csv": (header.encode() + row(0).encode() + b"1," + LATIN1 + b"\n", f"latin1.csv: byte {len(header) + len(row(0)) + 2 + 3}: not UTF-8"),
        "xsens.txt": (b"// Sample rate: 120Hz\nAcc_X\t" + LATIN1 + b"\n", "xsens.txt: byte"),
        "samples.jsonl": (b'{"lat": 1}\n' + LATIN1 + b"\n", "samples.jsonl: byte 14: not UTF-8"),
        "ts_text.csv": ((header + row(0) + row("abc")).encode(), "ts_text.csv: line 3: ts_ms 'abc' is not a number"),
        "ts_inf.csv": ((header + row(0) + row("inf")).encode(), "ts_inf.csv: line 3: ts_ms 'inf' is not a finite"),
        "rate.txt": (b"// Sample rate: .Hz\n", "rate.txt: line 1: sample rate '.' is not a number > 0"),
        "dup.jsonl": (b'{"lat": 1, "lat": 2}\n', "dup.jsonl:1: duplicate key 'lat'"),
        "huge.jsonl": (json.dumps({**{c: 0 for c in ORDER}, "ts_ms": HUGE}).encode() + b"\n", "huge.jsonl: line 1: ts_ms must be"),
    }
    for name, (data, msg) in cases.items():
        p = tmp_path / name; p.write_bytes(data)
        refused(capsys, *conv(p), says=(msg,), leaves=[out])


def test_codec_files_with_wrong_types_or_bytes(base, sw, tmp_path, capsys):
    "Manifests and norm.json: not UTF-8, a folder, wrong types, 400-digit integers, duplicate keys; eval and tx read them alike."
    s, d, man = sw
    cmds = manifest_commands(base, sw, tmp_path)
    orig = {p: p.read_bytes() for p in (man, d / "norm.json")}
    manifest_cases = [
        (LATIN1, "bam_manifest.json: byte 3: not UTF-8"),
        (json.dumps({"latent_dim": "4"}), "manifest lacks required key"),
        (b'{"manifest_version": "1", "manifest_version": "1"}', "bam_manifest.json:1: duplicate key 'manifest_version'"),
    ]
    m = json.loads(orig[man])
    for k, v in [("latent_dim", "4"), ("latent_dim", HUGE), ("packing", 5), ("scale", "x"), ("scale", HUGE), ("window_W", -1),
                 ("model_path", 5), ("norm_path", ["a"]), ("encode_cycles", 1.5), ("delta", "0.1"), ("manifest_version", [1])]:
        manifest_cases.append((json.dumps({**m, k: v}), "bam_manifest.json", k))   # tx may name it comparing with the RunSpec
    for data, *msgs in manifest_cases:
        man.write_bytes(data if isinstance(data, bytes) else data.encode())
        for cmd in ("eval", "tx"):
            refused(capsys, *cmds[cmd][0], says=msgs, leaves=cmds[cmd][1])
    man.write_bytes(orig[man])
    norm = json.loads(orig[d / "norm.json"])
    for data, msg in [(LATIN1, "norm.json: byte 3: not UTF-8"), (json.dumps({**norm, "mean": "x"}), "'mean' must be a list of numbers"),
                      (json.dumps({**norm, "std": [HUGE] * 12}), "too large for float64"),
                      (json.dumps({"mean": norm["mean"], "std": norm["std"][:3]}), "equal-length"),
                      ('{"mean": [], "mean": []}', "norm.json:1: duplicate key 'mean'")]:
        (d / "norm.json").write_bytes(data if isinstance(data, bytes) else data.encode()); rehash(d)
        for cmd in ("eval", "tx"):
            refused(capsys, *cmds[cmd][0], says=("norm.json", msg), leaves=cmds[cmd][1])
    (d / "norm.json").write_bytes(orig[d / "norm.json"]); rehash(d)
    for cmd in ("eval", "tx"):
        argv = [a if a != man else d for a in cmds[cmd][0]]     # the manifest argument is a folder
        refused(capsys, *argv, says=(f"{d}: is a directory",), leaves=cmds[cmd][1])


def _runspec_cases(base):
    good = yaml.safe_load((base / "tx.yaml").read_text())
    def with_(path, value): return yaml.safe_dump(replaced(good, path, value))
    return {
        "latin1.yaml": (b"run_id: " + LATIN1 + b"\n", "latin1.yaml: byte 11: not UTF-8"),
        "dup.yaml": ((base / "tx.yaml").read_text() + "run_id: again\n", "dup.yaml:", "duplicate key 'run_id'"),
        "hz.yaml": (with_(["window", "sample_hz"], "x"), "window.sample_hz: expected a finite number"),
        "hugeW.yaml": (with_(["window", "W"], HUGE), "window.W:"),
        "hugehz.json": (json.dumps(json.loads(json.dumps(good)) | {"window": {**good["window"], "sample_hz": HUGE}}), "window.sample_hz"),
        "retries.yaml": (with_(["tx", "max_retries"], -1), "tx.max_retries: -1 outside 0..255"),
        "runid.yaml": (with_(["run_id"], "../../x"), "run_id: '../../x' must be"),
        "phy.yaml": (with_(["phy"], [1, 2]), "phy: expected a mapping"),
        "dupjson.json": ('{"run_id": "a", "run_id": "b"}', "dupjson.json:1: duplicate key 'run_id'"),
    }

@pytest.mark.parametrize("cmd", ["tx", "rx"])
def test_bad_runspecs(base, tmp_path, capsys, cmd):
    out = tmp_path / "logs"
    for name, (data, *msgs) in _runspec_cases(base).items():
        p = tmp_path / name; p.write_bytes(data if isinstance(data, bytes) else data.encode())
        if cmd == "rx" and name not in ("latin1.yaml", "dup.yaml", "dupjson.json", "hz.yaml"): continue  # the same loader; rx: the reading layer
        text = p.read_text(errors="replace").replace("role: tx", "role: rx")
        if cmd == "rx" and not isinstance(data, bytes): p.write_text(text)
        argv = (["bam", "tx", "--runspec", p, "--dataset", base / "ds.jsonl", "--radio", "mock", "--out-dir", out] if cmd == "tx"
                else ["bam", "rx", "--runspec", p, "--listen", "127.0.0.1:0", "--out-dir", out])
        refused(capsys, *argv, says=(p, *msgs), leaves=[out])
    (tmp_path / "spec_dir.yaml").mkdir()
    refused(capsys, "bam", cmd, "--runspec", tmp_path / "spec_dir.yaml", "--dataset", base / "ds.jsonl", "--out-dir", out,
            says=("spec_dir.yaml: is a directory",), leaves=[out])


def test_sweep_report_contents(base, sw, tmp_path, capsys):
    "`bam record` reads sweep_report.json: bytes, a folder, wrong types, duplicate keys."
    rep = sw[0] / "sweep_report.json"; orig = json.loads(rep.read_text())
    argv = manifest_commands(base, sw, tmp_path)["record"][0]; out = tmp_path / "rec.yaml"
    for data, msg in [(LATIN1, "sweep_report.json: byte 3: not UTF-8"), ('{"a": 1, "a": 2}', "sweep_report.json:1: duplicate key 'a'"),
                      (json.dumps({**orig, "runs": "x"}), "sweep_report.json: 'runs' must be a list"),
                      (json.dumps({**orig, "runs": [{**orig["runs"][0], "mse_z": "low"}]}), "'runs' must be a list of sweep rows"),
                      (json.dumps({**orig, "config": {"train_ratio": HUGE, "split_seed": 0}}), "config.train_ratio"),
                      (json.dumps({**orig, "schema": "other"}), "not a bam sweep report")]:
        rep.write_bytes(data if isinstance(data, bytes) else data.encode())
        refused(capsys, *argv, says=(msg,), leaves=[out])


# ---------------------------------------------------------------------------------------------- outputs
def test_output_paths_that_are_folders_or_under_a_file(base, sw, tmp_path, capsys):
    ds, man = base / "ds.jsonl", sw[2]
    f = tmp_path / "a_file"; f.write_text("x"); d = tmp_path / "a_dir"; d.mkdir()
    cases = [
        (["bam", "convert", "--input", ds, "--out", d], "is a directory"),
        (["bam", "convert", "--input", ds, "--out", f / "x.jsonl"], "is a file, not a folder"),
        (["bam", "eval", "--dataset", ds, "--bam-manifest", man, "--out", d], "is a directory"),
        (["bam", "record", "--sweep-report", sw[0] / "sweep_report.json", "--out", d], "is a directory"),
        (["bam", "train", "--dataset", ds, "--out-dir", f], "exists and is not a folder"),
        (["bam", "train", "--dataset", ds, "--out-dir", f / "sub"], "is a file, not a folder"),
        (["bam", "sweep", "--dataset", ds, "--out-dir", f], "exists and is not a folder"),
        (["bam", "tx", "--runspec", base / "tx.yaml", "--manifest", man, "--dataset", ds, "--radio", "mock", "--out-dir", f / "logs"],
         "is a file, not a folder"),
    ]
    for argv, msg in cases:
        refused(capsys, *argv, says=(msg,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_dir", "a_file", "sweep"] and not any(d.iterdir())


@pytest.mark.parametrize("chmod", [False, True], ids=["os.access", "chmod"])
def test_output_in_a_read_only_folder(base, sw, tmp_path, capsys, chmod):
    """A folder the user cannot write: refused up front, nothing written. `os.access` (what the output check asks) says no,
    so this also holds under root; with `chmod` (mode 0555) it is the real thing wherever the mode binds."""
    with unwritable(tmp_path / "ro", chmod=chmod) as ro:
        for argv in (["bam", "convert", "--input", base / "ds.jsonl", "--out", ro / "x.jsonl"],
                     ["bam", "train", "--dataset", base / "ds.jsonl", "--out-dir", ro / "codec"],
                     ["bam", "eval", "--dataset", base / "ds.jsonl", "--bam-manifest", sw[2], "--out", ro / "ev.json"]):
            refused(capsys, *argv, says=("not writable",))
        assert not any(ro.iterdir())


# ---------------------------------------------------------------------------------------------- generated inputs
@HYP
@given(data=st.binary(max_size=200))
def test_generated_bytes_as_any_input_file(base, tmp_path, capsys, data):
    "Random bytes as dataset, RunSpec and manifest: exit 0 or a one-line refusal naming the file, never a traceback."
    p = tmp_path / "in.jsonl"; p.write_bytes(data)
    man = base / "sweep/runs/r1/bam_manifest.json"
    for argv in (["bam", "eval", "--dataset", p, "--bam-manifest", man, "--no-baselines"],
                 ["bam", "tx", "--runspec", p, "--manifest", man, "--dataset", base / "ds.jsonl", "--radio", "mock", "--out-dir", tmp_path / "l"],
                 ["bam", "eval", "--dataset", base / "ds.jsonl", "--bam-manifest", p]):
        refused(capsys, *argv, names=p)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False) | st.text(max_size=5)
                    | st.just(HUGE), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3), max_leaves=6)

@HYP
@given(fields=st.dictionaries(st.sampled_from(["order", "ts_ms", "window_id", "run_id", "units", "window"]), JSON, max_size=4),
       window=st.one_of(st.none(), st.lists(st.one_of(st.floats(allow_nan=False), st.integers(-2 ** 70, 2 ** 70), st.just(HUGE)),
                                            min_size=12, max_size=12)))
def test_generated_dataset_lines(base, tmp_path, capsys, fields, window):
    "Generated dataset lines (odd types, huge integers, inf): exit 0, or exit 2 naming file and line 1."
    obj = {**fields, **({"window": window} if window is not None else {})}
    p = tmp_path / "gen.jsonl"; p.write_text(json.dumps(obj) + "\n")
    rc, out, err = cli(capsys, "bam", "eval", "--dataset", p, "--bam-manifest", base / "sweep/runs/r1/bam_manifest.json",
                       "--subset", "all", "--no-baselines")
    assert "Traceback" not in err and rc in (0, 2), err
    if rc == 2: assert f"{p}: line 1:" in one_line(err) or f"{p}:1:" in err, err


@HYP
@given(key=st.sampled_from(["latent_dim", "packing", "scale", "input_dims", "window_W", "window_stride", "delta",
                            "encode_cycles", "decode_cycles", "model_path", "norm_path", "manifest_version", "model_format"]),
       value=JSON)
def test_generated_manifest_values(base, sw, tmp_path, capsys, key, value):
    "Any JSON value for any manifest key: the codec loads (only if unchanged) or one line naming the manifest."
    shutil.rmtree(sw[0]); shutil.copytree(base / "sweep", sw[0])
    orig = json.loads(sw[2].read_text()); edit_json(sw[2], **{key: value})
    rc, out, err = cli(capsys, *manifest_commands(base, sw, tmp_path)["eval"][0][:6], "--no-baselines")
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    if json.loads(sw[2].read_text()) != orig: assert rc == 2 and "bam_manifest.json" in err, (key, value, err)


# ---------------------------------------------------------------------------------------------- real processes
def test_subprocess_refusals_are_one_line(base, sw, tmp_path):
    "The same through a fresh interpreter: what a shell user sees (stderr, exit status), nothing written."
    _w_times_minus_3(sw[1])
    refused_process("bam", "eval", "--dataset", base / "ds.jsonl", "--bam-manifest", sw[2], "--out", tmp_path / "ev.json",
                    says=("layer_0.npz: sha256 differs",), timeout=120)
    spec = tmp_path / "bad.yaml"; spec.write_bytes(b"run_id: " + LATIN1 + b"\n")
    refused_process("tx", "--runspec", spec, "--dataset", base / "ds.jsonl", "--radio", "mock", "--out-dir", tmp_path / "logs",
                    exe=[sys.executable, "-m", "trainbook.bam.link_cli"], says=("bad.yaml: byte 11: not UTF-8",), timeout=120)
    assert not (tmp_path / "ev.json").exists() and not (tmp_path / "logs").exists()
