"Copybook inference: sampling, record types, round trip through the inferred copybook, scoring, the two commands and their bad inputs."
import json
from decimal import Decimal
from pathlib import Path
import numpy as np
import pytest
from trainbook.core.errors import CheckpointError, DataError, UserError
from trainbook.mainframe.codecs import encode
from trainbook.mainframe.copybook import parse_copybook, read_copybook
from trainbook.mainframe.copysample import sample_records
from trainbook.mainframe.copyinfer import InferredCopybook, chooser_from_sidecar, infer_copybook, infer_from_records, record_types
from trainbook.mainframe.copyscore import score_copybook
from trainbook.mainframe.decode import decode_file
from trainbook.mainframe.fields import encode_binary, encode_packed, encode_zoned
from trainbook.mainframe.records import encode_records, read_records
from trainbook.mainframe.synth import CopybookSynthConfig, generate_copybook_dataset


def run_cli(argv, capsys):
    "The `trainbook` CLI with only the mainframe group (as `core.cli.main` runs it: UserError -> one line, exit 2)."
    import argparse, sys
    from trainbook.mainframe.cli import register
    p = argparse.ArgumentParser(prog="trainbook"); register(p.add_subparsers(dest="command"))
    args = p.parse_args(argv)
    try: rc = int(args.func(args) or 0)
    except UserError as e:
        print(f"trainbook: error: {e}", file=sys.stderr); rc = 2
    out = capsys.readouterr()
    return rc, out.out, out.err

TRUE_TEXT = """       01  ORDER-REC.
           05  SEG-ID       PIC X(1).
           05  CUST-NAME    PIC X(12).
           05  AMOUNT       PIC S9(5)V99 COMP-3.
           05  QTY          PIC S9(4).
           05  ORDER-ID     PIC S9(9) COMP.
       01  NOTE-REC.
           05  SEG-ID2      PIC X(1).
           05  NOTE-TEXT    PIC X(20).
           05  NOTE-NO      PIC S9(4) COMP.
"""
NAMES = ["SMITH", "JONES", "MILLER", "BROWN", "DAVIS", "WILSON", "TAYLOR", "MOORE"]


def two_type_records(n=120):
    "Records of two segment types (O: 25 bytes, N: 23 bytes), as a hierarchical file holds them."
    out = []
    for i in range(n):
        if i % 3 == 2:
            out.append(encode("N" + f"NOTE {NAMES[i % 8]}".ljust(20), "cp037") + encode_binary(i, 4))
        else:
            out.append(encode("O" + NAMES[i % 8].ljust(12), "cp037") + encode_packed(-i * 13, 7) + encode_zoned(i % 97, 4)
                       + encode_binary(i * 1001, 9))
    return out


def true_choose(rec):
    return {"ORDER-REC": "ORDER-REC" if rec[:1] == encode("O", "cp037") else "NOTE-REC"}


def unscaled(v, scale):
    return int(Decimal(str(v)).scaleb(scale)) if not isinstance(v, str) else v.strip()


def test_round_trip_heuristic_two_types(tmp_path):
    "The file decoded with its inferred copybook equals its decode with the true copybook wherever the fields agree."
    recs = two_type_records()
    dump = tmp_path / "orders.rdw"; dump.write_bytes(encode_records(recs, "rdw"))
    ic = infer_copybook(dump, None, "rdw", sample=60, tagger="heuristic")
    assert ic.sidecar["rule"]["kind"] == "segment" and ic.sidecar["rule"]["offset"] == 0
    lay, true = ic.layout(), parse_copybook(TRUE_TEXT)
    assert sorted(t["length"] for t in ic.sidecar["types"]) == [23, 25]
    got = list(decode_file(dump, lay, "rdw", choose=ic.chooser(), on_error="skip"))
    want = list(decode_file(dump, true, "rdw", choose=true_choose))
    assert len(got) == len(want) == len(recs)
    by_pos = lambda L: {f.path: f for f in L.fields}
    fi, ft = by_pos(lay), by_pos(true)
    matched = 0
    for g, w in zip(got, want):
        inf = {(fi[p].offset, fi[p].length): (v, fi[p]) for p, v in g["fields"].items()}
        for p, v in w["fields"].items():
            f = ft[p]
            if (f.offset, f.length) in inf:
                v2, f2 = inf[(f.offset, f.length)]
                assert unscaled(v, f.scale) == unscaled(v2, f2.scale), (p, v, v2)
                matched += 1
    assert matched >= len(recs)        # fields are found in every record on average (the heuristic merges SEG-ID into the name)
    s = score_copybook(ic, true, recs, true_choose=true_choose)
    total = sum(len(w["fields"]) for w in want)
    assert s["n_values"] == total and s["value_agreement"] == pytest.approx(matched / total)   # agreement = fields found
    assert 0 < s["field_exact"] <= matched / total and 0 < s["boundary_f1"] <= 1


