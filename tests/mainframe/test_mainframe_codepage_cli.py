"""`trainbook mainframe train codepage`: outputs, and bad input that must stop with one line, exit 2, no checkpoint."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from trainbook.mainframe.codecs import encode
from trainbook.mainframe.records import encode_records

TB = [sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())"]
SMALL = ["--epochs", "1", "--device", "cpu", "--n-train", "300", "--n-val", "100", "--n-test", "100",
         "--n-natural-train", "300", "--n-natural-val", "100", "--n-natural-test", "100", "--n-natural-files", "4",
         "--records-per-file", "10", "--eval-real", "false"]


def tb(*args):
    return subprocess.run(TB + [str(a) for a in args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def real_dump(tmp_path_factory):
    d = tmp_path_factory.mktemp("dump")
    recs = [encode(f"Grüße aus München [{i}] {{ok}} ~ |", "cp273") for i in range(30)]
    (d / "de.rdw").write_bytes(encode_records(recs, "rdw"))
    return d / "de.rdw"


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    err = r.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles: assert n in err, err


def test_train_writes_checkpoint_and_metrics(tmp_path, real_dump):
    out = tmp_path / "cp"
    r = tb("mainframe", "train", "codepage", "--output-dir", out, *SMALL, "--dataset", f"CP273={real_dump}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "codepage_head.pt").exists()
    m = json.loads((out / "codepage_metrics.json").read_text())
    assert m["schema"] == "codepage_metrics" and m["n_real_train"] == 30
    assert 0 <= m["model"]["acc_full"] <= 1 and 0 <= m["heuristic"]["acc_full"] <= 1
    assert m["n_natural_train"] == 300 and set(m["sets"]) == {"synthetic", "natural", "natural_files", "real"}
    assert "natural text" in r.stdout and "ceiling" in r.stdout
    p = tb("mainframe", "codepage", real_dump, "--checkpoint", out / "codepage_head.pt", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["n_records"] == 30


@pytest.mark.parametrize("spec, needle", [
    ("CP037", "expected CODEPAGE=PATH"),
    ("CP999={dump}", "unknown codepage"),
    ("CP037=/no/such/file.rdw", "file not found"),
])
def test_bad_dataset_spec(tmp_path, real_dump, spec, needle):
    out = tmp_path / "cp"
    one_line_error(tb("mainframe", "train", "codepage", "--output-dir", out, *SMALL,
                      "--dataset", spec.format(dump=real_dump)), needle)
    assert not (out / "codepage_head.pt").exists()


def test_truncated_and_garbage_dumps(tmp_path, real_dump):
    data = real_dump.read_bytes()
    (tmp_path / "trunc.rdw").write_bytes(data[:-7])
    (tmp_path / "garbage.rdw").write_bytes(bytes(range(7, 250)) * 3)
    for name in ("trunc.rdw", "garbage.rdw"):
        out = tmp_path / f"out-{name}"
        r = tb("mainframe", "train", "codepage", "--output-dir", out, *SMALL, "--dataset", f"CP037={tmp_path / name}")
        one_line_error(r, name, "byte offset")
        assert not (out / "codepage_head.pt").exists() and not (out / "train").exists()


def test_missing_checkpoint(tmp_path, real_dump):
    one_line_error(tb("mainframe", "codepage", real_dump, "--checkpoint", tmp_path / "none.pt"), "checkpoint not found")
