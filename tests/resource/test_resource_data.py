"Registry/profiling grid facts, loader validation, masks."
import json
import numpy as np
import pandas as pd
import pytest
import torch
from trainbook.core.errors import DataError
from trainbook.core.paths import data_dir
from trainbook.resource.data import (TOOL_NAMES, GRID, LATENCY_BASE, LATENCY_FACTORS, INPUT_SIZES, ConfigTable,
                                     make_profiling_frame, tool_registry, load_profiles, load_tools, write_registry,
                                     load_config_table, FeatureNormalizer)
from trainbook.resource.scorer import HierarchicalDecoder

HEADER = "tool,input_size,cpu_core,cpu_mem_gb,gpu_sm,gpu_mem_gb,latency_ms\n"

def test_grid_facts():
    df = make_profiling_frame()
    assert len(df) == 1701 and list(df.columns) == HEADER.strip().split(",")
    assert df.tool.tolist() == [t for t in TOOL_NAMES for _ in range(243)]
    # last column varies fastest, first slowest
    assert df.gpu_mem_gb[:3].tolist() == [2.0, 4.0, 8.0] and df.gpu_sm[:4].tolist() == [20, 20, 20, 40]
    assert df.input_size[[0, 80, 81, 162]].tolist() == ["small", "small", "medium", "large"]
    block = df.iloc[:243]
    assert len(block.drop_duplicates(["input_size", "cpu_core", "cpu_mem_gb", "gpu_sm", "gpu_mem_gb"])) == 243
    # the latency model: the noise factor is in [0.95, 1.05] up to the rounding to whole ms
    det = np.array([1000 * LATENCY_BASE[r.tool] * np.prod([LATENCY_FACTORS[k][GRID[k].index(getattr(r, k))] for k in GRID])
                    for r in df.itertuples()])
    ratio = df.latency_ms.to_numpy() / det
    assert ratio.min() >= 0.95 - 0.5 / det.min() and ratio.max() <= 1.05 + 0.5 / det.min()
    assert ratio.std() > 0.02                                     # the noise is really there
    assert make_profiling_frame().equals(df) and not make_profiling_frame(seed=1).equals(df)

def test_committed_data_is_the_generated_data():
    prof, tools = data_dir()/"profiling"/"profiling.csv", data_dir()/"tool_registry"/"tools.json"
    if not prof.exists(): pytest.skip("data/profiling/profiling.csv not generated")
    assert [t["name"] for t in json.loads(tools.read_text())] == TOOL_NAMES
    assert pd.read_csv(prof).equals(make_profiling_frame())

def test_write_and_reload(tmp_path):
    tp, pp = write_registry(tmp_path)
    table = load_config_table(tp, pp)
    assert len(table) == 1701 and table.tool_names == TOOL_NAMES
    assert table.record(242)["tool_name"] == "image_classification" and table.record(243)["tool_name"] == "text_summarization"

@pytest.mark.parametrize("body,msg", [
    ("image_classification,small,2,4.0,20,2.0,100\nspeech_to_text,small,2,4.0,20,2.0,100\n", "line 3: unknown tool 'speech_to_text'"),
    ("image_classification,small,2,4.0,20,2.0,100\nimage_classification,small,2,lots,20,2.0,100\n", "line 3: column 'cpu_mem_gb': expected a number"),
    ("image_classification,huge,2,4.0,20,2.0,100\n", "line 2: input_size"),
    ("image_classification,small,2,4.0,20,-2.0,100\n", "line 2: column 'gpu_mem_gb': expected a positive number"),
    ("image_classification,small,2,4.0,20,2.0\n", "line 2: expected 7 fields"),
])
def test_validation_errors(tmp_path, body, msg):
    p = tmp_path/"p.csv"; p.write_text(HEADER + body)
    with pytest.raises(DataError, match=msg): load_profiles(p, TOOL_NAMES)

def test_missing_column_and_bad_registry(tmp_path):
    p = tmp_path/"p.csv"; p.write_text("tool,input_size,cpu_core,cpu_mem_gb,gpu_sm,latency_ms\n")
    with pytest.raises(DataError, match="line 1: missing column.*gpu_mem_gb"): load_profiles(p, TOOL_NAMES)
    t = tmp_path/"t.json"; t.write_text('[{"name": "a"}, {"name": "a"}]')
    with pytest.raises(DataError, match="duplicate"): load_tools(t)

def test_user_profiles_any_size(tmp_path):
    "Two tools, uneven rows, non-grid values: ids come in contiguous tool blocks in registry order."
    t = tmp_path/"t.json"; t.write_text(json.dumps([{"name": "ocr", "description": "reads text"}, {"name": "asr", "description": "hears"}]))
    p = tmp_path/"p.csv"; p.write_text(HEADER + "asr,small,3,6.5,10,1.5,55\nocr,large,1,2,5,1,900\nasr,medium,16,32,80,24,31\n")
    table = load_config_table(t, p)
    assert table.frame.tool.tolist() == ["ocr", "asr", "asr"]
    assert table.mask_map() == {"ocr": [0], "asr": [1, 2]}
    assert table.record(1)["memory_gb"] == 6.5
    z = FeatureNormalizer.fit(table.raw_features())(table.raw_features())
    assert np.isfinite(z).all() and abs(z.mean()) < 1e-6

def test_mask_map_and_decoder_masks():
    table = ConfigTable(tool_registry(), make_profiling_frame())
    mm = table.mask_map()
    assert all(mm[t] == list(range(i * 243, (i + 1) * 243)) for i, t in enumerate(TOOL_NAMES))
    dec = HierarchicalDecoder(5, 8, table.tool_ids(), 7)
    tools = torch.arange(7)
    out = dec(torch.randn(7, 5), tools)
    for i, t in enumerate(TOOL_NAMES):                              # candidates = the tool's configurations, in order
        assert out["cand"][i].tolist() == mm[t] and torch.isfinite(out["logits"][i]).all()
    out = dec(torch.randn(32, 5))                                   # inference: candidates follow the predicted tool
    assert (table.tool_ids()[out["cand"][:, 0].numpy()] == out["tool_logits"].argmax(-1).numpy()).all()
