import json
import pytest
from trainbook.core.errors import DataError, UserError
from trainbook.mainframe.codecs import (CODEPAGES, EVIDENCE_BYTES, EVIDENCE_CHARS, NEUTRAL_CHARS, decode, encode,
                                        normalize_codepage, pairwise_differences, has_codepage_evidence, evidence_level,
                                        codepage_candidates, printable_ratio_codepage, cobrix_render, COBRIX_CP273_DIFFERENCES)

TEST9_TEXT_FIELDS = [("CURRENCY", 0, 3), ("SIGNATURE", 3, 8), ("COMPANY_NAME_NP", 11, 15), ("COMPANY_ID", 26, 10)]


@pytest.mark.parametrize("cp", ["cp037", "cp273", "cp500"])
def test_golden_test9_text_fields(cobrix_dir, cp):
    data = (cobrix_dir / "test9_data" / "TRAN.APR14.NPT.DATA.dat").read_bytes()
    rows = [json.loads(l) for l in (cobrix_dir / "test9_expected" / f"test9_{cp}.txt").read_text(encoding="utf-8").split("\n") if l]
    assert len(rows) == 60 and len(data) == 45 * 1000
    for i, row in enumerate(rows):
        rec = data[i * 45:(i + 1) * 45]
        for name, off, n in TEST9_TEXT_FIELDS:
            assert cobrix_render(decode(rec[off:off + n], cp), cp) == row[name], (cp, i, name)


def test_golden_needs_the_cp273_difference(cobrix_dir):
    "Without the documented 0xBC difference the cp273 golden test must fail: the test can fail."
    data = (cobrix_dir / "test9_data" / "TRAN.APR14.NPT.DATA.dat").read_bytes()
    rows = [json.loads(l) for l in (cobrix_dir / "test9_expected" / "test9_cp273.txt").read_text(encoding="utf-8").split("\n") if l]
    raw = [decode(data[i * 45 + 11:i * 45 + 26], "cp273") for i in range(len(rows))]
    assert any("\u203e" in r for r in raw) and all("\u203e" not in r["COMPANY_NAME_NP"] for r in rows)
    assert COBRIX_CP273_DIFFERENCES == {0xBC: ("\u203e", "\u00af")}


def test_tables_facts():
    assert len(EVIDENCE_BYTES) == 26
    d = pairwise_differences()
    assert d[("cp037", "cp500")] == 7 and d[("cp037", "cp1047")] == 8 and d[("cp037", "cp273")] == 22
    assert d[("cp500", "cp1047")] == 10 and d[("cp273", "cp500")] == 17 and d[("cp273", "cp1047")] == 25
    for cp in CODEPAGES:
        assert encode(decode(bytes(range(256)), cp), cp) == bytes(range(256))
        assert set("!@[]^{}|~¢¬äöüß") <= EVIDENCE_CHARS[cp]
    assert decode(b"\x15\x25", "cp1047") == "\n\x85"   # the ebcdic package's newline convention


def test_normalize_and_errors():
    assert normalize_codepage("IBM-037") == "cp037" and normalize_codepage("1047") == "cp1047"
    with pytest.raises(UserError, match="supported"):
        normalize_codepage("utf-8")
    with pytest.raises(DataError, match="cannot be encoded"):
        encode("Ω", "cp037")


def test_evidence_levels():
    assert not has_codepage_evidence(encode("ACME CORP 12345", "cp037"))
    assert evidence_level(encode("Hi!", "cp037"), "cp037") == "partial"
    assert codepage_candidates(encode("Hi!", "cp037"), "cp037") == {"cp037", "cp1047"}
    for cp in CODEPAGES:
        assert evidence_level(encode("ref [A-1] ¬x", cp), cp) == "full"
    assert set("ABCXYZ0189 ") <= NEUTRAL_CHARS


def test_printable_ratio_baseline():
    out = printable_ratio_codepage([encode("PLAIN TEXT 1", "cp500"), encode("a [b] c", "cp500"), b""])
    assert out[0] == ("cp037", 0.25)          # tie -> cp037 at the prior
    assert out[1][0] == "cp500" and out[1][1] > 0.25
    assert out[2] == ("cp037", 0.25)


@pytest.mark.parametrize("name", ["cp²", "²³⁷", "cp٠٣٧"])
def test_codepage_names_with_non_ascii_digits_are_refused(name):
    with pytest.raises(UserError, match="unknown codepage"):
        normalize_codepage(name)
