"Data: readers, bad-row errors (file + line) or skip-and-count, label round-trip, split, samples, downloader."
import json
from pathlib import Path

import numpy as np
import pytest

from trainbook.core.errors import DataError, UserError
from trainbook.core.paths import data_dir, shared_dir
from trainbook.text.data import (BookDownload, EmotionDataset, ReadStats, TopicDataset, download_book, download_books,
                                 load_labels, load_task, read_ag_news, read_goemotions, read_jsonl, save_labels,
                                 stratified_split, task_file, write_jsonl)


def _write(p: Path, lines):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(l + "\n" for l in lines))
    return p


def test_label_round_trip(tmp_path):
    rows = [{"text": "a", "emotions": ["joy", "love"]}, {"text": "b", "emotions": ["anger"]}, {"text": "c", "emotions": ["neutral"]}]
    ds = EmotionDataset(rows)
    assert ds.decode(ds.targets) == [["joy", "love"], ["anger"], ["neutral"]]
    tp = TopicDataset([{"text": "x", "topic": "Sports"}, {"text": "y", "topic": "World"}])
    save_labels(tmp_path / "labels.json", ds.labels, tp.labels)
    back = load_labels(tmp_path / "labels.json")
    assert back == {"emotion": ds.labels, "topic": tp.labels}
    assert json.loads((tmp_path / "labels.json").read_text())["schema_version"] == 1
    # a dataset rebuilt with the saved order encodes identically
    again = EmotionDataset(rows, labels=back["emotion"])
    assert (again.targets == ds.targets).all()
    tp2 = TopicDataset([{"text": "y", "topic": "World"}], labels=["World", "Sports"])   # saved order kept, not sorted
    assert tp2.y.tolist() == [0] and tp2.decode([1]) == ["Sports"]


@pytest.mark.parametrize("line,msg", [
    ('{"text": "hi", "emotions": ["glee"]}', "unknown emotion label 'glee'"),
    ('{"text": "  ", "emotions": ["joy"]}', "field 'text' is empty"),
    ('{"text": "hi", "emotions": []}', "non-empty list"),
    ('{"text": "hi", "emotions": ["joy"]', "invalid JSON"),
    ('["not", "an", "object"]', "expected a JSON object"),
])
def test_bad_rows_name_file_and_line(tmp_path, line, msg):
    p = _write(tmp_path / "emotion" / "train.jsonl", ['{"text": "ok", "emotions": ["joy"]}', line])
    with pytest.raises(DataError) as e:
        load_task(tmp_path, "emotion", "train", labels=["joy", "anger"])
    assert str(e.value).startswith(f"{p}: line 2: ") and msg in str(e.value)


def test_bad_rows_skipped_and_counted(tmp_path):
    _write(tmp_path / "topic" / "train.jsonl", ['{"text": "ok", "topic": "World"}', "{bad", '{"text": "", "topic": "World"}',
                                                '{"text": "fine", "topic": "Sports"}'])
    st = ReadStats()
    ds = load_task(tmp_path, "topic", "train", skip_bad=True, stats=st)
    assert len(ds) == 2 and st.skipped == 2 and st.reasons[0].startswith("line 2")


def test_summarization_rows_validated(tmp_path):
    _write(tmp_path / "summarization" / "test.jsonl", ['{"source": "abc", "summary": "a", "references": []}'])
    with pytest.raises(DataError, match="line 1: field 'references'"):
        load_task(tmp_path, "summarization", "test")


def test_raw_readers_report_lines(tmp_path):
    labels = _write(tmp_path / "labels.txt", ["admiration", "joy"])
    good = _write(tmp_path / "g.tsv", ["Nice one!\t0,1\tabc", "meh\t1\tdef"])
    assert read_goemotions(good, labels)[0] == {"text": "Nice one!", "emotions": ["admiration", "joy"]}
    bad = _write(tmp_path / "b.tsv", ["Nice one!\t0\tabc", "oops\t7\tdef"])
    with pytest.raises(DataError, match=r"b.tsv: line 2: label id out of range"):
        read_goemotions(bad, labels)
    classes = _write(tmp_path / "classes.txt", ["World", "Sports"])
    ag = _write(tmp_path / "ag.csv", ['"2","Title","Desc\\with backslash"', '"9","x","y"'])
    with pytest.raises(DataError, match=r"ag.csv: line 2: class 9 outside 1..2"):
        read_ag_news(ag, classes)
    ag_ok = _write(tmp_path / "ag_ok.csv", ['"2","Title","Desc\\with backslash"'])
    assert read_ag_news(ag_ok, classes) == [{"text": "Title. Desc with backslash", "topic": "Sports"}]


