"Unit tests of the BAM link: RunSpec validation, LoRa time-on-air, frames/CRC, TX/RX state machines, mock radio."
import json
import math
import random

import numpy as np
import pytest
import yaml

from trainbook.core.errors import ConfigError, DataError, UserError
from trainbook.bam.runspec import (load_runspec, runspec_from_dict, example_runspec_dict, lora_time_on_air_ms,
                                   resolve_ack_timeout_ms, auto_ack_timeout_ms, check_role)
from trainbook.bam.link import (crc16, encode_frame, decode_frame, ack_frame, decode_ack, seal, unseal, unwrap_seq,
                                Impairment, LinkParams, TxSession, RxSession, MockRadio, run_mock_link, parse_loopback,
                                FrameError)
from trainbook.bam.link_run import (load_link_codec, run_link_mock, log_paths, read_window_log, window_mse,
                                    offline_windows)


class TinyCodec:
    "A tiny lossy codec: the first k values of the window as int16 at a fixed scale."
    def __init__(self, k=4, scale=100.0, size=12): self.k, self.scale, self.size, self.payload_bytes = k, scale, size, 2 * k
    def encode(self, w):
        return np.clip(np.round(np.asarray(w, float).reshape(-1)[:self.k] * self.scale), -32768, 32767).astype("<i2").tobytes()
    def decode(self, p):
        if len(p) != self.payload_bytes: raise DataError("bad length")
        out = np.zeros(self.size); out[:self.k] = np.frombuffer(p, "<i2") / self.scale; return out


def _spec(role="tx", mode="LATENT", **tx):
    return runspec_from_dict({**example_runspec_dict(role, **tx), "mode": mode})


def _mock(seed=0, n=120, codec=None, loss=0.2, corrupt=0.05, duplicate=0.05, jitter=4.0, **tx):
    codec = codec or TinyCodec()
    spec = _spec(max_windows=n, **{"max_retries": 3, **tx})
    X = np.random.default_rng(123).normal(size=(n, 12))
    txs = TxSession((codec.encode(x) for x in X), LinkParams.from_runspec(spec, codec.payload_bytes), spec.phy.time_on_air_ms)
    payloads = {}
    rx = RxSession(codec.decode, codec.payload_bytes, on_window=lambda i, s, p, w, t: payloads.setdefault(i, p))
    radio = MockRadio(spec.phy.time_on_air_ms, Impairment(loss, corrupt, duplicate, seed), jitter_ms=jitter)
    end = run_mock_link(txs, rx, radio)
    return X, codec, txs, rx, radio, end, payloads


def _examples():
    "The original project's examples: the bundled copy, else ../shared."
    from trainbook.core.paths import data_dir, shared_dir
    ex = data_dir() / "bam/loralink_examples"
    if not ex.exists() and shared_dir(): ex = shared_dir() / "data/bam/loralink_examples"
    if not ex.exists(): pytest.skip("loralink examples absent")
    return ex


def test_phy_profiles_match_lora_formulas():
    from trainbook.bam.runspec import phy_profile_table
    t = phy_profile_table(_examples() / "phy_profiles.yaml", payload_bytes=12)
    assert len(t) == 8 and np.allclose(t.bps, t.bps_listed, rtol=0.03)
    ok = t.adr_code != "011"   # the original lists 1.23 ms for SF9/500 kHz; 2^9/500e3 = 1.024 ms
    assert np.allclose(t.tsym_ms[ok], t.tsym_ms_listed[ok], rtol=0.03, atol=0.006)
    assert (t.toa_frame_ms > t.toa_ack_ms).all()


# --- time on air ---------------------------------------------------------------------------

@pytest.mark.parametrize("sf,expected", [(7, 61.696), (9, 205.824), (12, 1482.752)])
def test_time_on_air_matches_ttn_calculator(sf, expected):
    # 23-byte PHY payload (10 B app + 13 B LoRaWAN), 125 kHz, CR 4/5, CRC on, explicit header
    assert lora_time_on_air_ms(23, sf, 125_000) == pytest.approx(expected, abs=1e-3)


def test_time_on_air_grows_with_bytes_and_sf():
    for sf in range(5, 13):
        t = [lora_time_on_air_ms(n, sf, 125_000) for n in range(256)]
        assert all(a <= b for a, b in zip(t, t[1:]))
    assert all(lora_time_on_air_ms(20, sf, 125e3) < lora_time_on_air_ms(20, sf + 1, 125e3) for sf in range(5, 12))
    assert lora_time_on_air_ms(20, 7, 250e3) == pytest.approx(lora_time_on_air_ms(20, 7, 125e3) / 2)


