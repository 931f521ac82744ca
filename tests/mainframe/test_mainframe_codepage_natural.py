"""Issue 16: natural-text evaluation of the codepage head. Training and evaluation text never overlap, the
ceiling is computed right on hand-made records, and evidence-free records get the prior."""
import numpy as np
import pytest
import torch
from trainbook.mainframe.codecs import CODEPAGES, decode, encode
from trainbook.mainframe.charlm import CharNgramLM, codepage_posterior
from trainbook.mainframe.charlm import file_log_likelihoods, file_text_masks
from trainbook.mainframe.codepage import (CodepageModelConfig, CodepageClassifier, CodepagePredictor, CodepageTrainingConfig,
                                          LabelledRecords, build_training_data, load_codepage_predictor, predict_file_codepage,
                                          set_report)
from trainbook.mainframe.records import encode_records
from trainbook.mainframe.natural import (TEXT_SOURCES, eval_lines, file_ceiling, german_words, natural_files, natural_records,
                                         record_ceiling, split_sources, training_lines)
from trainbook.core.artifacts import save_torch
from trainbook.core.config import to_dict
from trainbook.core.cli import main


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
    # every source is listed in one split; LaTeX-style math is in training text (library docstrings), not only in SciTLDR
    assert set(split_sources("train")) == {"goemotions", "ag_news", "german_words_a", "python_stdlib_a_m", "library_docstrings"}
    assert set(split_sources("eval")) == {"scitldr", "song_concepts", "german_words_b", "german_cldr", "python_stdlib_n_z"}
    assert sum("\\frac{" in l for l in tr["library_docstrings"]) > 20


def test_lm_reads_latex_math_not_umlauts(lm):
    "SciTLDR writes `$\\gamma$`, `\\frac{a}{b}`; in cp273 those bytes read `$Ögamma$`, `Öfracäaüäbü`. Short snippets, where"
    "context cannot help: an LM without LaTeX in its training text (session 9) gave the right reading 0.000-0.34 on most of these."
    for text in ["$\\gamma$", "\\sqrt{x}", "\\frac{a}{b}", "ON $\\THETA$", "\\alpha", "$\\mathcal{O}$"]:
        for cp in ("cp037", "cp273", "cp500", "cp1047"):
            b = encode(text, cp)
            post = np.exp(codepage_posterior(lm.codepage_log_likelihoods([b]))[0])
            same = [i for i, c in enumerate(CODEPAGES) if decode(b, c) == text]
            assert post[same].sum() > 0.8, (text, cp, [decode(b, c) for c in CODEPAGES], post.round(3))


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


def _noise_file(n=300, seed=3):
    "test9-like records: a field of random bytes, a zoned number, a binary field; every record 34 bytes."
    rng = np.random.default_rng(seed)
    return [bytes(rng.integers(0, 256, 20, dtype=np.uint8)) + encode(f"{k:08d}", "cp037") + bytes(rng.integers(0, 256, 6, dtype=np.uint8))
            for k in range(n)]


def test_file_vote_without_language_is_the_prior(lm, tmp_path, capsys):
    "Random bytes where text should be: summing the records' own scores was sure of a codepage; the file vote says can't tell."
    recs = _noise_file()
    summed = codepage_posterior(codepage_posterior(lm.codepage_log_likelihoods(recs)).sum(0, keepdims=True))[0]
    vote = codepage_posterior(codepage_posterior(file_log_likelihoods(lm, recs)).sum(0, keepdims=True))[0]
    assert np.exp(vote).max() < 0.30 and np.exp(summed).max() > np.exp(vote).max() + 0.05, (np.exp(summed), np.exp(vote))
    # through the command-line path (`trainbook mainframe codepage FILE`): checkpoint -> predict_file_codepage
    mc = CodepageModelConfig()
    save_torch(tmp_path / "h.pt", {"format_version": 2, "kind": "codepage_head", "state_dict": CodepageClassifier(mc).state_dict(),
                                   "model_config": to_dict(mc), "training_config": {}, "charlm": lm.state(),
                                   "combine": {"w_cnn": 0.0, "w_lm": 1.0}})
    (tmp_path / "noise.rdw").write_bytes(encode_records(recs, "rdw"))
    r = predict_file_codepage(tmp_path / "noise.rdw", tmp_path / "h.pt")
    assert r["n_records"] == 300 and abs(r["confidence"] - 0.25) < 0.05, r
    assert r["tied"] == list(CODEPAGES), r                        # every codepage tied: the vote can't tell
    # the command says so in words, and lists the tied codepages, instead of naming one at confidence 0.25
    assert main(["mainframe", "codepage", str(tmp_path / "noise.rdw"), "--checkpoint", str(tmp_path / "h.pt")]) == 0
    out = capsys.readouterr().out
    assert "can't tell: " + ", ".join(CODEPAGES) in out and "300 records" in out, out


def test_file_vote_ignores_packed_bytes_that_read_as_letters(lm):
    "A cp273 file whose packed field ends in bytes that read as letters or braces: the layout says binary, only the text votes."
    rng = np.random.default_rng(4)
    words = ["Grüße aus Köln", "Maße und Gewichte", "Straße 12", "Öffnungszeiten", "Bücher und Hefte"]
    recs = [encode(words[k % 5].ljust(20), "cp273") + bytes([0x12, 0x34, int(rng.choice([0x4C, 0x5A, 0xC0, 0xD0, 0x6A]))])
            + encode("OK", "cp273") for k in range(60)]
    masks = file_text_masks(lm, recs)
    assert all((m == masks[0]).all() for m in masks) and masks[0][:9].all() and not masks[0][20:23].any()   # (padding spaces may go either way)
    vote = codepage_posterior(file_log_likelihoods(lm, recs)).sum(0)
    assert CODEPAGES[vote.argmax()] == "cp273"


def test_natural_file_vote_on_training_sources(lines, lm):
    "The file vote on training-source files (validation lines, another seed): this is where its behaviour was checked."
    (_, va), _ = lines
    from trainbook.mainframe.natural import file_candidates
    files = natural_files(va, 12, 40, seed=11)
    for f in files:
        vote = codepage_posterior(file_log_likelihoods(lm, f.records)).sum(0)
        assert CODEPAGES[vote.argmax()] in file_candidates(f.records, f.labels[0], f.masks), (f.source[0], f.labels[0])
