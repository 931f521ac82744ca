"""Every pipeline's report, rendered through the CLI (`trainbook run NAME --quick`), shows what its notebook means to show.

- No stderr or warning box from library plumbing (tqdm's `IProgress not found` once topped every report; sklearn's
  "Label not N is present" the text one's).
- Its figures as images: nothing a run calls may take matplotlib off the notebook's inline backend. The rebracket
  notebook and `bam.sweep.pareto_plot` once switched it to Agg, and their reports then showed `<Figure size ...>`
  text or nothing at all where the confusion matrices, training curves and Pareto fronts belong.
- No kernel log lines on the terminal of the one who runs it.
- No table wider than the page at 1,400 px: a reader had to scroll the resource decoders' table sideways to reach
  its last column, and the multitask report's sixteen hidden-start counts ran to 2,600 px."""
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
    _tables_fit(out / "report.html")


# every table whose box, or a box around it, scrolls sideways: [(table width, box width, first header cells)]
WIDE_TABLES = """return Array.from(document.querySelectorAll('table')).map(t => {
  for (let p = t; p && p !== document.body; p = p.parentElement)
    if (p.scrollWidth > p.clientWidth + 1) return [t.scrollWidth, p.clientWidth, Array.from(t.rows[0].cells).slice(0, 4).map(c => c.innerText).join('|')];
  return null; }).filter(r => r);"""


def _tables_fit(report, width=1400):
    from trainbook.core.docs import chromium_driver
    d = chromium_driver(width=width)
    try:
        d.get(report.resolve().as_uri())
        wide = d.execute_script(WIDE_TABLES)
    finally: d.quit()
    assert wide == [], f"{report.parent.name}: tables scroll sideways at {width} px: {wide}"