def test_auto_ack_timeout_covers_round_trip():
    spec = _spec()
    ato = resolve_ack_timeout_ms(spec, 16)
    assert isinstance(ato, int)
    assert ato > spec.phy.time_on_air_ms(18) + spec.phy.time_on_air_ms(3) + 2 * spec.tx.guard_ms
    slow = runspec_from_dict({**example_runspec_dict(), "phy": {**example_runspec_dict()["phy"], "sf": 12}})
    assert resolve_ack_timeout_ms(slow, 16) > 10 * ato
    assert resolve_ack_timeout_ms(_spec(ack_timeout_ms=77), 16) == 77


# --- RunSpec ---------------------------------------------------------------------------------

def test_example_runspecs_load(tmp_path):
    ex = _examples()
    tx, rx = load_runspec(ex / "tx_bam.yaml"), load_runspec(ex / "rx_bam.yaml")
    assert (tx.role, rx.role, tx.window.dims, tx.tx.max_windows, rx.tx.max_windows) == ("tx", "rx", 12, 20, None)
    assert tx.max_payload_bytes == 238 and tx.tx.ack_timeout_ms == "auto" and tx.phy.cr == 1
    with pytest.raises(ConfigError, match="role is 'rx'"): check_role(rx, "tx")


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d["window"].update(dims=9), "window.dims must be 12"),
    (lambda d: d.pop("tx"), "tx: required key missing"),
    (lambda d: d["tx"].pop("max_retries"), "tx.max_retries: required key missing"),
    (lambda d: d["tx"].update(ack_timeout_ms=-5), "tx.ack_timeout_ms"),
    (lambda d: d["tx"].update(ack_timeout_ms="later"), "tx.ack_timeout_ms"),
    (lambda d: d["tx"].update(max_inflight=0), "tx.max_inflight"),
    (lambda d: d["tx"].update(max_retries=1.5), "tx.max_retries"),
    (lambda d: d.update(max_payload_bytes=0), "max_payload_bytes"),
    (lambda d: d.update(max_payload_bytes=256), "max_payload_bytes"),
    (lambda d: d["phy"].update(bw_hz=-1), "phy.bw_hz"),
    (lambda d: d["phy"].update(cr="4/3"), "phy.cr"),
    (lambda d: d["phy"].update(crc_on="yes"), "phy.crc_on"),
    (lambda d: d.update(mode="ZIP"), "mode"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d["logging"].pop("out_dir"), "logging.out_dir"),
    (lambda d: d["window"].update(W=0), "window.W"),
])
def test_runspec_errors_name_the_key(mutate, msg):
    d = example_runspec_dict(); mutate(d)
    with pytest.raises(ConfigError, match=msg): runspec_from_dict(d)


def test_runspec_file_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("run_id: [unclosed\n")
    with pytest.raises(ConfigError, match="a.yaml:.*invalid YAML"): load_runspec(tmp_path / "a.yaml")
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON"): load_runspec(tmp_path / "b.json")
    (tmp_path / "c.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"): load_runspec(tmp_path / "c.yaml")
    d = example_runspec_dict(); d["window"]["dims"] = 6
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=r"d\.yaml: window\.dims must be 12"): load_runspec(tmp_path / "d.yaml")


# --- frames ----------------------------------------------------------------------------------

def test_frame_roundtrip_and_seq_wrap():
    for seq in (0, 1, 255, 256, 1000):
        for n in (0, 1, 16, 238, 253):
            p = bytes(random.Random(seq + n).randbytes(n))
            f = encode_frame(seq, p)
            assert f[0] == n and len(f) == n + 2
            assert decode_frame(f) == (seq % 256, p)
            assert unseal(seal(f)) == f
    assert decode_ack(ack_frame(513)) == 1
    with pytest.raises(ValueError): encode_frame(0, bytes(254))
    with pytest.raises(FrameError): decode_frame(b"\x04\x00\x01\x02")
    with pytest.raises(FrameError): decode_ack(encode_frame(2, b"\x03"))
    assert crc16(b"123456789") == 0x29B1


