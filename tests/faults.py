"""What the fault-injection modules (`tests/<domain>/test_<domain>_faults.py`) share (issue 18): run the CLI in-process or
as a process and assert a refusal is ONE line on stderr, exit code 2, no traceback, naming what it must, with nothing left
behind; and the snapshots, JSON edits, read-only folders and malicious pickles they inject faults with."""
import copy, json, os, subprocess, sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from trainbook.core.cli import main

_SCRIPT = Path(sys.executable).parent / "trainbook"     # the installed console script, else the same entry point
TRAINBOOK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())"]

# PyTorch's and NumPy's own advice on a pickle they refused: a refusal in our words (class 6) never repeats it
ADVICE = ("weights_only", "allow_pickle", "Re-running", "unsafely", "trust the source")


def cli(capsys, *args):
    "Run `trainbook ARGS` in-process: (exit code, stdout, stderr) of this command alone; argparse's own errors arrive as SystemExit."
    capsys.readouterr()                                   # what earlier steps printed is not this command's
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str, *says, names=None) -> str:
    "The one line `err` is (a single newline-terminated line, no traceback); it holds `names` and every `says`."
    assert "Traceback" not in err and err.count("\n") == 1 and err.endswith("\n"), err[-2000:]
    line = err[:-1]
    if names is not None: assert str(names) in line, (str(names), line)
    for s in says: assert str(s) in line, (s, line)
    return line


def refused(capsys, *args, names=None, says=(), leaves=(), folder=None, quiet=True) -> str:
    """Assert `trainbook ARGS` exits 2 with one stderr line (no traceback) holding `names` and every `says`, that no path of
    `leaves` exists afterwards, that `folder` holds what it held before, and (`quiet`) that nothing at all went to stdout
    (no progress line before the refusal, such as `run`'s `== NAME`). The line."""
    before = files_under(folder) if folder is not None else None
    rc, out, err = cli(capsys, *args)
    assert rc == 2, (rc, args, err[-2000:])
    line = one_line(err, *says, names=names)
    for p in leaves: assert not Path(p).exists(), f"{p} was left behind"
    if folder is not None: assert files_under(folder) == before, files_under(folder) ^ before
    if quiet: assert out == "", out
    return line


def refused_process(*args, names=None, says=(), env=None, exe=TRAINBOOK, timeout=300, **kw) -> str:
    """`refused` through a fresh interpreter (what a shell user sees: the exit status and stderr of `exe ARGS`), with one
    torch thread and `env` added to the environment; `kw` go to `subprocess.run` (`cwd`). The line."""
    r = subprocess.run([*exe, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, **kw)
    assert r.returncode == 2, (r.returncode, args, r.stderr[-2000:])
    return one_line(r.stderr, *says, names=names)


def in_our_words(msg: str):
    "Class 6: a refused pickle is said in our words, never with the library's advice to switch the check off."
    assert not any(a in msg for a in ADVICE), msg


def files_under(d: Path) -> set:
    "Every path below `d`, relative (empty when `d` does not exist): compared before and after a refusal."
    d = Path(d)
    return {str(p.relative_to(d)) for p in d.rglob("*")} if d.exists() else set()


@contextmanager
def json_edited(p: Path):
    "The object in the JSON file `p`, written back when the block ends: `with json_edited(p) as o: o['k'] = v`."
    p = Path(p); o = json.loads(p.read_text())
    yield o
    p.write_text(json.dumps(o))


def edit_json(p: Path, **kw):
    "Set top-level keys of the JSON file `p` (usable in a lambda)."
    with json_edited(p) as o: o.update(kw)


def replaced(obj, path, value):
    "A deep copy of `obj` with `obj[path[0]][path[1]]...` set to `value`: one field of a good document spoiled."
    o = copy.deepcopy(obj); node = o
    for k in path[:-1]: node = node[k]
    node[path[-1]] = value
    return o


@contextmanager
def unwritable(folder: Path, chmod: bool = True):
    """`folder` (made when missing) as seen by a user who may not write into it: mode 0555 (with `chmod`) and, where that does
    not bind (root) or without `chmod`, `os.access(folder, W_OK)` answering False (what the output checks ask)."""
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        if chmod: folder.chmod(0o555)
        if not chmod or os.geteuid() == 0:
            access = os.access
            mp.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == folder and mode & os.W_OK else access(p, mode, *a, **k))
        try: yield folder
        finally: folder.chmod(0o755)


class Evil:
    "Unpickling it runs the shell command `cmd`: what a malicious checkpoint carries. A loader must refuse it, never run it."
    def __init__(self, cmd: str = "echo pwned > /dev/null"): self.cmd = cmd
    def __reduce__(self): return (os.system, (self.cmd,))
