"""What the resource tests and benchmarks share: the profiled configuration table, and a stand-in for MiniLM that gives the
decoders and the planner their inputs without loading a language model."""
import torch

from trainbook.resource.data import ConfigTable, make_profiling_frame, tool_registry


def profiled_table() -> ConfigTable:
    "The table the pipeline trains on: the registry's tools, profiled as `make_profiling_frame` profiles them."
    return ConfigTable(tool_registry(), make_profiling_frame())


def fake_task_encoder(texts):
    "Deterministic stand-in for MiniLM: one seeded vector per text (the same text, the same vector)."
    return torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(sum(map(ord, t)))) for t in texts])