def test_crc_detects_every_small_corruption_and_truncation():
    rng = random.Random(1)
    w = seal(encode_frame(9, bytes(range(24))))
    for k in (1, 2, 3):
        for _ in range(3000):
            b = bytearray(w)
            for pos in rng.sample(range(len(w) * 8), k): b[pos // 8] ^= 1 << (pos % 8)
            assert unseal(bytes(b)) is None
    assert all(unseal(w[:i]) is None for i in range(len(w)))


def test_unwrap_seq():
    hi = None
    for i in range(1000):
        assert unwrap_seq(i % 256, hi) == i
        hi = i
    assert unwrap_seq(200, 300) == 200 and unwrap_seq(45, 300) == 301


# --- TX/RX over the mock radio -------------------------------------------------------------

def test_mock_link_is_deterministic_by_seed():
    a = _mock(seed=5)
    b = _mock(seed=5)
    c = _mock(seed=6)
    assert a[2].stats.summary() == b[2].stats.summary() and a[3].stats.summary() == b[3].stats.summary()
    assert a[5] == b[5] and a[2].outcomes == b[2].outcomes
    assert a[2].stats.summary() != c[2].stats.summary()


def test_mock_acked_windows_delivered_and_corruption_never_decoded():
    X, codec, tx, rx, radio, end, payloads = _mock(seed=2, n=150, loss=0.2, corrupt=0.1, duplicate=0.1)
    acked = {i for i, o in tx.outcomes.items() if o["acked"]}
    assert acked and acked <= set(rx.windows)
    # every decoded window is exactly what the codec makes of the window sent under that index
    for i, p in payloads.items(): assert p == codec.encode(X[i])
    for i, w in rx.windows.items(): assert np.array_equal(w, codec.decode(codec.encode(X[i])))
    # every injected corruption was detected at one end or the other (or lost in a half-duplex collision)
    assert radio.impairment.corrupted > 0
    assert rx.stats.frames_corrupt + tx.stats.acks_corrupt + radio.collided_corrupted == radio.impairment.corrupted
    assert rx.stats.frames_duplicate > 0 and rx.stats.windows_decoded == len(rx.windows)
    s = tx.stats
    assert s.windows_sent == 150 and s.windows_acked + s.windows_failed == 150
    assert s.frames_sent == s.windows_sent + s.retries and s.frames_sent <= 150 * 4


def test_receiver_mse_equals_offline_eval():
    X, codec, tx, rx, *_ = _mock(seed=3, n=80)
    idx = sorted(rx.windows)
    assert window_mse([rx.windows[i] for i in idx], X[idx]) == window_mse(offline_windows(codec, X[idx]), X[idx])


def test_no_retries_means_one_frame_per_window():
    X, codec, tx, rx, *_ = _mock(seed=1, n=100, max_retries=0)
    assert tx.stats.frames_sent == tx.stats.windows_sent == 100 and tx.stats.retries == 0
    assert tx.stats.windows_failed > 10   # 20 % loss each way, no second chance


def test_give_up_after_max_retries_and_terminate_under_heavy_loss():
    X, codec, tx, rx, *_ = _mock(seed=4, n=40, loss=0.9, corrupt=0.0, duplicate=0.0, max_retries=2)
    assert tx.done and tx.stats.windows_failed > 30
    assert all(o["attempts"] <= 3 for o in tx.outcomes.values())


def _pipelined(cls, inflight, half_duplex, n=60, loss=0.1):
    codec = TinyCodec()
    sp = _spec(max_windows=n, max_inflight=inflight, max_retries=3)
    X = np.random.default_rng(0).normal(size=(n, 12))
    t = cls((codec.encode(x) for x in X), LinkParams.from_runspec(sp, codec.payload_bytes), sp.phy.time_on_air_ms)
    r = RxSession(codec.decode, codec.payload_bytes)
    radio = MockRadio(sp.phy.time_on_air_ms, Impairment(loss, seed=1), half_duplex=half_duplex)
    end = run_mock_link(t, r, radio)
    return t, r, radio, end


def test_max_inflight_is_respected():
    seen = []
    class Watch(TxSession):
        def poll(self, now):
            out = super().poll(now); seen.append(len(self._inflight)); return out
    for cap in (2, 4):
        seen.clear()
        t, r, radio, _ = _pipelined(Watch, cap, True, loss=0.3)
        assert 2 <= max(seen) <= cap and {i for i, o in t.outcomes.items() if o["acked"]} <= set(r.windows)
    assert max(seen) > 2


def test_half_duplex_collisions_make_pipelining_costly():
    # stop-and-wait never transmits while its ACK can arrive: no collisions
    t1, r1, radio1, end1 = _pipelined(TxSession, 1, True, loss=0.0)
    assert radio1.collisions == 0 and t1.stats.retries == 0 and sorted(r1.windows) == list(range(60))
    # pipelined windows meet their ACKs on the air
    t4, r4, radio4, end4 = _pipelined(TxSession, 4, True, loss=0.0)
    assert radio4.collisions > 0 and t4.stats.retries > 0
    # on a full-duplex channel pipelining would finish sooner than stop-and-wait
    tf, rf, radiof, endf = _pipelined(TxSession, 4, False, loss=0.0)
    assert radiof.collisions == 0 and endf < end1


def test_transmitter_waits_for_its_own_air_time():
    codec, sp = TinyCodec(), _spec(max_windows=3, max_inflight=3, guard_ms=10)
    t = TxSession([codec.encode(np.zeros(12))] * 3, LinkParams.from_runspec(sp, codec.payload_bytes), sp.phy.time_on_air_ms)
    assert len(t.poll(0.0)) == 1 and t.poll(1.0) == []
    free = sp.phy.time_on_air_ms(2 + codec.payload_bytes) + 10
    assert t.next_wakeup(1.0) == pytest.approx(free) and len(t.poll(free)) == 1


def test_seq_wraps_over_many_windows():
    X, codec, tx, rx, *_ = _mock(seed=0, n=700, loss=0.0, corrupt=0.0, duplicate=0.0, jitter=0.0, guard_ms=0)
    assert sorted(rx.windows) == list(range(700)) and tx.stats.retries == 0


def test_receiver_drops_malformed_and_wrong_length_without_ack():
    codec = TinyCodec()
    rx = RxSession(codec.decode, codec.payload_bytes)
    assert rx.on_wire(seal(encode_frame(0, b"\x00" * 3)), 0) == []            # wrong payload size for the codec
    assert rx.on_wire(seal(b"\x09\x00\x01"), 0) == []                          # LEN disagrees, CRC fine
    assert rx.on_wire(b"\x01", 0) == []                                        # too short
    assert rx.stats.frames_malformed == 2 and rx.stats.frames_corrupt == 1 and rx.stats.windows_decoded == 0
    good = seal(encode_frame(0, codec.encode(np.ones(12))))
    assert [decode_ack(unseal(a)) for a in rx.on_wire(good, 1)] == [0]
    assert len(rx.on_wire(good, 2)) == 1 and rx.stats.frames_duplicate == 1 and rx.stats.windows_decoded == 1


def test_transmitter_ignores_bad_and_stale_acks():
    codec = TinyCodec()
    tx = TxSession([codec.encode(np.ones(12))], LinkParams(0, 50, 1, 1, None))
    (w,) = tx.poll(0.0)
    tx.on_wire(b"garbage", 1); tx.on_wire(seal(encode_frame(0, b"\x01")), 1); tx.on_wire(seal(ack_frame(7)), 1)
    assert (tx.stats.acks_corrupt, tx.stats.acks_malformed, tx.stats.acks_stale, tx.stats.windows_acked) == (1, 1, 1, 0)
    tx.on_wire(seal(ack_frame(0)), 5)
    assert tx.done and tx.stats.windows_acked == 1 and tx.stats.latency_ms == [5.0]
    tx.on_wire(seal(ack_frame(0)), 6)
    assert tx.stats.acks_stale == 2


def test_impairment_validation_and_rates():
    with pytest.raises(UserError, match="--corrupt"): Impairment(corrupt=1.0)
    imp = Impairment(0.25, 0.0, 0.0, seed=0)
    n = sum(len(imp.apply(b"abc")) for _ in range(8000))
    assert abs(n / 8000 - 0.75) < 0.02


def test_parse_loopback():
    assert parse_loopback("127.0.0.1:5000") == ("127.0.0.1", 5000)
    for bad, msg in [("192.168.1.2:5", "only loopback"), ("0.0.0.0:5", "only loopback"), ("host", "HOST:PORT"),
                     ("127.0.0.1:x", "not a number"), ("127.0.0.1:70000", "out of range"), ("example.com:5", "not an IP")]:
        with pytest.raises(UserError, match=msg): parse_loopback(bad)
    with pytest.raises(UserError): parse_loopback("127.0.0.1:0", allow_port0=False)


# --- codec loading and files ----------------------------------------------------------------

def test_raw_mode_codec_and_payload_limits(tmp_path):
    spec = _spec(mode="RAW")
    c = load_link_codec(spec)
    assert c.payload_bytes == 48
    x = np.arange(12.0)
    assert np.array_equal(c.decode(c.encode(x)), x)
    with pytest.raises(DataError): c.decode(b"\x00" * 47)
    tight = runspec_from_dict({**example_runspec_dict(), "mode": "RAW", "max_payload_bytes": 40}) if False else None
    with pytest.raises(ConfigError, match="RAW mode sends 48 bytes"):
        runspec_from_dict({**example_runspec_dict(), "mode": "RAW", "max_payload_bytes": 40})


def _export_codec(tmp_path, latent=6, packing="int16", W=1):
    from trainbook.bam.data import simulated_windows
    from trainbook.bam.artifacts import pca_codec
    ws = simulated_windows(200, W=W, seed=0)
    return ws, pca_codec(ws.X, latent, packing, window_W=W).export(tmp_path / "codec")


def test_load_bam_codec_checks_payload_shape_and_version(tmp_path):
    ws, man = _export_codec(tmp_path, latent=8)
    d = example_runspec_dict(); d["codec"]["params"]["manifest_path"] = str(man)
    codec = load_link_codec(runspec_from_dict(d))
    assert codec.payload_bytes == 16
    with pytest.raises(ConfigError, match="max_payload_bytes: codec payload is 16"):
        load_link_codec(runspec_from_dict({**d, "max_payload_bytes": 15}))
    dW = json.loads(json.dumps(d)); dW["window"]["W"] = 4
    with pytest.raises(ConfigError, match="window.W"): load_link_codec(runspec_from_dict(dW))
    dv = json.loads(json.dumps(d)); dv["codec"]["version"] = "0"
    with pytest.raises(UserError, match="codec_version"): load_link_codec(runspec_from_dict(dv))
    dm = json.loads(json.dumps(d)); dm["codec"]["params"]["manifest_path"] = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="not found"): load_link_codec(runspec_from_dict(dm))
    da = json.loads(json.dumps(d)); da["artifacts_manifest"] = str(tmp_path / "missing_artifacts.json")
    with pytest.raises(ConfigError, match="artifacts_manifest"): load_link_codec(runspec_from_dict(da))


