from decimal import Decimal, Context
import pytest
from hypothesis import given, strategies as st, settings
from trainbook.core.errors import DataError
from trainbook.mainframe.fields import (encode_packed, decode_packed, encode_zoned, decode_zoned, encode_binary,
                                        decode_binary, binary_size, packed_size, decode_ibm_float, encode_ibm_float,
                                        to_five_class, ZONED, TEXT)


@settings(max_examples=200, deadline=None)
@given(digits=st.integers(1, 31), scale=st.integers(0, 6), data=st.data())
def test_packed_roundtrip(digits, scale, data):
    u = data.draw(st.integers(-(10 ** digits - 1), 10 ** digits - 1))
    v = Decimal(u).scaleb(-scale, context=Context(prec=100))
    b = encode_packed(v, digits, scale)
    assert len(b) == packed_size(digits)
    assert decode_packed(b, scale) == v


@settings(max_examples=200, deadline=None)
@given(digits=st.integers(1, 18), scale=st.integers(0, 4), leading=st.booleans(), separate=st.booleans(), data=st.data())
def test_zoned_roundtrip(digits, scale, leading, separate, data):
    u = data.draw(st.integers(-(10 ** digits - 1), 10 ** digits - 1))
    v = Decimal(u).scaleb(-scale, context=Context(prec=100))
    b = encode_zoned(v, digits, scale, True, leading, separate)
    assert len(b) == digits + separate
    assert decode_zoned(b, scale, True, leading, separate) == v


@settings(max_examples=200, deadline=None)
@given(digits=st.integers(1, 38), signed=st.booleans(), le=st.booleans(), data=st.data())
def test_binary_roundtrip(digits, signed, le, data):
    lo = -(10 ** digits - 1) if signed else 0
    u = data.draw(st.integers(lo, 10 ** digits - 1))
    b = encode_binary(u, digits, 0, signed, le)
    assert len(b) == binary_size(digits)
    assert decode_binary(b, 0, signed, le) == u


def test_known_encodings():
    assert encode_packed(-12345, 5) == b"\x12\x34\x5d"
    assert encode_zoned(-123, 3) == b"\xf1\xf2\xd3"
    assert encode_binary(-2, 4) == b"\xff\xfe"
    assert [binary_size(d) for d in (4, 9, 18, 19, 37)] == [2, 4, 8, 9, 16]
    assert decode_ibm_float(b"\xc2\x76\xa0\x00") == -118.625
    assert decode_ibm_float(encode_ibm_float(0.15625, 8)) == 0.15625
    assert to_five_class([ZONED]).tolist() == [TEXT]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=12))
def test_decoders_only_raise_data_errors(b):
    for fn in (lambda: decode_packed(b, 2), lambda: decode_zoned(b, 0, True), lambda: decode_zoned(b, 1, True, True, True),
               lambda: decode_binary(b), lambda: decode_ibm_float(b)):
        try:
            fn()
        except DataError:
            pass


def test_encoder_errors():
    with pytest.raises(DataError):
        encode_packed(10 ** 5, 5)
    with pytest.raises(DataError):
        encode_zoned(-1, 3, signed=False)
    with pytest.raises(DataError):
        encode_binary("abc", 4)
    with pytest.raises(DataError):
        encode_binary(float("nan"), 4)
