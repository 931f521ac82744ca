"Multi-task tagger: tiny end-to-end training, checkpoint format, held-out layouts, metrics, baseline tagger, train CLI."
import dataclasses, json
from pathlib import Path
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from trainbook.core.artifacts import load_torch, read_json
from trainbook.core.errors import CheckpointError, UserError
from trainbook.mainframe.codecs import encode
from trainbook.mainframe.fields import BINARY, PACKED, RDW, TEXT, ZONED, encode_binary, encode_packed, encode_zoned
from trainbook.mainframe.consensus import N_FEATURES
from trainbook.mainframe.multitask import MultiTaskConfig, _default_train, build_splits, parse_real_spec, train_multitask
from trainbook.mainframe.tagger import MultiTaskModelConfig, MultiTaskTagger, load_multitask, window_plan, PAD_ID
from trainbook.mainframe.spans import heuristic_tag, spans_from_labels, tagging_metrics


def tiny_cfg(out, **kw):
    base = dict(output_dir=str(out), n_flat=160, n_copybooks=6, records_per_copybook=5, n_val_flat=20, n_val_copybooks=2,
                n_test_flat=30, n_test_copybooks=3, test_records_per_copybook=4, n_consensus_copybooks=6,
                consensus_records_per_copybook=4, real_train_files=[], real_test_files=[],
                real_max_records=20, model=MultiTaskModelConfig(d_model=32, n_heads=2, n_layers=1, max_len=64),
                train=dataclasses.replace(_default_train(), epochs=1, device="cpu", progress=False))
    base.update(kw)
    return MultiTaskConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("mt")
    return out, train_multitask(tiny_cfg(out))


def test_train_writes_checkpoint_and_metrics(trained):
    out, m = trained
    ck = load_torch(out / "multihead.pt")            # weights_only load
    assert ck["kind"] == "multihead" and ck["format_version"] == 1
    assert set(ck) >= {"state_dict", "model_config", "training_config", "tag_names", "codepages"}
    meta = read_json(out / "multihead_metrics.json", "multihead_metrics", 1)
    for name in ("synthetic-flat", "synthetic-copybook"):
        t = meta["test"][name]
        for key in ("tag_accuracy", "boundary_f1", "boundary_precision", "boundary_recall", "field_exact_match", "per_tag_f1"):
            assert key in t["model"] and key in t["heuristic"]
        assert 0 <= t["model"]["tag_accuracy"] <= 1
        assert {"acc_full", "acc_none", "acc_partial"} <= set(t["codepage_model"]) and "acc_full" in t["codepage_heuristic"]
    model = load_multitask(out / "multihead.pt")
    assert isinstance(model, MultiTaskTagger) and not model.training


def test_load_rejects_other_checkpoints(trained, tmp_path):
    out, _ = trained
    with pytest.raises(CheckpointError, match="not a multihead checkpoint"):
        load_multitask(out / "train" / "best.pt")
    bad = tmp_path / "junk.pt"; bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_multitask(bad)


def test_checkpoint_carries_the_file_consensus(trained, tmp_path):
    out, m = trained
    model = load_multitask(out / "multihead.pt")
    assert model.consensus is not None and model.consensus.mean.shape == (N_FEATURES,)
    for name in ("synthetic-flat", "synthetic-copybook"):
        assert m["test"][name]["model_alone"]["n_records"] == m["test"][name]["model"]["n_records"] > 0
    # flat-layout records are files of one record: the file reading is the reading alone
    assert m["test"]["synthetic-flat"]["model_alone"]["boundary_f1"] == m["test"]["synthetic-flat"]["model"]["boundary_f1"]
    ck = load_torch(out / "multihead.pt")
    ck["consensus"]["weights"][0] = torch.zeros(3, 32, dtype=torch.float64)
    bad = tmp_path / "bad_consensus.pt"; torch.save(ck, bad)
    with pytest.raises(CheckpointError, match="bad_consensus.pt: consensus model shapes"):
        load_multitask(bad)


