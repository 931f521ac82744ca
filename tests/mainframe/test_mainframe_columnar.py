"Columnar decoding: equal to the per-record decoder (random copybooks, corrupted bytes, Cobrix files), ASCII and compressed input, the fixed faults, atomic output."
import bz2, gzip, json, os, random, signal, subprocess, sys, time
from decimal import Decimal
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from trainbook.core.errors import DataError
from trainbook.mainframe.codecs import encode
from trainbook.mainframe.columnar import decode_table, decoded_rows, iter_decoded, plan_columns
from trainbook.mainframe.copybook import parse_copybook, parse_pic, read_copybook
from trainbook.mainframe.values import ASCII_TO_EBCDIC
from trainbook.mainframe.decode import decode_file
from trainbook.mainframe.fields import encode_binary, encode_packed, encode_zoned
from trainbook.mainframe.records import ReadStats, encode_records
from trainbook.mainframe.synth import random_copybook, synth_layout_record

CPS = ["cp037", "cp273", "cp500", "cp1047"]
WIDE = """       01  X.
           05  A  PIC S9PPPV COMP.
           05  B  PIC 9(3)PP COMP-3.
           05  C  COMP-1.
           05  D  COMP-2.
           05  E  PIC S9(20) COMP-3.
           05  F  PIC 9(25).
           05  G  PIC S9(3) COMP-9.
           05  H  PIC 9(18) COMP.
           05  I  PIC S9(30)V99 COMP-3.
           05  J  PIC +9(5).99.
           05  K  PIC 9(3) COMP-5.
           05  L  PIC S9(4) SIGN LEADING SEPARATE.
           05  M  PIC ZZ,ZZ9.99CR.
           05  N  PIC S9(21) COMP.
"""


def columnar_rows(data, lay, fmt, cp, **kw):
    "The columnar decode as the per-record decoder's rows, plus the reader stats (and any DataError)."
    stats = ReadStats(); plan = plan_columns(lay, kw.get("choose"), kw.get("all_branches", False))
    rows = []
    try:
        for d in iter_decoded(data, lay, fmt, cp, stats=stats, batch_records=kw.pop("batch_records", 5), **kw):
            rows += decoded_rows(d, plan)
    except DataError as e: return rows, stats, e
    return rows, stats, None


def reference_rows(data, lay, fmt, cp, **kw):
    stats = ReadStats(); rows = []
    try:
        for r in decode_file(data, lay, fmt, cp, kw.get("choose"), kw.get("all_branches", False), kw.get("on_error", "fail"),
                             stats, None, kw.get("float_format", "ibm"), kw.get("trim", "right")):
            rows.append(r)
    except DataError as e: return rows, stats, e
    return rows, stats, None


def assert_same(data, lay, fmt, cp, **kw):
    want, s1, e1 = reference_rows(data, lay, fmt, cp, **kw)
    got, s2, e2 = columnar_rows(data, lay, fmt, cp, **kw)
    assert (e1 is None) == (e2 is None), (e1, e2)
    if e1 is not None:
        assert (e1.path, e1.offset) == (e2.path, e2.offset), (str(e1), str(e2))
        return
    assert got == want
    assert s1.errors == s2.errors and s1.records == s2.records


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 9), cp=st.sampled_from(CPS + ["ascii"]), all_branches=st.booleans(),
       on_error=st.sampled_from(["fail", "skip"]), trim=st.sampled_from(["right", "left", "both", "none"]),
       float_format=st.sampled_from(["ibm", "ieee"]), corrupt=st.integers(0, 4), wide=st.booleans())
def test_columnar_equals_per_record_decoder(seed, cp, all_branches, on_error, trim, float_format, corrupt, wide):
    rng = random.Random(seed)
    lay = parse_copybook(WIDE if wide else random_copybook(rng))
    recs = []
    for _ in range(rng.randint(1, 9)):
        if wide: rec = bytearray(rng.choice([0x40, 0xF0, 0xF5, 0xC3, 0xD9, 0x00, 0x4B, 0x6B, rng.randrange(256)]) for _ in range(lay.record_length))
        else: rec = bytearray(synth_layout_record(rng, lay, "cp037" if cp == "ascii" else cp, rng.choice(["en", "de", "plain"]), rng.random() < 0.5)[0])
        if cp == "ascii": rec = bytearray(bytes(rec).translate(bytes.maketrans(ASCII_TO_EBCDIC, bytes(range(256)))))
        for _ in range(corrupt): rec[rng.randrange(len(rec))] = rng.randrange(256)
        recs.append(bytes(rec))
    assert_same(encode_records(recs, "rdw"), lay, "rdw", cp, all_branches=all_branches, on_error=on_error, trim=trim,
                float_format=float_format)


