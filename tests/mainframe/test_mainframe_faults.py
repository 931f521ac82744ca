"""Fault injection for every `trainbook mainframe` command (issue 18): bad counts and sizes (class 4), files that are
not UTF-8 text, folders where files belong, unwritable outputs and checkpoints of the wrong content (class 5),
unsafe or corrupt checkpoints (class 6), duplicate keys (class 8), SIGTERM / kill -9 while decoding (class 9).

Each refusal must be: exit code 2, one line on stderr naming the file (and line or byte offset where there is one),
no traceback, and no file left behind. The CLI runs in-process (`trainbook.core.cli.main`) except where a real
process is the point (signals, the interpreter's own traceback printing)."""
import os, signal, subprocess, time
from pathlib import Path
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from trainbook.core.config import to_dict
from trainbook.mainframe.codecs import encode
from trainbook.mainframe.records import encode_records
from faults import TRAINBOOK, Evil, cli, in_our_words, one_line, refused, refused_process, unwritable   # tests/faults.py

HYPO = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
COB = "       01  R.\n           05  A  PIC X(8).\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    "Small valid inputs (an RDW dump, fixed records and their copybook) and a folder the tests never write to."
    d = tmp_path_factory.mktemp("faults")
    (d / "ok.rdw").write_bytes(encode_records([encode(f"HELLO WORLD {i:04d}", "cp037") for i in range(30)], "rdw"))
    (d / "ok.dat").write_bytes(b"".join(encode(f"REC{i:05d}", "cp037") for i in range(30)))
    (d / "ok.cob").write_text(COB)
    (d / "adir").mkdir()
    return d


@pytest.fixture(scope="module")
def cp_ckpt(tmp_path_factory):
    "A tiny untrained codepage head (format 1: the CNN alone), enough for loading and predicting."
    from trainbook.mainframe.codepage import CodepageClassifier, CodepageModelConfig
    from trainbook.core.artifacts import save_torch
    mc = CodepageModelConfig(d_model=8, n_conv=1, kernel=3, max_len=32)
    p = tmp_path_factory.mktemp("cp") / "codepage_head.pt"
    save_torch(p, {"format_version": 1, "kind": "codepage_head", "state_dict": CodepageClassifier(mc).state_dict(), "model_config": to_dict(mc)})
    return p


def commands(d, ckpt, cp):
    "Every mainframe command with valid arguments (the dump, copybook, checkpoints of `d`, `ckpt`, `cp`)."
    return {
        "records": ["mainframe", "records", d / "ok.rdw"],
        "synth": ["mainframe", "synth", "--output", d / "out" / "s.rdw"],
        "decode": ["mainframe", "decode", d / "ok.dat", "--copybook", d / "ok.cob"],
        "decode-infer": ["mainframe", "decode", d / "ok.rdw", "--infer", "--checkpoint", ckpt, "--record-format", "rdw"],
        "decode-spark": ["mainframe", "decode", d / "ok.dat", "--copybook", d / "ok.cob", "--engine", "spark", "--output", d / "out" / "sp"],
        "decode-checkpoint": ["mainframe", "decode", d / "ok.rdw", "--checkpoint", ckpt],
        "infer": ["mainframe", "infer", d / "ok.rdw", "--checkpoint", ckpt],
        "infer-copybook": ["mainframe", "infer-copybook", d / "ok.rdw", "--checkpoint", ckpt],
        "score-copybook": ["mainframe", "score-copybook", d / "ok.cob", d / "ok.cob", "--data", d / "ok.dat", "--record-format", "fixed:8"],
        "codepage": ["mainframe", "codepage", d / "ok.rdw", "--checkpoint", cp],
        # tiny sizes: a refusal that did not happen costs seconds, not a full training run
        "train-codepage": ["mainframe", "train", "codepage", "--output-dir", d / "out" / "tc", "--device", "cpu", "--eval-real", "false",
                           *[f"--{k}={v}" for k, v in dict(n_train=40, n_val=20, n_test=20, n_natural_train=40, n_natural_val=20,
                                                            n_natural_test=20, n_natural_files=2, records_per_file=5).items()]],
        "train-multitask": ["mainframe", "train", "multitask", "--output-dir", d / "out" / "tm", "--device", "cpu",
                            *[a for kv in dict(n_flat=20, n_copybooks=2, n_val_flat=5, n_val_copybooks=1, n_test_flat=5, n_test_copybooks=1,
                                                n_consensus_copybooks=2, real_train_files="[]", real_test_files="[]").items()
                              for a in ("--set", "%s=%s" % kv)]],
    }


