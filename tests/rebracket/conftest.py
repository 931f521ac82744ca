import pytest
from trainbook.rebracket.model import save_tiny_encoder

@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    "A 2-layer random BERT saved to disk: exercises from_pretrained(path) offline, in milliseconds."
    return save_tiny_encoder(str(tmp_path_factory.mktemp("tiny_encoder")))