def test_consensus_files_are_neither_trained_nor_tested():
    s = build_splits(tiny_cfg("/tmp/unused"))
    cons = {r.layout for r in s.consensus}
    assert len(s.consensus) == 24 and len(cons) == 6
    assert not cons & {r.layout for recs in [s.train, *s.later_epochs] for r in recs}
    assert not cons & {r.layout for recs in s.test.values() for r in recs}


def test_test_layouts_are_never_training_layouts():
    s = build_splits(tiny_cfg("/tmp/unused"))
    seen = {r.layout for r in s.train}
    for name, recs in s.test.items():
        assert recs and not ({r.layout for r in recs} & seen), name
    assert s.dropped_overlap == 0


def test_real_files_held_out(cobrix_dir):
    s = build_splits(tiny_cfg("/tmp/unused", real_train_files=["test9"], real_test_files=["test16"], real_max_records=10))
    assert {r.group for r in s.train if r.group.startswith("real")} == {"real:test9"}
    assert "real:test16" in s.test and all(r.group == "real:test16" for r in s.test["real:test16"])
    with pytest.raises(UserError, match="both"):
        build_splits(tiny_cfg("/tmp/unused", real_train_files=["test9"], real_test_files=["test9"]))


def test_padding_does_not_change_predictions():
    torch.manual_seed(0)
    m = MultiTaskTagger(MultiTaskModelConfig(d_model=32, n_heads=2, n_layers=2, max_len=64)).eval()
    ids = torch.randint(0, 256, (1, 30))
    with torch.no_grad():
        a = m(ids, ids != PAD_ID)
        padded = torch.cat([ids, torch.full((1, 20), PAD_ID)], 1)
        b = m(padded, padded != PAD_ID)
    assert torch.allclose(a[1], b[1][:, :30], atol=1e-4) and torch.allclose(a[0], b[0], atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=0, max_size=80), st.data())
def test_spans_tile_the_record(tags, data):
    bnd = data.draw(st.lists(st.integers(0, 1), min_size=len(tags), max_size=len(tags)))
    spans = spans_from_labels(tags, bnd)
    pos = 0
    for s, e, t in spans:
        assert s == pos and e > s and all(x == t for x in tags[s:e]); pos = e
    assert pos == len(tags)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5000), st.integers(16, 512))
def test_window_plan_covers_every_byte_once(n, max_len):
    plan = window_plan(n, max_len)
    assert plan[0][2] == 0 and plan[-1][3] == n
    for (s, e, ks, ke), nxt in zip(plan, plan[1:] + [None]):
        assert s <= ks <= ke <= e and e - s <= max_len
        if nxt: assert ke == nxt[2]


def test_metrics_exact_and_off_by_one():
    gt = np.array([RDW] * 4 + [TEXT] * 6 + [PACKED] * 3); gb = np.zeros(13, int); gb[[0, 4, 10]] = 1
    perfect = tagging_metrics([(gt, gb)], [(gt, gb)])
    assert perfect["tag_accuracy"] == perfect["boundary_f1"] == perfect["field_exact_match"] == 1.0
    pt = gt.copy(); pt[10] = TEXT; pb = gb.copy(); pb[10] = 0; pb[11] = 1      # packed field starts one byte late
    m = tagging_metrics([(gt, gb)], [(pt, pb)])
    assert m["field_exact_match"] == 0.0 and m["tag_accuracy"] == 12 / 13
    assert m["boundary_recall"] == 2 / 3 and m["boundary_precision"] == 2 / 3
    assert tagging_metrics([(gt, gb)], [(gt, gb)], header_free=True)["n_bytes"] == 9


def test_heuristic_tagger_on_clear_patterns():
    rec = encode("SMITH JOHN  ", "cp037") + encode_packed(-98765, 7) + encode_zoned(1234, 6, signed=True) + encode_binary(3, 9)
    tags, bnd = heuristic_tag(rec)
    assert spans_from_labels(tags, bnd) == [(0, 12, TEXT), (12, 16, PACKED), (16, 22, ZONED), (22, 26, BINARY)]
    t2, b2 = heuristic_tag(b"\x00\x1a\x00\x00" + rec, header=4)
    assert (t2[:4] == RDW).all() and b2[4] == 1


