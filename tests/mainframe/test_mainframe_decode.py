"Decoding: copybook decode of a Cobrix file against Cobrix's expected output; predicted-layout decode values and CLI."
import dataclasses, json
from pathlib import Path
import numpy as np
import pytest
from trainbook.mainframe.autodecode import decode_predicted_file, decode_result, decode_span
from trainbook.mainframe.codecs import cobrix_render, encode
from trainbook.mainframe.fields import encode_binary, encode_packed, encode_zoned
from trainbook.mainframe.infer import InferenceResult, TagSpan
from trainbook.mainframe.records import encode_records
from test_mainframe_multitask import run_cli


def _json_stream(text):
    "Concatenated JSON objects (Cobrix writes raw control characters inside strings, so no line splitting)."
    dec, i, out = json.JSONDecoder(strict=False), 0, []
    while True:
        while i < len(text) and text[i] in " \t\r\n": i += 1
        if i >= len(text): return out
        obj, i = dec.raw_decode(text, i); out.append(obj)


@pytest.mark.parametrize("cp", ["cp037", "cp273", "cp500"])
def test_copybook_decode_matches_cobrix_test9(cobrix_dir, cp):
    from trainbook.mainframe.copybook import read_copybook
    from trainbook.mainframe.decode import decode_file
    exp = cobrix_dir / "test9_expected" / f"test9_{cp}.txt"
    if not exp.exists(): pytest.skip(f"{exp} not available")
    expected = _json_stream(exp.read_text(encoding="utf-8"))
    lay = read_copybook(cobrix_dir / "test9_copybook.cob")
    rows = list(decode_file(cobrix_dir / "test9_data" / "TRAN.APR14.NPT.DATA.dat", lay, "fixed", cp))
    assert len(rows) == 1000 and len(expected) >= 50   # Cobrix wrote the first records
    for got, want in zip(rows, expected):
        g = {k.split(".")[-1].replace("-", "_"): v for k, v in got["fields"].items()}
        assert float(g["AMOUNT"]) == pytest.approx(want["AMOUNT"]) and g["WEALTH_QFY"] == want["WEALTH_QFY"]
        for k in ("CURRENCY", "SIGNATURE", "COMPANY_ID"):   # plain text fields (the codec golden test covers the rest)
            assert g[k].strip(" \x00") == want[k].strip(" \x00"), (k, g[k], want[k])


def test_decode_span_values():
    assert decode_span(encode("Müller  ", "cp273"), "TEXT", "cp273") == ("Müller", None)
    assert decode_span(encode_zoned(-901, 5), "ZONED", "cp037") == (-901, None)
    assert decode_span(encode_packed(123456789, 9), "PACKED", "cp037") == (123456789, None)
    assert decode_span(encode_binary(-2, 9), "BINARY", "cp037") == (-2, None)
    v, err = decode_span(b"\xf1\x42", "ZONED", "cp037")
    assert v is None and err


def test_decode_result_uses_payload_offsets():
    payload = encode("ACME CORP ", "cp500") + encode_packed(-5, 3) + encode_binary(300, 4)
    stored = b"\x00\x14\x00\x00" + payload
    spans = [TagSpan(0, 4, "RDW"), TagSpan(4, 14, "TEXT"), TagSpan(14, 16, "PACKED"), TagSpan(16, 18, "BINARY")]
    r = InferenceResult(0, 0, len(stored), 4, "cp500", 0.9, {}, spans, [s.start for s in spans])
    out = decode_result(stored, r, "cp500")
    assert [(f["start"], f["end"], f["tag"], f["value"]) for f in out] == [(0, 10, "TEXT", "ACME CORP"), (10, 12, "PACKED", -5), (12, 14, "BINARY", 300)]


def test_predicted_decode_stream_and_cli(ckpt, tmp_path, capsys):
    recs = [encode(f"CUSTOMER {i:04d}    ", "cp037") + encode_packed(i * 7, 5) + encode_zoned(i, 4) for i in range(30)]
    f = tmp_path / "d.rdw"; f.write_bytes(encode_records(recs, "rdw"))
    rows = list(decode_predicted_file(f, ckpt, "rdw", include_pad=True))
    assert [r["length"] for r in rows] == [len(x) for x in recs] and rows[1]["offset"] == 4 + len(recs[0]) + 4
    for r in rows:   # fields tile the payload whatever the model predicted
        assert r["fields"][0]["start"] == 0 and r["fields"][-1]["end"] == r["length"]
        assert all(a["end"] == b["start"] for a, b in zip(r["fields"], r["fields"][1:]))
    rc, out, err = run_cli(["mainframe", "decode", "--checkpoint", str(ckpt), "--record-format", "rdw", "--codepage", "cp500", str(f)], capsys)
    assert rc == 0 and len(out.splitlines()) == 30 and json.loads(out.splitlines()[0])["codepage"] == "cp500"
    t = tmp_path / "t.rdw"; t.write_bytes(f.read_bytes()[:-4])
    rc, out, err = run_cli(["mainframe", "decode", "--checkpoint", str(ckpt), "--record-format", "rdw", str(t)], capsys)
    assert rc == 2 and "byte offset" in err and "Traceback" not in err


def test_copybook_decode_cli_still_works(cobrix_dir, ckpt, capsys):
    rc, out, err = run_cli(["mainframe", "decode", "--copybook", str(cobrix_dir / "test9_copybook.cob"), "--max-records", "3",
                            str(cobrix_dir / "test9_data" / "TRAN.APR14.NPT.DATA.dat")], capsys)
    assert rc == 0 and len(out.splitlines()) == 3