def test_stratified_split_fixed_seed():
    rows = [{"text": str(i), "topic": "ABCD"[i % 4]} for i in range(400)]
    a = stratified_split(rows, "topic", seed=0); b = stratified_split(rows, "topic", seed=0)
    assert a == b and [len(x) for x in a] == [280, 60, 60]
    assert {sum(r["topic"] == c for r in a[2]) for c in "ABCD"} == {15}
    assert not {r["text"] for r in a[0]} & {r["text"] for r in a[2]}


def test_committed_samples_are_valid_and_small():
    root = data_dir() / "text"
    total = sum(p.stat().st_size for p in root.rglob("*.gz"))
    assert total < 5 * 2**20
    for task, split, n in [("emotion", "test", 5427), ("topic", "test", 1140), ("summarization", "test", 618)]:
        ds = load_task(root, task, split, limit=None)
        assert len(ds) == n                                   # complete official test sets
    assert task_file(root, "emotion", "train").name == "train.jsonl.gz"
    assert len(load_task(root, "emotion", "train").labels) == 28


@pytest.mark.skipif(shared_dir() is None or not (shared_dir() / "data" / "text").is_dir(), reason="../shared/data/text absent")
def test_samples_match_prepared_shared_data(tmp_path):
    from trainbook.text.data import prepare_all
    counts = prepare_all(out_dir=tmp_path)
    assert counts["topic/test"] == 1140 and counts["summarization/train"] > 1900
    prepared = read_jsonl(tmp_path / "topic" / "test.jsonl")
    assert prepared == read_jsonl(data_dir() / "text" / "topic" / "test.jsonl.gz")   # same seed → same split
    s = read_jsonl(tmp_path / "summarization" / "test.jsonl")[0]
    assert s["summary"] == s["references"][0] and len(s["references"]) >= 1


def test_downloader_offline_file_url(tmp_path):
    src = tmp_path / "src" / "book.txt"; src.parent.mkdir(); src.write_text("Chapter 1\n" * 100)
    book = BookDownload("b", src.as_uri(), "books/b.txt", bytes=src.stat().st_size)
    dest, status = download_book(book, tmp_path / "root")
    assert status == "downloaded" and dest.read_bytes() == src.read_bytes()
    mtime = dest.stat().st_mtime_ns
    assert download_book(book, tmp_path / "root")[1] == "skipped" and dest.stat().st_mtime_ns == mtime
    dest.write_text("trunc")                                   # a truncated file is fetched again
    assert download_book(book, tmp_path / "root")[1] == "downloaded" and dest.stat().st_size == book.bytes
    with pytest.raises(DataError, match="expected 3"):
        download_book(BookDownload("c", src.as_uri(), "books/c.txt", bytes=3), tmp_path / "root")
    assert not (tmp_path / "root" / "books" / "c.txt").exists() and not list((tmp_path / "root" / "books").glob("*.part"))
    with pytest.raises(UserError, match="cannot download"):
        download_book(BookDownload("d", (tmp_path / "missing.txt").as_uri(), "books/d.txt"), tmp_path / "root")
    cfg = {"paths": {}, "tokenizer": {}, "downloads": {"books": [{"name": "b", "url": src.as_uri(), "output": "books/b.txt"}]}}
    assert download_books(cfg, tmp_path / "root") == [("b", "skipped")]


def test_datasets_yaml_lists_books():
    from trainbook.text.data import load_datasets_config
    cfg = load_datasets_config()
    assert cfg["tokenizer"]["backbone"] == "facebook/bart-base"
    assert all({"name", "url", "output"} <= set(b) for b in cfg["downloads"]["books"])