REDEF_TEXT = """       01  PAY-REC.
           05  NAME         PIC X(10).
           05  ADDR.
               10  CITY     PIC X(12).
           05  AMOUNTS REDEFINES ADDR.
               10  AMT      PIC S9(7) COMP-3.
               10  QTY      PIC S9(9) COMP-3.
               10  FILLER   PIC X(3).
           05  CODE         PIC S9(4).
"""
CITIES = ["LONDON", "PARIS", "BERLIN", "MADRID", "ROME", "VIENNA", "OSLO"]


def redef_records(n=90):
    "Records of one type whose bytes 10..21 are a city (two records in three) or two COMP-3 amounts: a REDEFINES."
    out = []
    for i in range(n):
        mid = (encode(CITIES[i % 7].ljust(12), "cp037") if i % 3
               else encode_packed(-i * 101, 7) + encode_packed(i * 7919, 9) + encode("   ", "cp037"))
        out.append(encode(NAMES[i % 8].ljust(10), "cp037") + mid + encode_zoned(i % 1000, 4))
    return out


def test_redefines_chosen_per_record_round_trip(tmp_path, capsys):
    "A REDEFINES whose branch only the bytes tell: one chain, each record's branch right, values equal the true copybook's."
    from trainbook.mainframe.columnar import decode_table
    recs = redef_records()
    dump = tmp_path / "pay.rdw"; dump.write_bytes(encode_records(recs, "rdw"))
    ic = infer_copybook(dump, None, "rdw", sample=90, tagger="heuristic")
    (chain,) = ic.sidecar["types"][0]["chains"]
    assert (chain["offset"], chain["length"]) == (10, 12) and ic.layout().alternatives == {chain["name"]: [b["name"] for b in chain["branches"]]}
    assert "BRANCH-01-1B REDEFINES BRANCH-01-1A." in ic.text
    packed = [b["name"] for b in chain["branches"] if any(f["tag"] == "PACKED" for f in b["fields"])][0]
    choose = ic.chooser()
    assert [choose(r)[chain["name"]] == packed for r in recs] == [i % 3 == 0 for i in range(len(recs))]
    from trainbook.mainframe.decode import decode_record
    true, ch = parse_copybook(REDEF_TEXT), [{"ADDR": "ADDR" if i % 3 else "AMOUNTS"} for i in range(len(recs))]
    got = list(decode_file(dump, ic.layout(), "rdw", choose=choose))
    from collections import Counter
    for g, r, c in zip(got, recs, ch):   # every true value is decoded, and equal, by the inferred copybook
        assert not Counter(map(str, decode_record(r, true, "cp037", c).values())) - Counter(map(str, g["fields"].values()))
    # the columnar decoder (which chooses for a whole batch at once) gives the per-record decoder's values
    t = decode_table(dump, ic.layout(), "rdw", "cp037", choose=choose).to_pylist()
    assert [{k: v for k, v in row.items() if v is not None} for row in t] == [g["fields"] for g in got]
    # the chain is what passes the score: without it, the packed records' amounts are misread
    s1 = score_copybook(ic, true, recs, true_choose=ch)
    s0 = score_copybook(infer_from_records(recs, None, "rdw", branches=False), true, recs, true_choose=ch)
    assert s1["field_exact"] == s1["value_agreement"] == 1.0 and s0["field_exact"] < 0.8
    # the saved sidecar gives the same choices
    ic.save(tmp_path / "pay.cob", tmp_path / "pay.json")
    side = chooser_from_sidecar(json.loads((tmp_path / "pay.json").read_text()))
    assert [side(r) for r in recs] == [choose(r) for r in recs]
    rc, so, se = run_cli(["mainframe", "infer-copybook", str(dump), "--tagger", "heuristic"], capsys)
    assert rc == 0 and "REDEFINES BRANCH-01-1A." in so and "1 record type(s) with 1 REDEFINES chain(s) chosen per record" in se


