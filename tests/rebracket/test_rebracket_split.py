import numpy as np
import pytest
from trainbook.rebracket.config import DataConfig
from trainbook.rebracket.data import prepare_frame, song_table, song_folds, song_holdout, rows_of
from trainbook.rebracket.manifest import build_manifest, default_songs_dir

@pytest.fixture(scope="module")
def manifest():
    return build_manifest(default_songs_dir())

@pytest.mark.parametrize("col,tt", [("has_rebracketing_markers", "binary"), ("rebracketing_type", "multiclass"),
                                    ("rebracketing_intensity", "regression")])
@pytest.mark.parametrize("k", [3, 5, 10])
def test_no_song_in_two_folds(manifest, col, tt, k):
    frame, _ = prepare_frame(manifest, DataConfig(target_column=col, target_type=tt))
    songs = song_table(frame)
    folds = song_folds(songs, k, seed=42, target_type=tt)
    test_sets = [set(songs["id"].iloc[te]) for _, te in folds]
    assert sum(map(len, test_sets)) == len(songs) and set().union(*test_sets) == set(songs["id"])   # each song tested once
    for tr, te in folds:
        r_tr, r_te = rows_of(frame, songs, tr), rows_of(frame, songs, te)
        assert not set(frame["id"].iloc[r_tr]) & set(frame["id"].iloc[r_te])
        assert len(r_tr) + len(r_te) == len(frame)

def test_binary_folds_are_stratified(manifest):
    frame, _ = prepare_frame(manifest, DataConfig())
    songs = song_table(frame)
    share = songs["target"].mean()
    for _, te in song_folds(songs, 5, 42):
        assert abs(songs["target"].iloc[te].mean() - share) < 0.1

def test_fixed_split_by_song(manifest):
    frame, _ = prepare_frame(manifest, DataConfig())
    songs = song_table(frame)
    tr, va = song_holdout(songs, 0.2, 42)
    assert not set(songs["id"].iloc[tr]) & set(songs["id"].iloc[va])
    assert len(va) == 17 and len(tr) == 67
    fit, val = song_holdout(songs, 0.2, 42, idx=tr)     # the inner split stays inside the training songs
    assert set(fit) | set(val) == set(tr)

def test_min_concept_length_filters(manifest):
    frame, _ = prepare_frame(manifest, DataConfig(min_concept_length=200))
    assert frame["concept"].str.len().min() >= 200 and 0 < len(frame) < len(manifest)


def test_minority_class_is_the_datasets_not_the_folds():
    import pandas as pd
    from trainbook.rebracket.train import dataset_minority, row_metrics
    songs = pd.DataFrame({"target": [1, 1, 0], "n_tracks": [1, 1, 5]})
    assert dataset_minority(songs) == 1            # 2 of 7 rows are True
    assert dataset_minority(songs.assign(n_tracks=[5, 5, 1])) == 0
    # a fold where True is the majority still reports the dataset's minority class (True here)
    m = row_metrics("binary", [1, 1, 0], [0.9, 0.8, 0.6], 0.5, minority=dataset_minority(songs))
    assert m["minority_class"] == 1 and abs(m["minority_f1"] - 0.8) < 1e-9