def test_real_spec_parsing(tmp_path):
    f = tmp_path / "d.dat"; f.write_bytes(b"x"); c = tmp_path / "b.cob"; c.write_text(" ")
    assert parse_real_spec(f"CP273={f}") == ("cp273", f, None)
    assert parse_real_spec(f"cp500={f}:{c}") == ("cp500", f, c)
    for bad in ("nonsense", f"CP999={f}", f"CP037={tmp_path / 'missing'}", f"CP037={f}:{tmp_path / 'nope.cob'}"):
        with pytest.raises(UserError):
            parse_real_spec(bad)


def _cli():
    "The trainbook parser, with the multitask commands registered if the mainframe CLI does not have them yet."
    from trainbook.core.cli import build_parser
    from trainbook.mainframe.autodecode import register_multitask_cli
    p = build_parser()
    mf = p._subparsers._group_actions[0].choices["mainframe"]
    dom = mf._subparsers._group_actions[0]
    if "infer" not in dom.choices:
        train_sub = dom.choices["train"]._subparsers._group_actions[0]
        register_multitask_cli(train_sub, dom)
    return p


def run_cli(argv, capsys):
    "Run like `trainbook.core.cli.main`: UserError -> one line, exit 2."
    args = _cli().parse_args(argv)
    try: rc = int(args.func(args) or 0)
    except UserError as e:
        print(f"trainbook: error: {e}", file=__import__("sys").stderr); rc = 2
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_train_cli(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_flat: 120\nn_copybooks: 4\nrecords_per_copybook: 4\nn_val_flat: 10\nn_val_copybooks: 2\nn_test_flat: 10\n"
                   "n_test_copybooks: 2\ntest_records_per_copybook: 2\nn_consensus_copybooks: 4\nreal_train_files: []\nreal_test_files: []\n"
                   "model: {d_model: 16, n_heads: 2, n_layers: 1, max_len: 64}\ntrain: {progress: false}\n")
    rc, out, err = run_cli(["mainframe", "train", "multitask", "--output-dir", str(tmp_path / "o"), "--config", str(cfg),
                            "--epochs", "1", "--device", "cpu"], capsys)
    assert rc == 0, err
    assert (tmp_path / "o" / "multihead.pt").exists() and "synthetic-flat: tag acc" in out
    rc, out, err = run_cli(["mainframe", "train", "multitask", "--output-dir", str(tmp_path / "p"), "--real", "CP037=/nonexistent.dat"], capsys)
    assert rc == 2 and "file not found" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_mainframe_modules_import_no_cycle():
    "The model side is split by idea (spans, segments, consensus, tagger, tageval, multitask, copyinfer) with no import cycle, lazy imports included."
    import ast
    import trainbook.mainframe as pkg
    root = Path(pkg.__file__).parent
    graph = {}
    for f in root.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = ("trainbook.mainframe." + node.module) if node.level == 1 and node.module else (node.module or "")
                if mod.startswith("trainbook.mainframe."): deps.add(mod.rsplit(".", 1)[1])
        graph[f.stem] = deps - {f.stem}
    state = {}
    def visit(m, path):
        if state.get(m) == 1: raise AssertionError(f"import cycle: {' -> '.join(path + [m])}")
        if state.get(m) == 2: return
        state[m] = 1
        for d in sorted(graph.get(m, ())): visit(d, path + [m])
        state[m] = 2
    for m in sorted(graph): visit(m, [])
    assert "multitask" not in graph["consensus"] and not {"tagger", "multitask", "tageval"} & (graph["spans"] | graph["segments"])
    assert max(len((root / f"{m}.py").read_text().splitlines()) for m in ("spans", "segments", "tagger", "tageval", "multitask", "copyinfer", "copyscore")) < 500
