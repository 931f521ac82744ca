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


def _help_texts(parser, path=()):
    "(command path, text) for every help string and description in the parser tree."
    import argparse
    yield path, parser.description
    for a in parser._actions:
        yield path, a.help
        if isinstance(a, argparse._SubParsersAction):
            for ca in a._choices_actions: yield path, ca.help
            for name, sp in a.choices.items(): yield from _help_texts(sp, path + (name,))


def test_commands_named_in_help_texts_exist():
    "A help text that sends the reader to `trainbook X --opt` names a command and options that exist (`run` once pointed at `runs --list`)."
    import argparse, re
    from trainbook.core.cli import build_parser
    from trainbook.core.paths import list_pipelines
    p = build_parser()
    refs = [(path, m) for path, h in _help_texts(p) for m in re.findall(r"`(trainbook [^`]*)`", h or "")]
    assert refs, "no help text names a command: this check would pass vacuously"
    for path, ref in refs:
        sp = p
        for w in ref.split()[1:]:
            subs = [a for a in sp._actions if isinstance(a, argparse._SubParsersAction)]
            if w.startswith("-"): assert w in sp._option_string_actions, f"help of {' '.join(path)}: `{ref}`: no option {w}"
            elif subs and w in subs[0].choices: sp = subs[0].choices[w]
            else: assert not subs, f"help of {' '.join(path)}: `{ref}`: no command {w}"
    run_help = next(a.help for a in p._subparsers._group_actions[0].choices["run"]._actions if a.dest == "pipeline")
    assert all(n in run_help for n in list_pipelines()), run_help
