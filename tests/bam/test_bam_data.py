"""dataset_raw.jsonl reader/writer, converters, generator and the hash split."""
import hashlib, json
import numpy as np
import pytest

from trainbook.core.errors import DataError, UserError
from trainbook.core.paths import data_dir
from trainbook.bam.data import (ORDER, read_dataset, write_dataset, train_mask, hash_unit, split_windows, windows_from_samples,
                                convert_to_windows, read_xsens, simulate_imu_gps, simulated_windows, load_windows)

BAM = data_dir() / "bam"
TOY = BAM / "loralink_examples" / "dataset_raw_toy.jsonl"
XSENS = BAM / "xsens_walking" / "walking_xsens_upperLeg.txt"


def _write(tmp_path, lines, name="d.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _line(**kw):
    d = {"ts_ms": 0, "run_id": "r", "order": ORDER, "window": [0.5] * 12}
    d.update(kw)
    return json.dumps(d)


def test_toy_reads_and_roundtrips(tmp_path):
    ws = read_dataset(TOY)
    assert ws.X.shape == (20, 12) and ws.W == 1
    write_dataset(tmp_path / "rt.jsonl", ws)
    ws2 = read_dataset(tmp_path / "rt.jsonl")
    np.testing.assert_allclose(ws2.X, ws.X, rtol=1e-9)
    assert ws2.window_ids.tolist() == ws.window_ids.tolist()
    first = json.loads((tmp_path / "rt.jsonl").read_text().splitlines()[0])
    assert first["order"] == ORDER and set(first) == {"ts_ms", "run_id", "window_id", "order", "units", "window"}


@pytest.mark.parametrize("bad, msg", [
    ('{"window": [1 2]}', ":3: invalid JSON"),                                   # via trainbook.core.safeio
    (json.dumps({"window": [0.0] * 13}), "line 3: window has 13 values, not a multiple of dims=12"),
    (json.dumps({"window": [0.0] * 24}), "line 3: window length 24 (W=2) differs from W=1"),
    (json.dumps({"order": ORDER[1:] + ORDER[:1], "window": [0.0] * 12}), "line 3: channel order"),
    ('{"window": [1e999, 0,0,0,0,0,0,0,0,0,0,0]}', "line 3: non-finite value at window index 0"),
    ('{"window": [Infinity, 0,0,0,0,0,0,0,0,0,0,0]}', ":3: Infinity is not a JSON number"),   # JSON has no Infinity
    ('{"window": [0,0,0,0,0,0,0,0,0,0,0,1e400]}', "(channel yaw)"),
    (json.dumps({"window": ["a"] + [0.0] * 11}), "line 3: 'window' must be a list of numbers"),
    (json.dumps({"units": {"lat": "deg"}, "window": [0.0] * 12}), "line 3: units must name exactly"),
    (json.dumps([1, 2]), "line 3: expected a JSON object"),
    (json.dumps({"window_id": 0, "window": [0.0] * 12}), "line 3: duplicate window_id 0"),
])
def test_validation_names_the_line(tmp_path, bad, msg):
    p = _write(tmp_path, [_line(window_id=0), _line(window_id=1), bad])
    with pytest.raises(DataError) as e:
        read_dataset(p)
    assert msg in str(e.value) and str(p) in str(e.value)


def test_missing_window_id_takes_line_number_minus_one(tmp_path):
    p = _write(tmp_path, [json.dumps({"window": [1.0] * 12}), "", json.dumps({"window": [2.0] * 12})])
    assert read_dataset(p).window_ids.tolist() == [0, 2]


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"): read_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="no windows"): read_dataset(_write(tmp_path, [""]))


def test_hash_split_matches_spec_formula():
    for wid in [0, 1, 17, 123456]:
        for seed in [0, 3]:
            want = int(hashlib.sha256(f"{seed}:{wid}".encode()).hexdigest()[:16], 16) / 2**64
            assert hash_unit(wid, seed) == want
    m = train_mask(np.arange(20000), 0.7, 5)
    assert abs(m.mean() - 0.7) < 0.02
    # per-window: independent of the order and of the other windows
    ids = np.array([9, 3, 77, 1000])
    assert train_mask(ids, 0.5, 1).tolist() == [train_mask([i], 0.5, 1)[0] for i in ids]
    with pytest.raises(UserError): train_mask([1], 0.0)


def test_split_subsets_partition():
    ws = simulated_windows(200)
    tr, ho, al = (split_windows(ws, 0.8, 0, s) for s in ("train", "holdout", "all"))
    assert len(tr) + len(ho) == len(al) == 200
    assert not set(tr.window_ids) & set(ho.window_ids)
    with pytest.raises(UserError): split_windows(ws, 0.8, 0, "test")


def test_windows_from_samples_layout():
    S = np.arange(10 * 12, dtype=float).reshape(10, 12)
    ws = windows_from_samples(S, W=3, stride=2, sample_hz=4.0, t0_ms=1000)
    assert ws.X.shape == (4, 36)
    np.testing.assert_array_equal(ws.samples()[1], S[2:5])       # time-major
    assert ws.ts_ms.tolist() == [1000, 1500, 2000, 2500]
    with pytest.raises(UserError): windows_from_samples(S[:2], W=3)


def test_xsens_conversion_units_and_attitude():
    S, hz = read_xsens(XSENS)
    assert hz == 120.0 and S.shape == (3511, 12)
    raw = np.loadtxt(XSENS, comments="//", skiprows=5)
    # gyro magnitude is rotation-invariant: deg/s = rad/s * 180/pi
    np.testing.assert_allclose(np.linalg.norm(S[:, 6:9], axis=1), np.degrees(np.linalg.norm(raw[:, 4:7], axis=1)), rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(S[:, 3:6], axis=1), np.linalg.norm(raw[:, 1:4], axis=1), rtol=1e-9)
    assert np.all(np.abs(S[:, 9:11]) <= 180) and np.abs(S[:120, 9:11]).max() < 5   # level at rest
    assert np.ptp(S[:, 11]) < 360                                                 # yaw never jumps a full turn
    Sm, _ = read_xsens(XSENS, attitude="mag")
    np.testing.assert_allclose(Sm[:, 9:12], raw[:, 7:10])


def test_xsens_bad_rows(tmp_path):
    lines = XSENS.read_text().splitlines()[:10]
    lines[7] = lines[7].replace("\t", "\tx", 1)
    with pytest.raises(DataError, match="line 8: non-numeric"):
        read_xsens(_write(tmp_path, lines, "x.txt"))


def test_csv_and_sensor_jsonl(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("ts_ms," + ",".join(ORDER) + "\n" + "\n".join(f"{i * 20}," + ",".join([str(i)] * 12) for i in range(8)) + "\n")
    ws = convert_to_windows(p, W=2, stride=2)
    assert ws.X.shape == (4, 24) and ws.sample_hz == 50.0
    p.write_text(",".join(ORDER[:-1]) + "\n" + ",".join(["1"] * 11) + "\n")
    with pytest.raises(DataError, match="line 1: CSV header lacks channels"): convert_to_windows(p, sample_hz=1)
    ws = load_windows(BAM / "loralink_examples" / "sensor_sample.jsonl")
    assert ws.X.shape == (2, 12)


def test_generator_is_realistic_and_deterministic():
    S = simulate_imu_gps(3000, 50.0, seed=7)
    assert np.isfinite(S).all()
    np.testing.assert_allclose(np.linalg.norm(S[:, 3:6], axis=1).mean(), 9.81, atol=0.5)
    # gait: dominant vertical-acceleration frequency in the walking band
    f = np.fft.rfftfreq(len(S), 1 / 50.0)[1:]
    peak = f[np.argmax(np.abs(np.fft.rfft(S[:, 5] - S[:, 5].mean()))[1:])]
    assert 1.2 < peak < 2.5
    # the walker moves: a few metres per second of GPS displacement
    dist = np.hypot((S[-1, 0] - S[0, 0]) * 111_320, (S[-1, 1] - S[0, 1]) * 111_320 * np.cos(np.radians(S[0, 0])))
    assert dist > 10
    np.testing.assert_array_equal(simulate_imu_gps(100, seed=1), simulate_imu_gps(100, seed=1))
    assert not np.array_equal(simulate_imu_gps(100, seed=1), simulate_imu_gps(100, seed=2))
