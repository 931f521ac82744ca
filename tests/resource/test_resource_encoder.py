"Frozen-LM invariance, tiny end-to-end pre-training, checkpoints, export round-trip, CLI."
import ast, json
import numpy as np
import pytest
import torch
from trainbook.core.cli import main
from trainbook.core.errors import CheckpointError, UserError
from trainbook.core.artifacts import load_torch
from trainbook.resource.data import ConfigTable, make_profiling_frame, tool_registry, load_config_table
from trainbook.resource.lm import LMConfig, pretrain_lm, load_frozen_lm
from trainbook.resource.config import DecoderConfig
from trainbook.resource.encoder import lm_tool_embeddings
from trainbook.resource.pretrain import PretrainEncoderConfig, run_pretrain, load_pretrained_encoder
from trainbook.resource.export import load_export, verify_export, config_embeddings, MASKS, LOOKUP, SIDECAR, file_sha256

# The original's validation snippet for an export folder, kept verbatim: it must run unchanged on ours.
SEED_VALIDATION_SNIPPET = """
import torch
import json

weights = torch.load("config_weights.pt")
print(f"Weights shape: {weights['weights'].shape}")
print(f"Num configs: {weights['num_configs']}")
print(f"Hidden dim: {weights['hidden_dim']}")

with open("config_lookup.json") as f:
    config_lookup = json.load(f)
print(f"Config lookup entries: {len(config_lookup)}")
print(f"Sample config: {config_lookup['0']}")

with open("tool_mask_map.json") as f:
    tool_mask_map = json.load(f)
print(f"Tools: {list(tool_mask_map.keys())}")
for tool, ids in tool_mask_map.items():
    print(f"  {tool}: {len(ids)} configs (ids {ids[0]}-{ids[-1]})")
"""

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    "A 3-tool, 36-configuration registry on disk and a tiny LM trained on it."
    d = tmp_path_factory.mktemp("resource")
    frame = make_profiling_frame()
    frame = frame[frame.tool.isin(["image_classification", "object_detection", "super_resolution"])].iloc[::20].reset_index(drop=True)
    (d/"tools.json").write_text(json.dumps(tool_registry()))
    frame.to_csv(d/"profiling.csv", index=False)
    table = load_config_table(d/"tools.json", d/"profiling.csv")
    pretrain_lm(table, d/"lm", LMConfig(hidden_size=32, intermediate_size=64, epochs=1, split_epochs=1, device="cpu"))
    return d, table

def _lm_state(path):
    lm, _ = load_frozen_lm(path)
    return {k: v.clone() for k, v in lm.state_dict().items()}

def test_frozen_lm_invariance_and_checkpoints(small):
    d, table = small
    before = _lm_state(d/"lm")
    lm_and_tok = load_frozen_lm(d/"lm")
    assert not any(p.requires_grad for p in lm_and_tok[0].parameters())
    cfg = PretrainEncoderConfig(llm_model=str(d/"lm"), num_epochs=2, num_copies=2, checkpoint_freq=1, batch_size=16,
                                num_heads=4, device="cpu", output_dir=str(d/"enc"), target_loss=0.0)
    summary, cap, *_ = run_pretrain(cfg, lm_and_tok=lm_and_tok, table=table)
    # the in-memory LM that produced the gradients is bit-for-bit unchanged
    assert summary["lm_unchanged"]
    after = {k: v for k, v in lm_and_tok[0].state_dict().items()}
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    # ... while the encoder did train
    init = load_torch(d/"enc"/"encoder_checkpoint_epoch1.pt")["state_dict"]
    final = load_torch(d/"enc"/"pretrained_encoder.pt")["state_dict"]
    assert not torch.equal(init["resource.net.0.weight"], load_torch(d/"enc"/"encoder_checkpoint_epoch2.pt")["state_dict"]["resource.net.0.weight"])
    # checkpoints: no LM weights inside, the public names, a history
    assert not any(k.startswith("lm.") or "model.layers" in k for k in final)
    assert {p.name for p in (d/"enc").glob("encoder_checkpoint_epoch*.pt")} == {"encoder_checkpoint_epoch1.pt", "encoder_checkpoint_epoch2.pt"}
    assert len((d/"enc"/"metrics.jsonl").read_text().splitlines()) == 2
    rec = json.loads((d/"enc"/"reconstruction.json").read_text())["reconstruction"]
    assert set(rec) == {"style0", "style1", "style2"} and rec["style0"]["num_configs"] == len(table)
    enc, cfg2, norm, meta = load_pretrained_encoder(d/"enc"/"pretrained_encoder.pt")
    assert meta["tool_names"] == table.tool_names and cfg2.num_heads == 4

