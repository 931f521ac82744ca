"""Issue 18 for the text commands: bad input, tampered run folders and bad output paths end in exit 2, one line naming
the file (and line or byte offset) and the problem, no traceback, and no file left behind.

Classes covered (numbers of issue 18): 4 negative/zero counts and NaN (`test_train_refuses_bad_numbers`,
`test_predict_and_serve_refuse_bad_counts`, `test_config_check_property`); 5 tracebacks: non-UTF-8 and directory inputs
(`test_input_file_faults`, `test_input_non_utf8_offset_property`, `test_dataset_faults`,
`test_prepare_raw_faults`), checkpoint contents
(`test_checkpoint_contents_validated`, `test_run_folder_artifacts_validated`), output paths (`test_output_paths_refused`,
`test_read_only_output_folder`); 6 unsafe/corrupt checkpoint refused in our words (`test_checkpoint_contents_validated`);
8 duplicate keys (`test_dataset_faults`, `test_input_file_faults`, `test_run_folder_artifacts_validated`).
`test_subprocess_exit_codes` checks the real process exit code.
"""
import gzip, shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from trainbook.core.paths import repo_root
from faults import Evil, files_under, in_our_words, refused, refused_process, unwritable   # tests/faults.py

CONFIG = str(repo_root() / "configs/training/default.yaml")


def free_port() -> int:
    import socket
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


# --- class 4: negative or zero counts, NaN / inf ------------------------------------------------------------------------
@pytest.mark.parametrize("override,key,what", [
    ("train.epochs=-1", "'train.epochs'", "must be >= 1"),  # refused by core's field bounds as the config loads
    ("train.epochs=0", "'train.epochs'", "must be >= 1"),
    ("trainer.steps_per_epoch=0", "trainer.steps_per_epoch", "must be >= 1"),
    ("trainer.steps_per_epoch=-3", "trainer.steps_per_epoch", "must be >= 1"),
    ("trainer.batch_sizes={summarization: 8, emotion: 0, topic: 16}", "trainer.batch_sizes.emotion", "must be >= 1"),
    ("data.max_train={emotion: -1}", "data.max_train.emotion", "must be >= 0"),
    ("train.lr=nan", "train.lr", "finite"),
    ("train.lr=.inf", "train.lr", "finite"),
    ("train.lr=-0.001", "train.lr", "must be > 0"),
    ("train.lr=0", "train.lr", "must be > 0"),
    ("eval.num_beams=0", "eval.num_beams", "must be >= 1"),
    ("tokenizer.vocab_size=-5", "tokenizer.vocab_size", "must be >= 1"),
    ("model.dropout=1.5", "model.dropout", "must be < 1"),
    ("train.seed=-1", "train.seed", "must be >= 0"),
])
def test_train_refuses_bad_numbers(tmp_path, capsys, override, key, what):
    out = tmp_path / "run"
    line = refused(capsys, "text", "train", "--config", CONFIG, "--out", out, override, says=(key,), leaves=[out])   # nothing written
    assert what in line or (what == "finite" and ("nan" in line.lower() or "inf" in line.lower())), line


def test_predict_and_serve_refuse_bad_counts(tmp_path, capsys):
    for beams in ("0", "-2", "nan"):
        refused(capsys, "text", "predict", "--checkpoint", tmp_path, "--beams", beams, "hi", says=("--beams",))
    for seed in ("-1", "1.5"):
        refused(capsys, "text", "prepare", "--raw", tmp_path, "--seed", seed, says=("--seed",))
    for port in ("0", "70000", "-1", "http"):
        refused(capsys, "text", "serve", "--checkpoint", tmp_path, "--port", port, says=("--port", "1..65535"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["train.epochs", "trainer.steps_per_epoch", "trainer.eval_rows", "eval.num_beams",
                              "eval.batch_size", "eval.max_summary_len"]),
       value=st.integers(max_value=0) | st.sampled_from([float("nan"), float("inf"), -float("inf")]))
