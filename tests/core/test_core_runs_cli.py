"""`trainbook run` / `trainbook runs` / exit codes, on two tiny pipeline notebooks made here."""
import json, os, subprocess, sys
from pathlib import Path
import nbformat
import pytest

TRAINBOOK = [sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())"]


def _pipeline(path: Path, body: str):
    params = nbformat.v4.new_code_cell("out_dir = None\nscale = 1.0")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {path.stem}"), params,
                                         nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def env(tmp_path):
    pipes = tmp_path / "pipelines"; pipes.mkdir()
    _pipeline(pipes / "good.ipynb", "from trainbook.core.runs import resolve_out_dir, save_run_metrics\n"
              "out = resolve_out_dir(out_dir, 'good')\n(out / 'model.pt').write_bytes(b'weights')\n"
              "print('ACCURACY', 0.5 * scale)\nsave_run_metrics(out, {'accuracy': 0.5 * scale})")
    _pipeline(pipes / "bad.ipynb", "raise ValueError('the data is not there')")
    return {**os.environ, "TRAINBOOK_PIPELINES": str(pipes), "TRAINBOOK_ARTIFACTS": str(tmp_path / "art")}


def _tb(args, env):
    return subprocess.run(TRAINBOOK + args, env=env, capture_output=True, text=True, timeout=300)


def test_run_writes_notebook_report_metrics_manifest(env, tmp_path):
    r = _tb(["run", "good", "-p", "scale", "1.5"], env)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "art" / "runs" / "good").iterdir()
    names = {p.name for p in run.iterdir()}
    assert {"good.ipynb", "report.html", "metrics.json", "run.json", "manifest.json", "model.pt"} <= names
    assert json.loads((run / "metrics.json").read_text())["metrics"] == {"accuracy": 0.75}
    machine = json.loads((run / "run.json").read_text())["machine"]    # what the numbers depend on beyond code and seed
    assert machine["cpus"] >= 1 and machine["torch"] and machine["cpu_capability"]
    html = (run / "report.html").read_text()
    assert "ACCURACY 0.75" in html and "save_run_metrics" not in html      # outputs shown, code hidden
    assert "PosixPath" not in html            # the last call, save_run_metrics, leaves no stray value under the report
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and "model.pt" in manifest["files"]
    listing = _tb(["runs"], env)
    assert listing.returncode == 0 and "good" in listing.stdout and "0.75" in listing.stdout


def test_failing_run_exits_nonzero_and_keeps_report(env, tmp_path):
    r = _tb(["run", "bad"], env)
    assert r.returncode == 1
    assert "the data is not there" in r.stderr
    (run,) = (tmp_path / "art" / "runs" / "bad").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert "the data is not there" in (run / "report.html").read_text()


@pytest.mark.parametrize("args, msg", [
    (["run", "nope"], "unknown pipeline 'nope'"),
    (["run", "all", "--out", "x"], "--out names one run folder"),
    (["run", "good", "-p", "scal", "2"], "good.ipynb: unknown parameter(s) scal (the parameters cell defines: out_dir, scale)"),
])
def test_user_errors_one_line_exit_2(env, args, msg):
    r = _tb(args, env)
    assert r.returncode == 2 and msg in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (Path(env["TRAINBOOK_ARTIFACTS"]) / "runs").exists()     # a refused run leaves no folder behind


def test_help_everywhere(env):
    r = _tb(["--help"], env)
    assert r.returncode == 0 and "run" in r.stdout and "docs" in r.stdout
    for sub in (["run", "--help"], ["runs", "--help"], ["docs", "build", "--help"]):
        assert _tb(sub, env).returncode == 0
    bad = _tb(["frobnicate"], env)
    assert bad.returncode == 2


def _assigned_names(src: str) -> list:
    import ast
    return [t.id for node in ast.parse(src).body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)]


