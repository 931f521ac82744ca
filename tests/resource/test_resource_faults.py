"""Fault injection for `trainbook resource make-data | pretrain-lm | pretrain | export | train-decoder | plan` (issues 18, 21).

Every bad input must end in exit code 2 and ONE line on stderr that names the file (and line or byte
where known), with no traceback and nothing written. Classes of the issue covered here:
2 (paths listed in the export sidecar stay inside the export folder), 4 (zero/negative counts, NaN
rates, ratios 0/1), 5 (not UTF-8, folders where files are expected, wrong types in registries,
profiles and export files, output paths, checkpoint contents), 6 (an unsafe or corrupt checkpoint is
refused in our words), 8 (duplicate keys) and the export hashes (a tampered file is refused by name).
None of these tests trains anything: every refusal comes before the first epoch.
"""
import json, shutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from trainbook.core.cli import main
from trainbook.core.errors import DataError
from trainbook.resource.data import load_config_table, load_profiles, make_profiling_frame, tool_registry
from trainbook.resource.export import LOOKUP, MASKS, SIDECAR, WEIGHTS, export_config_weights
from faults import Evil, edit_json, files_under, in_our_words, json_edited, refused, refused_process, unwritable   # tests/faults.py

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADER = "tool,input_size,cpu_core,cpu_mem_gb,gpu_sm,gpu_mem_gb,latency_ms"


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    "A 2-tool, 25-configuration registry and an export of random rows over it (no training)."
    d = tmp_path_factory.mktemp("resource_faults")
    frame = make_profiling_frame()
    frame = frame[frame.tool.isin(["image_classification", "object_detection"])].iloc[::20].reset_index(drop=True)
    (d / "tools.json").write_text(json.dumps(tool_registry()))
    frame.to_csv(d / "profiling.csv", index=False)
    table = load_config_table(d / "tools.json", d / "profiling.csv")
    export_config_weights(torch.randn(len(table), 8, generator=torch.Generator().manual_seed(0)), table, d / "export")
    return d


def tp(reg):
    return ["--tools", reg / "tools.json", "--profiles", reg / "profiling.csv"]


# ---------------------------------------------------------------- class 4: counts, rates, ratios
LM_FAULTS = [(["--epochs", "-1"], "epochs"), (["--epochs", "0"], "epochs"), (["--lr", "nan"], "lr"), (["--lr", "0"], "lr"),
             (["--batch-size", "0"], "batch_size"), (["--heldout_frac", "0"], "heldout_frac"),
             (["--heldout_frac", "1.0"], "heldout_frac"), (["--hidden_size", "0"], "hidden_size"),
             (["--num_heads", "0"], "num_heads"), (["--hidden_size", "30", "--num_heads", "4"], "num_heads"),
             (["--p_bos", "2"], "p_bos"), (["--split_epochs", "0"], "split_epochs"), (["--num_layers", "-2"], "num_layers"),
             (["--intermediate_size", "0"], "intermediate_size"), (["--seed", "-1"], "seed")]


@pytest.mark.parametrize("opts,key", LM_FAULTS)
def test_pretrain_lm_values(opts, key, reg, tmp_path, capsys):
    refused(capsys, "resource", "pretrain-lm", *tp(reg), "--out", tmp_path / "lm", *opts, says=(key,))
    assert not (tmp_path / "lm").exists()


PRETRAIN_FAULTS = [(["--num_epochs", "-1"], "num_epochs"), (["--num_epochs", "0"], "num_epochs"), (["--lr", "nan"], "lr"),
                   (["--batch_size", "0"], "batch_size"), (["--dropout", "1.5"], "dropout"), (["--num_heads", "0"], "num_heads"),
                   (["--mlp_hidden", "0"], "mlp_hidden"), (["--limit_configs", "-3"], "limit_configs"),
                   (["--checkpoint_freq", "-1"], "checkpoint_freq"), (["--eval_styles", "7"], "eval_styles"),
                   (["--warmup_ratio", "1"], "warmup_ratio"), (["--weight_decay", "-1"], "weight_decay"),
                   (["--max_grad_norm", "0"], "max_grad_norm"), (["--num_copies", "0"], "num_copies"),
                   (["--latency_digits", "-1"], "latency_digits"), (["--target_loss", "nan"], "target_loss")]