def test_config_check_property(field, value):
    "Any count <= 0 or non-finite number in a count field is refused, naming the key."
    from trainbook.core.errors import ConfigError
    from trainbook.text.cli import check_text_config
    from trainbook.text.train import TextConfig
    cfg = TextConfig()
    sect, name = field.split(".")
    setattr(getattr(cfg, sect), name, value)
    with pytest.raises(ConfigError, match=f"'{field}'"):
        check_text_config(cfg, "c.yaml")


# --- class 5: inputs that are not UTF-8, directories; class 8: duplicate keys --------------------------------------------
def test_input_file_faults(tmp_path, capsys):
    ck = str(tmp_path / "no_run")     # never reached: the input is read first
    bad = tmp_path / "latin1.txt"; bad.write_bytes("Le café est fermé.\n".encode("latin-1"))
    refused(capsys, "text", "predict", "--checkpoint", ck, "--input", bad, says=("latin1.txt", "byte 6", "not UTF-8"))   # 'Le caf': 6 bytes
    badj = tmp_path / "in.jsonl"; badj.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    # 17 bytes of line 1 + '{"text": "caf'
    refused(capsys, "text", "predict", "--checkpoint", ck, "--input", badj, says=("in.jsonl: line 2", "byte 30", "not UTF-8"))
    dup = tmp_path / "dup.jsonl"; dup.write_text('{"text": "a"}\n{"text": "a", "text": "b"}\n')
    refused(capsys, "text", "predict", "--checkpoint", ck, "--input", dup, says=("dup.jsonl: line 2", "duplicate key 'text'"))
    nan = tmp_path / "nan.jsonl"; nan.write_text('{"text": "a", "score": NaN}\n')
    refused(capsys, "text", "predict", "--checkpoint", ck, "--input", nan, says=("nan.jsonl: line 1", "NaN"))
    for d in (tmp_path / "folder", tmp_path / "folder.jsonl"):
        d.mkdir()
        refused(capsys, "text", "predict", "--checkpoint", ck, "--input", d, says=(d.name, "is a directory"))
    refused(capsys, "text", "train", "--config", tmp_path / "folder", "--out", tmp_path / "r", says=("folder", "directory"))
    cfg = tmp_path / "c.yaml"; cfg.write_bytes(b"train:\n  epochs: 1\n  note: \xff\xfe\n")
    refused(capsys, "text", "train", "--config", cfg, "--out", tmp_path / "r", says=("c.yaml", "not UTF-8"))
    cfg.write_text("train:\n  epochs: 1\n  epochs: 2\n")
    refused(capsys, "text", "train", "--config", cfg, "--out", tmp_path / "r", says=("c.yaml", "duplicate key 'epochs'"))
    assert not (tmp_path / "r").exists()


@settings(max_examples=60, deadline=None)
@given(head=st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s), junk=st.binary(min_size=1, max_size=4),
       tail=st.text(max_size=10))
def test_input_non_utf8_offset_property(tmp_path_factory, head, junk, tail):
    "Whatever precedes the first bad byte, the error names its byte offset (as Python's decoder finds it)."
    from trainbook.core.errors import DataError
    from trainbook.text.inference import read_input_texts
    data = head.encode() + b"\xff" + junk + tail.encode()
    with pytest.raises(UnicodeDecodeError) as exc: data.decode("utf-8")
    first_bad = exc.value.start
    f = tmp_path_factory.mktemp("inp") / "input.txt"; f.write_bytes(data)
    with pytest.raises(DataError, match=rf"input.txt: byte {first_bad}: not UTF-8"):
        read_input_texts(f)


@pytest.fixture()
def data_root(tmp_path):
    "A copy of the committed text samples to break one file at a time."
    root = tmp_path / "data"
    shutil.copytree(repo_root() / "data" / "text", root, ignore=shutil.ignore_patterns("README*"))
    return root


TINY_DATA = ["tokenizer.name=bpe", "model.init_encoder=null", "model.preset=tiny", "train.device=cpu", "train.progress=false",
             "data.max_train={emotion: 40, topic: 40, summarization: 16}"]