# ---------------------------------------------------------------- class 4: counts, sizes, ratios, rates
COUNT_OPTIONS = [   # (command, option, values refused) -- every count/size/ratio/lr option of the mainframe commands
    ("records", "--max-records", ["-1", "0"]),
    ("synth", "--n-records", ["-1", "0"]),
    ("synth", "--evidence-free-rate", ["nan", "1.5", "-0.1"]),
    ("synth", "--seed", ["-3"]),
    ("decode", "--max-records", ["-1", "0"]),
    ("decode", "--batch-records", ["0", "-5"]),
    ("decode", "--jobs", ["0"]),
    ("decode-infer", "--sample", ["0", "-1"]),
    ("decode-spark", "--split-mb", ["0", "-1", "nan", "inf"]),
    ("decode-checkpoint", "--max-records", ["-1", "0"]),
    ("infer", "--max-records", ["-1", "0"]),
    ("infer", "--batch-records", ["0", "-3"]),
    ("infer-copybook", "--sample", ["0", "-1"]),
    ("infer-copybook", "--seed", ["-1"]),
    ("score-copybook", "--max-records", ["0", "-1"]),
    ("codepage", "--max-records", ["0", "-1"]),
    ("train-codepage", "--epochs", ["-1", "0"]),
    ("train-codepage", "--n-train", ["-5"]),
    ("train-codepage", "--n-natural-files", ["-1"]),
    ("train-codepage", "--records-per-file", ["0"]),
    ("train-codepage", "--evidence-free-rate", ["nan", "2"]),
    ("train-codepage", "--lm-order", ["0"]),
    ("train-codepage", "--lm-eps", ["0", "nan"]),
    ("train-multitask", "--epochs", ["-1", "0"]),
    ("train-multitask", "--seed", ["-1"]),
]
SET_OPTIONS = [   # `--set KEY=VALUE` of the training commands: config values checked before any data is made
    ("train-codepage", ["train.lr=nan", "train.batch_size=0", "train.warmup_ratio=1.5", "model.d_model=-4", "model.max_len=0", "lm_upper_rate=2", "combine=both"]),
    ("train-multitask", ["train.lr=nan", "train.batch_size=0", "n_flat=-1", "records_per_copybook=0", "fixed_rate=2",
                         "model.d_model=-4", "model.n_heads=3", "model.max_len=0", "eval_batch_size=0"]),
]


@pytest.mark.parametrize("cmd, option, values", COUNT_OPTIONS, ids=[f"{c}{o}" for c, o, _ in COUNT_OPTIONS])
def test_bad_counts_are_refused(ckpt, cp_ckpt, data, capsys, cmd, option, values):
    for v in values:
        err = refused(capsys, *commands(data, ckpt, cp_ckpt)[cmd], option, v, folder=data)
        assert option.lstrip("-").replace("-", "_") in err.replace("-", "_"), err   # the line names the option


@pytest.mark.parametrize("cmd, sets", SET_OPTIONS, ids=[c for c, _ in SET_OPTIONS])
def test_bad_config_values_are_refused(ckpt, cp_ckpt, data, capsys, cmd, sets):
    for s in sets:
        refused(capsys, *commands(data, ckpt, cp_ckpt)[cmd], "--set", s, says=(s.split("=")[0].split(".")[-1],), folder=data)


@HYPO
@given(n=st.integers(max_value=0), opt=st.sampled_from([("records", "--max-records"), ("infer", "--max-records"),
                                                         ("decode", "--batch-records"), ("codepage", "--max-records"),
                                                         ("train-codepage", "--epochs"), ("train-multitask", "--epochs")]))
