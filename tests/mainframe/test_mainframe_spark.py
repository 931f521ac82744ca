"""The Spark engine (`trainbook.mainframe.spark`) on `local[2]`: splits of fixed-length, RDW and BDW files decode to
the local columnar decoder's values, value for value; errors are the local one-line errors; Parquet output is atomic.

One SparkSession for the module (start-up takes seconds). Skipped only when Java is missing."""
import argparse, os, re, shutil, sys
from collections import Counter
from pathlib import Path
import pytest
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from trainbook.core.errors import DataError, UserError
from trainbook.mainframe.copybook import parse_copybook, read_copybook
from trainbook.mainframe.fields import encode_binary, encode_packed, encode_zoned
from trainbook.mainframe.codecs import encode
from trainbook.mainframe.records import ReadStats, encode_records, iter_records, read_records
from trainbook.mainframe import spark as tbs
from trainbook.mainframe.columnar import decode_table

ID_COLS = list(tbs.RECORD_ID_COLUMNS)


def _has_java() -> bool:
    home = os.environ.get('JAVA_HOME')
    return bool(shutil.which('java') or (home and (Path(home) / 'bin' / 'java').exists()))


@pytest.fixture(scope='module')
def spark():
    if not _has_java(): pytest.skip('Java is not installed: the Spark engine needs Java 17+')
    s = tbs.spark_session('local[2]')
    yield s
    s.stop()


def _spark_rows(df):
    "Rows of a decoded DataFrame in file order, without the record-id columns."
    t = tbs.run_spark(df.toArrow)
    return t.sort_by([('_file', 'ascending'), ('_record', 'ascending')]), t.sort_by('_record').drop_columns(ID_COLS).to_pylist()


# a variable-length layout: OCCURS DEPENDING ON gives records of 19 to 29 bytes
ODO_COPYBOOK = """
       01  ORDER.
           05  ORDER-ID     PIC 9(4).
           05  CUSTOMER     PIC X(6).
           05  TOTAL        PIC S9(5)V99 COMP-3.
           05  N-ITEMS      PIC 9(1).
           05  ITEM OCCURS 0 TO 5 TIMES DEPENDING ON N-ITEMS.
               10  QTY      PIC S9(4) COMP.
"""


def _odo_records(n=1200):
    out = []
    for i in range(n):
        k = i % 6
        rec = (encode_zoned(i % 10000, 4, signed=False) + encode(f"C{i:05d}", 'cp037')
               + encode_packed(f"{(i * 37) % 100000 - 50000}.{i % 100:02d}", 7, 2) + encode_zoned(k, 1, signed=False)
               + b''.join(encode_binary(j * 11 - i % 300, 4, signed=True) for j in range(k)))
        out.append(rec)
    return out


@pytest.fixture(scope='module')
def odo(tmp_path_factory):
    d = tmp_path_factory.mktemp('odo')
    lay = parse_copybook(ODO_COPYBOOK)
    recs = _odo_records()
    assert len({len(r) for r in recs}) == 6
    files = {}
    for fmt in ('rdw', 'bdw'):
        files[fmt] = d / f'orders.{fmt}'; files[fmt].write_bytes(encode_records(recs, fmt, block_size=2000))
    return lay, files, d


def test_missing_pyspark_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pyspark', None)
    with pytest.raises(UserError, match=r"pip install '\.\[spark\]'"): tbs.require_pyspark()
    with pytest.raises(UserError, match=r"\.\[spark\]"): tbs.spark_schema(parse_copybook(ODO_COPYBOOK))


@pytest.mark.parametrize('fmt', ['rdw', 'rdw-le-excl', 'bdw', 'fixed:7,start=5,end=3'])
def test_splits_read_like_the_whole_file(tmp_path, fmt):
    "No Spark: the splits of a file, read one after the other, are the whole-file reader's records and counts."
    recs = [bytes([0xC1 + i % 9]) * (7 if fmt.startswith('fixed') else 1 + i % 50) for i in range(700)]
    p = tmp_path / 'f'
    body = encode_records(recs, fmt.split(',')[0], block_size=500)
    p.write_bytes((b'HEADR' + body + b'TRL') if fmt.startswith('fixed') else body)
    whole = list(iter_records(p, fmt))
    for split_bytes in (1, 97, 1000, 1 << 30):
        splits = tbs.plan_splits(p, fmt, split_bytes)
        got, st = [], ReadStats()
        for s in splits: got += list(tbs.iter_split_records(s, fmt, 'fail', st))
        assert got == whole and st.records == len(whole)
        assert [s.first_record for s in splits] == [sum(x.n_records for x in splits[:i]) for i in range(len(splits))]
    assert len(tbs.plan_splits(p, fmt, 1000)) >= 5


