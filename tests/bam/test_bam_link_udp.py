"""Two-process TX -> RX over UDP on loopback through the CLI, plus CLI-level mock and bad-input checks.

The codec is a real one: z-scored PCA fitted on simulated walking windows and written with the
trainers' artifact exporter (`BamCodec.export`), loaded by both processes from its manifest.
"""
import contextlib
import functools
import io
import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from trainbook.bam.runspec import example_runspec_dict
from trainbook.bam.link_run import read_window_log, offline_windows, window_mse

N_WINDOWS = 120
TX_BLOCK = dict(guard_ms=2, ack_timeout_ms=40, max_retries=5, max_inflight=4, max_windows=N_WINDOWS)


@functools.lru_cache(None)
def _cli_prefix() -> tuple[str, ...]:
    "`trainbook bam` through the core CLI once the bam CLI registers tx/rx; the link CLI module until then."
    try:
        from trainbook.core.cli import build_parser
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(["bam", "rx", "--runspec", "x"])
        return (sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())", "bam")
    except (SystemExit, ImportError):
        return (sys.executable, "-m", "trainbook.bam.link_cli")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from trainbook.bam.data import simulated_windows, write_dataset, read_dataset
    from trainbook.bam.artifacts import pca_codec, BamCodec
    d = tmp_path_factory.mktemp("link")
    write_dataset(d / "data.jsonl", simulated_windows(N_WINDOWS + 30, W=1, seed=11))
    ws = read_dataset(d / "data.jsonl")            # exactly the rows the processes will read
    man = pca_codec(ws.X, 6, "int16").export(d / "codec")
    for role in ("tx", "rx"):
        spec = example_runspec_dict(role, **TX_BLOCK)
        spec["codec"]["params"]["manifest_path"] = "codec/bam_manifest.json"   # relative to the RunSpec
        spec["logging"]["out_dir"] = str(d / f"{role}_logs")
        (d / f"{role}.yaml").write_text(yaml.safe_dump(spec))
    return d, ws, BamCodec.from_manifest(man)


def _reader(proc, q):
    for line in proc.stdout: q.put(line)
    q.put(None)


