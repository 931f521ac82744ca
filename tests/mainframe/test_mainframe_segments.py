"Segment decoding of the tagger's per-byte probabilities: exact tilings, format rules, tuning on validation data, the checkpoint's decode in infer."
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from trainbook.core.artifacts import load_torch
from trainbook.core.config import to_dict
from trainbook.core.errors import UserError
from trainbook.mainframe.fields import BINARY, PACKED, RDW, TEXT, ZONED, TAG_NAMES, encode_packed, encode_zoned
from trainbook.mainframe.multitask import TaggedRecord
from trainbook.mainframe.tagger import RecordPrediction, load_multitask
from trainbook.mainframe.segments import DecodeConfig, decode_fields, predicted_labels, tune_decode
from trainbook.mainframe.spans import spans_from_labels, tagging_metrics

T = len(TAG_NAMES)


def prediction(gold_tags, gold_bnd, tag_conf=0.9, bnd_conf=0.97, seed=0, noise=0.0):
    "A prediction that puts `tag_conf` on the gold tag and `bnd_conf` on gold starts, plus optional random noise."
    rng = np.random.default_rng(seed)
    n = len(gold_tags)
    tp = np.full((n, T), (1 - tag_conf) / (T - 1), np.float32); tp[np.arange(n), gold_tags] = tag_conf
    bp = np.where(np.asarray(gold_bnd) == 1, bnd_conf, 1 - bnd_conf).astype(np.float32)
    if noise:
        tp = tp + rng.random(tp.shape).astype(np.float32) * noise; tp /= tp.sum(1, keepdims=True)
        bp = np.clip(bp + (rng.random(n).astype(np.float32) - 0.5) * noise, 0, 1)
    return RecordPrediction(tp, bp, np.log(np.full(4, 0.25)))


def labels(fields):
    "(bytes, tags, boundaries) of a list of (bytes, tag) fields."
    data = b''.join(f for f, _ in fields)
    tags = np.concatenate([np.full(len(f), t, np.uint8) for f, t in fields])
    bnd = np.zeros(len(data), np.uint8); o = 0
    for f, _ in fields: bnd[o] = 1; o += len(f)
    return data, tags, bnd


def test_confident_prediction_decodes_to_the_gold_fields():
    data, tags, bnd = labels([(b'\xc1\xc2\xc3\x40\x40', TEXT), (encode_packed(-123, 5), PACKED), (encode_zoned(42, 4), ZONED),
                              (b'\x00\x00\x01\x02', BINARY), (b'\xc4\xc5', TEXT)])
    t, b = decode_fields(prediction(tags, bnd), data)
    assert spans_from_labels(t, b) == spans_from_labels(tags, bnd)


def test_packed_fields_are_split_at_their_sign_nibble():
    # two adjacent packed fields, the boundary head unsure (0.3) between them: the first ends in a sign nibble (C),
    # so a single 6-byte packed field would break the format rule
    data, tags, bnd = labels([(encode_packed(12345, 5), PACKED), (encode_packed(678, 5), PACKED)])
    p = prediction(tags, bnd); p.boundary_probs[3] = 0.3
    t, b = decode_fields(p, data)
    assert spans_from_labels(t, b) == [(0, 3, PACKED), (3, 6, PACKED)]
    t0, b0 = predicted_labels(p)   # the per-byte reading misses it
    assert spans_from_labels(t0, b0) == [(0, 6, PACKED)]
    # without the format rules the decoder has no reason to cut either
    t1, b1 = decode_fields(p, data, dc=DecodeConfig(penalty=0.0))
    assert spans_from_labels(t1, b1) == [(0, 6, PACKED)]


def test_binary_fields_have_binary_sizes():
    # 4 binary bytes then text; the boundary head is split between offsets 3 and 4: a 4-byte field wins
    data, tags, bnd = labels([(b'\x00\x00\x30\x39', BINARY), (b'\xc1\xc2\xc3', TEXT)])
    p = prediction(tags, bnd); p.boundary_probs[3] = 0.45; p.boundary_probs[4] = 0.45
    p.tag_probs[3] = p.tag_probs[4]        # the byte at 3 looks like text to the tag head
    t, b = decode_fields(p, data)
    assert spans_from_labels(t, b)[:2] == [(0, 4, BINARY), (4, 7, TEXT)]


