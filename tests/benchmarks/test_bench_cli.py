"CLI start-up: `trainbook --help` and `trainbook mainframe decode --help` against `python -c 'import argparse'`, same run."
import subprocess, sys, time
import pytest


def _best(cmd, reps=3):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); subprocess.run(cmd, capture_output=True, check=True); best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.benchmark
def test_bench_cli_help():
    base = _best([sys.executable, "-c", "import argparse"])
    for args in (["--help"], ["mainframe", "decode", "--help"], ["bam", "--help"]):
        t = _best([sys.executable, "-c", f"from trainbook.core.cli import main; main({args!r})"])
        print(f"\ntrainbook {' '.join(args)}: {t:.3f} s vs import argparse {base:.3f} s: {t / base:.1f}x (target <= 5x)")