@pytest.mark.parametrize("opts,key", PRETRAIN_FAULTS)
def test_pretrain_values(opts, key, reg, tmp_path, capsys):
    refused(capsys, "resource", "pretrain", "--tools_path", reg / "tools.json", "--profiles_path", reg / "profiling.csv",
            "--output_dir", tmp_path / "enc", *opts, says=(key,))
    assert not (tmp_path / "enc").exists()


DECODER_FAULTS = [(["--epochs", "-1"], "epochs"), (["--epochs", "0"], "epochs"), (["--lr", "nan"], "lr"),
                  (["--batch-size", "0"], "batch_size"), (["--heldout_frac", "0"], "heldout_frac"),
                  (["--heldout_frac", "1.0"], "heldout_frac"), (["--p_none", "1"], "p_none"), (["--p_none", "-0.1"], "p_none"),
                  (["--num_train", "0"], "num_train"), (["--num_val", "0"], "num_val"), (["--hidden", "0"], "hidden"),
                  (["--task_dim", "-1"], "task_dim"), (["--feas_weight", "inf"], "feas_weight")]


@pytest.mark.parametrize("opts,key", DECODER_FAULTS)
def test_train_decoder_values(opts, key, reg, tmp_path, capsys):
    refused(capsys, "resource", "train-decoder", "--export", reg / "export", *tp(reg), "--out", tmp_path / "dec", *opts, says=(key,))
    assert not (tmp_path / "dec").exists()


def test_make_data_values(tmp_path, capsys):
    for seed in ("-1", "nan", "abc"):
        refused(capsys, "resource", "make-data", "--seed", seed, "--out", tmp_path / "d", says=("--seed",))
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------- class 5 / 8: registry and profiles
def _registry_faults(tmp_path):
    good = json.dumps(tool_registry())
    return [
        ("dup.json", '[{"name": "image_classification",\n  "name": "object_detection"}]', ":2", "duplicate key 'name'"),
        ("desc.json", json.dumps([{"name": "image_classification", "description": ["x"]}]), "", "'description' must be text"),
        ("name.json", json.dumps([{"name": 5}]), "", "non-empty 'name'"),
        ("obj.json", json.dumps({"tools": []}), "", "non-empty list"),
        ("nan.json", '[{"name": "a", "w": NaN}]', ":1", "NaN"),
        ("latin.json", good[:30].encode() + b"\xe9" + good[30:].encode(), "", "byte 30: not UTF-8"),
        ("trunc.json", good[:50], "", "invalid JSON"),
    ]


def test_registry_faults_every_command(reg, tmp_path, capsys):
    "A bad tools.json is refused by each command that reads one, before anything is written."
    for name, content, line, says in _registry_faults(tmp_path):
        p = tmp_path / name
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
        prof = reg / "profiling.csv"
        for cmd in (["resource", "pretrain-lm", "--tools", p, "--profiles", prof, "--out", tmp_path / "lm"],
                    ["resource", "pretrain", "--tools_path", p, "--profiles_path", prof, "--output_dir", tmp_path / "enc"],
                    ["resource", "train-decoder", "--export", reg / "export", "--tools", p, "--profiles", prof, "--out", tmp_path / "dec"]):
            refused(capsys, *cmd, names=f"{p}{line}", says=(says,))
    refused(capsys, "resource", "pretrain-lm", "--tools", tmp_path, "--profiles", reg / "profiling.csv", "--out", tmp_path / "lm",
            names=tmp_path, says=("is a directory",))
    assert not {"lm", "enc", "dec"} & files_under(tmp_path)


