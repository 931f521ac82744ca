from collections import Counter
import numpy as np
import pytest
from trainbook.core.errors import UserError
from trainbook.mainframe.codecs import CODEPAGES, decode, evidence_level
from trainbook.mainframe.fields import TEXT, PACKED, BINARY, ZONED, decode_packed, decode_zoned, decode_binary
from trainbook.mainframe.records import read_records
from trainbook.mainframe.synth import SynthConfig, generate_records, write_rdw_file, frame_record, SEPARATING_TEMPLATES


def test_deterministic_and_seed_sensitive():
    a = generate_records(SynthConfig(n_records=100, seed=5))
    b = generate_records(SynthConfig(n_records=100, seed=5))
    c = generate_records(SynthConfig(n_records=100, seed=6))
    assert [r.data for r in a] == [r.data for r in b]
    assert [r.data for r in a] != [r.data for r in c]


def test_different_bytes_per_codepage(tmp_path):
    "The original generator wrote byte-identical files for all four codepages."
    files = {}
    for cp in CODEPAGES:
        recs = generate_records(SynthConfig(n_records=300, seed=11, codepages=(cp,)))
        assert {r.codepage for r in recs} == {cp}
        p = tmp_path / f"{cp}.rdw"; write_rdw_file(p, recs)
        files[cp] = p.read_bytes()
    assert len(set(files.values())) == 4
    # identical text content, so every evidence-bearing record differs between every pair of codepages
    per = {cp: read_records(tmp_path / f"{cp}.rdw") for cp in CODEPAGES}
    recs = generate_records(SynthConfig(n_records=300, seed=11, codepages=("cp037",)))
    for i, r in enumerate(recs):
        distinct = len({per[cp][i] for cp in CODEPAGES})
        assert distinct == (4 if r.has_evidence else 1)


def test_evidence_rates_and_labels():
    cfg = SynthConfig(n_records=1000, seed=2, evidence_free_rate=0.4)
    recs = generate_records(cfg)
    lv = Counter(r.evidence for r in recs)
    assert lv["partial"] == 0 and 0.33 < lv["none"] / 1000 < 0.47
    assert set(Counter(r.codepage for r in recs)) == set(CODEPAGES)
    for r in recs[:200]:
        mask = r.tags == TEXT
        assert evidence_level(r.data, r.codepage, mask) == r.evidence
        assert r.has_evidence == (r.evidence == "full")
        if r.evidence == "none":
            text = decode(bytes(np.frombuffer(r.data, np.uint8)[mask]), r.codepage)
            assert not any(ch.islower() for ch in text)


def test_layouts_vary_and_fields_decode():
    recs = generate_records(SynthConfig(n_records=300, seed=3))
    assert len({len(r.data) for r in recs}) > 20 and len({r.layout_id for r in recs}) > 30
    kinds = Counter(t for r in recs for _, _, t in r.fields)
    assert all(kinds[k] > 50 for k in (TEXT, PACKED, BINARY, ZONED))
    for r in recs:
        assert int(r.boundaries.sum()) == len(r.fields)
        for s, e, t in r.fields:
            assert (r.tags[s:e] == t).all() and r.boundaries[s] == 1
            if t == PACKED: decode_packed(r.data[s:e])
            if t == ZONED: decode_zoned(r.data[s:e], signed=True)


def test_fresh_layouts_and_frame():
    recs = generate_records(SynthConfig(n_records=50, seed=1, n_layouts=0))
    assert {r.layout_id for r in recs} == {-1}
    b, t, bd = frame_record(recs[0].data, recs[0].tags, recs[0].boundaries, "rdw")
    assert len(b) == len(t) == len(bd) == len(recs[0].data) + 4 and t[:4].tolist() == [1, 1, 1, 1]
    assert SEPARATING_TEMPLATES


def test_bad_config():
    with pytest.raises(UserError):
        generate_records(SynthConfig(n_records=1, codepages=("cp1252",)))
    with pytest.raises(UserError):
        generate_records(SynthConfig(n_records=1, evidence_free_rate=2))


def test_copybook_dataset_files_and_labels(tmp_path):
    from trainbook.mainframe.synth import CopybookSynthConfig, generate_copybook_dataset, write_copybook_dataset
    from trainbook.mainframe.copybook import parse_copybook
    from trainbook.mainframe.values import record_fields
    ds = generate_copybook_dataset(CopybookSynthConfig(n_layouts=6, records_per_layout=12, seed=4))
    other = generate_copybook_dataset(CopybookSynthConfig(n_layouts=6, records_per_layout=2, seed=5))
    assert not set(ds.copybooks) & set(other.copybooks)          # another seed: unseen layouts for evaluation
    assert {r.codepage for r in ds.records} == set(CODEPAGES)
    assert Counter(r.evidence for r in ds.records)["none"] > 0
    for r in ds.records:
        fs = record_fields(ds.layouts[r.layout_id], r.data, r.meta["choose"], r.codepage)
        assert sorted({(f.offset, min(f.end, len(r.data)), f.tag) for f in fs}) == r.fields
    for fmt in ["fixed", "rdw-le-excl", "bdw"]:
        man = write_copybook_dataset(tmp_path / fmt, ds, fmt)
        for m in man:
            assert read_records(tmp_path / fmt / m["data"], m["record_format"]) == [r.data for r in ds.records if r.layout_id == m["layout_id"]]
            assert parse_copybook((tmp_path / fmt / m["copybook"]).read_text()).record_length == ds.layouts[m["layout_id"]].record_length
    var = generate_copybook_dataset(CopybookSynthConfig(n_layouts=6, records_per_layout=12, seed=4, variable_length=True))
    assert any(len(r.data) < var.layouts[r.layout_id].record_length for r in var.records)  # cut after the last used field
    with pytest.raises(UserError):
        write_copybook_dataset(tmp_path / "v", var, "fixed")
