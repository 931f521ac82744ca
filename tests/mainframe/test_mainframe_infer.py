"Streaming inference: exact span offsets, streaming == batch, bounded reading, output formats, bad input."
import dataclasses, io, json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from trainbook.core.errors import DataError, UserError
from trainbook.mainframe.infer import InferenceResult, TagSpan, infer_bytes, infer_file, write_results, file_codepage
from trainbook.mainframe.records import ReadStats, encode_records
from trainbook.mainframe.synth import SynthConfig, generate_records


@pytest.fixture(scope="module")
def payloads():
    return [r.data for r in generate_records(SynthConfig(n_records=60, seed=11))]


def _check_tiling(r: InferenceResult):
    assert r.tag_spans[0].start == 0 and r.tag_spans[-1].end == r.length
    for a, b in zip(r.tag_spans, r.tag_spans[1:]):
        assert a.end == b.start and a.start < a.end
    assert r.boundary_positions == [s.start for s in r.tag_spans]


@pytest.mark.parametrize("fmt,header", [("rdw", 4), ("rdw-le", 4), ("rdw-excl", 4), ("bdw", 4)])
def test_offsets_exact_in_rdw_formats(ckpt, payloads, fmt, header):
    data = encode_records(payloads, fmt, block_size=2000)
    res = infer_bytes(data, ckpt, record_format=fmt)
    assert len(res) == len(payloads)
    for r, p in zip(res, payloads):
        assert r.header_length == header and r.length == len(p) + header
        assert data[r.offset + header:r.offset + header + len(p)] == p      # offset points at the stored record
        assert r.tag_spans[0] == TagSpan(0, 4, "RDW", r.tag_spans[0].confidence)   # the RDW is one field
        assert 4 in r.boundary_positions
        _check_tiling(r)


def test_offsets_exact_fixed_and_long_records(ckpt):
    recs = [bytes([0xC1 + (i % 9)]) * 40 + bytes(range(i, i + 200)) for i in range(12)]   # 240 bytes > max_len 64
    res = infer_bytes(b"".join(recs), ckpt, record_format="fixed:240")
    assert [r.offset for r in res] == [240 * i for i in range(12)]
    for r in res:
        assert r.header_length == 0 and r.length == 240
        _check_tiling(r)


def test_streaming_equals_batch(ckpt, payloads, tmp_path):
    data = encode_records(payloads, "rdw")
    f = tmp_path / "d.rdw"; f.write_bytes(data)
    alone = [r.to_dict(True) for r in infer_bytes(data, ckpt, batch_records=1000, consensus=False)]
    for br in (1, 7, 64):
        assert [r.to_dict(True) for r in infer_file(f, ckpt, batch_records=br, consensus=False)] == alone
    # read as a file, a record's context is its chunk of `batch_records`: a chunk of one is read alone
    assert [r.to_dict(True) for r in infer_file(f, ckpt, batch_records=1)] == alone
    whole = [r.to_dict(True) for r in infer_bytes(data, ckpt, batch_records=1000)]
    assert [r.to_dict(True) for r in infer_file(f, ckpt, batch_records=1000)] == whole
    assert whole != alone          # the checkpoint's file-consensus model moves some field starts
    assert [r.to_dict() for r in infer_bytes(data, ckpt, max_records=9)] == [r.to_dict() for r in infer_bytes(data, ckpt, batch_records=9)[:9]]


class CountingReader(io.RawIOBase):
    "A binary stream that counts the bytes handed out."
    def __init__(self, data): self.buf, self.pos, self.read_bytes = data, 0, 0
    def readable(self): return True
    def readinto(self, b):
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos:self.pos + n]; self.pos += n; self.read_bytes += n
        return n


def test_reads_lazily(ckpt, payloads):
    data = encode_records(payloads * 400, "rdw")     # ~2 MB+
    src = CountingReader(data)
    it = infer_file(src, ckpt, batch_records=32)
    first = next(it)
    assert first.index == 0
    assert src.read_bytes < len(data) and src.read_bytes <= (1 << 20) + 70_000   # one reader chunk, not the file
    it.close()