def _run_pair(d, tx_args, rx_args=(), timeout=60):
    cli = list(_cli_prefix())
    rx = subprocess.Popen(cli + ["rx", "--runspec", str(d / "rx.yaml"), "--radio", "udp", "--listen", "127.0.0.1:0",
                                 "--dataset", str(d / "data.jsonl"), "--idle-timeout", "3", "--start-timeout", "40",
                                 "--max-seconds", "55", *rx_args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=d)
    q = queue.Queue(); threading.Thread(target=_reader, args=(rx, q), daemon=True).start()
    rx_out = []
    try:
        port = None
        while port is None:
            line = q.get(timeout=timeout)
            if line is None: raise AssertionError(f"receiver exited early: {rx.stderr.read()}")
            rx_out.append(line)
            if line.startswith("listening on "): port = int(line.strip().rsplit(":", 1)[1])
        tx = subprocess.run(cli + ["tx", "--runspec", str(d / "tx.yaml"), "--dataset", str(d / "data.jsonl"),
                                   "--radio", "udp", "--peer", f"127.0.0.1:{port}", "--max-seconds", "50", *tx_args],
                            capture_output=True, text=True, timeout=timeout, cwd=d)
        rx.wait(timeout=timeout)
    finally:
        if rx.poll() is None: rx.kill()
    while (line := q.get(timeout=5)) is not None: rx_out.append(line)
    return tx, rx.returncode, "".join(rx_out), rx.stderr.read()


def test_two_process_udp_with_loss_corruption_duplication(setup):
    d, ws, codec = setup
    tx, rx_rc, rx_out, rx_err = _run_pair(d, ["--loss", "0.2", "--corrupt", "0.05", "--duplicate", "0.05", "--seed", "1"])
    assert tx.returncode == 0, tx.stderr
    assert rx_rc == 0, rx_err
    print(tx.stdout); print(rx_out)
    tstats = json.loads((d / "tx_logs" / "example_bam_tx_stats.json").read_text())
    rstats = json.loads((d / "rx_logs" / "example_bam_rx_stats.json").read_text())
    outcomes = [json.loads(l) for l in (d / "tx_logs" / "example_bam_tx_windows.jsonl").read_text().splitlines()]
    logged = read_window_log(d / "rx_logs" / "example_bam_rx_windows.jsonl")

    # every window that got an ACK was delivered, decoded once, and logged
    acked = {o["index"] for o in outcomes if o["acked"]}
    assert tstats["windows_sent"] == N_WINDOWS and len(acked) == tstats["windows_acked"] > 0.9 * N_WINDOWS
    assert acked <= set(logged) and len(logged) == rstats["windows_decoded"]
    assert [o["window_id"] for o in outcomes] == ws.window_ids[:N_WINDOWS].tolist()

    # the receiver got exactly the bytes the encoder made for each row (compared bit for bit), and decoded
    # them to the offline encode->decode of the same rows (compared to 1e-12, so the test does not pin
    # the decoder's floating-point evaluation order, which may differ between numpy builds and code paths) ...
    idx = sorted(logged)
    lines = {json.loads(l)["index"]: json.loads(l) for l in (d / "rx_logs" / "example_bam_rx_windows.jsonl").read_text().splitlines()}
    assert all(lines[i]["payload_hex"] == codec.encode(ws.X[i]).hex() for i in idx)
    off = offline_windows(codec, ws.X[idx])
    assert all(np.allclose(logged[i], o, rtol=1e-12, atol=1e-12) for i, o in zip(idx, off))
    # ... so the receiver's MSE equals the offline eval over those windows, and over the ACKed ones
    assert rstats["mse"] == pytest.approx(window_mse(off, ws.X[idx]), rel=1e-12) and rstats["n_mse"] == len(idx)
    # ... which is what `trainbook bam eval` reports for the same windows (same metric function and z-units)
    from trainbook.bam.eval import evaluate
    from trainbook.bam.link_run import reference_for
    ev = evaluate(codec, ws.subset(np.array(idx)), subset="all", ref=reference_for(ws, codec))
    assert rstats["mse"] == pytest.approx(ev["mse_raw"], rel=1e-12) and rstats["mse_z"] == pytest.approx(ev["mse_z"], rel=1e-12)
    ack_idx = sorted(acked)
    assert tstats["offline_mse_acked"] == pytest.approx(window_mse([logged[i] for i in ack_idx], ws.X[ack_idx]), rel=1e-12)

    # injected faults: the loss really happened, every corrupted frame was caught, duplicates dropped
    ch = tstats["channel"]
    assert ch["dropped"] > 0 and ch["corrupted"] > 0 and ch["duplicated"] > 0
    assert rstats["frames_corrupt"] + tstats["acks_corrupt"] == ch["corrupted"]
    assert rstats["frames_duplicate"] > 0 and rstats["frames_malformed"] == 0
    assert tstats["retries"] > 0 and tstats["frames_sent"] == N_WINDOWS + tstats["retries"]
    assert "PDR" in tx.stdout and "reconstruction MSE" in rx_out


def _main(argv):
    "The CLI in this process (same code path as the subprocess, minus the interpreter start-up)."
    from trainbook.bam.link_cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_receiver_stops_by_itself_without_traffic(setup):
    d, _, _ = setup
    rc, out, err = _main(["rx", "--runspec", str(d / "rx.yaml"), "--listen", "127.0.0.1:0",
                          "--start-timeout", "0.5", "--out-dir", str(d / "idle")])
    assert rc == 0, err
    assert json.loads((d / "idle" / "example_bam_rx_stats.json").read_text())["stopped"] == "no_traffic"


def test_cli_bad_input_is_one_line_exit_2(setup):
    d, _, _ = setup
    cases = [(["rx", "--runspec", str(d / "tx.yaml"), "--listen", "127.0.0.1:0"], "role is 'tx'"),
             (["rx", "--runspec", str(d / "rx.yaml"), "--listen", "192.168.0.1:9"], "only loopback"),
             (["rx", "--runspec", str(d / "rx.yaml")], "--listen HOST:PORT is required"),
             (["rx", "--runspec", str(d / "rx.yaml"), "--listen", "127.0.0.1:0", "--idle-timeout", "0"], "--idle-timeout must be > 0"),
             (["tx", "--runspec", str(d / "tx.yaml"), "--dataset", str(d / "data.jsonl"), "--peer", "10.1.2.3:9"], "only loopback"),
             (["tx", "--runspec", str(d / "tx.yaml"), "--dataset", str(d / "data.jsonl")], "--peer HOST:PORT is required"),
             (["tx", "--runspec", str(d / "tx.yaml"), "--dataset", str(d / "missing.jsonl"), "--radio", "mock"], "not found"),
             (["tx", "--runspec", str(d / "tx.yaml"), "--dataset", str(d / "data.jsonl"), "--radio", "mock", "--loss", "1"], "--loss"),
             (["tx", "--runspec", str(d / "nope.yaml"), "--dataset", str(d / "data.jsonl")], "cannot read RunSpec")]
    for argv, msg in cases:
        rc, out, err = _main(argv)
        assert rc == 2 and msg in err and err.count("\n") == 1, (argv, err)

    # and through a real process (the stand-alone module: the core CLI's start-up is paid in the 2-process test)
    r = subprocess.run([sys.executable, "-m", "trainbook.bam.link_cli", "rx", "--runspec", str(d / "tx.yaml"), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60, cwd=d)
    assert r.returncode == 2 and "role is 'tx'" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_cli_mock_radio_is_deterministic_by_seed(setup, capsys):
    d, ws, codec = setup
    from trainbook.bam.link_cli import main
    def run(seed, out):
        assert main(["tx", "--runspec", str(d / "tx.yaml"), "--dataset", str(d / "data.jsonl"), "--radio", "mock",
                     "--loss", "0.2", "--corrupt", "0.05", "--duplicate", "0.05", "--seed", str(seed),
                     "--jitter-ms", "5", "--out-dir", str(d / out)]) == 0
        stats = [json.loads((d / out / f"example_bam_{r}_stats.json").read_text()) for r in ("tx", "rx")]
        log = [json.loads(l) for l in (d / out / "example_bam_rx_windows.jsonl").read_text().splitlines()]
        return stats, log
    def exact(run_out):   # everything but the decoded floats (compared to round-off, see above)
        stats, log = run_out
        err = lambda k: k.startswith(("mse", "mae", "offline_"))
        return ([{k: v for k, v in s.items() if not err(k)} for s in stats],
                [{k: v for k, v in l.items() if k != "window"} for l in log])
    a, b, c = run(3, "m1"), run(3, "m2"), run(4, "m3")
    assert exact(a) == exact(b) and exact(a) != exact(c)
    assert a[0][1]["mse"] == pytest.approx(b[0][1]["mse"], rel=1e-12)
    (ts, rs), _ = a
    assert ts["windows_sent"] == N_WINDOWS
    assert rs["frames_corrupt"] + ts["acks_corrupt"] + ts["collided_corrupted"] == ts["channel"]["corrupted"]
    assert "tx [mock]" in capsys.readouterr().out
