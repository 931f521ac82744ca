"Decoder task and decoders: held-out configurations, the no-feasible answer, the scores."
import numpy as np
import pandas as pd
import pytest
import torch
from trainbook.resource.data import FeatureNormalizer, INPUT_SIZES
from trainbook.resource.phrasings import TASK_PHRASES, PHRASE_SPLITS, task_phrases
from trainbook.resource.limits import task_as_read
from trainbook.resource.decoder import (make_requests, heldout_configs, oracle_predict, decoder_scores, feasibility,
                                        request_limits, cheapest_feasible, config_cost, config_values)
from trainbook.resource.scorer import (DecoderConfig, CandidateScorer, HierarchicalDecoder, decoder_datasets, decoder_loss,
                                       decoder_predict, request_set, compare_decoders, VARIANTS)
from resource_stand_ins import fake_task_encoder, profiled_table   # tests/resource_stand_ins.py

@pytest.fixture(scope="module")
def table(): return profiled_table()

# keyed by the task as read at each input size (`task_as_read`), which is what a generated request's `task` holds
TOOL_OF = {task_as_read(p, z): i for i, t in enumerate(TASK_PHRASES) for s in PHRASE_SPLITS for p in task_phrases(t, s)
           for z in INPUT_SIZES}

def tool_task_encoder(texts):
    "A task encoder that knows each phrasing's tool (one-hot): every tool choice is right, so every test set has picks to check."
    return torch.nn.functional.one_hot(torch.tensor([TOOL_OF[t] for t in texts]), 8).float()

def test_heldout_configurations_never_train_labels(table):
    cfg = DecoderConfig(num_train=600, num_val=100, num_test=100, num_test_heldout=80, task_dim=8, seed=3)
    held, sets = decoder_datasets(table, FeatureNormalizer.fit(table.raw_features()), cfg, fake_task_encoder)
    tid = table.tool_ids()
    assert all(abs((tid[held] == t).sum() - 0.2 * 243) <= 1 for t in range(7))        # a fifth of every tool
    for split in ("train", "val", "test", "test_unseen", "test_unseen2", "test_unseen3"):
        assert not np.isin(sets[split][1].label, held).any(), split
    assert np.isin(sets["test_heldout"][1].label, held).all()
    # wording: validation (the epoch choice) is in training phrasings; no test phrasing is trained or validated on
    phr = {s: {task_as_read(p, z) for t in TASK_PHRASES for p in task_phrases(t, s) for z in INPUT_SIZES} for s in PHRASE_SPLITS}
    assert set(sets["val"][1].task) <= phr["train"] and set(sets["train"][1].task) <= phr["train"]
    unseen = ("unseen", "unseen2", "unseen3")
    for split, kind in (("test", "test"), ("test_heldout", "test"), *((f"test_{u}", u) for u in unseen)):
        assert set(sets[split][1].task) <= phr[kind] and not set(sets[split][1].task) & phr["train"], split
    assert all(len(set(sets[f"test_{u}"][1].task)) > 40 for u in unseen)   # most of the 70 / 69 / 67 are drawn
    assert (sets["train"][1].label == -1).any()                                           # the none case is trained
    # ... nor a training candidate: the loss never sees their logits
    allowed = torch.ones(len(table), dtype=torch.bool); allowed[torch.from_numpy(held)] = False
    x, r = sets["train"]
    model = CandidateScorer(x.shape[1], torch.randn(len(table), 16), tid, 7, hidden=16, pair_hidden=8)
    data = request_set(table, x, r)
    b = {k: v[:32] for k, v in vars(data).items()}
    out = model(b["x"], b["tool"], allowed)
    assert torch.isinf(out["logits"][:, :-1][~allowed[out["cand"]]]).all()
    # finite: every label is an allowed candidate that fits (the preference is trained among those)
    assert torch.isfinite(decoder_loss(model, b, allowed, torch.from_numpy(config_values(table)).float())[0])
    # a different seed holds out different configurations
    assert not np.array_equal(heldout_configs(table, 0.2, 3), heldout_configs(table, 0.2, 4))

def test_no_feasible_configuration_is_said_not_picked(table):
    req = make_requests(table, 300, seed=5, split="test", p_none=0.3)
    _, oc = oracle_predict(table, req.text)
    assert oc == req.label.tolist() and (req.label == -1).sum() > 50
    # every -1 request really has nothing that fits, every other one has its label among the fitting ones
    lim = request_limits(req)
    ok = feasibility(table, [table.tool_names.index(t) for t in req.tool], lim[:, 0], lim[:, 1:])
    assert (ok.any(1) == (req.label >= 0).to_numpy()).all()
    x = torch.randn(len(req), 14)
    model = CandidateScorer(14, torch.randn(len(table), 16), table.tool_ids(), 7, hidden=16, pair_hidden=8)
    with torch.no_grad(): model.offset.fill_(-100.0)                   # believes nothing fits
    tools, cfgs = decoder_predict(model, x, table)
    assert set(cfgs) == {-1}
    s = decoder_scores(table, req, req.tool, cfgs)
    assert s["none_acc"] == 1.0 and s["silent_infeasible"] == 0.0 and s["feasible_rate"] == 0.0
    with torch.no_grad(): model.offset.fill_(100.0); model.none_head.bias.fill_(-1e4)   # believes everything fits
    _, cfgs = decoder_predict(model, x, table)
    assert -1 not in cfgs
    # the linear head answers -1 when its none logit wins
    lin = HierarchicalDecoder(14, 16, table.tool_ids(), 7)
    with torch.no_grad(): lin.none_head.bias.fill_(1e4)
    assert set(decoder_predict(lin, x, table)[1]) == {-1}