def test_generated_nonpositive_counts(ckpt, cp_ckpt, data, capsys, n, opt):
    refused(capsys, *commands(data, ckpt, cp_ckpt)[opt[0]], opt[1], n, says=(opt[1],), folder=data)


# ---------------------------------------------------------------- class 5: not UTF-8, folders, outputs, checkpoint contents
def not_utf8(prefix: bytes, junk: bytes) -> bytes:
    "`prefix` + a byte that cannot start UTF-8 + `junk`: invalid UTF-8 at byte len(prefix) at the latest."
    return prefix + b"\xff" + junk


@HYPO
@given(junk=st.binary(max_size=40))
def test_config_not_utf8(ckpt, cp_ckpt, data, capsys, tmp_path_factory, junk):
    d = tmp_path_factory.mktemp("cfg")
    cfg = d / "c.yaml"; cfg.write_bytes(not_utf8(b"seed: 1\n", junk))
    for cmd in ("train-codepage", "train-multitask"):
        refused(capsys, *commands(data, ckpt, cp_ckpt)[cmd], "--config", cfg, says=(f"{cfg}: byte ", "not UTF-8"), folder=d)


@HYPO
@given(body=st.binary(min_size=1, max_size=200))
def test_copybook_random_bytes_never_traceback(data, capsys, tmp_path_factory, body):
    "Any bytes as a copybook: a layout, or one line naming the file and line (Latin-1 text is read as such)."
    d = tmp_path_factory.mktemp("cob")
    cb = d / "x.cob"; cb.write_bytes(body)
    rc, out, err = cli(capsys, "mainframe", "layout", cb)
    assert rc in (0, 2) and "Traceback" not in err
    if rc == 2: assert one_line(err).startswith(f"trainbook: error: {cb}"), err


@HYPO
@given(at=st.integers(0, len(COB)), ctl=st.sampled_from([0x00, 0x01, 0x07, 0x15, 0x1B, 0x7F]))
def test_copybook_control_byte_is_located(ckpt, cp_ckpt, data, capsys, tmp_path_factory, at, ctl):
    "A binary byte in a copybook (an EBCDIC copybook has NL 0x15) is refused with its line and byte offset, by every reader."
    d = tmp_path_factory.mktemp("cob")
    raw = COB.encode()[:at] + bytes([ctl]) + COB.encode()[at:]
    cb = d / "x.cob"; cb.write_bytes(raw)
    line = raw.count(b"\n", 0, at) + 1
    where = f"{cb}: line {line}: byte offset {at}: control byte 0x{ctl:02X}"
    refused(capsys, "mainframe", "layout", cb, says=(where,))
    refused(capsys, "mainframe", "decode", data / "ok.dat", "--copybook", cb, "--output", d / "o.parquet", says=(where,), folder=d)
    refused(capsys, "mainframe", "score-copybook", cb, data / "ok.cob", "--data", data / "ok.dat", "--record-format", "fixed:8", says=(where,))
    refused(capsys, *commands(data, ckpt, cp_ckpt)["train-multitask"], "--real", f"CP037={data / 'ok.dat'}:{cb}", says=(where,), folder=d)