def test_profile_faults(reg, tmp_path, capsys):
    good = (reg / "profiling.csv").read_text()
    cases = [
        ("big.csv", good + "object_detection,small,2,4.0,20,2.0,1e300\n", f":", "column 'latency_ms'"),
        ("inf.csv", good + "object_detection,small,2,inf,20,2.0,100\n", "", "column 'cpu_mem_gb'"),
        ("digits.csv", good + "object_detection,small," + "9" * 400 + ",4.0,20,2.0,100\n", "", "column 'cpu_core'"),
        ("neg.csv", good + "object_detection,small,2,4.0,-20,2.0,100\n", "", "column 'gpu_sm'"),
        ("size.csv", good + "object_detection,huge,2,4.0,20,2.0,100\n", "", "input_size"),
        ("tool.csv", good + "speech,small,2,4.0,20,2.0,100\n", "", "unknown tool 'speech'"),
        ("short.csv", good + "object_detection,small,2\n", "", "fields"),
        ("latin.csv", good.encode() + b"object_detection,sm\xe4ll,2,4.0,20,2.0,100\n", "", "not UTF-8"),
    ]
    n = good.count("\n") + 1
    for name, content, _, says in cases:
        p = tmp_path / name
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
        msg = refused(capsys, "resource", "pretrain-lm", "--tools", reg / "tools.json", "--profiles", p, "--out", tmp_path / "lm",
                      names=p, says=(says,))
        if name != "latin.csv": assert f"line {n}" in msg, msg
        else: assert f"byte {content.index(0xE4)}" in msg, msg
    refused(capsys, "resource", "train-decoder", "--export", reg / "export", "--tools", reg / "tools.json", "--profiles", tmp_path,
            names=tmp_path, says=("is a directory",))
    assert not (tmp_path / "lm").exists()


_CELLS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e300", "0", "-0", "-1", "1e-300", "0x10", "١٢", "9" * 400, "", " ",
                                    "2", "4.0", "20", "100", "1_000"]),
                   st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.integers(min_value=-(10 ** 40), max_value=10 ** 40).map(str))


@pytest.mark.timeout(120)
@HYP
@given(cells=st.lists(_CELLS, min_size=5, max_size=5), size=st.sampled_from(["small", "medium", "large", "xl", ""]))
def test_generated_profile_rows(reg, tmp_path_factory, cells, size):
    "Any generated row either loads as finite positive numbers below 2**53, or is refused naming the file and its line."
    p = tmp_path_factory.mktemp("gen") / "p.csv"
    row = ",".join(["object_detection", size] + [c.replace(",", ";").replace("\n", " ").replace("\r", " ").replace('"', "'") for c in cells])
    p.write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    try: frame = load_profiles(p, ["object_detection"])
    except DataError as e:
        assert str(p) in str(e) and "line 2" in str(e) and "\n" not in str(e), str(e)
        return
    vals = frame[["cpu_core", "cpu_mem_gb", "gpu_sm", "gpu_mem_gb", "latency_ms"]].to_numpy(float)
    assert ((vals > 0) & (vals <= 2 ** 53)).all()


# ---------------------------------------------------------------- class 5 / 6: the encoder checkpoint (export)
def _enc_state():
    return {"semantic": torch.zeros(2, 8), "norm.weight": torch.ones(8)}


ENCODER_FAULTS = [
    ("no-config", {"state_dict": _enc_state(), "meta": {}}, "'config'"),
    ("list", [1, 2], "list"),
    ("rebracket", {"state_dict": {"head.0.weight": torch.zeros(2, 2)}, "config": {"data": {}, "training": {}},
                   "meta": {"target_type": "binary", "threshold": 0.5}}, "data"),
    ("export-file", {"weights": torch.zeros(3, 4), "num_configs": 3, "hidden_dim": 4, "description": ""}, "'state_dict'"),
    ("no-normalizer", {"state_dict": _enc_state(), "config": {}, "meta": {"tool_names": ["a"], "num_configs": 1}}, "normalizer"),
    ("neg-dims", {"state_dict": _enc_state(), "config": {"num_heads": -2, "mlp_hidden": -5}, "meta": {"normalizer": {}}}, "must be >= 1"),
    ("bad-types", {"state_dict": _enc_state(), "config": {"num_heads": "abc"}, "meta": {"normalizer": {}}}, "num_heads"),
    ("state-list", {"state_dict": [1, 2], "config": {}, "meta": {}}, "state_dict"),
    ("no-semantic", {"state_dict": {"x": torch.zeros(1)}, "config": {}, "meta": {"normalizer": {"mean": [0.0] * 6, "std": [1.0] * 6},
                     "tool_names": ["a"], "num_configs": 1}}, "semantic"),
]


def test_encoder_checkpoint_faults(reg, tmp_path, capsys):
    for name, obj, says in ENCODER_FAULTS:
        p = tmp_path / f"{name}.pt"; torch.save(obj, p)
        refused(capsys, "resource", "export", "--encoder", p, "--out", tmp_path / "exp", *tp(reg), names=p, says=(says,))
    assert not (tmp_path / "exp").exists()