def test_scores_against_the_oracle(table):
    req = make_requests(table, 200, seed=7, p_none=0.2)
    s = decoder_scores(table, req, req.tool, req.label)
    phrasings = req.phrasing.nunique()
    assert s == {"tool_acc": 1.0, "exact": 1.0, "feasible_rate": 1.0, "cost_excess": 0.0, "none_acc": 1.0, "silent_infeasible": 0.0,
                 "exact_right_tool": 1.0, "feasible_right_tool": 1.0, "feasible_low": 1.0, "feasible_high": 1.0,
                 "phrasings": phrasings, "phrasings_tool_right": phrasings}
    # a silent pick where nothing fits is counted as infeasible, not as a miss only
    picks = req.label.where(req.label >= 0, 0).tolist()
    s = decoder_scores(table, req, req.tool, picks)
    assert s["none_acc"] == 0.0 and s["silent_infeasible"] == pytest.approx((req.label < 0).mean())
    # the batch labelling agrees with the one-request reference
    cost = config_cost(table.frame).to_numpy()
    assert [cheapest_feasible(table.frame, r.tool, r.input_size, r, cost) for _, r in req.iterrows()] == req.label.tolist()

def test_compare_decoders_small(table):
    cfg = DecoderConfig(num_train=200, num_val=40, num_test=60, num_test_heldout=30, epochs=1, hidden=16, pair_hidden=8, task_dim=8)
    tab, info = compare_decoders(table, torch.randn(len(table), 16), FeatureNormalizer.fit(table.raw_features()), cfg,
                                 fake_task_encoder)
    assert set(tab.method) == {"rule-based oracle", *VARIANTS}
    unseen = ["unseen author's phrasings", "second unseen author's phrasings", "third unseen author's phrasings"]
    assert set(tab.test_set) == {"held-out phrasings", "held-out configurations", *unseen}
    assert all(len(c["val_exact"]) == 1 for c in info["curves"].values())
    # the rules' keywords were written for the six phrasings per tool of `TASK_PHRASES`: exact there, not on other wording
    oracle = tab[tab.method == "rule-based oracle"].set_index("test_set")
    assert (oracle.loc[["held-out phrasings", "held-out configurations"], ["exact", "feasible_rate"]] == 1.0).all().all()
    assert (oracle.loc[unseen, "tool_acc"] < 1.0).all()
    assert 0 < info["oracle_val"]["exact"] <= 1.0

def test_authors_tasks_reach_the_tool_readout(table, monkeypatch):
    "`tool_authors`: their requests' tasks, read as the planner reads them, join the readout's training tasks with their vectors."
    import trainbook.resource.scorer as S
    from trainbook.resource.toolencoder import author_tasks
    seen = []
    def spy(*args, **kw):
        seen.append(args[5] if len(args) > 5 else kw.get("extra"))
        return S_readout(*args, **kw)
    S_readout = S.tool_readout
    monkeypatch.setattr(S, "tool_readout", spy)
    cfg = DecoderConfig(num_train=200, num_val=40, num_test=60, num_test_heldout=30, epochs=1, hidden=16, pair_hidden=8, task_dim=8,
                        tool_authors=["a", "b"])
    tab, info = compare_decoders(table, torch.randn(len(table), 16), FeatureNormalizer.fit(table.raw_features()), cfg,
                                 fake_task_encoder, variants=VARIANTS[:1])
    vecs, tasks = seen[0]
    want = author_tasks(["a", "b"])
    assert len(tasks) == 120 and tasks.task.tolist() == want.task.tolist() and tasks.tool.tolist() == want.tool.tolist()
    assert torch.equal(torch.as_tensor(vecs), torch.as_tensor(fake_task_encoder(want.task.tolist())))
    assert info["tool_encoder"]["authors"] == ["a", "b"] and info["tool_encoder"]["author_tasks"] == 120

def test_values_read_from_the_rows_make_every_pick_fit(table):
    "A reader that reads the exported rows perfectly (what the checked frozen-LM reader does for the default run's rows): given the right tool,"
    "the scorer never picks a configuration that breaks a limit, on either test set; the ablation and random rows get no reader."
    norm = FeatureNormalizer.fit(table.raw_features())
    w, truth = torch.randn(len(table), 16), torch.from_numpy(norm(config_values(table)))
    calls = []
    def reader(rows):
        calls.append(torch.equal(rows, w))
        return truth if torch.equal(rows, w) else torch.full_like(truth, float("nan"))
    cfg = DecoderConfig(num_train=200, num_val=40, num_test=80, num_test_heldout=40, epochs=1, hidden=16, pair_hidden=8, task_dim=8)
    tab, info = compare_decoders(table, w, norm, cfg, tool_task_encoder, variants=VARIANTS[:3], value_reader=reader)
    assert calls == [True, False]                    # the exported scorer and the random-row scorer; not the readout ablation
    assert info["values_read"] == {"scorer, exported embeddings": {"parse": 1.0, "exact": 1.0},
                                   "scorer, random embeddings": {"parse": 0.0, "exact": 0.0}}
    read = tab[tab.method == "scorer, exported embeddings"].set_index("test_set")
    assert (read.tool_acc == 1.0).all() and (read.feasible_right_tool == 1.0).all(), read[["tool_acc", "feasible_right_tool"]]