def test_sidecar_json_faults(data, capsys, tmp_path):
    """The `.json` sidecar beside an inferred copybook: not UTF-8, a duplicate key, a hand-edited rule are one line naming it,
    in `score-copybook` and in `decode --copybook` (which writes nothing)."""
    cob = tmp_path / "inf.cob"; cob.write_text(COB); side = tmp_path / "inf.json"
    score = ["mainframe", "score-copybook", cob, data / "ok.cob", "--data", data / "ok.dat", "--record-format", "fixed:8"]
    decode = ["mainframe", "decode", data / "ok.dat", "--copybook", cob, "--output", tmp_path / "o.jsonl"]
    head = '{"schema": "trainbook.copybook-inference", "schema_version": 1, '
    for body, needle in [(b'{"schema": "x\xff"}', f"{side}: byte 13: not UTF-8"),
                         ((head + '"rule": {"kind": "single"}, "rule": {"kind": "length"}, "types": []}').encode(), f"{side}:1: duplicate key 'rule'"),
                         ((head + '"rule": {"kind": "length", "lengths": [8, -1]}, "types": [{"name": "A"}, {"name": "B"}]}').encode(), "'rule.lengths'"),
                         ((head + '"rule": {"kind": "single"}, "types": "A"}').encode(), "'types' must be"),
                         ((head + '"rule": {"kind": "segment", "offset": 0, "values": ["zz", "c1"], "lengths": [8, 8]}, '
                                  '"types": [{"name": "A"}, {"name": "B"}]}').encode(), "'rule.values'")]:
        side.write_bytes(body)
        refused(capsys, *score, names=side, says=(needle,))
        refused(capsys, *decode, names=side, says=(needle,), folder=tmp_path)


@pytest.mark.parametrize("cmd, flag", [("layout", None), ("records", None), ("decode", None), ("decode", "--copybook"),
                                       ("infer", None), ("infer", "--checkpoint"), ("decode-checkpoint", "--checkpoint"),
                                       ("infer-copybook", None), ("infer-copybook", "--checkpoint"), ("codepage", None),
                                       ("codepage", "--checkpoint"), ("score-copybook", "--data"), ("train-codepage", "--config"),
                                       ("train-multitask", "--config"), ("train-codepage", "--dataset"), ("train-multitask", "--real")])
def test_folder_where_a_file_belongs(ckpt, cp_ckpt, data, capsys, cmd, flag):
    adir = data / "adir"
    argv = ["mainframe", "layout", data / "ok.cob"] if cmd == "layout" else list(commands(data, ckpt, cp_ckpt)[cmd])
    if flag is None: argv[2] = adir                       # the positional input
    elif flag in ("--dataset", "--real"): argv += [flag, f"CP037={adir}"]
    elif flag in argv: argv[argv.index(flag) + 1] = adir
    else: argv += [flag, adir]
    refused(capsys, *argv, says=(adir,), folder=data)


OUTPUTS = [("synth", "--output"), ("synth", "--labels"), ("decode", "--output"), ("decode-infer", "--save-copybook"),
           ("decode-checkpoint", "--output"), ("infer", "--output"), ("infer-copybook", "--out"), ("infer-copybook", "--json")]


def writing_to(argv, flag, out, tmp_path):
    "`argv` with its output option `flag` set to `out` (added when absent); `synth --labels` writes its records into `tmp_path`."
    argv = list(argv)
    if flag in argv: argv[argv.index(flag) + 1] = out
    else: argv += [flag, out]
    if argv[1] == "synth" and flag == "--labels": argv[argv.index("--output") + 1] = tmp_path / "s.rdw"
    return argv


@pytest.mark.parametrize("cmd, flag", OUTPUTS)
def test_output_path_faults(ckpt, cp_ckpt, data, capsys, tmp_path, cmd, flag):
    "An output that is a folder, or below a file, is refused before anything is read or written; nothing is left behind."
    (tmp_path / "adir").mkdir(); (tmp_path / "afile").write_text("x")
    for out, needle in [(tmp_path / "adir", "is a directory"), (tmp_path / "afile" / "o.parquet", "is a file, not a folder")]:
        refused(capsys, *writing_to(commands(data, ckpt, cp_ckpt)[cmd], flag, out, tmp_path),
                says=(out if needle == "is a directory" else tmp_path / "afile", needle), folder=tmp_path)


@pytest.mark.parametrize("cmd", ["train-codepage", "train-multitask"])
def test_output_folder_that_is_a_file(ckpt, cp_ckpt, data, capsys, tmp_path, cmd):
    f = tmp_path / "afile"; f.write_text("x")
    refused(capsys, *writing_to(commands(data, ckpt, cp_ckpt)[cmd], "--output-dir", f, tmp_path), says=(f, "not a folder"), folder=tmp_path)


