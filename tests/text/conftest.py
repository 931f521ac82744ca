import pytest


@pytest.fixture(scope="session")
def bpe_tok():
    from trainbook.text.tokenizer import train_bpe_tokenizer
    texts = ["The cat sat on the mat.", "Dogs chase cats in the park.", "We propose a new method for summarization.",
             "Stocks fell sharply on Monday.", "The team won the final game."] * 20
    return train_bpe_tokenizer(texts, vocab_size=400, min_frequency=1)


# A tiny trained text run shared by the demo and fault tests (about 10 s on one core). Keep these overrides in
# step with TINY in test_text_e2e.py when the model changes.
TINY_TEXT = ["tokenizer.name=bpe", "tokenizer.vocab_size=600", "model.init_encoder=null", "model.preset=tiny", "model.heads=0",
             "model.ffn=0", "model.decoder_layers=0", "tokenizer.max_source_len=64", "tokenizer.max_target_len=16",
             "data.max_train={emotion: 120, topic: 120, summarization: 48}", "data.max_val={emotion: 40, topic: 40, summarization: 16}",
             "trainer.steps_per_epoch=6", "trainer.eval_rows=16", "trainer.batch_sizes={summarization: 8, emotion: 16, topic: 16}",
             "train.epochs=2", "train.device=cpu", "train.progress=false", "eval.num_beams=2", "eval.max_summary_len=8", "eval.tune_rows=4"]


@pytest.fixture(scope="session")
def tiny_text_run(tmp_path_factory):
    "Folder of a tiny `train_multitask` run on the committed samples."
    from trainbook.core.paths import repo_root
    from trainbook.text.train import load_text_config, train_multitask
    out = tmp_path_factory.mktemp("tiny_text_run")
    train_multitask(load_text_config(repo_root() / "configs/training/default.yaml", TINY_TEXT), out)
    return out