def test_fixed_test9_equals_local(spark, cobrix_dir):
    lay = read_copybook(cobrix_dir / 'test9_copybook.cob')
    dat = cobrix_dir / 'test9_data' / 'TRAN.APR14.NPT.DATA.dat'
    df = tbs.decode_spark(dat, lay, 'fixed', spark=spark, split_bytes=10_000, record_id=True)
    assert df.rdd.getNumPartitions() == 5
    t, rows = _spark_rows(df)
    assert rows == decode_table(dat, lay).to_pylist()
    assert t.column('_record_offset').to_pylist() == list(range(0, 45_000, 45))
    assert t.column('_record').to_pylist() == list(range(1000))


def test_fixed_test6_every_numeric_type_equals_local(spark, cobrix_dir):
    """test6: zoned, packed, binary up to 39 digits, edited numbers, floats: Spark's types carry the same values (a
    decimal past Spark's 38 digits as its exact text)."""
    lay = read_copybook(cobrix_dir / 'test6_copybook.cob')
    dat = next((cobrix_dir / 'test6_data').iterdir())
    local = decode_table(dat, lay)
    wide = [f.name for f in local.schema if pa.types.is_decimal256(f.type)]
    target = tbs.spark_arrow_schema(lay)
    assert wide and all(target.field(c).type == pa.string() for c in wide)
    assert all(target.field(f.name).type == f.type for f in local.schema if f.name not in wide)
    local = local.cast(target)
    df = tbs.decode_spark(dat, lay, 'fixed', spark=spark, split_bytes=30 * lay.record_length, record_id=True)
    assert df.rdd.getNumPartitions() == 4
    _, rows = _spark_rows(df)
    assert len(rows) == local.num_rows == 100
    assert rows == local.to_pylist()


@pytest.mark.parametrize('fmt', ['rdw', 'bdw'])
def test_variable_length_split_into_several_splits(spark, odo, fmt):
    lay, files, _ = odo
    splits = tbs.plan_splits(files[fmt], fmt, 3000)
    assert len(splits) >= 6
    df = tbs.decode_spark(files[fmt], lay, fmt, spark=spark, split_bytes=3000, batch_records=64, record_id=True)
    assert df.rdd.getNumPartitions() == len(splits)
    t, rows = _spark_rows(df)
    local = decode_table(files[fmt], lay, record_format=fmt)
    assert rows == local.to_pylist() and len(rows) == 1200
    assert t.column('_record_offset').to_pylist() == [off for off, _ in iter_records(files[fmt], fmt)]


def test_damaged_rdw_skip_matches_the_local_reader(spark, odo, tmp_path):
    lay, files, _ = odo
    raw = bytearray(files['rdw'].read_bytes())
    heads = [off - 4 for off, _ in iter_records(files['rdw'], 'rdw')]
    for k in (100, 400, 401, 700): raw[heads[k] + 2] = 0x40      # RDWs with non-zero reserved bytes: the reader resyncs
    raw[heads[900]:heads[900] + 4] = b'\0\0\0\0'                    # a zero-length RDW
    raw[heads[1000] + 10] = 0x7F                                  # a bad byte inside a record (CUSTOMER text: still valid)
    for k in (50, 1100): raw[heads[k] + 4 + 10] = 0xAB            # TOTAL, packed: not a digit -> null, counted per column
    p = tmp_path / 'damaged.rdw'; p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f'{p}: byte offset'): tbs.plan_splits(p, 'rdw', 4000)
    with pytest.raises(DataError, match=f'{p}: byte offset'): tbs.decode_spark(p, lay, 'rdw', spark=spark, split_bytes=4000, index_on='spark')
    local_stats = ReadStats()
    local_offsets = [off for off, _ in iter_records(p, 'rdw', on_error='skip', stats=local_stats)]
    assert local_stats.n_errors > 0
    local_errors, local_all = Counter(), ReadStats()
    local = decode_table(p, lay, record_format='rdw', on_error='skip', errors=local_errors, stats=local_all)
    assert local_errors == Counter({'ORDER.TOTAL': 2})
    stats, errors = ReadStats(), Counter()
    out = tmp_path / 'damaged.parquet'
    s = tbs.write_parquet_spark(p, lay, out, 'rdw', spark=spark, split_bytes=3000, on_error='skip', stats=stats, errors=errors, record_id=True)
    assert errors == local_errors and s['column_errors'] == {'ORDER.TOTAL': 2}
    t = pq.read_table(out).sort_by('_record')
    assert t.drop_columns(ID_COLS).to_pylist() == local.to_pylist()
    assert t.column('_record_offset').to_pylist() == local_offsets
    assert (stats.records, stats.skipped_bytes) == (local_stats.records, local_stats.skipped_bytes)
    assert +stats.errors == +local_all.errors == local_stats.errors + Counter(bad_value=2)
    assert sorted(stats.messages) == sorted(local_all.messages)
    assert s['records'] == len(local_offsets) and s['splits'] >= 6