def test_export_round_trip_via_cli(small):
    d, table = small
    if not (d/"enc"/"pretrained_encoder.pt").exists(): pytest.skip("needs the pre-training test")
    args = ["resource", "export", "--encoder", str(d/"enc"/"pretrained_encoder.pt"), "--out", str(d/"export"),
            "--tools", str(d/"tools.json"), "--profiles", str(d/"profiling.csv")]
    assert main(args) == 0
    w, lookup, masks, payload = load_export(d/"export")
    enc, _, norm, _ = load_pretrained_encoder(d/"enc"/"pretrained_encoder.pt")
    assert torch.equal(w, config_embeddings(enc, table, norm))
    assert payload["num_configs"] == len(table) == w.shape[0] and payload["hidden_dim"] == 32 == w.shape[1]
    assert lookup[0] == table.record(0) and masks == table.mask_map()
    assert verify_export(d/"export", table)["ok"]
    side = json.loads((d/"export"/SIDECAR).read_text())
    assert side["schema"] == "resource_export" and side["schema_version"] == 1
    assert side["files"][LOOKUP]["sha256"] == file_sha256(d/"export"/LOOKUP)
    m = json.loads((d/"export"/MASKS).read_text()); m["super_resolution"] = m["super_resolution"][:-1]
    (d/"export"/MASKS).write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="exactly once"): verify_export(d/"export", table)
    assert main(args) == 0                                           # re-export repairs it
    lk = json.loads((d/"export"/LOOKUP).read_text()); lk["0"]["tool_name"] = "super_resolution"
    (d/"export"/LOOKUP).write_text(json.dumps(lk))
    with pytest.raises(CheckpointError, match="ids of other tools"): verify_export(d/"export")
    assert main(args) == 0

