"""Copybook inference reads only its sample: `infer-copybook` on a 1 GB RDW dump vs on a 10 MB one (same records),
and both vs one plain pass that only reads the 1 GB file's records (`records.iter_records`, the reader's fast path).

Size: `TRAINBOOK_BENCH_COPYINFER_MB` (default 1024). Model: `TRAINBOOK_BENCH_CHECKPOINT` (a multihead.pt, e.g. the
pipeline's), else the nibble-pattern heuristic (no checkpoint: the sampling cost alone). The big dump is a 4 MB block
of records written over and over (the sample's cost does not depend on what the records hold). Prints ratios."""
import os, time
from pathlib import Path
import pytest


def _dump(path: Path, mb: int, block: bytes) -> None:
    with open(path, "wb") as f:
        for _ in range(max(1, (mb << 20) // len(block))): f.write(block)


@pytest.mark.benchmark
def test_bench_copyinfer_sample_cost_independent_of_size(tmp_path):
    from trainbook.mainframe.copyinfer import infer_copybook
    from trainbook.mainframe.records import encode_records, iter_records, ReadStats
    from trainbook.mainframe.synth import CopybookSynthConfig, generate_copybook_dataset
    mb = int(os.environ.get("TRAINBOOK_BENCH_COPYINFER_MB", "1024"))
    ckpt = os.environ.get("TRAINBOOK_BENCH_CHECKPOINT") or None
    tagger = "model" if ckpt else "heuristic"
    ds = generate_copybook_dataset(CopybookSynthConfig(n_layouts=1, records_per_layout=2000, codepages=("cp037",), seed=77))
    block = encode_records([r.data for r in ds.records], "rdw")
    block = block * max(1, (4 << 20) // len(block))                 # whole records only: blocks stay aligned
    small, big = tmp_path / "small.rdw", tmp_path / "big.rdw"
    _dump(small, 10, block); _dump(big, mb, block)
    if ckpt:   # load the model once, so both timings are the sample's cost
        from trainbook.mainframe.tagger import load_multitask
        ckpt = load_multitask(ckpt)
    times = {}
    for name, p in (("10 MB", small), (f"{mb} MB", big)):
        t0 = time.perf_counter(); ic = infer_copybook(p, ckpt, "rdw", sample=1000, tagger=tagger)
        times[name] = (time.perf_counter() - t0, ic.sidecar["sample"])
    t0 = time.perf_counter(); n = sum(1 for _ in iter_records(big, "rdw", stats=ReadStats())); scan = time.perf_counter() - t0
    (ts, ss), (tb, sb) = times["10 MB"], times[f"{mb} MB"]
    print(f"\ninfer-copybook ({tagger}), sample 1000: 10 MB {ts:.2f} s ({ss['method']}, {ss['bytes_read'] / 1e6:.1f} MB read); "
          f"{mb} MB {tb:.2f} s ({sb['method']}, {sb['bytes_read'] / 1e6:.1f} MB read); ratio big/small {tb / ts:.2f} "
          f"for a {big.stat().st_size / small.stat().st_size:.0f}x bigger file")
    print(f"one reading pass over the {mb} MB file ({n:,} records): {scan:.1f} s = {scan / tb:.1f}x the inference on it")
    assert sb["records"] == 1000 and sb["bytes_read"] < big.stat().st_size / 20
