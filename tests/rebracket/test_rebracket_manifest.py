import json
from pathlib import Path
import pandas as pd
import pytest
from trainbook.core.errors import DataError, UserError
from trainbook.core.paths import shared_dir
from trainbook.rebracket.manifest import (build_manifest, default_songs_dir, default_lexicon_path, label_balance,
                                          load_manifest, write_manifest_parquet, training_column, load_lexicons,
                                          score_text, normalize_text, read_song)

SONG_COLS = {"id", "bpm", "title", "release_date", "rainbow_color", "concept", "mood", "genres", "key", "tempo", "album_sequence"}
TRACK_COLS = {"track_id", "description", "audio_file", "midi_file", "player"}
TD_FIELDS = {"concept_length", "word_count", "sentence_count", "avg_word_length", "has_rebracketing_markers",
             "rebracketing_type", "rebracketing_intensity", "rebracketing_coverage", "context"}

@pytest.fixture(scope="module")
def manifest():
    return build_manifest(default_songs_dir())

def test_manifest_columns_and_rows(manifest):
    assert SONG_COLS | TRACK_COLS | {"training_data"} <= set(manifest.columns)
    assert len(manifest) == 1327 and manifest["id"].nunique() == 84      # one row per track of 84 songs
    td = manifest["training_data"].iloc[0]
    assert TD_FIELDS <= set(td)
    assert {"track_position", "album_sequence"} <= set(td["context"])
    assert not manifest.duplicated(["id", "track_id"]).any()

def test_label_counts(manifest):
    b = label_balance(manifest)
    # measured on the 84-song snapshot (the spec's December snapshot had 892 rows, 95.9% True)
    assert (b["rows_true"], b["rows_false"], b["songs_true"], b["songs_false"]) == (769, 558, 48, 36)
    assert b["type_rows"]["spatial"] == 1203 and sum(b["type_rows"].values()) == 1327
    # every track of a song carries the song's label
    y = training_column(manifest, "has_rebracketing_markers")
    assert (y.groupby(manifest["id"]).nunique() == 1).all()

def test_intensity_is_markers_per_100_words(manifest):
    td = pd.DataFrame(list(manifest["training_data"]))
    nz = td["word_count"] > 0
    assert ((td["rebracketing_intensity"][nz] - 100 * td["marker_count"][nz] / td["word_count"][nz]).abs() < 1e-9).all()
    assert (td["has_rebracketing_markers"] == (td["marker_count"] > 0)).all()
    assert td["rebracketing_coverage"].between(0, 1).all()

def test_whole_word_and_phrase_matching():
    lex = load_lexicons(default_lexicon_path())
    assert score_text("The notable butler unlikely knot.", lex)["marker_count"] == 0     # no substrings
    assert score_text(normalize_text("It didn’t matter."), lex)["marker_count"] == 1      # typographic apostrophe
    assert score_text("rather than that", lex)["marker_count"] == 1                       # one phrase, not two
    assert score_text("It felt like rain", lex)["marker_count"] == 1

def test_parquet_roundtrip(manifest, tmp_path):
    p = write_manifest_parquet(manifest, tmp_path / "m.parquet")
    back = load_manifest(p, "has_rebracketing_markers")
    assert len(back) == len(manifest)
    assert training_column(back, "rebracketing_type").tolist() == training_column(manifest, "rebracketing_type").tolist()

def test_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="songs folder not found"): build_manifest(tmp_path / "nope")
    with pytest.raises(DataError, match="no song YAML"): build_manifest(tmp_path)
    (tmp_path / "a.yml").write_text("manifest_id: '01'\nconcept: fine\naudio_tracks:\n  - id: 1\n    description: x\n")
    (tmp_path / "b.yml").write_text("manifest_id: '01'\nconcept: dup\naudio_tracks: []\n")
    with pytest.raises(DataError, match="duplicate manifest_id"): build_manifest(tmp_path)
    bad = tmp_path / "c.yaml"; bad.write_text("manifest_id: x\nconcept: 'unterminated\n  more: [\n")
    with pytest.raises(DataError, match=r"c.yaml:\d+: invalid YAML"): read_song(bad)
    (tmp_path / "d.yml").write_text("- just\n- a list\n")
    with pytest.raises(DataError, match="expected a mapping"): read_song(tmp_path / "d.yml")
    with pytest.raises(UserError, match="manifest not found"): load_manifest(tmp_path / "x.parquet")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="x.parquet"): load_manifest(tmp_path / "x.parquet")
    pd.DataFrame({"id": ["a"], "concept": ["b"]}).to_parquet(tmp_path / "y.parquet")
    with pytest.raises(DataError, match="training_data"): load_manifest(tmp_path / "y.parquet")
    (tmp_path / "lex.json").write_text("{bad json")
    with pytest.raises(DataError, match="lex.json:1: invalid JSON"): load_lexicons(tmp_path / "lex.json")

def test_bundled_copy_matches_shared():
    sh = shared_dir()
    if sh is None or not (sh / "data/rebracket").is_dir(): pytest.skip("../shared not available")
    src = sh / "data/rebracket/white_staged_raw_material"
    for f in sorted(src.glob("*.yml")):
        assert (default_songs_dir() / f.name).read_bytes() == f.read_bytes(), f.name
    assert json.loads(default_lexicon_path().read_text()) == json.loads((sh / "data/rebracket/marker_lexicons.json").read_text())