def test_rdw_header_is_one_field_and_payload_never_rdw():
    data, tags, bnd = labels([(b'\x00\x0b\x00\x00', RDW), (b'\xc1\xc2\xc3', TEXT), (encode_packed(5, 3), PACKED)])
    p = prediction(tags, bnd)
    p.tag_probs[5, :] = 0; p.tag_probs[5, RDW] = 1.0    # the tag head wrongly says RDW inside the payload
    t, b = decode_fields(p, data, header_length=4)
    sp = spans_from_labels(t, b)
    assert sp[0] == (0, 4, RDW) and all(tag != RDW for _, _, tag in sp[1:]) and sp[1][0] == 4


def test_length_mismatch_is_an_error():
    data, tags, bnd = labels([(b'\xc1\xc2\xc3', TEXT)])
    with pytest.raises(UserError, match="prediction of 3"):
        decode_fields(prediction(tags, bnd), data + b'\x40')


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(0, 2**31 - 1), st.sampled_from([0, 4]),
       st.sampled_from([DecodeConfig(), DecodeConfig(boundary_bias=1.0, tag_weight=1.0), DecodeConfig(max_swallow=2),
                        DecodeConfig(max_candidates=3), DecodeConfig(method='argmax', threshold=0.3)]))
def test_any_prediction_decodes_to_an_exact_tiling(data, seed, header, dc):
    rng = np.random.default_rng(seed)
    n = len(data)
    tp = rng.random((n, T)).astype(np.float32); tp /= np.maximum(tp.sum(1, keepdims=True), 1e-9)
    p = RecordPrediction(tp, rng.random(n).astype(np.float32), np.log(np.full(4, 0.25)))
    t, b = decode_fields(p, data, header, dc)
    assert len(t) == len(b) == n
    sp = spans_from_labels(t, b)
    if n:
        assert sp[0][0] == 0 and sp[-1][1] == n and all(a[1] == c[0] for a, c in zip(sp, sp[1:]))
        h = header if n > header else 0
        if h: assert sp[0] == (0, h, RDW) and sp[1][0] == h
        assert all(tag != RDW for s, _, tag in sp if s >= h)


def test_tune_decode_picks_the_best_on_the_given_records():
    recs = []
    for k in range(20):
        data, tags, bnd = labels([(encode_packed(k + 1, 5), PACKED), (encode_packed(7 * k, 3), PACKED), (b'\xc1\xc2\xc3', TEXT)])
        recs.append(TaggedRecord(data, tags, bnd, 'cp037', 'none', 'synthetic-flat'))
    preds = []
    for r in recs:
        p = prediction(r.tags, r.boundaries); p.boundary_probs[3] = 0.2; preds.append(p)
    dc, rows = tune_decode(preds, recs)
    assert len(rows) == 20 and dc.method == 'segments'
    best = max(r["boundary_f1"] for r in rows)
    got = tagging_metrics([(r.tags, r.boundaries) for r in recs], [decode_fields(p, r.data, 0, dc) for r, p in zip(recs, preds)])
    assert got["boundary_f1"] == pytest.approx(best) and best == pytest.approx(1.0)
    assert max(r["boundary_f1"] for r in rows if r["method"] == "argmax") < 1.0


def test_checkpoint_carries_its_decode_and_infer_uses_it(ckpt, tmp_path):
    import torch
    from trainbook.core.artifacts import save_torch
    from trainbook.mainframe.infer import infer_bytes
    from trainbook.mainframe.records import encode_records
    from trainbook.mainframe.synth import SynthConfig, generate_records
    ck = load_torch(ckpt)
    assert ck["decode"]["method"] in ("segments", "argmax")
    assert to_dict(load_multitask(ckpt).decode) == ck["decode"]
    dump = encode_records([r.data for r in generate_records(SynthConfig(n_records=20, seed=11))], 'rdw')
    # the same weights with another stored decode give the results of that decode
    ck2 = dict(ck, decode={**ck["decode"], "method": "argmax", "threshold": 0.5}); p2 = tmp_path / "argmax.pt"
    save_torch(p2, ck2)
    a = [r.to_dict() for r in infer_bytes(dump, p2)]
    b = [r.to_dict() for r in infer_bytes(dump, ckpt, boundary_threshold=0.5)]   # an explicit threshold = per-byte reading
    assert a == b
    # old checkpoints without a stored decode load with the default one
    ck3 = {k: v for k, v in ck.items() if k != "decode"}; p3 = tmp_path / "old.pt"; save_torch(p3, ck3)
    assert to_dict(load_multitask(p3).decode) == to_dict(DecodeConfig())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=0, max_size=200), st.sampled_from([0, 4])), min_size=1, max_size=12),
       st.integers(0, 2**31 - 1), st.sampled_from([1 << 21, 500]), st.sampled_from([32, 3]))
