"""The layer_npz_v1 artifact contract, the payload-schema hash and BamCodec bytes."""
import hashlib, json, shutil
import numpy as np
import pytest

from trainbook.core.errors import CheckpointError, ConfigError, DataError
from trainbook.core.paths import data_dir
from trainbook.bam.artifacts import (BamCodec, Norm, payload_schema_hash, payload_schema_string, payload_bytes, pack_latent,
                                     unpack_latent, quantize, auto_scale, transmission, encode_layers, decode_layers, pca_codec,
                                     CODEC_ID, CODEC_VERSION)
from trainbook.bam.data import simulated_windows


def test_spec_hash_example():
    assert payload_schema_string(8, "int16", 32767) == "bam:latent_dim=8:packing=int16:scale=32767.0"
    assert payload_schema_hash(8, "int16", 32767).startswith("4abdc329f582")
    # the original project's example artifacts manifest carries the same hash
    ex = json.loads((data_dir() / "bam" / "loralink_examples" / "artifacts_bam.json").read_text())
    assert ex["payload_schema_hash"] == payload_schema_hash(8, "int16", 32767.0)
    assert payload_schema_hash(8, "int16", 32767) != payload_schema_hash(8, "int16", 32766)
    assert payload_schema_string(3, "float32", None).endswith("scale=none")


def test_payload_sizes_and_int_packing():
    assert [payload_bytes(4, p) for p in ("int8", "int16", "float16", "float32")] == [4, 8, 8, 16]
    b = pack_latent([1.0, -1.0, 0.25, 5.0], "int16", 32767)
    assert b == np.array([32767, -32767, 8192, 32767], dtype="<i2").tobytes()   # round, clip, little-endian
    assert b[:2] == b"\xff\x7f"
    q, sat = quantize([[0.0, -2.0]], "int8", 127)
    assert q.tolist() == [[0, -128]] and sat.tolist() == [[False, True]]
    np.testing.assert_allclose(unpack_latent(pack_latent([0.5], "int8", 100), 1, "int8", 100), [0.5])
    with pytest.raises(DataError, match="payload has 3 bytes, expected 4"):
        unpack_latent(b"abc", 2, "int16", 32767)
    Z = np.random.default_rng(0).normal(size=(5000, 3))
    s = auto_scale(Z, "int8")
    assert (np.abs(Z).max(1) * s > 127).mean() <= 0.0011


def test_transmission_clamps_before_cubic():
    a = np.linspace(-5, 5, 1001)
    for d in (0.1, 0.3, 0.49):
        fa = transmission(a, d)
        assert np.all(np.diff(fa) >= -1e-12) and np.abs(fa).max() <= 1 + 1e-12
    # the original clipped after the cubic: non-monotone for |a| > ~2.7 at delta=0.2
    orig = np.clip(1.2 * a - 0.2 * a ** 3, -1, 1)
    assert np.any(np.diff(orig) < 0)
    np.testing.assert_array_equal(transmission(a, 0.0), a)


def _codec(tmp_path, packing="int16", k=4, **kw):
    ws = simulated_windows(300, W=2)
    c = pca_codec(ws.X, k, packing, window_W=2)
    d = tmp_path / "codec"
    mp = c.export(d, **kw)
    return ws, c, d, mp


def test_contract_files_exactly(tmp_path):
    ws, c, d, mp = _codec(tmp_path)
    assert sorted(p.name for p in d.iterdir()) == ["artifacts.json", "bam_manifest.json", "layer_0.npz", "norm.json"]
    man = json.loads(mp.read_text())
    for k, v in {"manifest_version": "1", "model_format": "layer_npz_v1", "latent_dim": 4, "packing": "int16",
                 "input_dims": 12, "window_W": 2, "window_stride": 1}.items():
        assert man[k] == v
    assert (d / man["model_path"] / "layer_0.npz").exists() and man["norm_path"] == "norm.json"
    z = np.load(d / "layer_0.npz")
    assert z["W"].dtype == np.float32 and z["W"].shape == (4, 24) and z["V"].shape == (24, 4)
    norm = json.loads((d / "norm.json").read_text())
    assert set(norm) == {"mean", "std"} and len(norm["mean"]) == 24
    art = json.loads((d / "artifacts.json").read_text())
    # the seed's six fields exactly, first, then schema 2's file hashes (issue 18)
    assert list(art) == ["codec_id", "codec_version", "git_commit", "norm_params_hash", "payload_schema_hash", "created_at",
                         "schema", "schema_version", "files"]
    assert art["schema_version"] == 2 and art["files"] == {n: hashlib.sha256((d / n).read_bytes()).hexdigest()
                                                           for n in ("bam_manifest.json", "layer_0.npz", "norm.json")}
    assert art["norm_params_hash"] == hashlib.sha256((d / "norm.json").read_bytes()).hexdigest()
    assert art["payload_schema_hash"] == payload_schema_hash(4, "int16", man["scale"])


