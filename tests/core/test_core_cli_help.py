"`--help` at every level parses without importing torch, transformers, sklearn or pandas (checked in `sys.modules`, not by time)."
import subprocess, sys
import pytest

HEAVY = ["torch", "transformers", "sklearn", "pandas"]
LEVELS = [[], ["run"], ["runs"], ["docs"], ["docs", "check"], ["bam"], ["text"], ["rebracket"], ["rebracket", "train"],
          ["mainframe"], ["mainframe", "decode"], ["mainframe", "train"], ["mainframe", "infer-copybook"],
          ["mainframe", "train", "codepage"], ["mainframe", "codepage"], ["mainframe", "train", "multitask"],
          ["resource"], ["resource", "pretrain"], ["resource", "train-decoder"]]


def _help_modules(args):
    code = ("import sys\nfrom trainbook.core.cli import main\n"
            f"try: main({args + ['--help']!r})\nexcept SystemExit as e: assert e.code == 0, e.code\n"
            f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage: trainbook" in r.stdout
    return [m for m in r.stdout.strip().splitlines()[-1].removeprefix("HEAVY:").split(",") if m]


@pytest.mark.parametrize("args", LEVELS, ids=lambda a: " ".join(a) or "top")
def test_help_imports_no_heavy_module(args):
    assert _help_modules(args) == []


def test_parse_error_is_fast_path_too():
    "A typo in a subcommand is answered by argparse (exit 2) before any domain module loads."
    code = ("import sys\nfrom trainbook.core.cli import main\n"
            "try: main(['bam', 'no-such-command'])\nexcept SystemExit as e: print('EXIT', e.code)\n"
            f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    out = r.stdout.strip().splitlines()
    assert "EXIT 2" in out and out[-1] == "HEAVY:" and "invalid choice" in r.stderr


def test_top_help_lists_every_domain():
    r = subprocess.run([sys.executable, "-c", "from trainbook.core.cli import main; main(['--help'])"], capture_output=True, text=True, timeout=300)
    from trainbook.core.cli import DOMAINS, DOMAIN_HELP
    for d in DOMAINS: assert d in r.stdout and DOMAIN_HELP[d][:30] in r.stdout
