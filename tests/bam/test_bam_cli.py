"""`trainbook bam convert/train/eval/sweep/record` end to end, and bad input → one line, exit 2."""
import json
import pytest
import yaml

from trainbook.core.cli import main
from trainbook.core.paths import data_dir
from trainbook.bam.artifacts import BamCodec
from trainbook.bam.data import read_dataset, simulated_windows, write_dataset

TOY = data_dir() / "bam" / "loralink_examples" / "dataset_raw_toy.jsonl"
XSENS = data_dir() / "bam" / "xsens_walking" / "walking_xsens_upperLeg.txt"


@pytest.fixture(scope="module")
def sim_dataset(tmp_path_factory):
    p = tmp_path_factory.mktemp("ds") / "dataset_raw.jsonl"
    write_dataset(p, simulated_windows(240, W=2, seed=5))
    return p


def test_convert_xsens(tmp_path, capsys):
    out = tmp_path / "xs.jsonl"
    assert main(["bam", "convert", "--input", str(XSENS), "--out", str(out), "--window-W", "4"]) == 0
    ws = read_dataset(out)
    assert ws.W == 4 and len(ws) == 3511 // 4


@pytest.mark.parametrize("trainer, extra", [
    ("febam", ["--eta", "1e-3", "--epochs", "3", "--delta", "0.1", "--hidden-dims", "8", "--auto-scale", "--shuffle-buffer", "64",
               "--early-stop-patience", "2", "--min-epochs", "1", "--weight-clip", "1.0"]),
    ("gradient", ["--epochs", "3", "--hidden-dims", "8", "--no-linear-fallback"]),   # 3 epochs: the linear codec would win
])
def test_train_then_eval(tmp_path, sim_dataset, capsys, trainer, extra):
    d = tmp_path / "m"
    rc = main(["bam", "train", "--dataset", str(sim_dataset), "--out-dir", str(d), "--trainer", trainer, "--latent-dim", "3",
               "--packing", "int8", *extra])
    assert rc == 0
    names = {p.name for p in d.iterdir()}
    assert {"layer_0.npz", "layer_1.npz", "norm.json", "bam_manifest.json", "artifacts.json", "train_report.json"} <= names
    rep = json.loads((d / "train_report.json").read_text())
    assert rep["schema"] == "bam_train_report" and rep["trainer"] == trainer and rep["param_count"] == 2 * (24 * 8 + 8 * 3)
    assert set(rep["holdout"]) == {"codec", "train_mean", "pca_k3_int8"}
    e = tmp_path / "e.json"
    assert main(["bam", "eval", "--dataset", str(sim_dataset), "--bam-manifest", str(d / "bam_manifest.json"),
                 "--subset", "holdout", "--train-ratio", "0.8", "--split-seed", "0", "--out", str(e)]) == 0
    ev = json.loads(e.read_text())
    assert ev["codec"]["payload_bytes"] == 3 and 0 <= ev["codec"]["saturation_rate"] <= 1
    assert set(ev["codec"]["per_group"]) == {"gps", "accel", "gyro", "attitude"}
    assert [b["method"] for b in ev["baselines"]] == ["train_mean", "pca"]
    assert ev["codec"]["mse_z"] == pytest.approx(rep["holdout"]["codec"]["mse_z"])
    for subset in ("train", "all"):
        assert main(["bam", "eval", "--dataset", str(sim_dataset), "--bam-manifest", str(d / "bam_manifest.json"), "--subset", subset]) == 0


