"Metrics on hand-checked examples (true micro/macro F1, ROUGE on text, multi-reference), baselines."
import numpy as np
import pytest

from trainbook.text.metrics import (decide_emotions, degeneracy, distinct_ratio, emotion_scores, lead1, loop_rate,
                                    max_word_repeat, random_sentence, repetition_rate, rouge, tfidf_emotion_baseline,
                                    topic_scores, tune_multilabel_threshold)


def test_rouge_hand_checked():
    r = rouge(["the cat sat"], ["the cat sat on the mat"])
    assert r["rouge1"] == pytest.approx(2 / 3)        # P 3/3, R 3/6
    assert r["rouge2"] == pytest.approx(4 / 7)        # P 2/2, R 2/5
    assert r["rougeL"] == pytest.approx(2 / 3)
    assert rouge(["completely different words"], ["the cat sat"])["rouge1"] == 0.0
    # the best of several references counts, per example, then examples are averaged
    assert rouge(["the cat sat", "dogs"], [["the cat sat on the mat", "the cat sat"], "cats"])["rouge1"] == pytest.approx(0.5)


def test_true_micro_vs_macro_f1():
    Y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    P = np.array([[.9, .1, .1], [.8, .2, .1], [.1, .1, .7], [.2, .1, .6]])
    s = emotion_scores(Y, P, 0.5, ["a", "b", "c"])
    # predictions: a,a,c,c → TP a=2 (FN 1), b: FN 1, c: TP 1 FP 1  → pooled TP 3, FP 1, FN 2
    assert s["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert s["per_label_f1"] == pytest.approx({"a": 0.8, "b": 0.0, "c": 2 / 3})
    assert s["macro_f1"] == pytest.approx((0.8 + 0 + 2 / 3) / 3)


def test_empty_row_takes_argmax_and_threshold_tuning():
    assert decide_emotions(np.array([[0.1, 0.3]]), 0.5).tolist() == [[False, True]]
    Y = np.array([[1, 1], [0, 1]]); P = np.array([[0.3, 0.2], [0.05, 0.35]])
    assert tune_multilabel_threshold(Y, P) == pytest.approx(0.2)


def test_topic_scores_confusion():
    s = topic_scores([0, 0, 1, 2], [0, 1, 1, 2], ["World", "Sports", "Business"])
    assert s["accuracy"] == 0.75 and s["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_extractive_baselines_and_repetition():
    docs = [["First one.", "Second one.", "Third."], ["Only."]]
    assert lead1(docs) == ["First one.", "Only."]
    assert random_sentence(docs, seed=3) == random_sentence(docs, seed=3)
    assert all(s in d for s, d in zip(random_sentence(docs), docs))
    assert repetition_rate(["we show that we show that", "a b c d"]) == 0.5


def test_loop_measures_see_loops_of_distinct_words():
    loop = "we propose a novel method for loss of the loss of loss of backgation."
    clean = "We propose a novel method for incremental class learning without forgetting."
    assert repetition_rate([loop]) == 0.0                  # no repeated trigram: the old measure is blind to it
    assert max_word_repeat(loop) == 3 and max_word_repeat(clean) == 1
    assert loop_rate([loop, clean]) == 0.5
    assert max_word_repeat("the of the of the of a") == 0   # stop words alone are not a loop
    assert distinct_ratio(["a b a b"], 1) == pytest.approx(0.5)   # 2 distinct of 4 words
    assert distinct_ratio(["a b a b"], 2) == pytest.approx(2 / 3) # (a b), (b a) of 3 bigrams
    assert distinct_ratio([clean]) == 1.0
    d = degeneracy([loop, clean])
    assert d["loop_rate"] == 0.5 and d["distinct1"] < 1.0 and d["repeated_trigram_rate"] == 0.0


def test_tfidf_emotion_baseline_learns():
    texts = ["i love this", "love it so much", "i hate this", "hate hate it", "so happy and love"] * 6
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0]] * 6)
    b = tfidf_emotion_baseline(texts, Y, texts[:5], Y[:5], ["love this", "hate this"])
    assert decide_emotions(b["proba"], b["threshold"]).tolist() == [[True, False], [False, True]]