@pytest.mark.parametrize("case", ["not_utf8", "duplicate_key", "nan", "directory", "bad_gzip"])
def test_dataset_faults(data_root, tmp_path, capsys, case):
    emo = data_root / "emotion" / "train.jsonl"
    good = '{"text": "I am happy", "emotions": ["joy"]}\n'
    if case == "not_utf8": emo.write_bytes(good.encode() + b'{"text": "s\xe9r\xe9nit\xe9", "emotions": ["joy"]}\n')
    if case == "duplicate_key": emo.write_text(good + '{"text": "I am sad", "emotions": ["sadness"], "text": "x"}\n')
    if case == "nan": emo.write_text(good + '{"text": "x", "emotions": ["joy"], "weight": NaN}\n')
    if case == "directory": emo.mkdir()
    if case == "bad_gzip":
        gz = data_root / "emotion" / "train.jsonl.gz"
        gz.write_bytes(gzip.compress((good * 50).encode())[:-30])
    out = tmp_path / "run"
    # the bad byte: 11 bytes into line 2 ('{"text": "s')
    expect = {"not_utf8": ("train.jsonl: line 2", f"byte {len(good) + 11}", "not UTF-8"), "duplicate_key": ("train.jsonl: line 2", "duplicate key 'text'"),
              "nan": ("train.jsonl: line 2", "NaN"), "directory": ("train.jsonl", "is a directory"),
              "bad_gzip": ("train.jsonl.gz", "corrupt or truncated")}[case]
    refused(capsys, "text", "train", "--config", CONFIG, "--out", out, f"data.root={data_root}", *TINY_DATA, says=expect,
            leaves=[out])                                        # the half-made run folder is removed


@pytest.mark.parametrize("bad", ["goemotions/train.tsv", "goemotions/labels.txt", "ag_news/test.csv", "scitldr/train.jsonl"])
def test_prepare_raw_faults(tmp_path, capsys, bad):
    "`text prepare` over raw files, one of them not UTF-8: one line with the file and byte, nothing written."
    raw, out = tmp_path / "raw", tmp_path / "out"
    files = {"goemotions/labels.txt": "joy\nsadness\n", "ag_news/classes.txt": "World\nSports\n",
             "ag_news/test.csv": "".join(f'"{1 + i % 2}","Title {i}","Text {i}"\n' for i in range(40)),
             **{f"goemotions/{s}.tsv": "I am glad\t0\tid1\nI am sad\t1\tid2\n" for s in ("train", "dev", "test")},
             **{f"scitldr/{s}.jsonl": '{"source": ["A sentence."], "target": ["A tldr."]}\n' for s in ("train", "dev", "test")}}
    for rel, text in files.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True); (raw / rel).write_text(text)
    (raw / bad).write_bytes((raw / bad).read_bytes()[:4] + b"\xe9" + (raw / bad).read_bytes()[4:])
    refused(capsys, "text", "prepare", "--raw", raw, "--out", out, says=(bad.split("/")[1], "byte 4", "not UTF-8"), leaves=[out])


# --- checkpoint contents (class 5) and unsafe / corrupt checkpoints in our words (class 6) -------------------------------
@pytest.fixture()
def run_copy(tiny_text_run, tmp_path):
    d = tmp_path / "run"; shutil.copytree(tiny_text_run, d)
    return d


def _tamper(ck: Path, case: str):
    import torch
    good = torch.load(ck, weights_only=True)
    if case == "no_config": torch.save({"state_dict": good["state_dict"]}, ck)
    if case == "config_not_dict": torch.save({**good, "config": [1, 2]}, ck)
    if case == "other_pipeline": torch.save({"model_config": {"d_model": 64, "n_classes": 4}, "state_dict": {"w": torch.zeros(2)}}, ck)
    if case == "other_config": torch.save({"config": {"epochs": 3, "hidden": 64}, "state_dict": good["state_dict"]}, ck)
    if case == "tensor": torch.save(torch.zeros(3), ck)
    if case == "wrong_shape":
        sd = dict(good["state_dict"]); k = next(k for k, v in sd.items() if v.dim() == 2)
        sd[k] = torch.zeros(sd[k].shape[0] + 1, sd[k].shape[1]); torch.save({**good, "state_dict": sd}, ck)
    if case == "unsafe": torch.save({"config": good["config"], "state_dict": good["state_dict"], "x": Evil()}, ck)
    if case == "truncated": ck.write_bytes(ck.read_bytes()[:500])
    if case == "directory": ck.unlink(); ck.mkdir()


