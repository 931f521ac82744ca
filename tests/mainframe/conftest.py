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


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    "A tiny multi-task checkpoint, trained once for the inference and decode tests."
    import dataclasses
    from trainbook.mainframe.multitask import MultiTaskConfig, MultiTaskModelConfig, _default_train, train_multitask
    out = tmp_path_factory.mktemp("multihead")
    train_multitask(MultiTaskConfig(output_dir=str(out), n_flat=150, n_copybooks=6, records_per_copybook=5, n_val_flat=20,
                                    n_val_copybooks=2, n_test_flat=10, n_test_copybooks=2, test_records_per_copybook=2,
                                    n_consensus_copybooks=6, consensus_records_per_copybook=4, real_train_files=[], real_test_files=[],
                                    model=MultiTaskModelConfig(d_model=32, n_heads=2, n_layers=1, max_len=64),
                                    train=dataclasses.replace(_default_train(), epochs=1, device="cpu", progress=False)))
    return out / "multihead.pt"