def test_roundtrip_encode_decode(tmp_path):
    ws, c, d, mp = _codec(tmp_path, packing="float32", k=24)
    codec = BamCodec.from_manifest(mp)
    assert codec.payload_bytes == 96
    for x in ws.X[:5]:
        p = codec.encode(x)
        assert isinstance(p, bytes) and len(p) == 96
        np.testing.assert_allclose(codec.decode(p), x, rtol=1e-4, atol=1e-4)
    P = codec.encode_batch(ws.X[:10])
    np.testing.assert_allclose(codec.decode_batch(P), codec.reconstruct(ws.X[:10])[0])
    np.testing.assert_allclose(codec.decode(codec.encode(ws.samples()[0])), ws.X[0], atol=1e-4)   # (W, 12) accepted
    with pytest.raises(DataError, match="window has 12 values"): codec.encode(ws.X[0, :12])
    with pytest.raises(DataError, match="expected 96"): codec.decode(p + b"\x00")
    with pytest.raises(DataError, match="NaN"): codec.encode(np.full(24, np.nan))


def test_constant_channel_encodes_zero_decodes_mean(tmp_path):
    X = np.random.default_rng(0).normal(size=(100, 12)); X[:, 0] = 37.5
    c = pca_codec(X, 12, "float32")
    assert c.norm.std[0] == 0
    np.testing.assert_array_equal(c.norm.forward(X)[:, 0], 0.0)
    assert np.all(c.reconstruct(X)[0][:, 0] == 37.5)


@pytest.mark.parametrize("what, edit, msg", [
    ("artifacts.json", {"codec_id": "raw"}, "codec_id"),
    ("artifacts.json", {"codec_version": "99"}, "codec_version"),
    ("artifacts.json", {"payload_schema_hash": "0" * 64}, "payload_schema_hash"),
    ("bam_manifest.json", {"scale": 1000.0}, "payload_schema_hash"),
    ("bam_manifest.json", {"packing": "int8"}, "payload_schema_hash"),
    ("bam_manifest.json", {"model_format": "onnx"}, "model_format"),
    ("bam_manifest.json", {"manifest_version": "2"}, "manifest_version"),
])
def test_load_refuses_mismatch(tmp_path, what, edit, msg):
    ws, c, d, mp = _codec(tmp_path)
    o = json.loads((d / what).read_text()); o.update(edit); (d / what).write_text(json.dumps(o))
    with pytest.raises(CheckpointError, match=msg):
        BamCodec.from_manifest(mp)


def test_load_refuses_tampered_norm_and_layers(tmp_path):
    ws, c, d, mp = _codec(tmp_path)
    norm = json.loads((d / "norm.json").read_text()); norm["mean"][0] += 1e-3
    (d / "norm.json").write_text(json.dumps(norm))
    with pytest.raises(CheckpointError, match="norm_params_hash"): BamCodec.from_manifest(mp)
    ws, c, d, mp = _codec(tmp_path / "b")
    np.savez(d / "layer_0.npz", W=np.zeros((4, 24), np.float64), V=np.zeros((24, 4), np.float64))
    with pytest.raises(CheckpointError, match="layer_0.npz: sha256 differs"): BamCodec.from_manifest(mp)
    with pytest.raises(CheckpointError, match="float32"): BamCodec.from_manifest(mp, verify=False)
    np.savez(d / "layer_0.npz", W=np.zeros((5, 24), np.float32), V=np.zeros((24, 5), np.float32))
    with pytest.raises(CheckpointError, match="latent_dim is 4"): BamCodec.from_manifest(mp, verify=False)
    np.savez(d / "layer_0.npz", W=np.zeros((4, 24), np.float32), V=np.zeros((24, 4), np.float32))
    (d / "artifacts.json").unlink()
    with pytest.raises(CheckpointError, match="artifacts manifest not found"): BamCodec.from_manifest(mp)
    BamCodec.from_manifest(mp, verify=False)  # explicit opt-out still checks shapes, not hashes


