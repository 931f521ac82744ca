import pytest


@pytest.fixture(scope="session")
def bpe_tok():
    from trainbook.text.tokenizer import train_bpe_tokenizer
    texts = ["The cat sat on the mat.", "Dogs chase cats in the park.", "We propose a new method for summarization.",
             "Stocks fell sharply on Monday.", "The team won the final game."] * 20
    return train_bpe_tokenizer(texts, vocab_size=400, min_frequency=1)
