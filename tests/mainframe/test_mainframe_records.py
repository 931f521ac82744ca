import io
import tracemalloc
import pytest
from hypothesis import given, strategies as st, settings, HealthCheck
from trainbook.core.errors import DataError, UserError
from trainbook.mainframe.records import (parse_record_format, encode_records, read_records, iter_records, ReadStats,
                                         RecordFormat, rdw_header)

FORMATS = ["rdw", "rdw-le", "rdw-excl", "rdw-le-excl", "bdw", "bdw-le-excl"]
records_st = st.lists(st.binary(min_size=1, max_size=300), min_size=0, max_size=30)


@settings(max_examples=100, deadline=None)
@given(recs=records_st, fmt=st.sampled_from(FORMATS), chunk=st.integers(1, 5000))
def test_roundtrip(recs, fmt, chunk):
    data = encode_records(recs, fmt, block_size=400)
    assert read_records(io.BytesIO(data), fmt, chunk_size=chunk) == recs
    # offsets point at payloads in the file
    for off, r in iter_records(data, fmt):
        assert data[off:off + len(r)] == r


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600), fmt=st.sampled_from(FORMATS + ["fixed:7", "rdw,start=3", "bdw,end=2"]),
       on_error=st.sampled_from(["fail", "skip"]))
def test_random_bytes_only_data_errors(data, fmt, on_error):
    stats = ReadStats()
    try:
        recs = read_records(data, fmt, on_error=on_error, stats=stats)
    except DataError as e:
        assert on_error == "fail" or "header" in str(e) or "trailer" in str(e)
        assert e.offset is not None
        return
    if on_error == "skip":
        assert stats.records == len(recs)
        assert stats.record_bytes + stats.skipped_bytes <= len(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recs=st.lists(st.binary(min_size=1, max_size=60), min_size=1, max_size=12), fmt=st.sampled_from(FORMATS),
       pos=st.integers(0, 10 ** 6), kind=st.sampled_from(["flip", "cut", "insert", "delete"]), junk=st.binary(min_size=1, max_size=9))
def test_mutated_files(recs, fmt, pos, kind, junk):
    data = bytearray(encode_records(recs, fmt, block_size=200))
    i = pos % len(data)
    if kind == "flip": data[i] ^= 0xFF
    elif kind == "cut": data = data[:i]
    elif kind == "insert": data[i:i] = junk
    else: del data[i:i + len(junk)]
    for on_error in ("fail", "skip"):
        stats = ReadStats()
        try:
            got = read_records(bytes(data), fmt, on_error=on_error, stats=stats)
        except DataError as e:
            assert on_error == "fail" and "byte offset" in str(e)
            continue
        if on_error == "skip":
            assert stats.records == len(got)


def test_each_error_names_offset():
    good = encode_records([b"REC1", b"REC22", b"REC333"], "rdw")
    cases = [(good[:-2], "past the end", 17), (good[:8] + b"\x00\x02\x00\x00" + good[8:], "< 4", 8),
             (good[:8] + b"\x00\x04\x00\x00" + good[8:], "zero-length", 8), (good[:8] + b"\xde\xad\xbe\xef" + good[8:], "not an RDW", 8)]
    for data, msg, off in cases:
        with pytest.raises(DataError, match=msg) as ei:
            read_records(data, "rdw")
        assert ei.value.offset == off
        stats = ReadStats()
        read_records(data, "rdw", on_error="skip", stats=stats)
        assert stats.n_errors == 1 and stats.summary().startswith(f"{stats.records} records; skipped 1")


def test_bdw_disagreement_and_fixed():
    blk = encode_records([b"AAAA", b"BBBB"], "bdw")
    bad = b"\x00\x11\x00\x00" + blk[4:] + encode_records([b"CCCC"], "bdw")
    with pytest.raises(DataError, match="disagrees"):
        read_records(bad, "bdw")
    st_ = ReadStats()
    assert read_records(bad, "bdw", on_error="skip", stats=st_) == [b"CCCC"]
    assert st_.errors["bdw_mismatch"] == 1
    with pytest.raises(DataError, match="byte offset 6"):
        read_records(b"ABCDEFG", "fixed:3")


def test_format_parser():
    assert parse_record_format("rdw-le-excl") == RecordFormat("rdw", True, False)
    assert str(parse_record_format("bdw,start=10,end=2")) == "bdw,start=10,end=2"
    for bad in ["", "rdw-foo", "fixed:", "fixed:-3", "rdw,start=x", "xml"]:
        with pytest.raises(UserError):
            parse_record_format(bad)
    with pytest.raises(UserError):
        list(iter_records(b"", "rdw", on_error="ignore"))
    with pytest.raises(DataError, match="no such file"):
        read_records("/no/such/file.dat")


class _Generated(io.RawIOBase):
    "A file-like object producing N RDW records lazily, so the input never sits in memory."
    def __init__(self, n, size):
        self.rec = rdw_header(size) + bytes([0xC1]) * size
        self.left = n; self.pending = b""
    def readable(self): return True
    def read(self, k=-1):
        while len(self.pending) < k and self.left:
            take = min(self.left, 1000); self.pending += self.rec * take; self.left -= take
        out, self.pending = self.pending[:k], self.pending[k:]
        return out


def test_streaming_memory_is_bounded():
    n, size = 60_000, 120           # ~7 MB of input
    tracemalloc.start()
    count = 0
    for off, rec in iter_records(_Generated(n, size), "rdw", chunk_size=1 << 16):
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == n
    assert peak < 2 * 2 ** 20, peak   # a few chunks, not the 7 MB input


def test_detect_record_format(cobrix_dir):
    from trainbook.mainframe.records import detect_record_format
    from trainbook.mainframe.real import REAL_FILES
    for name in ("test5", "test5b", "test17"):
        spec = REAL_FILES[name]
        assert str(detect_record_format(cobrix_dir / spec.data)) == spec.record_format
    assert detect_record_format(cobrix_dir / REAL_FILES["test9"].data) is None     # fixed-length: nothing to detect
    for fmt in ("rdw", "rdw-le", "bdw-excl"):
        assert str(detect_record_format(encode_records([b"abc", b"defgh", b"ij"] * 20, fmt, block_size=60))) == fmt


@pytest.mark.parametrize("spec", ["fixed:²", "fixed:٣", "rdw,start=²", "rdw,end=٣"])
def test_record_formats_with_non_ascii_digits_are_refused(spec):
    with pytest.raises(UserError, match="bad record format"):
        parse_record_format(spec)