def test_unsafe_and_corrupt_encoder(reg, tmp_path, capsys):
    "Class 6: what was refused and why, in our words; never PyTorch's advice to switch the check off."
    evil = tmp_path / "evil.pt"; torch.save({"state_dict": {}, "config": Evil(), "meta": {}}, evil)
    trunc = tmp_path / "trunc.pt"; torch.save({"state_dict": _enc_state()}, trunc); trunc.write_bytes(trunc.read_bytes()[:300])
    junk = tmp_path / "junk.pt"; junk.write_bytes(b"\xff" * 100)
    for p, says in ((evil, "refused"), (trunc, "corrupt or truncated"), (junk, "corrupt or truncated"), (tmp_path, "is a directory")):
        in_our_words(refused(capsys, "resource", "export", "--encoder", p, "--out", tmp_path / "exp", *tp(reg), names=p, says=(says,)))
    assert not (tmp_path / "exp").exists()


# ---------------------------------------------------------------- tampering and class 2: the export folder
def _dec(reg, export, out):
    return ["resource", "train-decoder", "--export", export, *tp(reg), "--out", out]


def test_tampered_export_refused_by_name(reg, tmp_path, capsys):
    e = shutil.copytree(reg / "export", tmp_path / "w")
    w = torch.load(e / WEIGHTS); w["weights"] = w["weights"] * -3; torch.save(w, e / WEIGHTS)     # same shape, other values
    refused(capsys, *_dec(reg, e, tmp_path / "out"), names=e, says=(f"{WEIGHTS} changed after the export",))
    e = shutil.copytree(reg / "export", tmp_path / "l")
    with json_edited(e / LOOKUP) as lk: lk["0"]["latency_ms"] += 1
    refused(capsys, *_dec(reg, e, tmp_path / "out"), names=e, says=(f"{LOOKUP} changed after the export",))
    e = shutil.copytree(reg / "export", tmp_path / "s"); (e / SIDECAR).unlink()      # removing the hashes is no way around them
    refused(capsys, *_dec(reg, e, tmp_path / "out"), names=e / SIDECAR, says=("hashes are missing",))
    assert not (tmp_path / "out").exists()


def test_sidecar_paths_stay_inside(reg, tmp_path, capsys):
    "Class 2: the sidecar names files; a path leaving the export folder (or any unknown name) is refused, never read."
    for bad in ("../../../etc/passwd", "/etc/passwd", "sub/../../x", "extra.bin"):
        e = shutil.copytree(reg / "export", tmp_path / f"e{len(list(tmp_path.iterdir()))}")
        with json_edited(e / SIDECAR) as side: side["files"][bad] = {"sha256": "0" * 64, "bytes": 1}
        refused(capsys, *_dec(reg, e, tmp_path / "out"), names=e / SIDECAR, says=(repr(bad), "not an export file"))
    assert not (tmp_path / "out").exists()


def test_export_file_faults(reg, tmp_path, capsys):
    cases = [
        (WEIGHTS, lambda p: torch.save({"weights": [1.0, 2.0], "num_configs": 2}, p), "2-D float tensor"),
        (WEIGHTS, lambda p: torch.save({"weights": torch.zeros(25, 8, dtype=torch.long)}, p), "2-D float tensor"),
        (WEIGHTS, lambda p: torch.save({"weights": torch.full((25, 8), float("nan"))}, p), "NaN"),
        (WEIGHTS, lambda p: torch.save({"state_dict": {}}, p), "'weights'"),
        (MASKS, lambda p: p.write_bytes(b"\xff\xfe"), "byte 0: not UTF-8"),
        (MASKS, lambda p: p.write_text('{"image_classification": [0],\n "image_classification": [1]}'), "duplicate key"),
        (MASKS, lambda p: p.write_text('{"image_classification": [true, 1.5]}'), "integer ids"),
        (LOOKUP, lambda p: p.write_text('{"0": 5}'), "expected an object"),
        (LOOKUP, lambda p: p.write_text('{"x": {}}'), "integers"),
        (LOOKUP, lambda p: (p.unlink(), p.mkdir()), "is a directory"),
        (SIDECAR, lambda p: p.write_text('{"schema": "resource_export", "schema_version": 1, "files": [1]}'), "'files'"),
        (SIDECAR, lambda p: p.write_text('{"schema": "bam_artifacts", "schema_version": 1}'), "schema"),
    ]
    for i, (name, spoil, says) in enumerate(cases):
        e = shutil.copytree(reg / "export", tmp_path / f"e{i}"); spoil(e / name)
        refused(capsys, *_dec(reg, e, tmp_path / "out"), names=e / name, says=(says,))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- class 5: output paths