def test_batched_decode_equals_one_record_at_a_time(recs, seed, budget, max_swallow):
    "decode_many packs records of different sizes into padded chunks: each record's answer must not depend on its neighbours."
    from trainbook.mainframe.segments import decode_many
    rng = np.random.default_rng(seed)
    preds = []
    for data, _ in recs:
        n = len(data)
        tp = rng.random((n, T)).astype(np.float32) ** 4; tp /= np.maximum(tp.sum(1, keepdims=True), 1e-9)
        preds.append(RecordPrediction(tp, (rng.random(n) ** 3).astype(np.float32), np.log(np.full(4, 0.25))))
    dc = DecodeConfig(max_swallow=max_swallow)
    many = decode_many(preds, [d for d, _ in recs], [h for _, h in recs], dc, budget=budget)
    for (data, h), p, (t, b) in zip(recs, preds, many):
        t1, b1 = decode_many([p], [data], [h], dc)[0]
        assert np.array_equal(t, t1) and spans_from_labels(t, b) == spans_from_labels(t1, b1)


def _fits(f: bytes, tag: str) -> bool:
    "The spec's format rules, written out per field (the decoder computes them vectorised)."
    from trainbook.mainframe.spans import _DIGIT, _DIGIT_NIBBLES, _SIGN_BYTE
    from trainbook.mainframe.segments import _ZD_SIGN
    f = np.frombuffer(f, np.uint8)
    if tag == 'PACKED': return bool(_SIGN_BYTE[f[-1]] and _DIGIT_NIBBLES[f[:-1]].all())
    if tag == 'ZONED': return bool(_DIGIT[f].all() or (len(f) >= 2 and _DIGIT[f[:-1]].all() and _ZD_SIGN[f[-1]])
                                   or (len(f) >= 2 and _DIGIT[f[1:]].all() and _ZD_SIGN[f[0]]))
    if tag == 'BINARY': return len(f) in (2, 4, 8)
    return True


def _field_score(p, data, s, e, t, dc, eps=1e-6):
    "The documented objective of one field [s, e) with tag t (s = 0 is the payload start: no boundary term)."
    tp = np.clip(p.tag_probs[s:e, t].astype(np.float64), eps, 1); pb = np.clip(p.boundary_probs.astype(np.float64), eps, 1 - eps)
    score = dc.tag_weight * np.log(tp).sum() - (0.0 if _fits(data[s:e], TAG_NAMES[t]) else dc.penalty)
    return score + (0.0 if s == 0 else np.log(pb[s]) + dc.boundary_bias) + np.log1p(-pb[s + 1:e]).sum()


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=7), st.integers(0, 2**31 - 1))
def test_segment_decode_finds_the_best_tiling_by_brute_force(data, seed):
    "With every byte a candidate start, the dynamic programme must reach the best score over all 2^(n-1) tilings."
    import itertools
    rng = np.random.default_rng(seed)
    n = len(data)
    tp = rng.random((n, T)).astype(np.float32) ** 3; tp[:, RDW] = 0; tp /= tp.sum(1, keepdims=True)
    p = RecordPrediction(tp, rng.random(n).astype(np.float32), np.log(np.full(4, 0.25)))
    dc = DecodeConfig(candidate_min=0.0, max_swallow=100)
    t, b = decode_fields(p, data, 0, dc)
    got = sum(_field_score(p, data, s, e, tag, dc) for s, e, tag in spans_from_labels(t, b))
    payload_tags = [k for k in range(T) if k != RDW]
    best = -np.inf
    for cuts in itertools.product([0, 1], repeat=n - 1):
        starts = [0] + [i + 1 for i, c in enumerate(cuts) if c]
        # the tag of each field is chosen independently of the others: take each field's best
        best = max(best, sum(max(_field_score(p, data, s, e, k, dc) for k in payload_tags)
                             for s, e in zip(starts, starts[1:] + [n])))
    assert got == pytest.approx(best, abs=1e-6)