def test_codec_version_from_runspec(tmp_path):
    ws, c, d, mp = _codec(tmp_path)
    assert BamCodec.from_manifest(mp, codec_id=CODEC_ID, codec_version=CODEC_VERSION).latent_dim == 4
    with pytest.raises(CheckpointError, match="codec_version"): BamCodec.from_manifest(mp, codec_version="0")


def test_export_refuses_payload_over_limit(tmp_path):
    X = simulated_windows(50, W=8).X
    with pytest.raises(ConfigError, match="exceeds max_payload_bytes=238"):
        pca_codec(X, 60, "float32", window_W=8).export(tmp_path / "a")             # 240 B
    with pytest.raises(ConfigError, match="exceeds max_payload_bytes=11"):
        pca_codec(X, 6, "int16", window_W=8).export(tmp_path / "b", max_payload_bytes=11)
    pca_codec(X, 11, "int8", window_W=8).export(tmp_path / "c", max_payload_bytes=11)


def test_cycles_and_multi_layer(tmp_path):
    rng = np.random.default_rng(1)
    layers = [(rng.normal(0, .3, (8, 12)).astype(np.float32), rng.normal(0, .3, (12, 8)).astype(np.float32)),
              (rng.normal(0, .3, (3, 8)).astype(np.float32), rng.normal(0, .3, (8, 3)).astype(np.float32))]
    norm = Norm(np.zeros(12), np.ones(12))
    c = BamCodec(layers, norm, 3, "int8", 127.0, 0.2, encode_cycles=2, decode_cycles=1)
    mp = c.export(tmp_path / "m")
    c2 = BamCodec.from_manifest(mp)
    assert len(c2.layers) == 2 and c2.encode_cycles == 2 and c2.decode_cycles == 1
    x = rng.normal(size=12)
    assert c2.encode(x) == c.encode(x)
    # by hand: layer-wise encode with cycles
    y = x
    for Wm, Vm in layers:
        yy = transmission(Wm @ y, 0.2)
        for _ in range(2):
            xx = transmission(Vm @ yy, 0.2); yy = transmission(Wm @ xx, 0.2)
        y = yy
    np.testing.assert_allclose(c.encode_latent(x)[0], y, rtol=1e-5)
    with pytest.raises(ConfigError, match="< 0.5"):
        BamCodec(layers, norm, 3, "int8", 127.0, 0.5, encode_cycles=1)
    (tmp_path / "m" / "layer_1.npz").rename(tmp_path / "m" / "layer_2.npz")
    with pytest.raises(CheckpointError, match="layer_0..layer_1"): BamCodec.from_manifest(mp)


def test_committed_model_loads_and_matches_its_record():
    """The chosen model shipped in configs/bam/models reloads, verifies, and reproduces its phase-2 record."""
    import yaml
    from trainbook.core.paths import configs_dir
    from trainbook.bam.data import convert_to_windows
    from trainbook.bam.eval import evaluate
    d = configs_dir() / "bam" / "models" / "xsens_w4_k11_int8"
    codec = BamCodec.from_manifest(d / "bam_manifest.json")
    rec = yaml.safe_load((d / "phase2_record.yaml").read_text())
    assert codec.payload_bytes == rec["packing"]["payload_bytes"] == 11 and codec.window_W == rec["window"]["W"] == 4
    ws = convert_to_windows(data_dir() / "bam" / "xsens_walking" / "walking_xsens_upperLeg.txt", W=4, stride=4)
    ev = evaluate(codec, ws, "holdout", rec["preprocessing"]["train_split"]["train_ratio"], rec["preprocessing"]["train_split"]["split_seed"])
    assert ev["mse_z"] == pytest.approx(rec["results"]["mse_z"], rel=1e-6)
    assert ev["mse_z"] < rec["results"]["pca_mse_z_same_payload"] < rec["results"]["train_mean_mse_z"]
