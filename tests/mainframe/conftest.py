import pytest
from trainbook.core.paths import shared_dir, data_dir


@pytest.fixture(scope="session")
def cobrix_dir():
    "Cobrix's test files: the copies bundled under data/mainframe/cobrix, else ../shared; skip if neither exists."
    bundled = data_dir() / "mainframe" / "cobrix"
    if (bundled / "test9_copybook.cob").exists():
        return bundled
    d = shared_dir()
    p = d / "data" / "mainframe" / "cobrix" if d else None
    if p is None or not p.is_dir():
        pytest.skip("cobrix data not available")
    return p
