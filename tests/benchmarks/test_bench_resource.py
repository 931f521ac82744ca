"Resource planner benchmarks: reading requests' limits (the generated forms' expressions vs the free-wording reader), and reading's share of planning."
import json
from pathlib import Path

import pytest
import torch

from trainbook.resource.data import FeatureNormalizer
from trainbook.resource.decoder import make_requests
from trainbook.resource.limits import parse_limits, read_free_limits
from trainbook.resource.planner import load_planner, parse_requests
from trainbook.resource.scorer import DecoderConfig, compare_decoders, VARIANTS
from timing import best_seconds
from resource_stand_ins import fake_task_encoder, profiled_table   # tests/resource_stand_ins.py

DATA = Path(__file__).resolve().parents[2] / "data" / "resource"


def _own_wording(n):
    "`n` requests in three authors' own wording (`data/resource/limit_wording_author_*.json`), repeated to length."
    texts = [r["request"] for a in "abc" for r in json.loads((DATA / f"limit_wording_author_{a}.json").read_text())["complete"]]
    return (texts * (n // len(texts) + 1))[:n]


@pytest.fixture(scope="module")
def table(): return profiled_table()


@pytest.mark.benchmark
def test_bench_limit_readers(table):
    generated = make_requests(table, 2000, seed=0, split="test").text.tolist()
    own = _own_wording(2000)
    assert [parse_limits(t) for t in generated] == [read_free_limits(t) for t in generated]   # same reading, either path
    t_forms = best_seconds(lambda: [parse_limits(t) for t in generated])
    t_free_gen = best_seconds(lambda: [read_free_limits(t) for t in generated])
    t_own = best_seconds(lambda: [parse_limits(t) for t in own])
    us = lambda t: 1e6 * t / 2000
    print(f"\nreading 2,000 requests' limits: generated forms by their expressions {us(t_forms):.1f} µs each, the same by the "
          f"free-wording reader {us(t_free_gen):.1f} µs (×{t_free_gen / t_forms:.0f}); three authors' own wording "
          f"{us(t_own):.1f} µs each")
    assert t_forms < t_free_gen


@pytest.mark.benchmark
def test_bench_planning_reads_each_request_once(table, tmp_path):
    cfg = DecoderConfig(num_train=400, num_val=50, num_test=50, num_test_heldout=20, epochs=1, hidden=16, pair_hidden=8, task_dim=8)
    compare_decoders(table, torch.randn(len(table), 16), FeatureNormalizer.fit(table.raw_features()), cfg, fake_task_encoder,
                     out_dir=tmp_path / "decoder", variants=[VARIANTS[0]])
    planner = load_planner(tmp_path, table, task_encoder=fake_task_encoder)
    for name, texts in (("generated forms", make_requests(table, 2000, seed=1, split="test").text.tolist()),
                        ("own wording", _own_wording(2000))):
        assert len(planner.plan(texts)) == len(texts)
        t_plan, t_read = best_seconds(lambda: planner.plan(texts), 2), best_seconds(lambda: parse_requests(texts), 2)
        print(f"\nplanning 2,000 requests in {name}: {1e3 * t_plan / 2000:.2f} ms each, of which reading them "
              f"{1e3 * t_read / 2000:.3f} ms ({100 * t_read / t_plan:.0f}%; each is read once)")