def test_output_paths(reg, tmp_path, capsys):
    f = tmp_path / "afile"; f.write_text("x")
    enc = tmp_path / "enc.pt"; torch.save({"x": 1}, enc)
    for cmd in (["resource", "make-data", "--out", f], ["resource", "make-data", "--out", f / "sub"],
                ["resource", "pretrain-lm", *tp(reg), "--out", f],
                ["resource", "pretrain", "--tools_path", reg / "tools.json", "--output_dir", f],
                ["resource", "export", "--encoder", enc, "--out", f, *tp(reg)],
                ["resource", "train-decoder", "--export", reg / "export", *tp(reg), "--out", f]):
        refused(capsys, *cmd, names=f)
    (tmp_path / "dec" / "decoder_comparison.json").mkdir(parents=True)
    refused(capsys, "resource", "train-decoder", "--export", reg / "export", *tp(reg), "--out", tmp_path / "dec",
            names=tmp_path / "dec" / "decoder_comparison.json", says=("is a directory",))
    with unwritable(tmp_path / "ro") as ro:
        refused(capsys, "resource", "pretrain-lm", *tp(reg), "--out", ro / "lm", names=ro / "lm", says=("not writable",))
        refused(capsys, "resource", "train-decoder", "--export", reg / "export", *tp(reg), "--out", ro, names=ro, says=("not writable",))
        assert list(ro.iterdir()) == []
    assert files_under(tmp_path) == {"afile", "enc.pt", "dec", "dec/decoder_comparison.json", "ro"}


# ---------------------------------------------------------------- class 5 / 8: YAML configs of the trainers
def test_config_files(reg, tmp_path, capsys):
    dup = tmp_path / "dup.yaml"; dup.write_text("num_epochs: 2\nlr: 0.01\nnum_epochs: 3\n")
    latin = tmp_path / "latin.yaml"; latin.write_bytes(b"llm_model: caf\xe9\n")
    typ = tmp_path / "typ.yaml"; typ.write_text("batch_size: [1, 2]\n")
    for cmd in (["resource", "pretrain", "--output_dir", tmp_path / "enc"],
                ["resource", "pretrain-lm", *tp(reg), "--out", tmp_path / "lm"],
                ["resource", "train-decoder", "--export", reg / "export", *tp(reg), "--out", tmp_path / "dec"]):
        refused(capsys, *cmd, "--config", dup, names=f"{dup}:3", says=("duplicate key 'num_epochs'",))
        refused(capsys, *cmd, "--config", latin, names=latin, says=(f"byte {latin.read_bytes().index(0xE9)}", "not UTF-8"))
        refused(capsys, *cmd, "--config", tmp_path, names=tmp_path, says=("is a directory",))
        refused(capsys, *cmd, "--config", typ, says=("batch_size",))
    assert not {"enc", "lm", "dec"} & files_under(tmp_path)


def test_language_model_folder_contents(reg, tmp_path, capsys):
    "A model folder whose config.json is not JSON, or describes negative sizes, is refused in one line."
    bad = tmp_path / "badlm"; bad.mkdir(); (bad / "config.json").write_text("{not json")
    neg = tmp_path / "neglm"; neg.mkdir(); (neg / "config.json").write_text('{"model_type": "qwen2", "hidden_size": -4}')
    for lm in (bad, neg, tmp_path / "nolm"):
        refused(capsys, "resource", "pretrain", "--tools_path", reg / "tools.json", "--profiles_path", reg / "profiling.csv",
                "--llm_model", lm, "--output_dir", tmp_path / "enc", names=lm)
    assert not (tmp_path / "enc").exists()


# ---------------------------------------------------------------- `plan`: requests, decoder folders, checkpoints
REQ = "Draw a box around every car. Input size: small. Limits: at most 2 CPU cores, 4 GB RAM, 20 GPU SMs, 2 GB GPU memory, latency within 900 ms."