from trainbook.mainframe.real import REAL_FILES


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_cobrix_files_both_paths(cobrix_dir, name):
    "Every bundled Cobrix file in its real record format, with its per-record segment selection (REDEFINES by segment id)."
    spec = REAL_FILES[name]
    lay = read_copybook(cobrix_dir / spec.copybook)
    cps = CPS[:3] if name == "test9" else [spec.codepage]
    for cp in cps:
        for choose in ([None, spec.choose] if spec.choose else [None]):
            for all_branches in (False, True):
                assert_same(cobrix_dir / spec.data, lay, spec.record_format, cp, choose=choose, all_branches=all_branches,
                            on_error="skip", float_format="ieee" if name == "test6" else "ibm", batch_records=64)
        assert_same(cobrix_dir / spec.data, lay, spec.record_format, cp, choose=spec.choose, on_error="fail", batch_records=64)
    rows, _, err = columnar_rows(cobrix_dir / spec.data, lay, spec.record_format, spec.codepage, choose=spec.choose, on_error="fail")
    assert err is None and len(rows) > 0


def _json_stream(text):
    dec, i, out = json.JSONDecoder(strict=False), 0, []
    while True:
        while i < len(text) and text[i] in " \t\r\n": i += 1
        if i >= len(text): return out
        obj, i = dec.raw_decode(text, i); out.append(obj)


@pytest.mark.parametrize("cp", CPS[:3])
def test_columnar_matches_cobrix_expected_test9(cobrix_dir, cp):
    exp = cobrix_dir / "test9_expected" / f"test9_{cp}.txt"
    if not exp.exists(): pytest.skip(f"{exp} not available")
    expected = _json_stream(exp.read_text(encoding="utf-8"))
    t = decode_table(cobrix_dir / "test9_data" / "TRAN.APR14.NPT.DATA.dat", read_copybook(cobrix_dir / "test9_copybook.cob"), "fixed", cp)
    rows = t.to_pylist()
    assert len(rows) == 1000 and t.schema.field("TRANSDATA.AMOUNT").type.scale == 2
    for got, want in zip(rows, expected):
        g = {k.split(".")[-1].replace("-", "_"): v for k, v in got.items()}
        assert float(g["AMOUNT"]) == pytest.approx(want["AMOUNT"]) and g["WEALTH_QFY"] == want["WEALTH_QFY"]
        for k in ("CURRENCY", "SIGNATURE", "COMPANY_ID"):
            assert g[k].strip(" \x00") == want[k].strip(" \x00")


def test_p_scaling_before_v_is_scale_minus_3():
    # a fault found on real files: S9PPPV COMP had scale 0
    assert parse_pic("S9PPPV").scale == -3 and parse_pic("9(2)PPV").scale == -2
    lay = parse_copybook("       01  R.\n           05  A  PIC S9PPPV COMP.\n           05  B  PIC 9(2)PPV COMP-3.\n")
    rec = encode_binary(-7, 4, signed=True) + encode_packed(42, 3, signed=False)
    want = {"R.A": -7000, "R.B": 4200}
    assert next(decode_file(rec, lay))["fields"] == want
    t = decode_table(rec, lay)
    assert t.to_pylist() == [want] and t.schema.field("R.A").type == pa.int64()


def test_all_branches_respects_occurs_depending_on():
    # a fault found on real files: --all-branches emitted every occurrence up to the maximum
    lay = parse_copybook("""       01  R.
           05  N        PIC 9(1).
           05  ITEM     OCCURS 1 TO 4 DEPENDING ON N PIC X(2).
           05  ALT      REDEFINES ITEM PIC X(8).
""")
    data = encode("2ABCD    ", "cp037") + encode("1EF      ", "cp037")
    want = [{"R.N": 2, "R.ITEM(1)": "AB", "R.ITEM(2)": "CD", "R.ALT": "ABCD"}, {"R.N": 1, "R.ITEM(1)": "EF", "R.ALT": "EF"}]
    assert [r["fields"] for r in decode_file(data, lay, "fixed", all_branches=True)] == want
    t = decode_table(data, lay, "fixed", all_branches=True)
    assert t.column("R.ITEM").to_pylist() == [["AB", "CD"], ["EF"]]
    assert_same(data, lay, "fixed", "cp037", all_branches=True, on_error="skip")


def test_ascii_file_reads_like_its_ebcdic_twin():
    lay = parse_copybook("""       01  R.
           05  NAME     PIC X(10).
           05  QTY      PIC S9(4).
           05  AMT      PIC S9(5)V99 COMP-3.
           05  SEP      PIC S9(3) SIGN LEADING SEPARATE.
""")
    rows = [("Zoë Brand", -12, Decimal("123.45"), 7), ("Ann", 4031, Decimal("-0.05"), -99)]
    ebc = b"".join(encode(n.ljust(10), "cp037") + encode_zoned(q, 4) + encode_packed(a, 7, 2) + encode_zoned(s, 3, sign_leading=True, sign_separate=True) for n, q, a, s in rows)
    to_ascii = bytes.maketrans(ASCII_TO_EBCDIC, bytes(range(256)))
    asc = b"".join(r[:14].translate(to_ascii) + r[14:18] + r[18:].translate(to_ascii) for r in (ebc[:22], ebc[22:]))
    assert asc[:10] == "Zoë Brand ".encode("latin-1") and asc[10:14] == b"001K"   # ASCII overpunch: K is -2
    want = decode_table(ebc, lay, "fixed", "cp037")
    assert decode_table(asc, lay, "fixed", "ascii").equals(want)
    assert [r["fields"] for r in decode_file(asc, lay, "fixed", "ascii")] == [r["fields"] for r in decode_file(ebc, lay, "fixed")]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bz2"])