def test_bad_value_is_the_local_one_line_error_and_leaves_no_output(spark, cobrix_dir, tmp_path):
    lay = read_copybook(cobrix_dir / 'test9_copybook.cob')
    raw = bytearray((cobrix_dir / 'test9_data' / 'TRAN.APR14.NPT.DATA.dat').read_bytes())
    raw[45 * 700 + 36] = 0x7F                                    # WEALTH-QFY PIC 9(1): not a digit
    p = tmp_path / 'bad.dat'; p.write_bytes(bytes(raw))
    with pytest.raises(DataError) as local: decode_table(p, lay)
    out = tmp_path / 'out.parquet'
    with pytest.raises(DataError) as err: tbs.write_parquet_spark(p, lay, out, spark=spark, split_bytes=10_000)
    assert str(err.value) == str(local.value) and '\n' not in str(err.value)
    assert str(err.value).startswith(f'{p}: byte offset {45 * 700 + 36}: record 701: field TRANSDATA.WEALTH-QFY')
    assert sorted(x.name for x in tmp_path.iterdir()) == ['bad.dat']
    # a cut-off last record is the reader's error, with the file offset, from the split that holds it
    p.write_bytes(bytes(raw[:45 * 1000 - 5]).replace(b'\x7f', b'\xf1'))
    with pytest.raises(DataError, match=f'{p}: byte offset {45 * 999}: file ends inside a 45-byte record'):
        tbs.run_spark(tbs.decode_spark(p, lay, spark=spark, split_bytes=10_000).toArrow)


def test_write_parquet_replaces_output_and_reads_back(spark, odo, tmp_path):
    lay, files, _ = odo
    out = tmp_path / 'orders.parquet'
    out.write_text('an older output')
    s = tbs.write_parquet_spark(files['rdw'], lay, out, 'rdw', spark=spark, split_bytes=5000)
    assert out.is_dir() and s['records'] == 1200 and s['output'] == str(out)
    parts = sorted(x.name for x in out.glob('part-*.parquet'))
    assert len(parts) == s['splits']
    # part files are in split order, so reading the directory gives the file's order
    assert pq.read_table(out).to_pylist() == decode_table(files['rdw'], lay, record_format='rdw').to_pylist()
    assert [x.name for x in tmp_path.iterdir()] == ['orders.parquet']


def test_max_records_per_file(spark, odo):
    lay, files, _ = odo
    df = tbs.decode_spark(files['bdw'], lay, 'bdw', spark=spark, max_records=250, split_bytes=3000, record_id=True)
    assert df.rdd.getNumPartitions() >= 6
    _, rows = _spark_rows(df)
    assert rows == decode_table(files['bdw'], lay, record_format='bdw').to_pylist()[:250]


def test_several_files_in_one_dataframe(spark, odo):
    lay, files, d = odo
    copy = d / 'orders2.rdw'; shutil.copyfile(files['rdw'], copy)
    # the index passes run as Spark tasks, one per file
    df = tbs.decode_spark([files['rdw'], copy], lay, 'rdw', spark=spark, split_bytes=6000, record_id=True, index_on='spark')
    assert df.rdd.getNumPartitions() == 2 * len(tbs.plan_splits(copy, 'rdw', 6000))
    t, _ = _spark_rows(df)
    local = decode_table(files['rdw'], lay, record_format='rdw').to_pylist()
    for f in (files['rdw'], copy):
        sub = t.filter(pc.equal(t.column('_file'), str(f))).sort_by('_record')
        assert sub.drop_columns(ID_COLS).to_pylist() == local


def test_cmd_decode_spark(spark, odo, tmp_path, capsys):
    lay, files, _ = odo
    args = argparse.Namespace(file=str(files['rdw']), output=str(tmp_path / 'o.parquet'), format=None, master='local[2]', batch_records=100,
                              split_mb=0.005)
    kw = dict(choose=None, all_branches=False, on_error='fail', trim='right', float_format='ibm', with_offsets=True, max_records=1000)
    assert tbs.cmd_decode_spark(args, lay, 'rdw', 'cp037', kw) == 0
    err = capsys.readouterr().err
    assert re.search(r"decoded 1,000 records .* \(parquet\); Spark: [4-9] splits on local\[2\]$", err.strip()), err
    t = pq.read_table(tmp_path / 'o.parquet')
    local = decode_table(files['rdw'], lay, record_format='rdw', with_offsets=True, max_records=1000)
    assert t.to_pylist() == local.to_pylist() and t.column_names[:2] == ['_record_offset', '_record_length']
    assert spark.sparkContext._jsc is not None            # the test's session is left running
    with pytest.raises(UserError, match='--output'): tbs.cmd_decode_spark(argparse.Namespace(**{**vars(args), 'output': None}), lay, 'rdw', 'cp037', kw)
    with pytest.raises(UserError, match='Parquet only'): tbs.cmd_decode_spark(argparse.Namespace(**{**vars(args), 'format': 'csv'}), lay, 'rdw', 'cp037', kw)
    with pytest.raises(UserError, match='Parquet only, not csv'): tbs.cmd_decode_spark(argparse.Namespace(**{**vars(args), 'output': 'o.csv'}), lay, 'rdw', 'cp037', kw)
