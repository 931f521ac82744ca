"""What the fault-injection modules (`tests/<domain>/test_<domain>_faults.py`) share: run the CLI in-process and
assert a refusal is one line, exit code 2, no traceback (issue 18)."""
import sys
from pathlib import Path

from trainbook.core.cli import main

_SCRIPT = Path(sys.executable).parent / "trainbook"     # the installed console script, else the same entry point
TRAINBOOK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())"]


def cli(capsys, *args):
    "Run the CLI in-process: (exit code, stdout, stderr); argparse's own errors arrive as SystemExit."
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def refused(capsys, *args, names=None, says=()):
    "Assert exit 2 and one stderr line without a traceback that names `names` and contains every `says`."
    rc, out, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err[-2000:])
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    if names is not None: assert str(names) in lines[0], (str(names), lines[0])
    for s in says: assert s in lines[0], (s, lines[0])
    return lines[0]


def files_under(d: Path) -> set:
    "Every path below `d`, relative (empty when `d` does not exist): compared before and after a refusal."
    return {str(p.relative_to(d)) for p in d.rglob("*")} if d.exists() else set()