def test_decode_copybook_uses_the_sidecar_beside_it(tmp_path, capsys):
    "`decode --copybook X.cob` reads X.json (the inference sidecar) as `decode --infer` does: each record's REDEFINES branch."
    recs = redef_records()
    dump, cob = tmp_path / "pay.rdw", tmp_path / "pay.cob"; dump.write_bytes(encode_records(recs, "rdw"))
    rc, _, se = run_cli(["mainframe", "infer-copybook", str(dump), "--tagger", "heuristic", "--out", str(cob)], capsys)
    assert rc == 0 and (tmp_path / "pay.json").exists(), se
    ic = InferredCopybook(cob.read_text(), json.loads((tmp_path / "pay.json").read_text()))
    want = [r["fields"] for r in decode_file(dump, ic.layout(), "rdw", choose=ic.chooser())]
    def decode(*extra, name="out.jsonl"):
        out = tmp_path / name
        rc, _, se = run_cli(["mainframe", "decode", str(dump), "--copybook", str(cob), "--output", str(out), *extra], capsys)
        return rc, se, [json.loads(l)["fields"] for l in out.read_text().splitlines()] if rc == 0 else None
    # the record format (rdw) and codepage come from the sidecar too; the packed records decode their amounts
    rc, se, got = decode()
    assert rc == 0 and "using " + str(tmp_path / "pay.json") in se and "1 REDEFINES chain(s) chosen per record" in se, se
    (chain,) = ic.sidecar["types"][0]["chains"]
    packed = [b["name"] for b in chain["branches"] if any(f["tag"] == "PACKED" for f in b["fields"])][0]
    assert got == want and [any(f".{packed}." in k for k in g) for g in got] == [i % 3 == 0 for i in range(len(recs))]
    # --redefine overrides the sidecar: every record reads the branch named
    first = chain["branches"][0]["name"]
    rc, se, got1 = decode("--redefine", f"{chain['name']}={first}", "--record-format", "rdw")
    assert rc == 0 and "using" not in se and got1 != want
    # moved away, a sidecar is named with --sidecar; without it the copybook alone reads the first branch
    (tmp_path / "pay.json").rename(tmp_path / "side.json")
    rc, se, got2 = decode("--record-format", "rdw")
    assert rc == 0 and got2 == got1
    assert decode("--sidecar", str(tmp_path / "side.json"))[2] == want
    # a JSON of another kind beside the copybook is not a sidecar: ignored
    (tmp_path / "pay.json").write_text('{"owner": "someone else"}')
    assert decode("--record-format", "rdw")[2] == got1
    # bad sidecars: one line naming the file, exit 2, nothing written
    other = infer_from_records(two_type_records(30), None, "rdw"); other.save(sidecar=tmp_path / "other.json")
    for extra, msg in [(["--sidecar", str(tmp_path / "other.json")], "other.json"),
                       (["--sidecar", str(tmp_path / "none.json")], "none.json: sidecar not found")]:
        rc, se, _ = decode(*extra, name="bad.jsonl")
        assert rc == 2 and msg in se and len(se.strip().splitlines()) == 1 and not (tmp_path / "bad.jsonl").exists(), se


def test_copybook_is_valid_cobol_with_header(tmp_path):
    ic = infer_from_records(two_type_records(30), None, "rdw", source="orders.rdw")
    lines = ic.text.splitlines()
    assert all(len(l) <= 72 for l in lines)
    assert all(l[6] == "*" or l[:7] == " " * 7 for l in lines)        # comment indicator in column 7, entries from column 8
    assert any("codepage cp037 chosen by the file vote, confidence" in l for l in lines)
    assert any("sampled records" in l for l in lines) and any("conf " in l for l in lines)
    assert [l.split()[1] for l in lines if l.strip().startswith("01")] == ["RECORD-01.", "RECORD-02."]
    cob = tmp_path / "x.cob"; ic.save(cob, tmp_path / "x.json")
    assert read_copybook(cob).record_length == 25
    side = json.loads((tmp_path / "x.json").read_text())
    assert side["schema"] == "trainbook.copybook-inference" and side["schema_version"] == 2
    ch = chooser_from_sidecar(side)
    assert ch(two_type_records(3)[2]) == {"RECORD-01": [t["name"] for t in side["types"] if t["length"] == 23][0]}


def test_record_types_by_length_and_single():
    assert record_types([b"a" * 5] * 3)[0] == {"kind": "single"}
    rule, t = record_types([b"abc", b"abcd", b"xyc", b"abcd"])
    assert rule == {"kind": "length", "lengths": [3, 4]} and t == [0, 1, 0, 1]
    # too many lengths and no segment byte: one variable-length type
    recs = [bytes([i % 250]) * (10 + i) for i in range(40)]
    assert record_types(recs)[0] == {"kind": "single"}


