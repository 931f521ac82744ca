"""Every pipeline's report, rendered through the CLI (`trainbook run NAME --quick`), shows what its notebook means to show.

- No stderr or warning box from library plumbing (tqdm's `IProgress not found` once topped every report; sklearn's
  "Label not N is present" the text one's).
- Its figures as images: nothing a run calls may take matplotlib off the notebook's inline backend. The rebracket
  notebook and `bam.sweep.pareto_plot` once switched it to Agg, and their reports then showed `<Figure size ...>`
  text or nothing at all where the confusion matrices, training curves and Pareto fronts belong.
- No kernel log lines on the terminal of the one who runs it."""
import os, re, subprocess, sys
import nbformat
import pytest
from trainbook.core.paths import list_pipelines

DRAWS = re.compile(r"plt\.(show|subplots|figure)\(|display\((fig|plot_)")   # a cell that makes a figure


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_pipelines())
def test_quick_report_has_its_figures_and_no_warning_box(name, tmp_path):
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())",
                        "run", name, "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # the kernel's own log lines reach the user's terminal: over TCP, ipykernel 7 warned on every run that its
    # traffic goes unencrypted; runs now talk to it over IPC sockets in a private folder
    assert "IPKernelApp" not in r.stderr and "without encryption" not in r.stderr, r.stderr[-2000:]
    html = (out / "report.html").read_text()
    # nbconvert marks a stderr stream output with this mime type; the stylesheet mentions it once, in brackets
    boxes = re.findall(r'<div[^>]*data-mime-type="application/vnd\.jupyter\.stderr"[^>]*>(.*?)</div>', html, re.S)
    assert boxes == [], boxes[:2]
    for noise in ("TqdmWarning", "IProgress not found", "Traceback"):
        assert noise not in html
    nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
    assert any(DRAWS.search(c.source) for c in nb.cells if c.cell_type == "code"), f"{name} draws no figure: nothing to check"
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    reprs = [o["data"]["text/plain"] for o in _outputs(nb) if "image/png" not in o.get("data", {})
             and "<Figure size" in str(o.get("data", {}).get("text/plain", ""))]
    assert reprs == [], f"{name}: figures shown as text: {reprs[:2]}"
    assert images, f"{name}: its notebook draws figures but its report holds none"
    assert html.count("<img") >= len(images)
