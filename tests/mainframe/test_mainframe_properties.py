"Property tests: random and mutated inputs to the decoders, the copybook-driven synthesis and the labels."
import random
from hypothesis import given, strategies as st, settings, HealthCheck
from trainbook.core.errors import UserError
from trainbook.mainframe.copybook import parse_copybook, read_copybook, layout_to_labels
from trainbook.mainframe.values import record_fields
from trainbook.mainframe.decode import decode_file
from trainbook.mainframe.records import ReadStats, encode_records, read_records
from trainbook.mainframe.synth import random_copybook, synth_layout_record
from trainbook.mainframe.fields import PAD

FMTS = ["rdw", "rdw-le", "rdw-excl", "bdw", "fixed"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), name=st.sampled_from(["test1_copybook.cob", "test5_copybook.cob", "test6_copybook.cob",
                                                          "test9_copybook.cob", "test17_hierarchical.cob"]),
       fmt=st.sampled_from(FMTS), on_error=st.sampled_from(["fail", "skip"]), all_branches=st.booleans())
def test_decode_random_bytes(cobrix_dir, data, name, fmt, on_error, all_branches):
    lay = read_copybook(cobrix_dir / name)
    stats = ReadStats()
    try:
        for row in decode_file(data, lay, fmt, "cp037", None, all_branches, on_error, stats):
            assert set(row) == {"offset", "length", "fields"}
    except UserError:
        assert on_error == "fail"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), cp=st.sampled_from(["cp037", "cp273", "cp500", "cp1047"]),
       style=st.sampled_from(["en", "de", "plain"]), variable=st.booleans())
def test_random_copybooks_label_and_decode(seed, cp, style, variable):
    rng = random.Random(seed)
    lay = parse_copybook(random_copybook(rng))
    rec, used, choose = synth_layout_record(rng, lay, cp, style, variable)
    tags, bnd = layout_to_labels(lay, len(rec), fields=used)
    assert len(tags) == len(rec) and bnd[0] == 1
    assert sorted((f.offset, f.end) for f in record_fields(lay, rec, choose, cp)) == sorted((f.offset, f.end) for f in used)
    rows = list(decode_file(encode_records([rec], "rdw"), lay, "rdw", cp, choose, on_error="fail"))
    assert len(rows) == 1
    covered = sum(f.length for f in used if f.end <= len(rec))
    assert int((tags != PAD).sum()) == covered   # fields never overlap within one branch choice


@settings(max_examples=100, deadline=None)
@given(recs=st.lists(st.binary(min_size=1, max_size=50), max_size=40), k=st.integers(0, 45),
       fmt=st.sampled_from(["rdw", "rdw-le-excl", "bdw"]))
def test_max_records(recs, k, fmt):
    data = encode_records(recs, fmt)
    assert read_records(data, fmt, max_records=k) == recs[:k]