@pytest.mark.parametrize("chmod", [False, True], ids=["os.access", "chmod"])
@pytest.mark.parametrize("cmd, flag", OUTPUTS + [("train-codepage", "--output-dir"), ("train-multitask", "--output-dir")])
def test_output_in_a_read_only_folder(ckpt, cp_ckpt, data, capsys, tmp_path, cmd, flag, chmod):
    """A folder the user cannot write: refused up front, nothing written. `os.access` (what the check asks) says no, so the
    test also holds when it runs as root; with `chmod` (mode 0555) it is the real thing wherever the mode binds."""
    with unwritable(tmp_path / "ro", chmod=chmod) as ro:
        out = ro / ("o" if "dir" in flag else "o.jsonl")
        refused(capsys, *writing_to(commands(data, ckpt, cp_ckpt)[cmd], flag, out, tmp_path), says=(out, "not writable"), folder=tmp_path)


def _tampered(src, tmp_path, name, edit):
    ck = torch.load(src, weights_only=True); ck = edit(ck) or ck
    p = tmp_path / name; torch.save(ck, p); return p


def _cfg(key, value):
    def edit(ck): ck["model_config"][key] = value
    return edit


MULTIHEAD_TAMPERING = [   # (file name, edit, words the refusal holds)
    ("no_config.pt", lambda ck: ck.pop("model_config") and None, "no 'model_config'"),
    ("no_state.pt", lambda ck: ck.pop("state_dict") and None, "no 'state_dict'"),
    ("a_list.pt", lambda ck: [1, 2, 3], "not a multihead checkpoint"),
    ("neg_dim.pt", _cfg("d_model", -4), "model_config: config key 'd_model'"),
    ("zero_len.pt", _cfg("max_len", 0), "model_config: config key 'max_len'"),
    ("huge_len.pt", _cfg("max_len", 10 ** 9), "model_config: config key 'max_len'"),
    ("heads.pt", _cfg("n_heads", 3), "not a multiple of n_heads"),
    ("wrong_dim.pt", _cfg("d_model", 64), "shape mismatch at emb.weight"),
    ("str_dim.pt", _cfg("d_model", "big"), "config key 'd_model'"),
    ("tags.pt", _cfg("tags", ["TEXT", "NOPE"]), "config key 'tags'"),
    ("config_list.pt", lambda ck: ck.__setitem__("model_config", [1]), "model_config"),
    ("state_list.pt", lambda ck: ck.__setitem__("state_dict", [1]), "expected a mapping"),
    ("decode.pt", lambda ck: ck.__setitem__("decode", {"penalty": "x"}), "decode: config key 'penalty'"),
    ("consensus.pt", lambda ck: ck.__setitem__("consensus", {"mean": 1}), "malformed consensus model"),
]


@pytest.mark.parametrize("name, edit, needle", MULTIHEAD_TAMPERING, ids=[t[0] for t in MULTIHEAD_TAMPERING])
def test_multihead_checkpoint_contents(ckpt, cp_ckpt, data, capsys, tmp_path, name, edit, needle):
    bad = _tampered(ckpt, tmp_path, name, edit)
    for cmd in ("infer", "decode-checkpoint", "infer-copybook", "decode-infer"):
        argv = list(commands(data, bad, cp_ckpt)[cmd])
        if cmd == "decode-infer": argv += ["--output", tmp_path / "o.parquet"]
        refused(capsys, *argv, says=(f"{bad}: ", needle), folder=tmp_path)


CODEPAGE_TAMPERING = [
    ("no_config.pt", lambda ck: ck.pop("model_config") and None, "no 'model_config'"),
    ("neg_dim.pt", _cfg("d_model", -4), "model_config: config key 'd_model'"),
    ("zero_len.pt", _cfg("max_len", 0), "model_config: config key 'max_len'"),
    ("wrong_dim.pt", _cfg("d_model", 16), "shape mismatch at emb.weight"),
    ("codepages.pt", _cfg("codepages", []), "config key 'codepages'"),
    ("version.pt", lambda ck: ck.__setitem__("format_version", 9), "format 9 is not supported"),
    ("charlm.pt", lambda ck: ck.update(format_version=2, charlm={"alphabet": 3}, combine={}), "character model"),
]