def test_run_link_mock_writes_logs_and_stats(tmp_path):
    ws, man = _export_codec(tmp_path)
    d = example_runspec_dict(max_windows=50); d["codec"]["params"]["manifest_path"] = str(man)
    spec = runspec_from_dict(d)
    codec = load_link_codec(spec)
    tres, rres = run_link_mock(spec, spec, codec, ws, Impairment(0.2, 0.05, 0.05, seed=1), tmp_path / "logs")
    p = log_paths(spec, tmp_path / "logs")
    logged = read_window_log(p["rx_windows"])
    assert len(logged) == rres["windows_decoded"] and set(logged) <= set(range(50))
    txlog = [json.loads(l) for l in p["tx_windows"].read_text().splitlines()]
    assert [o["window_id"] for o in txlog] == ws.window_ids[:50].tolist()
    assert {o["index"] for o in txlog if o["acked"]} <= set(logged)
    stats = json.loads(p["rx_stats"].read_text())
    assert stats["schema"] == "bam_link_rx_stats" and stats["mse"] == rres["mse"]
    idx = sorted(logged)
    assert rres["mse"] == pytest.approx(window_mse(offline_windows(codec, ws.X[idx]), ws.X[idx]), rel=1e-12)
    # the receiver's numbers are `trainbook bam eval`'s numbers for the delivered windows
    from trainbook.bam.eval import evaluate
    from trainbook.bam.link_run import reference_for
    ev = evaluate(codec, ws.subset(np.array(idx)), subset="all", ref=reference_for(ws, codec))
    assert rres["mse"] == pytest.approx(ev["mse_raw"], rel=1e-12) and rres["mse_z"] == pytest.approx(ev["mse_z"], rel=1e-12)
    assert set(rres["mse_z_per_group"]) == {"gps", "accel", "gyro", "attitude"}
    (tmp_path / "bad.jsonl").write_text('{"index": 1}\n')
    with pytest.raises(DataError, match="line 1"): read_window_log(tmp_path / "bad.jsonl")


def test_bundled_link_runspecs_load():
    from trainbook.core.paths import configs_dir
    tx, rx = (load_runspec(configs_dir() / "bam/link" / f"{r}.yaml") for r in ("tx", "rx"))
    assert (tx.role, rx.role) == ("tx", "rx") and tx.phy == rx.phy and tx.tx == rx.tx and tx.window == rx.window
    assert tx.phy.crc_on and tx.tx.max_inflight == 1 and tx.tx.ack_timeout_ms == "auto"