def test_seed_validation_snippet_runs_unchanged(small):
    "The original's snippet prints the number of configurations and the tools of our export, not our wrapper's keys."
    import subprocess, sys
    d, table = small
    if not (d/"export"/LOOKUP).exists(): pytest.skip("needs the export test")
    r = subprocess.run([sys.executable, "-c", SEED_VALIDATION_SNIPPET], cwd=d/"export", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"Config lookup entries: {len(table)}" in r.stdout
    assert f"Tools: {table.tool_names}" in r.stdout
    assert f"Weights shape: torch.Size([{len(table)}, 32])" in r.stdout
    assert "'tool_name': 'image_classification'" in r.stdout

def test_train_decoder_with_the_frozen_lm(small, tmp_path, capsys):
    "`train-decoder --llm-model`: the scorers read each row's values with the export's LM; a missing LM is one line, exit 2."
    d, _ = small
    if not (d/"export"/LOOKUP).exists(): pytest.skip("needs the export test")
    base = ["resource", "train-decoder", "--export", str(d/"export"), "--tools", str(d/"tools.json"), "--profiles", str(d/"profiling.csv"),
            "--epochs", "1", "--num_train", "60", "--num_val", "20", "--num_test", "20", "--num_test_heldout", "10", "--hidden", "8", "--pair_hidden", "8", "--tool_encoder_epochs", "0"]
    assert main(base + ["--llm-model", str(d/"nothing"), "--out", str(tmp_path/"x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no language model" in err[0] and not (tmp_path/"x").exists()
    assert main(base + ["--llm-model", str(d/"lm"), "--out", str(tmp_path/"dec"), "--confirm_margin", "0"]) == 0
    got = json.loads((tmp_path/"dec"/"decoder_comparison.json").read_text())
    from trainbook.resource.scorer import VARIANTS, readable
    from trainbook.resource.toolchoice import CONFIRMATION_KEYS
    assert {r["method"] for r in got["rows"]} == {"rule-based oracle", *VARIANTS}
    # --confirm_margin 0 never asks: every misread phrasing is answered silently, and every request is answered
    rows = [r for r in got["rows"] if r["method"] != "rule-based oracle"]
    assert all(r["asked"] == 0 and r["misread_answered"] == r["phrasings"] - r["phrasings_tool_right"] for r in rows)
    assert "less than 0.0:" in capsys.readouterr().out      # the terminal says which margin its asking table is for
    _plan_answers_as_the_run_scored(d, tmp_path/"dec", got, capsys)
    # --tool_encoder_epochs 0 keeps the tool choice's MiniLM frozen (fine-tuning is exercised by 57_toolencoder and the pipeline)
    assert got["tool_encoder"] == {"fine_tuned": False, "epochs": 0, "seconds": 0.0, "authors": [], "author_tasks": 0}
    # --encoder: the readings are checked by re-encoding them, and the counts say what came of each row
    capsys.readouterr()
    assert main(base + ["--encoder", str(d/"enc"/"pretrained_encoder.pt"), "--out", str(tmp_path/"y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give --llm-model too" in err[0] and not (tmp_path/"y").exists()
    assert main(base + ["--llm-model", str(d/"lm"), "--encoder", str(d/"enc"/"pretrained_encoder.pt"), "--out", str(tmp_path/"chk")]) == 0
    chk = json.loads((tmp_path/"chk"/"decoder_comparison.json").read_text())
    read = chk["values_read"]["scorer, exported embeddings"]
    assert chk["config"]["confirm_margin"] == DecoderConfig().confirm_margin and all(set(CONFIRMATION_KEYS) <= set(r) for r in chk["rows"])
    assert read["first_reading"] + read["repaired"] + read["unread"] == len(_)
    printed = capsys.readouterr().out                       # the terminal says it too, not only the JSON
    assert all(f"'{k}': {read[k]}" in printed for k in ("first_reading", "repaired", "unread")), printed
    # the whole dict as one parseable line, equal to the JSON's (this tiny run's rates are whole; `readable`'s rounding is
    # checked in 65_scorer)
    line = next(l for l in printed.splitlines() if l.startswith("values read from the export: "))
    assert ast.literal_eval(line.split(": ", 1)[1]) == readable(read)
    assert read["exact"] == read["parse"]                   # every value it kept is the configuration's own
    assert "first_reading" not in got["values_read"]["scorer, exported embeddings"]   # without --encoder: unchecked

def _plan_answers_as_the_run_scored(d, out, got, capsys):
    """`trainbook resource plan` on the folder `train-decoder` wrote: the decoder the run scored, answering as it was scored.
    This one-epoch decoder answers most requests "no feasible configuration", so what is checked here is the command's
    wiring; the sharp check that the loaded decoder is the scored one is 70_planner's (three epochs, picks that fit, and a
    mutation that drops the read values fails it) and the pipeline's, which stops a run whose loaded decoder differs."""
    from trainbook.resource.decoder import decoder_scores
    from trainbook.resource.planner import load_planner, describe_plan
    from trainbook.resource.scorer import decoder_datasets, VARIANTS, TEST_SETS
    from trainbook.core.config import from_dict
    table = load_config_table(d/"tools.json", d/"profiling.csv")
    planner = load_planner(out/"decoder", table)
    assert planner.confirm_margin == 0.0 and planner.variant == VARIANTS[0]     # the margin the decoders were trained with
    cfg = from_dict(DecoderConfig, got["config"])
    sets = decoder_datasets(table, planner.normalizer, cfg, planner.task_encoder)[1]
    keys = ("tool_acc", "exact", "feasible_rate", "none_acc", "silent_infeasible", "cost_excess")
    for split, name in TEST_SETS.items():     # every test set's requests, answered as the run scored them
        _, reqs = sets[split]
        plans = planner.plan(reqs.text.tolist())
        picks = [p["options"][0] for p in plans]
        again = decoder_scores(table, reqs, [o["tool"] for o in picks], [(o["configuration"] or {"id": -1})["id"] for o in picks])
        row = next(r for r in got["rows"] if r["method"] == VARIANTS[0] and r["test_set"] == name)
        assert all(again[k] == row[k] or (np.isnan(again[k]) and np.isnan(row[k])) for k in keys), (name, again, row)
        assert {p["answer"] for p in plans} <= {"configuration", "no feasible configuration"}   # margin 0 never asks
    test = sets["test"][1]
    # the command line gives the same plans: JSON lines with --json, `describe_plan` without
    texts = test.text.tolist()[:3]
    tp = ["--tools", str(d/"tools.json"), "--profiles", str(d/"profiling.csv")]
    capsys.readouterr()
    assert main(["resource", "plan", "--decoder", str(out), "--json", *tp, *texts]) == 0
    assert [json.loads(l) for l in capsys.readouterr().out.splitlines()] == planner.plan(texts)
    assert main(["resource", "plan", "--decoder", str(out/"decoder"), "--confirm_margin", "0.999", "--variant", VARIANTS[3], *tp, texts[0]]) == 0
    printed = capsys.readouterr().out
    assert "unsure of the tool, confirm one:" in printed     # three tools, flat enough after one epoch: a margin of 0.999 asks
    asked = load_planner(out, table, VARIANTS[3], confirm_margin=0.999).plan(texts[:1])[0]
    assert printed.strip() == describe_plan(asked) and len(asked["options"]) == 2

def test_same_seed_same_reconstruction(small):
    "Two runs with one seed give bit-identical encoders and decoded texts; another seed gives another encoder."
    d, table = small
    lm_and_tok = load_frozen_lm(d/"lm")
    def run(seed, name):
        cfg = PretrainEncoderConfig(llm_model=str(d/"lm"), num_epochs=2, num_copies=2, batch_size=16, num_heads=4, device="cpu",
                                    output_dir=str(d/name), target_loss=0.0, seed=seed, eval_styles=[0])
        summary, *_ = run_pretrain(cfg, lm_and_tok=lm_and_tok, table=table)
        return load_torch(d/name/"pretrained_encoder.pt")["state_dict"], summary["reconstruction"]["style0"]
    (a, ra), (b, rb), (c, _) = run(5, "det_a"), run(5, "det_b"), run(6, "det_c")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert ra == rb
    assert not torch.equal(a["resource.net.0.weight"], c["resource.net.0.weight"])

def test_mean_pool_ignores_padding(small):
    d, _ = small
    lm, tok = load_frozen_lm(d/"lm")
    e = lm.get_input_embeddings().weight
    got = lm_tool_embeddings(lm, tok, ["small medium large", "small"])
    ids = tok("small medium large", add_special_tokens=False).input_ids
    assert len(ids) == 3
    torch.testing.assert_close(got[0], e[ids].mean(0))
    torch.testing.assert_close(got[1], e[ids[0]])                   # not averaged with two pad rows

def test_cli_errors_and_overrides(small, capsys):
    d, _ = small
    assert main(["resource", "pretrain", "--llm_model", str(d/"nothing"), "--device", "cpu"]) == 2
    assert "no language model" in capsys.readouterr().err
    assert main(["resource", "pretrain", "--set", "bogus_key=1"]) == 2
    assert main(["resource", "export", "--encoder", str(d/"missing.pt")]) == 2

def test_minilm_semantic_stream(small):
    "Stream A option: MiniLM embeddings of the tool descriptions, projected to the LM width."
    d, table = small
    from trainbook.resource.pretrain import build_captioner
    cfg = PretrainEncoderConfig(llm_model=str(d/"lm"), semantic="minilm", num_heads=4, device="cpu")
    cap, tok, table2, norm = build_captioner(cfg, table)
    assert tuple(cap.encoder.semantic.shape) == (3, 384) and isinstance(cap.encoder.sem_proj, torch.nn.Linear)
    feats = torch.from_numpy(norm(table.raw_features()[:4])); tools = torch.from_numpy(table.tool_ids()[:4])
    assert cap.encoder(tools, feats).shape == (4, 32)
    # the three tools' descriptions are embedded differently
    assert torch.cdist(cap.encoder.semantic, cap.encoder.semantic).triu(1).max() > 0.1

def test_latency_features_survive_the_normalisation():
    "Digit features and the latency lookup recover every registry latency exactly from the float32 z-score."
    from trainbook.resource.data import FeatureNormalizer
    from trainbook.resource.encoder import latency_digit_features, ResourceEncoder
    table = ConfigTable(tool_registry(), make_profiling_frame())
    norm = FeatureNormalizer.fit(table.raw_features())
    feats = torch.from_numpy(norm(table.raw_features()))
    lat = table.frame.latency_ms.to_numpy()
    want = [[int(c) for c in str(int(x))] + [10] * (5 - len(str(int(x)))) for x in lat]
    got = latency_digit_features(feats, 5, norm.mean[5], norm.std[5]).view(len(lat), 5, 11).argmax(-1).tolist()
    assert got == want
    keys = sorted(set(lat.tolist()))
    emb = torch.arange(len(keys), dtype=torch.float32)[:, None].repeat(1, 8) + 1
    enc = ResourceEncoder(torch.randn(7, 8), hidden=8, num_heads=2, latency_log_norm=(norm.mean[5], norm.std[5]),
                          latency_semantics=(keys, emb))
    rows = enc.latency_tokens(feats)[:, 0].long() - 1
    assert [keys[i] for i in rows.tolist()] == lat.tolist()

def test_latency_semantics_checkpoint_round_trip(small):
    "The latency table travels in the encoder checkpoint and the reloaded encoder gives the same prefixes."
    d, table = small
    if not (d/"enc"/"pretrained_encoder.pt").exists(): pytest.skip("needs the pre-training test")
    enc, cfg, norm, _ = load_pretrained_encoder(d/"enc"/"pretrained_encoder.pt")
    assert cfg.latency_semantics and enc.latency_keys.tolist() == sorted(set(table.frame.latency_ms.astype(float)))
    feats = torch.from_numpy(norm(table.raw_features())); tools = torch.from_numpy(table.tool_ids())
    assert (enc.latency_tokens(feats).abs().sum(1) > 0).all()
    lm, tok = load_frozen_lm(d/"lm")
    from trainbook.resource.pretrain import latency_semantic_table
    torch.testing.assert_close(enc.latency_emb, latency_semantic_table(lm, tok, table)[1])

def test_value_semantics_look_up_every_field(small):
    "Input size and the four resources find their value's LM embedding from the normalised vector; unknown values get zeros."
    d, table = small
    if not (d/"enc"/"pretrained_encoder.pt").exists(): pytest.skip("needs the pre-training test")
    enc, cfg, norm, _ = load_pretrained_encoder(d/"enc"/"pretrained_encoder.pt")
    assert cfg.value_semantics and enc.value_fields == 5
    lm, tok = load_frozen_lm(d/"lm")
    from trainbook.resource.pretrain import value_semantic_tables
    raw = table.raw_features()
    feats = torch.from_numpy(norm(raw))
    for k, (keys, emb) in enumerate(value_semantic_tables(lm, tok, table)):
        got = enc.value_tokens(feats, k)
        want = emb[torch.as_tensor([list(keys).index(v) for v in raw[:, k]])]
        torch.testing.assert_close(got, want)
    odd = raw[:1].copy(); odd[0, 2] = 5.0                              # 5 GB is not a registry value
    assert enc.value_tokens(torch.from_numpy(norm(odd)), 2).abs().sum() == 0


def test_refit_lm_does_not_depend_on_the_split_fit(small, tmp_path):
    "The refit LM is the same whatever the held-out fit before it did (issue 21: its length used to change the refit's"
    "initial weights through the global RNG, and with them which LM the encoder had to reach)."
    d, table = small
    torch.randn(7)                                       # whatever ran before in the process does not matter either
    pretrain_lm(table, tmp_path/"lm2", LMConfig(hidden_size=32, intermediate_size=64, epochs=1, split_epochs=2, split_patience=5, device="cpu"))
    a, b = _lm_state(d/"lm"), _lm_state(tmp_path/"lm2")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_lm_reports_its_own_ceiling(small):
    "pretrain_lm writes what caps exact reconstruction (issue 21): the share of sequences the LM writes back from its own"
    "slot, and how crowded the latency tokens' embeddings are."
    d, table = small
    m = json.loads((d/"lm"/"lm_metrics.json").read_text())
    assert 0.0 <= m["slot_exact"] <= 1.0
    lm, tok = load_frozen_lm(d/"lm")
    from trainbook.resource.lm import nearest_neighbour_cosine
    from trainbook.resource.text import fmt_number
    ids = sorted({tok(fmt_number(v), add_special_tokens=False).input_ids[0] for v in table.frame.latency_ms})
    want = float(nearest_neighbour_cosine(lm.get_input_embeddings().weight[ids].detach()).median())
    assert m["latency_nn_cosine_median"] == pytest.approx(want, abs=1e-6)


def test_run_config_and_lm_default_agree():
    "`trainbook resource pretrain-lm` and `trainbook run resource-encoder` build the same LM size: the 64-d LM crowded"
    "its latency tokens and capped exact reconstruction at 0.98 (issue 21)."
    from trainbook.core.runs import run_params
    p = run_params("resource-encoder")
    c = LMConfig()
    assert (p["lm_hidden"], 4 * p["lm_hidden"], p["lm_epochs"]) == (c.hidden_size, c.intermediate_size, c.epochs)
    assert c.hidden_size > 64

def _reader_parts(small):
    "The small fixture's trained encoder, its rows, the LM captioner and the table's true normalised values."
    from trainbook.resource.encoder import PrefixCaptioner, DescriptionBank
    from trainbook.resource.decoder import config_values
    d, table = small
    if not (d/"enc"/"pretrained_encoder.pt").exists(): pytest.skip("needs the pre-training test")
    enc, _, norm, _ = load_pretrained_encoder(d/"enc"/"pretrained_encoder.pt")
    lm, tok = load_frozen_lm(d/"lm")
    cap = PrefixCaptioner(enc, lm, DescriptionBank(table, tok, styles=[0]))
    return table, enc, norm, cap, tok, config_embeddings(enc, table, norm), torch.from_numpy(norm(config_values(table)))

def test_k_best_descriptions_are_k_distinct_beams(small):
    from trainbook.resource.encoder import k_best_descriptions
    table, enc, norm, cap, tok, rows, _ = _reader_parts(small)
    got = k_best_descriptions(cap, tok, rows[:5], k=4, batch_size=2)          # batches of 2: the grouping by row holds
    assert len(got) == 5 and all(len(ts) == 4 and len(set(ts)) == 4 for ts in got)
    assert got[:2] == k_best_descriptions(cap, tok, rows[:2], k=4)

def test_reader_takes_a_reading_only_if_it_reencodes_to_its_row(small, monkeypatch):
    """Rows moved off the encoder's outputs, read as the configurations they came from (what a LM that reads the nearest
    code does): the plain reader returns those values, the checked one refuses them, and keeps every reading of an unmoved row."""
    import trainbook.resource.scorer as scorer
    from trainbook.resource.text import render_description
    table, enc, norm, cap, tok, rows, truth = _reader_parts(small)
    texts = [render_description(table.record(i), 0) for i in range(len(table))]
    monkeypatch.setattr(scorer, "decode_prefixes", lambda c, t, r: texts[:len(r)])
    monkeypatch.setattr(scorer, "k_best_descriptions", lambda c, t, r, k: [[texts[0]] * k for _ in r])
    moved = rows.clone(); moved[::3] += 0.05 * rows.std() * torch.randn(moved[::3].shape, generator=torch.Generator().manual_seed(0))
    assert torch.isclose(scorer.FrozenLMReader(cap, tok, norm)(moved), truth.float(), atol=1e-5).all()   # taken at its word
    checked = scorer.FrozenLMReader(cap, tok, norm, table.tool_ids(), enc)
    got = checked(moved)
    finite = torch.isfinite(got).all(1)
    assert not finite[::3].any() and finite[1::3].all() and finite[2::3].all()
    assert torch.isclose(got[finite], truth[finite].float(), atol=1e-5).all()
    assert checked.counts == {"first_reading": len(table) - len(moved[::3]), "repaired": 0, "unread": len(moved[::3])}
    assert torch.isclose(checked(rows), truth.float(), atol=1e-5).all() and checked.counts["unread"] == 0
    with pytest.raises(UserError, match="tool id"): scorer.FrozenLMReader(cap, tok, norm, encoder=enc)

def test_reader_repairs_a_misread_row_from_the_next_beams(small, monkeypatch):
    "A greedy misreading (row 0) is replaced by the first beam that re-encodes, not the best-scored one; a row with no such beam is NaN."
    import trainbook.resource.scorer as scorer
    from trainbook.resource.text import render_description
    table, enc, norm, cap, tok, rows, truth = _reader_parts(small)
    text = lambda i, **change: render_description({**table.record(i), **change}, 0)
    monkeypatch.setattr(scorer, "decode_prefixes", lambda c, t, r: [text(0, latency_ms=7), text(1, cpu_cores=64)] + [text(i) for i in range(2, len(r))])
    beams = {0: [text(0, latency_ms=7), text(0, latency_ms=9), text(0), text(1)], 1: [text(1, cpu_cores=64), text(1, gpu_sm=1), "x", "y"]}
    monkeypatch.setattr(scorer, "k_best_descriptions", lambda c, t, r, k: [beams[int(torch.cdist(x[None], rows).argmin())] for x in r])
    reader = scorer.FrozenLMReader(cap, tok, norm, table.tool_ids(), enc, beams=4)
    got = reader(rows)
    assert torch.equal(got[0], truth[0].float()) and torch.isnan(got[1]).all()
    assert torch.isclose(got[2:], truth[2:].float(), atol=1e-5).all()
    assert reader.counts == {"first_reading": len(table) - 2, "repaired": 1, "unread": 1}