@pytest.mark.parametrize("name, edit, needle", CODEPAGE_TAMPERING, ids=[t[0] for t in CODEPAGE_TAMPERING])
def test_codepage_checkpoint_contents(ckpt, cp_ckpt, data, capsys, tmp_path, name, edit, needle):
    bad = _tampered(cp_ckpt, tmp_path, name, edit)
    refused(capsys, *commands(data, ckpt, bad)["codepage"], says=(f"{bad}: ", needle))


def test_another_pipelines_checkpoint(ckpt, cp_ckpt, data, capsys, tmp_path):
    "Each loader names the checkpoint it got when it is another pipeline's (or a bare state_dict)."
    refused(capsys, *commands(data, cp_ckpt, cp_ckpt)["infer"], says=(f"{cp_ckpt}: not a multihead checkpoint (kind 'codepage_head')",))
    refused(capsys, *commands(data, ckpt, ckpt)["codepage"], says=(f"{ckpt}: not a codepage_head checkpoint",))
    sd = tmp_path / "state_dict.pt"; torch.save(torch.load(ckpt, weights_only=True)["state_dict"], sd)
    refused(capsys, *commands(data, sd, sd)["infer"], says=(f"{sd}: not a multihead checkpoint",))
    refused(capsys, *commands(data, sd, sd)["codepage"], says=(f"{sd}: not a codepage_head checkpoint",))


# ---------------------------------------------------------------- class 6: unsafe or corrupt checkpoints, in our words
def test_unsafe_and_corrupt_checkpoints_are_refused_in_our_words(ckpt, cp_ckpt, data, capsys, tmp_path):
    evil = tmp_path / "evil.pt"; torch.save({"kind": "multihead", "x": Evil()}, evil)
    cut = tmp_path / "cut.pt"; cut.write_bytes(Path(ckpt).read_bytes()[:2000])
    junk = tmp_path / "junk.pt"; junk.write_bytes(b"\x00not a checkpoint" * 8)
    for bad, needle in [(evil, "refused: not a trainbook checkpoint"), (cut, "corrupt or truncated"), (junk, "corrupt or truncated")]:
        for cmd in ("infer", "decode-checkpoint", "infer-copybook", "codepage"):
            in_our_words(refused(capsys, *commands(data, bad, bad)[cmd], says=(f"{bad}: ", needle)))


# ---------------------------------------------------------------- class 8: duplicate keys
@pytest.mark.parametrize("cmd", ["train-codepage", "train-multitask"])
def test_duplicate_yaml_keys(ckpt, cp_ckpt, data, capsys, tmp_path, cmd):
    for text, line, key in [("seed: 1\nseed: 2\n", 2, "seed"), ("train:\n  lr: 0.1\n  epochs: 1\n  lr: 0.2\n", 4, "lr")]:
        cfg = tmp_path / "c.yaml"; cfg.write_text(text)
        refused(capsys, *commands(data, ckpt, cp_ckpt)[cmd], "--config", cfg, says=(f"{cfg}:{line}: duplicate key '{key}'",), folder=tmp_path)


# ---------------------------------------------------------------- process level: no traceback from the interpreter either
def test_process_exit_codes_and_no_traceback(ckpt, data, tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"seed: \xff\n")
    for argv, needle in [(["mainframe", "train", "multitask", "--config", tmp_path / "c.yaml"], "not UTF-8"),
                         (["mainframe", "infer", data / "ok.rdw", "--checkpoint", ckpt, "--max-records", "-1"], "--max-records"),
                         (["mainframe", "decode", data / "ok.dat", "--copybook", data / "ok.cob", "--output", data / "adir"], "is a directory")]:
        refused_process(*argv, says=(needle,))