@pytest.fixture(scope="module")
def decoder(reg):
    "A decoder folder as `train-decoder` writes it, with untrained weights (nothing here trains): its manifest and one checkpoint."
    from trainbook.resource.data import FeatureNormalizer
    from trainbook.resource.scorer import DecoderConfig, VARIANTS, make_decoder, variant_folder, write_decoder_manifest
    table = load_config_table(reg / "tools.json", reg / "profiling.csv")
    cfg = DecoderConfig(hidden=8, pair_hidden=8, tool_encoder_epochs=0)
    d = reg / "decoder"; (d / variant_folder(VARIANTS[0])).mkdir(parents=True)
    readout = torch.randn(2, cfg.task_dim, generator=torch.Generator().manual_seed(0)), torch.zeros(2)
    model = make_decoder(VARIANTS[0], cfg.task_dim + 6, table, torch.randn(len(table), 8), cfg, readout)
    torch.save(model.state_dict(), d / variant_folder(VARIANTS[0]) / "best.pt")
    write_decoder_manifest(d, cfg, table, FeatureNormalizer.fit(table.raw_features()), [VARIANTS[0]], "minilm")
    return d


def _plan(reg, dec, *more):
    return ["resource", "plan", "--decoder", dec, *tp(reg), *more]


def test_plan_requests_refused_where_they_are(reg, decoder, tmp_path, capsys):
    "Each request is checked before any model loads: the one that does not read is named by its position or file line."
    assert main(["resource", "plan", "--decoder", str(decoder), *map(str, tp(reg)), REQ]) == 0    # the folder itself is sound
    assert "configuration" in capsys.readouterr().out
    refused(capsys, *_plan(reg, decoder, REQ, "Caption it."), names="request 2", says=("does not state its input size", "Small input, 2 cores"))
    refused(capsys, *_plan(reg, decoder, REQ.replace("small", "huge")), says=("'huge' is not one of small, medium, large",))
    # a user's own wording is read, and the terminal says what was read; a limit it leaves out is named
    assert main(list(map(str, _plan(reg, decoder, "Caption this photo, small input, 2 vCPUs / 4GB RAM / no GPU, within 1.5 s")))) == 0
    out = capsys.readouterr().out                # the tool is chosen from the whole request, so no task cut from it is shown
    assert "read as: small input, at most 2 CPU cores, 4 GB RAM, 0 GPU SMs, 0 GB GPU memory, 1500 ms; the tool from the whole request" in out
    assert main(list(map(str, _plan(reg, decoder, REQ)))) == 0                  # a generated form: its task is what the tool is chosen from
    assert "read as: task " in capsys.readouterr().out
    refused(capsys, *_plan(reg, decoder, "Caption this photo, small input, 2 cores, 4GB RAM, 20 SMs, 900ms"), names="request 1",
            says=("does not state its GPU memory",))
    refused(capsys, *_plan(reg, decoder, "Caption this photo, small input, 2 cores, 8 cores, 4GB RAM, no GPU, 900ms"),
            says=("two CPU cores limits ('2 cores' and '8 cores')",))
    f = tmp_path / "requests.txt"; f.write_text(f"# mine\n{REQ}\n{REQ.replace('900 ms', '9.0.0 ms')}\n")
    refused(capsys, *_plan(reg, decoder, "--requests", f), names=f"{f}: line 3", says=("not a number",))
    latin = tmp_path / "latin.txt"; latin.write_bytes(REQ.encode() + b"\n caf\xe9")
    refused(capsys, *_plan(reg, decoder, "--requests", latin), names=latin, says=(f"byte {len(REQ) + 5}", "not UTF-8"))
    refused(capsys, *_plan(reg, decoder, "--requests", tmp_path), names=tmp_path, says=("directory",))
    refused(capsys, *_plan(reg, decoder, "--requests", tmp_path / "none.txt"), names=tmp_path / "none.txt")
    refused(capsys, *_plan(reg, decoder), says=("no request",))
    refused(capsys, *_plan(reg, decoder, "--requests", f, REQ), says=("not both",))
    refused(capsys, *_plan(reg, decoder, "--confirm_margin", "1.5", REQ), says=("confirm_margin", "< 1"))
    refused(capsys, *_plan(reg, decoder, "--confirm_margin", "nan", REQ), says=("finite number",))