def test_sampling_spreads_over_big_rdw_file(tmp_path):
    "A file above the small-file size is read at evenly spaced places, each resynchronised on real RDWs."
    recs = [encode(f"R{i:07d}", "cp037") + bytes([i % 7]) * (i % 13 + 1) for i in range(20000)]
    raw = encode_records(recs, "rdw"); p = tmp_path / "big.rdw"; p.write_bytes(raw)
    got, info = sample_records(p, "rdw", 200, small_file=1 << 10, regions=20)
    assert info["method"] == "seek-rdw-20-regions" and len(got) == 200 and info["bytes_read"] < len(raw) / 3
    assert all(raw[o:o + len(r)] == r for o, r in got)
    idx = sorted(int(encode("x", "cp037") and r[1:8].decode("cp037")) for _, r in got)
    assert idx[0] == 0 and idx[-1] > 19000                # from the start to the end of the file
    assert len({i // 1000 for i in idx}) >= 19            # every twentieth of the file is visited
    # a little-endian file read as big-endian: the error names the offset
    p2 = tmp_path / "le.rdw"; p2.write_bytes(encode_records(recs, "rdw-le"))
    with pytest.raises(DataError, match="offset 0"): sample_records(p2, "rdw", 100, small_file=1 << 10)


def test_model_infer_and_score_synthetic(ckpt, tmp_path):
    "The model path: a synthetic copybook file, the copybook parses, the score's figures are proportions."
    ds = generate_copybook_dataset(CopybookSynthConfig(n_layouts=1, records_per_layout=40, codepages=("cp037",), seed=4242))
    recs = [r.data for r in ds.records]
    p = tmp_path / "syn.rdw"; p.write_bytes(encode_records(recs, "rdw"))
    ic = infer_copybook(p, ckpt, "rdw", sample=30)
    assert ic.sidecar["tagger"] == "model" and ic.sidecar["sample"]["records"] == 30
    lay = ic.layout()
    assert lay.record_length == len(recs[0])
    assert sum(f["length"] for f in ic.sidecar["types"][0]["fields"]) == len(recs[0])   # the fields tile the record
    s = score_copybook(ic, ds.layouts[0], recs, true_choose=[r.meta["choose"] for r in ds.records])
    for k in ("field_exact", "boundary_precision", "boundary_recall", "boundary_f1", "value_agreement"):
        assert 0.0 <= s[k] <= 1.0
    assert s["n_values"] >= len(recs)
    # same sample, same copybook (seeded); another seed reads other records
    assert infer_copybook(p, ckpt, "rdw", sample=30).text == ic.text


def test_real_test17_segments(cobrix_dir):
    "test17 holds 7 segment types: found from a sample, one 01 level each."
    from trainbook.mainframe.real import REAL_FILES
    spec = REAL_FILES["test17"]
    ic = infer_copybook(cobrix_dir / spec.data, None, spec.record_format, sample=400, tagger="heuristic")
    rule = ic.sidecar["rule"]
    assert rule["kind"] == "segment" and rule["offset"] == 0 and len(rule["values"]) == 7
    assert sorted(rule["values"]) == [f"f{i}" for i in range(1, 8)]
    recs = read_records(cobrix_dir / spec.data, spec.record_format)
    s = score_copybook(ic, read_copybook(cobrix_dir / spec.copybook), recs, true_choose=spec.choose)
    assert s["n_records"] == len(recs) and 0 < s["boundary_f1"] <= 1


# ---- the commands and their bad inputs

def test_cli_infer_and_score(ckpt, tmp_path, capsys):
    recs = two_type_records(60)
    dump = tmp_path / "o.rdw"; dump.write_bytes(encode_records(recs, "rdw"))
    out = tmp_path / "o.cob"
    rc, so, se = run_cli(["mainframe", "infer-copybook", str(dump), "--checkpoint", str(ckpt), "--sample", "40", "--out", str(out)], capsys)
    assert rc == 0 and so == "" and "record type(s) from 40 sampled records" in se
    assert read_copybook(out).fields and json.loads(out.with_suffix(".json").read_text())["sample"]["records"] == 40
    true = tmp_path / "true.cob"; true.write_text(TRUE_TEXT)
    rc, so, se = run_cli(["mainframe", "score-copybook", str(out), str(true), "--data", str(dump)], capsys)
    assert rc == 0 and "field exact" in so and "value agreement" in so
    rc, so, _ = run_cli(["mainframe", "score-copybook", str(out), str(true), "--data", str(dump), "--json"], capsys)
    assert rc == 0 and json.loads(so)["n_records"] == 60
    rc, so, se = run_cli(["mainframe", "infer-copybook", str(dump), "--tagger", "heuristic"], capsys)   # stdout
    assert rc == 0 and "01  RECORD-01." in so


@pytest.mark.parametrize("content,fmt,msg", [
    (b"", "rdw", "empty file"),
    (b"\x00\x10\x00\x00abc", "rdw", "runs past the end of the file"),
    (b"abc", "fixed:10", "shorter than one 10-byte record"),
    (b"A" * 25, "fixed:10", "does not fit"),
    (b"\x12\x34\x56\x78" * 10, "rdw", "offset 0"),
])
def test_cli_bad_inputs_exit_2_and_leave_no_output(tmp_path, capsys, content, fmt, msg):
    p = tmp_path / "bad.dat"; p.write_bytes(content)
    out = tmp_path / "bad.cob"
    rc, so, se = run_cli(["mainframe", "infer-copybook", str(p), "--tagger", "heuristic", "--record-format", fmt, "--out", str(out)], capsys)
    assert rc == 2 and msg in se and len(se.strip().splitlines()) == 1 and "Traceback" not in se
    assert not out.exists() and not list(tmp_path.glob(".bad.cob*"))      # atomic: nothing half-written


def test_cli_random_bytes_warn_exit_0(tmp_path, capsys):
    p = tmp_path / "rnd.dat"; p.write_bytes(np.random.default_rng(0).integers(0, 256, 64 * 200, dtype=np.uint8).tobytes())
    rc, so, se = run_cli(["mainframe", "infer-copybook", str(p), "--tagger", "heuristic", "--record-format", "fixed:64"], capsys)
    assert rc == 0 and "warning:" in se and "no consistent layout" in se
    assert "FILLER" in so and read_copybook_text(so).record_length == 64


def read_copybook_text(t):
    return parse_copybook(t)


def test_cli_wrong_checkpoint(tmp_path, capsys, ckpt):
    import torch
    bad = tmp_path / "other.pt"; torch.save({"kind": "codepage", "format_version": 1}, bad)
    p = tmp_path / "o.rdw"; p.write_bytes(encode_records(two_type_records(10), "rdw"))
    rc, _, se = run_cli(["mainframe", "infer-copybook", str(p), "--checkpoint", str(bad)], capsys)
    assert rc == 2 and "not a multihead checkpoint" in se
    rc, _, se = run_cli(["mainframe", "infer-copybook", str(p)], capsys)
    assert rc == 2 and "needs --checkpoint" in se
    with pytest.raises(CheckpointError): infer_copybook(p, bad)
    with pytest.raises(UserError, match="sample"): infer_copybook(p, ckpt, sample=0)


COBOL_FACTS_TEXT = """       01  REC.
           05  FIRST-NAME   PIC X(8).
           05  LAST-NAME    PIC X(10).
           05  AMOUNT       PIC S9(5) COMP-3.
           05  QTY          PIC S9(4) COMP.
           05  FLAG         PIC S9(1) SIGN LEADING.
"""


def test_layout_rules_fix_the_heuristic_reading():
    "The nibble heuristic reads the packed and binary bytes as text; the COBOL layout rules (COMP-3 shape, COMP widths, overpunched digit) recover every field."
    import random
    rng = random.Random(0)
    first, last = ["ANNA", "BOB", "CARLOS", "DI", "EVELYN", "FU"], ["SMITH", "NG", "OKONKWO", "LEE", "BRANDT"]
    recs = [encode(rng.choice(first).ljust(8) + rng.choice(last).ljust(10), "cp037") + encode_packed(rng.randrange(-99999, 99999), 5)
            + encode_binary(rng.randrange(-999, 999), 4) + encode_zoned(rng.randrange(10), 1, sign_leading=True) for _ in range(40)]
    ic = infer_from_records(recs, None, "rdw")
    got = [(f["offset"], f["length"], f["tag"], f["pic"]) for f in ic.sidecar["types"][0]["fields"]]
    assert got == [(0, 8, "TEXT", "X(8)"), (8, 10, "TEXT", "X(10)"), (18, 3, "PACKED", "S9(5) COMP-3"), (21, 2, "BINARY", "S9(4) COMP"),
                   (23, 1, "ZONED", "S9(1)")]
    s = score_copybook(ic, parse_copybook(COBOL_FACTS_TEXT), recs, "cp037")
    assert s["field_exact"] == 1.0 and s["boundary_f1"] == 1.0
    assert s["value_agreement"] == 1.0
