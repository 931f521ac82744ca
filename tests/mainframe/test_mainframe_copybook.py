import pytest
from hypothesis import given, strategies as st, settings, HealthCheck
from trainbook.core.errors import DataError, UserError
from trainbook.mainframe.copybook import (COBRIX_LAYOUT_ORACLES, parse_cobrix_layout_table, layout_rows, read_copybook,
                                          parse_copybook, layout_to_labels, parse_pic)
from trainbook.mainframe.fields import TEXT, PACKED, BINARY, ZONED, PAD


@pytest.mark.parametrize("copybook", sorted(COBRIX_LAYOUT_ORACLES))
def test_cobrix_layout_oracle(cobrix_dir, copybook):
    want = parse_cobrix_layout_table((cobrix_dir / COBRIX_LAYOUT_ORACLES[copybook]).read_text())
    lay = read_copybook(cobrix_dir / copybook)
    assert len(want) > 10
    assert layout_rows(lay) == want
    # and the whole table, attributes (r/R) included, character for character
    assert lay.table() == (cobrix_dir / COBRIX_LAYOUT_ORACLES[copybook]).read_text().rstrip("\n")


def test_every_layout_file_has_an_oracle(cobrix_dir):
    "A new *_layout.txt in the Cobrix folder must get an oracle test."
    tables = {str(p.relative_to(cobrix_dir)) for p in cobrix_dir.glob("*/*_layout.txt")}
    assert tables == set(COBRIX_LAYOUT_ORACLES.values())


@pytest.mark.parametrize("name,length", [("test1_copybook.cob", 2202), ("test5_copybook.cob", 64), ("test9_copybook.cob", 45),
                                         ("test13b_vrl_file_headers.cob", 64), ("test16_fix_len_segments.cob", 64),
                                         ("test17_hierarchical.cob", 108), ("test6_copybook.cob", 1493)])
def test_record_lengths_match_data(cobrix_dir, name, length):
    assert read_copybook(cobrix_dir / name).record_length == length


def test_test1_occurs_depending(cobrix_dir):
    lay = read_copybook(cobrix_dir / "test1_copybook.cob")
    accts = [f for f in lay.fields if f.name == "ACCOUNT-NUMBER"]
    assert len(accts) == 80 and accts[1].offset - accts[0].offset == 27 and accts[2].odo == (("NUMBER-OF-ACCTS", 3),)
    assert [f for f in lay.fields if f.name == "NUMBER-OF-ACCTS"][0].type == "packed"
    assert (cobrix_dir / "test1_data" / "example.bin").stat().st_size % lay.record_length == 0


def test_labels_and_types():
    lay = parse_copybook("""
       01  R.
           05  A      PIC X(3).
           05  B      PIC S9(5) COMP-3.
           05  C      PIC 9(4)  BINARY.
           05  D      PIC S9(3)V9 SIGN LEADING SEPARATE.
           05  E      PIC ZZ9.99-.
           05  F      COMP-2.
""")
    assert [(f.type, f.length) for f in lay.fields] == [("alphanumeric", 3), ("packed", 3), ("binary", 2), ("zoned", 5), ("edited", 7), ("float", 8)]
    tags, bnd = layout_to_labels(lay, lay.record_length + 2)
    assert tags.tolist() == [TEXT] * 3 + [PACKED] * 3 + [BINARY] * 2 + [ZONED] * 5 + [TEXT] * 7 + [BINARY] * 8 + [PAD] * 2
    assert bnd.nonzero()[0].tolist() == [0, 3, 6, 8, 13, 20]


BAD = {
    "       01  R.\n           05  A PIC X(3) SYNC.\n": "line 2",
    "       01  R.\n           05  A PIC N(3).\n": "national",
    "       01  R.\n           05  A PIC X(3)\n": "no terminating period",
    "       01  R.\n           05  A PIC 9(3) USAGE INDEX.\n": "INDEX is not supported",
    "       01  R.\n           05  A VALUE 'abc.\n": "unterminated literal",
    "       01  R.\n           05  A PIC X(3).\n           05  B REDEFINES Z PIC X.\n": "line 3",
    "": "no data description",
}


@pytest.mark.parametrize("text,msg", list(BAD.items()))
def test_bad_copybooks(text, msg):
    with pytest.raises(DataError, match=msg):
        parse_copybook(text, path="x.cob")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such copybook"):
        read_copybook(tmp_path / "nope.cob")


_words = st.sampled_from(["01", "05", "10", "88", "66", "77", "PIC", "X(3)", "9(4)", "S9(5)V99", "COMP-3", "COMP", "BINARY",
                          "OCCURS", "3", "TIMES", "DEPENDING", "ON", "REDEFINES", "A", "B", "FILLER", "VALUE", "'x'",
                          "SIGN", "LEADING", "SEPARATE", ".", "COMP-1", "USAGE", "IS", "TO", "PPP9", "Z(4)-", "SYNC", "(", "'"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_words, min_size=1, max_size=8), min_size=0, max_size=8), st.booleans())
def test_parser_random_statements_only_user_errors(stmts, free):
    lines = [("" if free else "       ") + " ".join(s) + ("" if s[-1] == "." else ".") for s in stmts]
    try:
        lay = parse_copybook("\n".join(lines))
    except UserError:
        return
    assert lay.record_length >= 0
    for f in lay.fields:
        assert 0 <= f.offset and f.end <= lay.record_length


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_parser_random_text_only_user_errors(text):
    try:
        parse_copybook(text)
    except UserError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="X9AS VP()Z.+-,$*B0/CRDB1234567890N", max_size=12))
def test_pic_random_only_data_errors(pic):
    try:
        p = parse_pic(pic)
    except DataError:
        return
    assert p.display_size >= 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_copybooks(cobrix_dir, data):
    name = data.draw(st.sampled_from(sorted(p.name for p in cobrix_dir.glob("*.cob"))))
    text = (cobrix_dir / name).read_text()
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 20)))
    junk = data.draw(st.text(max_size=10))
    try:
        parse_copybook(text[:i] + junk + text[j:])
    except UserError:
        pass


@pytest.mark.parametrize("text, expected", [
    ("       ²  X PIC X(3).\n", "expected a level number, got '²'"),
    ("       01  X PIC X(3) OCCURS ² TIMES.\n", "expected an OCCURS count, got '²'"),
    ("       01  X PIC X(3) OCCURS ٣ TIMES.\n", "expected an OCCURS count"),
])
def test_non_ascii_digits_are_not_numbers(text, expected):
    # str.isdigit() accepts superscripts and other scripts' digits; a copybook number is ASCII digits only
    # (hypothesis found '²' crashing int() with a traceback instead of a DataError naming the line)
    with pytest.raises(DataError, match=expected) as e:
        parse_copybook(text)
    assert "line 1" in str(e.value)
