"A pipeline report rendered through the CLI (`trainbook run bam --quick`) carries no warning or stderr box from library plumbing."
import os, re, subprocess, sys
import pytest


@pytest.mark.slow
def test_quick_run_report_has_no_warning_box(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())", "run", "bam", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    html = (out / "report.html").read_text()
    # nbconvert marks a stderr stream output with this mime type; the stylesheet mentions it once, in brackets
    boxes = re.findall(r'<div[^>]*data-mime-type="application/vnd\.jupyter\.stderr"[^>]*>(.*?)</div>', html, re.S)
    assert boxes == [], boxes[:2]
    for noise in ("TqdmWarning", "IProgress not found", "Traceback"):
        assert noise not in html
