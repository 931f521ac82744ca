"""Copybook decoding at scale: the columnar decoder writing Parquet vs a plain stdlib pass over the same bytes.

Two >= 200 MB fixed-length files (`TRAINBOOK_BENCH_DECODE_MB`, default 200): Cobrix's test6 records repeated (a
numbers torture test: 180 fields of every usage, many of 19-37 digits) and a text-heavy file of copybook-synthesised
records (names, addresses, notes; a few numbers). Each measurement runs in a child process that reads its own peak
RSS (VmHWM). Printed: MB/s, records/s, peak RSS, the ratio of the Parquet decode's wall time to the stdlib pass's
(target <= 5x), with 1 and 2 worker processes, and the memory check (the whole file peaks within 64 MB of its first
fifth). The per-record reference decoder is timed on the first 2% for scale."""
import json, os, random, subprocess, sys
from pathlib import Path
import pytest

from peak_rss import PEAK_RSS

CHILD = PEAK_RSS + r'''
import json, sys, time
path, cob, mode, limit, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
from trainbook.mainframe.copybook import read_copybook
lay = read_copybook(cob); L = lay.record_length
t0 = time.perf_counter(); n = 0
if mode == "stdlib":
    # a plain pass a user could write: slice each fixed-length record and decode it as cp037 text
    with open(path, "rb") as f:
        while True:
            chunk = f.read(L * 4096)
            if not chunk: break
            for i in range(0, len(chunk) - L + 1, L): chunk[i:i + L].decode("cp037"); n += 1
elif mode == "reference":
    from trainbook.mainframe.decode import decode_file
    for _ in decode_file(path, lay, "fixed", "cp037", on_error="skip", max_records=limit, float_format="ieee"): n += 1
else:
    from trainbook.mainframe.tables import write_decoded
    s = write_decoded(path, lay, out, "parquet", "fixed", "cp037", on_error="skip", float_format="ieee",
                      max_records=limit or None, jobs=int(mode[-1]))
    n = s.records
print(json.dumps({"records": n, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}))
'''

TEXT_COPYBOOK = """       01  CUSTOMER-REC.
           05  CUST-ID            PIC 9(10).
           05  NAME               PIC X(40).
           05  STREET             PIC X(40).
           05  CITY               PIC X(30).
           05  POSTCODE           PIC X(10).
           05  COUNTRY            PIC X(20).
           05  EMAIL              PIC X(50).
           05  PHONE              PIC X(20).
           05  NOTE               PIC X(120).
           05  BALANCE            PIC S9(9)V99 COMP-3.
           05  STATUS             PIC X(10).
           05  LAST-ORDER         PIC 9(8).
"""


def _write_repeated(path: Path, block: bytes, mb: float) -> int:
    reps = max(1, int(mb * 1e6 / len(block)) + 1)
    with open(path, "wb") as f:
        for _ in range(reps): f.write(block)
    return reps


def _files(tmp: Path, mb: float, cobrix_dir: Path) -> dict:
    from trainbook.mainframe.copybook import parse_copybook
    from trainbook.mainframe.synth import synth_layout_record
    (tmp / "text.cob").write_text(TEXT_COPYBOOK)
    lay = parse_copybook(TEXT_COPYBOOK); rng = random.Random(0)
    text_block = b"".join(synth_layout_record(rng, lay, "cp037", rng.choice(["en", "de"]))[0] for _ in range(2000))
    _write_repeated(tmp / "text.dat", text_block, mb)
    _write_repeated(tmp / "test6.dat", (cobrix_dir / "test6_data" / "INTEGR.TYPES.NOV28.DATA.dat").read_bytes(), mb)
    return {"test6": (tmp / "test6.dat", cobrix_dir / "test6_copybook.cob"), "text": (tmp / "text.dat", tmp / "text.cob")}


def _run(path, cob, mode, limit=0, out="/dev/null"):
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(cob), mode, str(limit), str(out)], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark
def test_decode_parquet_vs_stdlib(tmp_path):
    from trainbook.mainframe.real import cobrix_root
    cobrix_dir = cobrix_root()
    mb = float(os.environ.get("TRAINBOOK_BENCH_DECODE_MB", 200))
    for name, (path, cob) in _files(tmp_path, mb, cobrix_dir).items():
        size = path.stat().st_size / 1e6
        std = _run(path, cob, "stdlib")
        ref = _run(path, cob, "reference", limit=max(1, std["records"] // 50))
        ref_s = ref["seconds"] * std["records"] / ref["records"]          # per-record decoder, extrapolated
        print(f"\n[{name}] {size:,.0f} MB, {std['records']:,} records of {size * 1e6 / std['records']:,.0f} B")
        print(f"  stdlib pass (slice + cp037 decode)  {std['seconds']:7.2f} s  {size / std['seconds']:7.1f} MB/s")
        print(f"  per-record decoder (extrapolated)   {ref_s:7.1f} s  {size / ref_s:7.2f} MB/s  ratio {ref_s / std['seconds']:7.1f}x")
        for jobs in (1, 2):
            out = tmp_path / f"{name}-{jobs}.parquet"
            r = _run(path, cob, f"parquet{jobs}", out=out)
            assert r["records"] == std["records"]
            print(f"  Parquet decode, {jobs} process{'es' if jobs > 1 else '  '}     {r['seconds']:7.2f} s  {size / r['seconds']:7.1f} MB/s "
                  f"{r['records'] / r['seconds']:10,.0f} records/s  peak RSS {r['peak_rss_mb']:6.0f} MB  ratio {r['seconds'] / std['seconds']:5.1f}x (target <= 5x)")
            out.unlink()
        fifth = _run(path, cob, "parquet1", limit=std["records"] // 5, out=tmp_path / "fifth.parquet")
        whole_peak = r["peak_rss_mb"] if jobs == 1 else _run(path, cob, "parquet1", out=tmp_path / "w.parquet")["peak_rss_mb"]
        print(f"  memory: whole file peak {whole_peak:.0f} MB, first fifth {fifth['peak_rss_mb']:.0f} MB (bounded: within 64 MB)")
        assert whole_peak - fifth["peak_rss_mb"] < 64