# ---------------------------------------------------------------- class 9: SIGTERM and kill -9 during `decode --output`
def _decoding_into(tmp_path, fifo, out, how=None):
    "A `decode --output` process reading from a FIFO (it waits there for more records); `how`: --copybook (default) or --checkpoint."
    how = how or ["--copybook", str(tmp_path / "r.cob"), "--batch-records", "1"]
    return subprocess.Popen(TRAINBOOK + ["mainframe", "decode", str(fifo), *how, "--output", str(out), "--no-progress"],
                            stderr=subprocess.PIPE, text=True)


def _writer(fifo, p):
    "The FIFO opened for writing once process `p` reads it (never blocks forever: `p` may exit before opening it)."
    deadline = time.time() + 120
    while True:
        try: return os.fdopen(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb")
        except OSError:   # ENXIO: no reader yet
            assert p.poll() is None and time.time() < deadline, f"the decoder never opened its input: {p.stderr.read()}"
            time.sleep(0.05)


def _wait_for_temporary(tmp_path, out, p):
    deadline = time.time() + 120
    while not list(tmp_path.glob(f".{out.name}.*.tmp")) and time.time() < deadline and p.poll() is None: time.sleep(0.05)
    temps = list(tmp_path.glob(f".{out.name}.*.tmp"))
    assert temps, "the decoder never started writing"
    return temps


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_signal_during_decode_output(tmp_path, sig):
    """SIGTERM: the temporary output is removed at once. kill -9 cannot be caught: it leaves the temporary file, and
    the next run of the same output names and removes it (its writer's lock died with it), then writes the output."""
    (tmp_path / "r.cob").write_text(COB)
    fifo = tmp_path / "in.fifo"; os.mkfifo(fifo)
    out = tmp_path / "out.parquet"
    p = _decoding_into(tmp_path, fifo, out)
    with _writer(fifo, p) as w:
        w.write(encode("RECORD01" * 4, "cp037")); w.flush()
        temps = _wait_for_temporary(tmp_path, out, p)
        p.send_signal(sig)
        p.wait(timeout=60)
    err = p.stderr.read(); p.stderr.close()
    assert "Traceback" not in err, err
    if sig == signal.SIGTERM:
        assert p.returncode == 128 + signal.SIGTERM, err
        assert sorted(x.name for x in tmp_path.iterdir()) == ["in.fifo", "r.cob"]
        return
    assert p.returncode == -signal.SIGKILL and [t.exists() for t in temps] == [True], "kill -9 leaves its temporary file"
    src = tmp_path / "in.dat"; src.write_bytes(encode("RECORD01" * 3, "cp037"))
    r = subprocess.run(TRAINBOOK + ["mainframe", "decode", str(src), "--copybook", str(tmp_path / "r.cob"), "--output", str(out), "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"removed {temps[0]}" in r.stderr and "left by an interrupted run" in r.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.dat", "in.fifo", "out.parquet", "r.cob"]
    import pyarrow.parquet as pq
    assert pq.read_table(out).num_rows == 3


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_running_decode_keeps_its_temporary(tmp_path):
    "A second decode of the same output while the first still writes leaves the first one's temporary file alone."
    (tmp_path / "r.cob").write_text(COB)
    fifo = tmp_path / "in.fifo"; os.mkfifo(fifo)
    out = tmp_path / "out.parquet"
    p = _decoding_into(tmp_path, fifo, out)
    try:
        with _writer(fifo, p) as w:
            w.write(encode("RECORD01" * 2, "cp037")); w.flush()
            temps = _wait_for_temporary(tmp_path, out, p)
            src = tmp_path / "in.dat"; src.write_bytes(encode("RECORD01", "cp037"))
            r = subprocess.run(TRAINBOOK + ["mainframe", "decode", str(src), "--copybook", str(tmp_path / "r.cob"), "--output", str(out),
                                     "--no-progress"], capture_output=True, text=True, timeout=300)
            assert r.returncode == 0 and "removed" not in r.stderr, r.stderr
            assert all(t.exists() for t in temps)
    finally:
        p.wait(timeout=60); p.stderr.close()
    assert p.returncode == 0
