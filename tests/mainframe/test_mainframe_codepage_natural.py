"""Issue 16: natural-text evaluation of the codepage head. Training and evaluation text never overlap, the
ceiling is computed right on hand-made records, and evidence-free records get the prior."""
import numpy as np
import pytest
import torch
from trainbook.mainframe.codecs import CODEPAGES, decode, encode
from trainbook.mainframe.charlm import CharNgramLM, codepage_posterior
from trainbook.mainframe.codepage import (CodepageModelConfig, CodepageClassifier, CodepagePredictor, CodepageTrainingConfig,
                                          LabelledRecords, build_training_data, load_codepage_predictor, set_report)
from trainbook.mainframe.natural import (TEXT_SOURCES, eval_lines, file_ceiling, german_words, natural_files, natural_records,
                                         record_ceiling, split_sources, training_lines)
from trainbook.core.artifacts import save_torch
from trainbook.core.config import to_dict


@pytest.fixture(scope="module")
def lines():
    return training_lines(), eval_lines()


@pytest.fixture(scope="module")
def lm(lines):
    (tr, _), _ = lines
    texts = [l for ls in tr.values() for l in ls]
    return CharNgramLM.fit(texts + [t.upper() for t in texts[::4]], order=4)


def test_sources_split_by_name_language_and_text(lines):
    (tr, va), ev = lines
    assert set(split_sources("train")).isdisjoint(split_sources("eval"))
    assert set(tr) == set(split_sources("train")) and set(ev) == set(split_sources("eval"))
    for lang in ("en", "de", "code"):   # each language has training and evaluation sources
        assert {TEXT_SOURCES[n].language for n in tr} >= {lang} and {TEXT_SOURCES[n].language for n in ev} >= {lang}
    train_text = {l for ls in tr.values() for l in ls}
    val_text = {l for ls in va.values() for l in ls}
    eval_text = {l for ls in ev.values() for l in ls}
    assert train_text and val_text and eval_text
    assert not train_text & eval_text and not val_text & eval_text and not train_text & val_text
    assert not set(german_words("a")[0]) & set(german_words("b")[0])


def test_training_records_use_training_sources_only():
    cfg = CodepageTrainingConfig(n_train=50, n_val=20, n_test=20, n_natural_train=200, n_natural_val=50)
    train, val, test = build_training_data(cfg)
    allowed = set(split_sources("train")) | {"synthetic"}
    assert set(train.source) <= allowed and set(val.source) <= allowed and set(test.source) == {"synthetic"}
    assert set(train.source) & set(split_sources("train"))


def test_ceiling_hand_made():
    # 'abc': same bytes and decode in all four codepages -> 1/4; 'Grüße' in cp273: unique -> 1;
    # '{x}' in cp037: braces are the same bytes in cp500 and cp1047 -> 1/3; binary byte outside the text mask -> ignored
    recs = [encode("abc", "cp037"), encode("Grüße", "cp273"), encode("{x}", "cp037"), encode("ab", "cp500") + b"\x4a"]
    masks = [None, None, None, np.array([True, True, False])]
    assert {cp for cp in CODEPAGES if decode(recs[2], cp) == "{x}"} == {"cp037", "cp500", "cp1047"}
    np.testing.assert_allclose(record_ceiling(recs, ["cp037", "cp273", "cp037", "cp500"], masks), [0.25, 1.0, 1 / 3, 0.25])
    assert file_ceiling([recs[2], encode("[1]", "cp037")], "cp037") == 1.0      # '[' splits cp037 from cp500 and cp1047
    assert file_ceiling([recs[2], recs[0]], "cp037") == pytest.approx(1 / 3)


def test_lm_names_natural_text(lm):
    recs = [encode("Grüße aus München", "cp273"), encode("x = d[k] if k else {}", "cp037"),
            encode("Hello! [see above]", "cp500"), encode("PÄCKCHEN FÜR HERRN MÜLLER", "cp1047")]
    post = codepage_posterior(lm.codepage_log_likelihoods(recs))
    assert [CODEPAGES[i] for i in post[:3].argmax(1)] == ["cp273", "cp037", "cp500"]
    # upper-case umlauts are the same bytes in cp037, cp500 and cp1047: those three tie exactly, cp273 reads nonsense
    np.testing.assert_allclose(post[3, [0, 2, 3]], post[3, 0]); assert post[3, 1] < post[3, 0] - 5