def test_compressed_input_streams(cobrix_dir, tmp_path, compress):
    spec = REAL_FILES["test17"]
    lay, fmt = read_copybook(cobrix_dir / spec.copybook), spec.record_format
    raw = (cobrix_dir / spec.data).read_bytes()
    p = tmp_path / "dump.rdw.z"; p.write_bytes(compress(raw))
    want = decode_table(raw, lay, fmt, choose=spec.choose)
    assert want.num_rows > 100 and decode_table(p, lay, fmt, choose=spec.choose).equals(want)
    assert list(decode_file(p, lay, fmt, choose=spec.choose)) == list(decode_file(raw, lay, fmt, choose=spec.choose))
    cut = tmp_path / "cut.z"; cut.write_bytes(compress(raw)[:200])
    with pytest.raises(DataError, match="cut.z: corrupt or truncated"): decode_table(cut, lay, fmt)


def run_cli(args, **kw):
    return subprocess.run([sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, **kw)


def test_cli_formats_agree_and_errors_are_one_line(cobrix_dir, tmp_path):
    data, cb = cobrix_dir / "test1_data" / "example.bin", cobrix_dir / "test1_copybook.cob"
    outs = {}
    for fmt in ("parquet", "arrow", "csv", "jsonl"):
        out = tmp_path / f"o.{fmt}"
        r = run_cli(["mainframe", "decode", str(data), "--copybook", str(cb), "--output", str(out)])
        assert r.returncode == 0 and "decoded" in r.stderr and "MB/s" in r.stderr, r.stderr
        outs[fmt] = out
    t = pq.read_table(outs["parquet"])
    assert pa.ipc.open_file(outs["arrow"]).read_all().equals(t)
    assert [json.loads(l)["fields"] for l in outs["jsonl"].read_text().splitlines()] == [r["fields"] for r in decode_file(data, read_copybook(cb))]
    assert len(outs["csv"].read_text().splitlines()) == t.num_rows + 1
    bad = tmp_path / "bad.bin"; raw = bytearray(data.read_bytes()); raw[2202 * 3 + 41] = 0x12; bad.write_bytes(raw)   # a packed sign nibble in record 4
    before = outs["parquet"].read_bytes()
    r = run_cli(["mainframe", "decode", str(bad), "--copybook", str(cb), "--output", str(outs["parquet"])])
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f"{bad}: byte offset" in r.stderr and "record " in r.stderr
    assert outs["parquet"].read_bytes() == before and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    r = run_cli(["mainframe", "decode", str(bad), "--copybook", str(cb), "--output", str(tmp_path / "s.parquet"), "--on-error", "skip"])
    assert r.returncode == 0 and "invalid values left null: " in r.stderr, r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_sigterm_leaves_no_partial_output(tmp_path):
    lay_text = "       01  R.\n           05  A  PIC X(8).\n"
    (tmp_path / "r.cob").write_text(lay_text)
    fifo = tmp_path / "in.fifo"; os.mkfifo(fifo)
    out = tmp_path / "out.parquet"
    p = subprocess.Popen([sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main(sys.argv[1:]))",
                          "mainframe", "decode", str(fifo), "--copybook", str(tmp_path / "r.cob"), "--output", str(out),
                          "--batch-records", "1"], stderr=subprocess.PIPE, text=True)
    with open(fifo, "wb") as w:
        w.write(encode("RECORD01" * 4, "cp037")); w.flush()
        deadline = time.time() + 60
        while not any(x.name.endswith(".tmp") for x in tmp_path.iterdir()) and time.time() < deadline: time.sleep(0.05)
        assert any(x.name.endswith(".tmp") for x in tmp_path.iterdir()), "the decoder never started writing"
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM and "Traceback" not in p.stderr.read()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.fifo", "r.cob"]


def test_decode_infer_copybook_then_columnar(ckpt, tmp_path):
    "`decode --infer`: a copybook inferred from a sample, then the whole file decoded with it (rows = records)."
    recs = [encode(f"CUSTOMER {i:04d}    ", "cp037") + encode_packed(i * 7, 5) + encode_zoned(i, 4) for i in range(40)]
    f = tmp_path / "d.rdw"; f.write_bytes(encode_records(recs, "rdw"))
    out, cob = tmp_path / "d.parquet", tmp_path / "d.cob"
    r = run_cli(["mainframe", "decode", str(f), "--infer", "--checkpoint", str(ckpt), "--record-format", "rdw",
                 "--output", str(out), "--save-copybook", str(cob), "--on-error", "skip"])
    assert r.returncode == 0, r.stderr
    assert "inferred copybook from" in r.stderr and pq.read_table(out).num_rows == 40
    assert read_copybook(cob).record_length == len(recs[0]) and (tmp_path / "d.json").exists()
    r = run_cli(["mainframe", "decode", str(f), "--infer", "--record-format", "rdw", "--output", str(out)])
    assert r.returncode == 2 and "--infer needs --checkpoint" in r.stderr
