import importlib.util
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_pipeline.py"


@pytest.mark.slow
def test_bench_pipeline_quick(shared_data):
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.run(quick=True, rounds=1, train_steps=1)
    for k in ("plain_loop", "bridge_1", "bridge_auto", "asirra_loader", "resnet18_train"):
        assert res[k]["images_per_s"] > 0
    assert res["config"]["images"] == 256 and res["config"]["batch_size"] == 64
    assert res["goals"]["pipeline_not_bottleneck"]
    assert res["bridge_vs_plain_per_core"] > 0.5