def test_evidence_free_records_get_the_prior(lm, lines):
    _, ev = lines
    recs = natural_records(ev, 400, seed=5)
    text_only = [bytes(np.frombuffer(r, np.uint8)[m]) for r, m in zip(recs.records, recs.masks)]
    none = [r for r, e in zip(text_only, recs.evidence) if e == "none"]
    assert len(none) > 50
    p = np.exp(codepage_posterior(lm.codepage_log_likelihoods(none)))
    np.testing.assert_allclose(p, 0.25, atol=1e-9)              # identical decodes: exactly the prior
    # whole records (numeric fields included) through the predictor: the mean confidence stays near the prior
    torch.manual_seed(0)
    mc = CodepageModelConfig()
    pred = CodepagePredictor(CodepageClassifier(mc).eval(), mc, lm, w_cnn=0.0, w_lm=1.0)
    data = LabelledRecords.of(recs)
    rep = set_report(pred, data)
    assert abs(rep["methods"]["charlm"]["mean_conf_none"] - 0.25) < 0.05


def test_checkpoint_round_trip(tmp_path, lm):
    mc = CodepageModelConfig()
    model = CodepageClassifier(mc).eval()
    save_torch(tmp_path / "v2.pt", {"format_version": 2, "kind": "codepage_head", "state_dict": model.state_dict(),
                                    "model_config": to_dict(mc), "training_config": {}, "charlm": lm.state(),
                                    "combine": {"w_cnn": 0.5, "w_lm": 0.25}})
    p = load_codepage_predictor(tmp_path / "v2.pt")
    recs = [encode("Grüße", "cp273"), encode("a[1]", "cp037")]
    np.testing.assert_allclose(p.lm.codepage_log_likelihoods(recs), lm.codepage_log_likelihoods(recs))
    assert (p.w_cnn, p.w_lm) == (0.5, 0.25)
    save_torch(tmp_path / "v1.pt", {"format_version": 1, "kind": "codepage_head", "state_dict": model.state_dict(),
                                    "model_config": to_dict(mc), "training_config": {}})
    p1 = load_codepage_predictor(tmp_path / "v1.pt")       # an old checkpoint: the CNN alone
    assert p1.lm is None and p1.log_probs(recs).shape == (2, 4)


def test_natural_files_one_codepage_each(lines):
    _, ev = lines
    files = natural_files(ev, 8, 12, seed=1)
    assert all(len(set(f.labels)) == 1 and len(set(f.source)) == 1 and len(f) == 12 for f in files)
    assert len({f.labels[0] for f in files}) >= 2


def test_file_decode_equal_credits_a_pick_that_decodes_like_the_truth(lm):
    "A file with no evidence character: any pick decodes it perfectly (decode-equal 1) though the strict accuracy"
    "of a pick other than the label is 0; one '[' makes the file identifiable and only cp037 decodes it right."
    mc = CodepageModelConfig()
    torch.manual_seed(0)
    pred = CodepagePredictor(CodepageClassifier(mc).eval(), mc, lm, w_cnn=0.0, w_lm=1.0)
    plain = [encode(t, "cp037") for t in ("INVOICE 4711 PAID", "SHIP TO BERLIN", "TOTAL 12.50")]
    data = LabelledRecords(plain, ["cp037"] * 3, ["none"] * 3, ["hand"] * 3)
    f = set_report(pred, data, [[0, 1, 2]])["files"]
    assert f["ceiling"] == 0.25 and f["n_identifiable"] == 0
    assert f["decode_equal_charlm"] == 1.0 and f["decode_equal_heuristic"] == 1.0
    assert 0.0 <= f["confidence_charlm"] <= 1.0
    marked = plain + [encode("SEE ITEM [3]", "cp037")]
    data = LabelledRecords(marked, ["cp037"] * 4, ["none"] * 3 + ["full"], ["hand"] * 4)
    f = set_report(pred, data, [[0, 1, 2, 3]])["files"]
    assert f["ceiling"] == 1.0
    assert f["decode_equal_charlm"] == f["acc_charlm"]           # identifiable: decode-equal is the strict accuracy