def test_bad_input_fail_and_skip(ckpt, payloads):
    data = encode_records(payloads[:10], "rdw")
    with pytest.raises(DataError, match=r"byte offset \d+"):
        infer_bytes(data[:-5], ckpt)
    st = ReadStats()
    assert len(infer_bytes(data[:-5], ckpt, on_error="skip", stats=st)) == 9 and st.n_errors == 1
    bad_len = b"\x00\x02\x00\x00" + data                # RDW length 2 < 4
    with pytest.raises(DataError, match="byte offset 0"):
        infer_bytes(bad_len, ckpt)
    with pytest.raises(DataError, match="byte offset"):
        infer_bytes(b"\x00" * 8, ckpt)                   # zero-length records
    with pytest.raises(UserError):
        infer_bytes(data, ckpt, record_format="weird")
    with pytest.raises(UserError):
        infer_bytes(data, ckpt, on_error="ignore")


def test_output_formats(ckpt, payloads):
    import pyarrow as pa
    res = infer_bytes(encode_records(payloads[:20], "rdw"), ckpt)
    s = io.StringIO(); write_results(res, s, "json", include_confidence=True)
    arr = json.loads(s.getvalue())
    assert [a["offset"] for a in arr] == [r.offset for r in res] and len(arr[0]["spans"][0]) == 4 and "codepage_probs" in arr[0]
    s = io.StringIO(); write_results(res, s, "jsonl")
    assert [json.loads(l)["spans"] for l in s.getvalue().splitlines()] == [[[x.start, x.end, x.tag] for x in r.tag_spans] for r in res]
    b = io.BytesIO(); write_results(res, b, "arrow", batch=8)
    t = pa.ipc.open_stream(b.getvalue()).read_all()
    assert t.num_rows == 20 and t.column("span_end").to_pylist() == [[x.end for x in r.tag_spans] for r in res]
    fc = file_codepage(res)
    assert fc["codepage"] in ("cp037", "cp273", "cp500", "cp1047") and abs(sum(fc["probs"].values()) - 1) < 1e-6


def test_infer_cli(ckpt, payloads, tmp_path, capsys):
    from test_mainframe_multitask import run_cli
    f = tmp_path / "d.rdw"; f.write_bytes(encode_records(payloads[:15], "rdw"))
    rc, out, err = run_cli(["mainframe", "infer", "--checkpoint", str(ckpt), "--max-records", "5", str(f)], capsys)
    assert rc == 0 and len(out.splitlines()) == 5 and "file codepage" in err
    o = tmp_path / "o.arrow"
    rc, out, err = run_cli(["mainframe", "infer", "--checkpoint", str(ckpt), "--format", "arrow", "--output", str(o), str(f)], capsys)
    assert rc == 0 and o.stat().st_size > 0
    t = tmp_path / "t.rdw"; t.write_bytes(f.read_bytes()[:-3])
    rc, out, err = run_cli(["mainframe", "infer", "--checkpoint", str(ckpt), str(t)], capsys)
    assert rc == 2 and "byte offset" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    rc, out, err = run_cli(["mainframe", "infer", "--checkpoint", str(ckpt), "--on-error", "skip", str(t)], capsys)
    assert rc == 0 and len(out.splitlines()) == 14 and "truncated" in err
    rc, out, err = run_cli(["mainframe", "infer", "--checkpoint", str(tmp_path / "none.pt"), str(f)], capsys)
    assert rc == 2 and "checkpoint not found" in err
    rc, out, err = run_cli(["mainframe", "infer", "--checkpoint", str(ckpt), str(tmp_path / "missing.dat")], capsys)
    assert rc == 2 and "not found" in err


def test_records_without_codepage_evidence_carry_the_prior(ckpt, monkeypatch):
    """Only text tells codepages apart. Records whose every byte decodes alike in all four codepages (upper-case text,
    digits, packed-like bytes) get 1/4 whatever the head learned, and the file vote over them says it can't tell."""
    from trainbook.mainframe.codecs import EVIDENCE_BYTE_MASK, encode
    recs = [encode(f"ACME CORP {i:06d} ", 'cp037') + bytes([0x00, 0x12, 0x3C]) for i in range(80)]
    assert not EVIDENCE_BYTE_MASK[np.frombuffer(b"".join(recs), np.uint8)].any()   # the premise: no evidence byte at all
    res = infer_bytes(b"".join(recs), ckpt, record_format=f"fixed:{len(recs[0])}")
    for r in res:
        np.testing.assert_allclose(list(r.codepage_probs.values()), 0.25, atol=1e-6)
        assert r.ambiguous
    vote = file_codepage(res)
    assert sorted(vote["tied"]) == sorted(r.codepage_probs) and abs(vote["confidence"] - 0.25) < 1e-6, vote