def test_sweep_parallel_skip_resume_force_record(tmp_path, sim_dataset, capsys):
    s = tmp_path / "s"
    args = ["bam", "sweep", "--dataset", str(sim_dataset), "--out-dir", str(s), "--latent-dims", "1,2,8", "--hidden-dims", "none",
            "--packings", "int8,int16", "--deltas", "0", "--trainers", "febam,gradient", "--jobs", "2", "--max-payload-bytes", "4",
            "--gradient-epochs", "2", "--febam-epochs", "2"]
    assert main(args) == 0
    rep = json.loads((s / "sweep_report.json").read_text())
    assert rep["schema"] == "bam_sweep_report"
    assert len(rep["runs"]) == 8 and rep["n_failed"] == 0   # (k1, k2) x (int8, int16) x 2 trainers; k8 is over 4 B
    assert {r["payload_bytes"] for r in rep["runs"]} <= {1, 2, 4}
    assert any("max_payload_bytes 4" in k["reason"] for k in rep["skipped"])
    assert {b["method"] for b in rep["baselines"]} == {"train_mean", "pca"}
    assert all(b["payload_bytes"] <= 4 for b in rep["baselines"])
    assert rep["pareto_front"] and (s / "pareto.png").stat().st_size > 1000
    fr = rep["pareto_front"]
    assert all(a["payload_bytes"] < b["payload_bytes"] and a["mse_z"] > b["mse_z"] for a, b in zip(fr, fr[1:]))
    assert [r["payload_bytes"] for r in rep["payload_table"]] == [1, 2, 4]
    mtime = (s / "runs" / rep["runs"][0]["run_id"] / "eval.json").stat().st_mtime
    assert main(args) == 0                                                  # resume: reused
    assert (s / "runs" / rep["runs"][0]["run_id"] / "eval.json").stat().st_mtime == mtime
    assert main(args + ["--force", "--jobs", "1", "--trainers", "febam"]) == 0
    assert (s / "runs" / rep["runs"][0]["run_id"] / "eval.json").stat().st_mtime >= mtime
    out = tmp_path / "rec.yaml"
    assert main(["bam", "record", "--sweep-report", str(s / "sweep_report.json"), "--budget-bytes", "2", "--out", str(out)]) == 0
    rec = yaml.safe_load(out.read_text())
    assert rec["packing"]["payload_bytes"] <= 2 and rec["phase"] == "phase2"
    assert BamCodec.from_manifest(out.parent / rec["artifacts"]["manifest_path"]).payload_bytes == rec["packing"]["payload_bytes"]


@pytest.mark.parametrize("argv, msg", [
    (["bam", "train", "--dataset", "nope.jsonl", "--out-dir", "x"], "dataset file not found"),
    (["bam", "train", "--dataset", str(TOY), "--out-dir", "{tmp}/x", "--latent-dim", "120", "--packing", "int16"], "exceeds max_payload_bytes=238"),
    (["bam", "train", "--dataset", str(TOY), "--out-dir", "{tmp}/x", "--delta", "0.7"], "delta must be"),
    (["bam", "eval", "--dataset", str(TOY), "--bam-manifest", "{tmp}/none.json"], "BAM manifest not found"),
])
def test_errors_are_one_line_exit_2(tmp_path, capsys, argv, msg):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_line_in_dataset_names_the_line(tmp_path, capsys):
    lines = TOY.read_text().splitlines()
    lines[6] = lines[6].replace('"window": [', '"window": [1e999, ', 1)
    p = tmp_path / "bad.jsonl"; p.write_text("\n".join(lines) + "\n")
    assert main(["bam", "train", "--dataset", str(p), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{p}: line 7:" in err


def test_tampered_artifacts_refused_by_eval(tmp_path, sim_dataset, capsys):
    d = tmp_path / "m"
    assert main(["bam", "train", "--dataset", str(sim_dataset), "--out-dir", str(d), "--latent-dim", "2", "--packing", "int8"]) == 0
    man = json.loads((d / "bam_manifest.json").read_text()); man["scale"] = 100.0
    (d / "bam_manifest.json").write_text(json.dumps(man))
    assert main(["bam", "eval", "--dataset", str(sim_dataset), "--bam-manifest", str(d / "bam_manifest.json")]) == 2
    assert "payload_schema_hash" in capsys.readouterr().err