@pytest.mark.parametrize("nb", sorted((Path(__file__).parents[2] / "nbs" / "pipelines").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_pipeline_parameter_is_visible_to_papermill(nb):
    # papermill silently drops a parameter whose line it cannot parse (e.g. a comment containing "="),
    # and then `-p NAME VALUE` / configs/runs/NAME.yaml are injected as "unknown parameter".
    import papermill as pm
    cell = next(c for c in nbformat.read(str(nb), as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assert "out_dir" in _assigned_names(cell.source)
    assert list(pm.inspect_notebook(str(nb))) == _assigned_names(cell.source)


def test_device_auto_is_resolved_passed_and_recorded(env, tmp_path):
    # no GPU on the test machine: `auto` (the notebook's default) must resolve to cpu, reach the notebook as
    # 'cpu' and be recorded in run.json and the report; where torch sees a GPU it is 'cuda' everywhere
    import torch
    want = "cuda" if torch.cuda.is_available() else "cpu"
    pipes = Path(env["TRAINBOOK_PIPELINES"])
    params = nbformat.v4.new_code_cell('out_dir = None\ndevice = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell("print('DEVICE', device)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(pipes / "dev.ipynb"))
    r = _tb(["run", "dev"], env)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "art" / "runs" / "dev").iterdir()
    rec = json.loads((run / "run.json").read_text())
    assert rec["device"] == want and rec["params"]["device"] == want
    html = (run / "report.html").read_text()
    assert f"DEVICE {want}" in html and f"on {want}" in html
    if not torch.cuda.is_available():       # asking for a GPU that is not there: one line, exit 2, nothing left behind
        r = _tb(["run", "dev", "-p", "device", "cuda"], env)
        assert r.returncode == 2 and "no CUDA device is available" in r.stderr and "Traceback" not in r.stderr
        assert len(list((tmp_path / "art" / "runs" / "dev").iterdir())) == 1


def test_run_all_prints_an_overview_and_the_table(env, tmp_path):
    r = _tb(["run", "all"], env)
    assert r.returncode == 1                                   # `bad` fails, `good` still runs
    lines = r.stdout.splitlines()
    assert any(l.startswith("[1/2] bad: started") for l in lines) and any(l.startswith("[2/2] good: started") for l in lines)
    end = next(l for l in lines if l.startswith("[2/2] good: ok in"))
    assert "accuracy=0.5" in end and "report.html" in end and "left" in end
    assert any(l.startswith("all 2 pipelines in") for l in lines)
    table = "\n".join(lines[[i for i, l in enumerate(lines) if l.startswith("all 2 pipelines")][0] + 1:])
    assert "pipeline" in table and "good" in table and "bad" in table and "report" in table
    assert "the data is not there" in r.stderr


def test_check_cells_refuse_a_value_before_the_run_and_run_again_inside(env, tmp_path):
    # a cell tagged `check` builds the config from the parameters: `trainbook run` executes it before the run folder
    # exists (a bound it breaks: exit 2, one line, nothing left), and the notebook runs it again as its own code
    pipes = Path(env["TRAINBOOK_PIPELINES"])
    params = nbformat.v4.new_code_cell("out_dir = None\nepochs = 2")
    params.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell("from trainbook.core.trainconfig import TrainConfig\n"
                                      "train_cfg = TrainConfig(epochs=epochs); train_cfg.validate()")
    check.metadata["tags"] = ["check"]
    nb = nbformat.v4.new_notebook(cells=[params, check, nbformat.v4.new_code_cell("print('EPOCHS', train_cfg.epochs)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(pipes / "checked.ipynb"))
    r = _tb(["run", "checked", "-p", "epochs", "0"], env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "trainbook: error: checked.ipynb: config key 'epochs': must be >= 1, got 0"
    assert not (tmp_path / "art" / "runs").exists()
    r = _tb(["run", "checked", "-p", "epochs", "3"], env)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "art" / "runs" / "checked").iterdir()
    assert "EPOCHS 3" in (run / "report.html").read_text()


# one value out of bounds per pipeline, each of a parameter whose config is built late in the notebook
# (resource-encoder's decoder trains after the LM and the encoders: `-p tool_encoder_epochs -1` used to act as 0)
BAD_VALUES = {"bam": ("gradient_epochs", "0", "gradient codec settings: config key 'epochs': must be >= 1, got 0"),
              "bam-sweep": ("febam_epochs", "0", "FEBAM settings: config key 'epochs': must be >= 1, got 0"),
              "mainframe-codepage": ("evidence_free_rate", "1.5", "config key 'evidence_free_rate': must be <= 1, got 1.5"),
              "mainframe-multitask": ("real_test_files", '["test99"]', "config key 'real_test_files': unknown real file 'test99'"),
              "rebracket": ("p4_pooling", "nope", "phase 4 settings: config key 'model.text_encoder.pooling': expected one of"),
              "resource-encoder": ("tool_encoder_epochs", "-1", "decoder settings: config key 'tool_encoder_epochs': must be >= 0, got -1"),
              "text-multitask": ("generator", '{"batch_size": 0}', "config key 'batch_size': must be >= 1, got 0")}


def test_every_pipeline_checks_its_values_before_the_run(tmp_path):
    pipes = sorted(p.stem for p in (Path(__file__).parents[2] / "nbs" / "pipelines").glob("*.ipynb"))
    assert pipes == sorted(BAD_VALUES)          # a new pipeline gets a check cell and a line here
    env = {**os.environ, "TRAINBOOK_ARTIFACTS": str(tmp_path / "art")}
    for name, (key, value, msg) in BAD_VALUES.items():
        r = _tb(["run", name, "-p", key, value], env)
        assert r.returncode == 2 and f"{name}.ipynb: {msg}" in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "art" / "runs").exists()


def test_resource_encoder_refuses_an_author_with_no_requests_before_the_run(tmp_path):
    "`tool_authors` names files the decoders read only after the LM and encoders have trained: the check cell asks first."
    env = {**os.environ, "TRAINBOOK_ARTIFACTS": str(tmp_path / "art")}
    r = _tb(["run", "resource-encoder", "-p", "tool_authors", '["a", "zz"]'], env)
    assert r.returncode == 2 and "parameter 'tool_authors': no requests of author 'zz'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "art" / "runs").exists()
