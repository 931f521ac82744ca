"""The Spark engine (`trainbook.mainframe.spark`) vs the local columnar decoder on the same RDW file: records/s of
both, their ratio, the driver's index pass and Spark's start-up, the stdlib scan as the common yardstick, and a
value-for-value equality check of the two outputs.

Size: `TRAINBOOK_BENCH_SPARK_MB` (default 30) of Cobrix test6 records (1,493 bytes, 100 numeric and text fields)
in an RDW file. Master: `TRAINBOOK_BENCH_SPARK_MASTER` (default `local[2]`); splits: `TRAINBOOK_BENCH_SPARK_SPLITS`
(default 8). On one small machine Spark pays for its JVM, its Python workers and Arrow hand-offs on the same
cores the local decoder has to itself; the ratio shows that overhead, not the cluster case, where splits
spread over executors."""
import os, shutil, time
from pathlib import Path
import pytest
from trainbook.core.paths import data_dir

MB = float(os.environ.get('TRAINBOOK_BENCH_SPARK_MB', '30'))
MASTER = os.environ.get('TRAINBOOK_BENCH_SPARK_MASTER', 'local[2]')
SPLITS = int(os.environ.get('TRAINBOOK_BENCH_SPARK_SPLITS', '8'))


def _stdlib_scan(path) -> tuple[int, float]:
    "A plain pass a user could write: walk the RDWs, decode every payload as cp037 text."
    t0 = time.perf_counter(); n = 0
    data = Path(path).read_bytes(); i = 0
    while i + 4 <= len(data):
        L = int.from_bytes(data[i:i + 2], 'big'); data[i + 4:i + L].decode('cp037'); i += L; n += 1
    return n, time.perf_counter() - t0


@pytest.mark.benchmark
def test_bench_spark_vs_local(tmp_path):
    if not (shutil.which('java') or os.environ.get('JAVA_HOME')): pytest.skip('Java is not installed')
    from trainbook.mainframe.copybook import read_copybook
    from trainbook.mainframe.records import read_records, write_records
    from trainbook.mainframe.columnar import iter_record_batches, decode_table
    from trainbook.mainframe import spark as tbs
    cob = data_dir() / 'mainframe' / 'cobrix'
    lay = read_copybook(cob / 'test6_copybook.cob')
    recs = read_records(next((cob / 'test6_data').iterdir()), f'fixed:{lay.record_length}')
    reps = max(1, int(MB * 1e6 / (len(recs) * (lay.record_length + 4))))
    path = tmp_path / 'test6.rdw'
    with open(path, 'wb') as f:
        for _ in range(reps): write_records(f, recs, 'rdw')
    size, n = path.stat().st_size, reps * len(recs)

    n_std, t_std = _stdlib_scan(path)
    assert n_std == n
    t0 = time.perf_counter()
    n_local = sum(b.num_rows for b in iter_record_batches(path, lay, 'rdw'))
    t_local = time.perf_counter() - t0
    assert n_local == n

    t0 = time.perf_counter(); spark = tbs.spark_session(MASTER); t_start = time.perf_counter() - t0
    split_bytes = -(-size // SPLITS)
    # warm the Python workers on a small file, so the timed job measures decoding, not worker start-up
    small = tmp_path / 'small.rdw'; small.write_bytes(path.read_bytes()[: 100 * (lay.record_length + 4)])
    tbs.decode_spark(small, lay, 'rdw', spark=spark, split_bytes=small.stat().st_size // 2).write.format('noop').mode('overwrite').save()
    t0 = time.perf_counter(); splits = tbs.plan_splits(path, 'rdw', split_bytes); t_index = time.perf_counter() - t0
    runs = []
    for _ in range(2):   # the first run also warms the JVM's JIT on this schema
        t0 = time.perf_counter()
        df = tbs.decode_spark(path, lay, 'rdw', spark=spark, split_bytes=split_bytes)
        tbs.run_spark(df.write.format('noop').mode('overwrite').save)    # decode everything, write nothing
        runs.append(time.perf_counter() - t0)
    t_spark = min(runs)
    t0 = time.perf_counter()
    out = tmp_path / 'out.parquet'
    s = tbs.write_parquet_spark(path, lay, out, 'rdw', spark=spark, split_bytes=split_bytes)
    t_parquet = time.perf_counter() - t0
    assert s['records'] == n

    # equality, value for value, on the whole file
    got = tbs.run_spark(tbs.decode_spark(path, lay, 'rdw', spark=spark, split_bytes=split_bytes, record_id=True).toArrow)
    got = got.sort_by('_record').drop_columns(list(tbs.RECORD_ID_COLUMNS))
    local = decode_table(path, lay, record_format='rdw').cast(tbs.spark_arrow_schema(lay))   # decimals past 38 digits as text
    equal = got.cast(local.schema).equals(local)
    spark.stop()

    mbs = lambda t: size / 1e6 / t
    print(f"\nspark vs local: {size / 1e6:.1f} MB RDW, {n:,} records of {lay.record_length} bytes, {len(lay.fields)} fields; "
          f"master {MASTER}, {len(splits)} splits, {os.cpu_count()} CPUs")
    print(f"  stdlib RDW + cp037 scan:        {mbs(t_std):7.1f} MB/s {n / t_std:10,.0f} records/s  ({t_std:.2f} s)")
    print(f"  local columnar decode:          {mbs(t_local):7.1f} MB/s {n / t_local:10,.0f} records/s  ({t_local:.2f} s)")
    print(f"  spark decode (noop sink):       {mbs(t_spark):7.1f} MB/s {n / t_spark:10,.0f} records/s  ({t_spark:.2f} s, "
          f"best of {runs[0]:.2f} / {runs[1]:.2f} s; of which driver index pass {t_index:.2f} s)")
    print(f"  spark decode + Parquet write:   {mbs(t_parquet):7.1f} MB/s {n / t_parquet:10,.0f} records/s  ({t_parquet:.2f} s)")
    print(f"  spark session start-up: {t_start:.1f} s (not in the figures above)")
    print(f"  ratio spark / local time: {t_spark / t_local:.2f}x; local / stdlib: {t_local / t_std:.2f}x; "
          f"spark / stdlib: {t_spark / t_std:.2f}x; index pass / local decode: {t_index / t_local:.2f}x")
    print(f"  values equal (Spark table == local table, {got.num_columns} columns): {equal}")
    assert equal