@pytest.mark.parametrize("case,expected", [
    ("no_config", "not a checkpoint of this kind (no 'config'"), ("config_not_dict", "not a text-multitask checkpoint"),
    ("other_pipeline", "not a checkpoint of this kind (no 'config'"), ("other_config", "not a text-multitask config"),
    ("tensor", "not a trainbook checkpoint"), ("wrong_shape", "incompatible with this model"),
    ("unsafe", "refused"), ("truncated", "corrupt or truncated"), ("directory", "is a directory")])
def test_checkpoint_contents_validated(run_copy, capsys, case, expected):
    ck = run_copy / "checkpoints" / "model.pt"
    _tamper(ck, case)
    # class 6: say what was refused, never advise turning the check off
    in_our_words(refused(capsys, "text", "predict", "--checkpoint", run_copy, "A text.", says=("model.pt", expected), folder=run_copy))


@pytest.mark.parametrize("case,name,expected", [
    ("labels_duplicate", "labels.json:1", "duplicate key 'topic'"), ("labels_not_utf8", "labels.json", "byte 0: not UTF-8"),
    ("labels_directory", "labels.json", "directory"), ("tokenizer_truncated", "hf_tokenizer", "cannot load tokenizer")])
def test_run_folder_artifacts_validated(run_copy, capsys, case, name, expected):
    "The other files of a text run folder: tampered ones end in one line naming them."
    labels, tok = run_copy / "artifacts" / "labels.json", run_copy / "artifacts" / "hf_tokenizer" / "tokenizer.json"
    if case == "labels_duplicate":
        labels.write_text('{"schema": "text_labels", "schema_version": 1, "emotion": ["a"], "topic": ["b"], "topic": ["c"]}')
    if case == "labels_not_utf8": labels.write_bytes(b"\xff\xfe{}")
    if case == "labels_directory": labels.unlink(); labels.mkdir()
    if case == "tokenizer_truncated": tok.write_text(tok.read_text()[:40])
    refused(capsys, "text", "predict", "--checkpoint", run_copy, "A text.", says=(name, expected))


# --- output paths ----------------------------------------------------------------------------------------------------------
def test_output_paths_refused(tmp_path, capsys):
    f = tmp_path / "existing.txt"; f.write_text("keep me")
    refused(capsys, "text", "train", "--config", CONFIG, "--out", f, says=("existing.txt", "not a folder"))
    refused(capsys, "text", "train", "--config", CONFIG, "--out", f / "run", says=("existing.txt", "is a file, not a folder"))
    refused(capsys, "text", "prepare", "--out", f, says=("existing.txt", "not a folder"))
    refused(capsys, "text", "prepare", "--raw", tmp_path / "nothing", "--samples", f, says=("existing.txt", "not a folder"))
    assert f.read_text() == "keep me" and files_under(tmp_path) == {"existing.txt"}


def test_read_only_output_folder(tmp_path, capsys):
    "A run folder inside a folder we may not write to is refused before training (root ignores chmod: os.access decides)."
    with unwritable(tmp_path / "ro") as ro:
        refused(capsys, "text", "train", "--config", CONFIG, "--out", ro / "run", says=(ro, "not writable"))
        assert files_under(ro) == set()


# --- a few real processes: exit status 2 and a single stderr line -----------------------------------------------------------
def test_subprocess_exit_codes(tmp_path):
    bad = tmp_path / "b.txt"; bad.write_bytes(b"ok\n\x80\x81\n")
    for argv, expect in [(["text", "predict", "--checkpoint", tmp_path, "--input", bad], "b.txt: byte 3: not UTF-8"),
                         (["text", "train", "--config", CONFIG, "--out", tmp_path / "r", "trainer.steps_per_epoch=0"], "'trainer.steps_per_epoch'"),
                         (["text", "serve", "--checkpoint", tmp_path, "--port", free_port()], "checkpoint not found")]:
        refused_process(*argv, says=(expect,))
    assert not (tmp_path / "r").exists()
