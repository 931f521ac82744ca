"Text benchmarks: cached incremental decoding vs recomputing the prefix, and length-sorted batching for classification."
import time

import pytest
import torch

from trainbook.text.model import ModelConfig, build_multitask_model
from trainbook.text.tokenizer import SummarizationCollator, train_bpe_tokenizer


def _timed(fn, reps=3):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return best


@pytest.fixture(scope="module")
def small_model():
    texts = ["We propose a new method for learning representations of graphs.",
             "Experiments show large gains on three benchmarks."] * 50
    tok = train_bpe_tokenizer(texts, vocab_size=2000, min_frequency=1)
    torch.manual_seed(0)
    return tok, build_multitask_model(tok, ModelConfig(preset="small", decoder_layers=2), 28, 4).eval()


@pytest.mark.benchmark
def test_bench_cached_decoding(small_model):
    tok, m = small_model
    b = SummarizationCollator(tok, 256, 48)([{"source": "We propose a new method for learning representations of graphs. " * 8,
                                              "summary": "x"}] * 16)
    ids, mask = b["input_ids"], b["attention_mask"]
    T = 40
    with torch.no_grad():
        mem = m.encode(ids, mask)[0]
        y = torch.randint(5, len(tok), (16, T))
        def full():
            for t in range(1, T + 1): m.decode(y[:, :t], mem, mask, ids)
        def cached():
            st = m.decoder.start_state(mem)
            for t in range(T): m.decoder.step(y[:, t], st, mem, mask, ids)
        tf, tc = _timed(full), _timed(cached)
    print(f"\ntext decoding of {T} tokens × 16 inputs: recompute prefix {tf:.3f} s, KV cache {tc:.3f} s, speed-up ×{tf / tc:.1f}")
    assert tc < tf


@pytest.mark.benchmark
def test_bench_length_sorted_batching(small_model):
    from trainbook.text.evaluate import classify_probs
    tok, m = small_model
    texts = [("short text " * (1 + (i * 7) % 40)).strip() for i in range(256)]
    def unsorted():
        from trainbook.text.tokenizer import encode_texts
        with torch.no_grad():
            for s in range(0, len(texts), 64):
                b = encode_texts(tok, texts[s:s + 64], 96); m.classify(b["input_ids"], b["attention_mask"])
    tu, ts = _timed(unsorted, 2), _timed(lambda: classify_probs(m, tok, texts, 96, 64), 2)
    print(f"\nclassification of 256 texts: random order {tu:.3f} s, length-sorted {ts:.3f} s, ×{tu / ts:.2f}")