def test_plan_decoder_folder_faults(reg, decoder, tmp_path, capsys):
    "A folder that is not a decoder's, a manifest or checkpoint that is wrong, another table: one line naming what."
    from trainbook.resource.scorer import DECODER_MANIFEST
    best = "scorer_exported_embeddings/best.pt"
    refused(capsys, *_plan(reg, tmp_path, REQ), names=tmp_path, says=("no decoder.json",))
    def spoiled(name, spoil):
        d = shutil.copytree(decoder, tmp_path / name); spoil(d); return d
    for name, spoil, where, says in [
        ("schema", lambda d: edit_json(d / DECODER_MANIFEST, schema="bam_artifacts"), DECODER_MANIFEST, "expected schema 'resource_decoder'"),
        ("dup", lambda d: (d / DECODER_MANIFEST).write_text('{"schema": "resource_decoder",\n "schema": "x"}'), DECODER_MANIFEST, "duplicate key"),
        ("key", lambda d: _edit_config(d, lr_typo=1), DECODER_MANIFEST, "unknown config key 'lr_typo'"),
        ("list", lambda d: edit_json(d / DECODER_MANIFEST, variants=["scorer, exported embeddings"]), DECODER_MANIFEST, "'variants' is missing or not a JSON object"),
        ("nonorm", lambda d: edit_json(d / DECODER_MANIFEST, normalizer={"mean": [0.0]}), DECODER_MANIFEST, "six numbers"),
        ("leave", lambda d: edit_json(d / DECODER_MANIFEST, variants={"scorer, exported embeddings": "../../x"}), DECODER_MANIFEST, "leaves its folder"),
        ("enc", lambda d: edit_json(d / DECODER_MANIFEST, task_encoder="bert"), DECODER_MANIFEST, "'task_encoder' must be one of"),
        ("trunc", lambda d: (d / best).write_bytes((d / best).read_bytes()[:300]), best, "corrupt or truncated"),
        ("evil", lambda d: torch.save({"x": Evil()}, d / best), best, "refused"),
        ("gone", lambda d: (d / best).unlink(), best, "checkpoint not found"),
        ("notdec", lambda d: torch.save({"weights": torch.zeros(25, 8)}, d / best), best, "not a decoder checkpoint"),
        ("other", lambda d: torch.save({**torch.load(d / best), "emb": torch.zeros(25, 4)}, d / best), best, "incompatible with this model"),
        ("tuned", lambda d: edit_json(d / DECODER_MANIFEST, task_encoder="tool_encoder"), "tool_encoder", "tool encoder is missing"),
        ("custom", lambda d: edit_json(d / DECODER_MANIFEST, task_encoder="custom"), "", "passed in code"),
    ]:
        d = spoiled(name, spoil)
        in_our_words(refused(capsys, *_plan(reg, d, REQ), names=d / where, says=(says,)))
    # the tool encoder's folder holds no model: said when the planner first encodes a request
    d = spoiled("junk", lambda d: edit_json(d / DECODER_MANIFEST, task_encoder="tool_encoder"))
    (d / "tool_encoder").mkdir(); (d / "tool_encoder" / "config.json").write_text("{}")
    refused(capsys, *_plan(reg, d, REQ), names=d / "tool_encoder", says=("cannot load the sentence encoder",))
    refused(capsys, *_plan(reg, decoder, "--variant", "linear head, random init", REQ), says=("has no decoder 'linear head, random init'",))
    # the table the requests are answered from must be the one the decoder was trained on
    other = tmp_path / "other.csv"
    make_profiling_frame().query("tool == 'image_classification'").iloc[::30].to_csv(other, index=False)
    refused(capsys, "resource", "plan", "--decoder", decoder, "--tools", reg / "tools.json", "--profiles", other, REQ,
            names=decoder, says=("was trained on 25 configurations",))


def _edit_config(d, **kw):
    from trainbook.resource.scorer import DECODER_MANIFEST
    with json_edited(d / DECODER_MANIFEST) as m: m["config"].update(kw)


# ---------------------------------------------------------------- the real entry point
@pytest.mark.timeout(300)
def test_subprocess_tampered_export(reg, tmp_path):
    "The installed command on an export whose weights were multiplied by -3: exit 2, one line naming the file."
    e = shutil.copytree(reg / "export", tmp_path / "w")
    w = torch.load(e / WEIGHTS); w["weights"] = w["weights"] * -3; torch.save(w, e / WEIGHTS)
    refused_process(*_dec(reg, e, tmp_path / "out"), names=e, says=(f"{WEIGHTS} changed after the export",), timeout=280)
    assert not (tmp_path / "out").exists()
