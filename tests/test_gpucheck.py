"""The GPU kit's CPU rehearsal: the same command a GPU node runs, with --device cpu and tiny sizes."""

import json

import pandas as pd
import pytest

from greenbench import cli, gpucheck, io, models
from greenbench.data import DATASET_SCHEMA
from greenbench.energy.protocol import MEASUREMENT_SCHEMA

from conftest import toy_sentences


@pytest.fixture(scope="module")
def kit(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("kit")
    for split, n, seed in (("train", 160, 5), ("dev", 48, 6)):
        io.write_parquet(toy_sentences(n, seed), root / f"{split}.parquet", DATASET_SCHEMA)
        models.tokenize_split(root / f"{split}.parquet", f"path:{tiny_model_dir}", 16, root / f"{split}-tok.parquet")
    wheel = root / "fake-0.1-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    manifest = gpucheck.make_kit(tiny_model_dir, root / "train-tok.parquet", root / "dev-tok.parquet", root / "kit",
                                 model_name="tiny", max_length=16, wheels=[wheel])
    return root / "kit", manifest


def test_kit_is_half_precision_and_says_what_rounding_did(kit):
    path, manifest = kit
    assert json.loads((path / "kit.json").read_text()) == manifest
    assert manifest["dtype"] == "float16" and "float16 safetensors" in manifest["source"]
    assert manifest["wheels"] == ["fake-0.1-py3-none-any.whl"] and (path / "wheels" / manifest["wheels"][0]).exists()
    assert 0 <= manifest["cpu_predictions_changed_by_rounding"] <= manifest["dev_examples"] == 48
    from safetensors import safe_open

    with safe_open(str(path / "model" / "model.safetensors"), "pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert dtypes == {"torch.float16"}


def test_kit_over_the_allocation_limit_is_refused(tiny_model_dir, kit, tmp_path):
    path, _ = kit
    with pytest.raises(ValueError, match="over the 0.001 MB"):
        gpucheck.make_kit(tiny_model_dir, path / "tokens" / "train.parquet", path / "tokens" / "dev.parquet",
                          tmp_path / "kit", model_name="tiny", max_length=16, max_mb=0.001)
    assert not (tmp_path / "kit").exists()  # nothing half-written


def test_pieces_cover_the_paper_grid_with_fp32_beside_every_group():
    pieces = gpucheck.plan_pieces()
    assert pieces[0].settings == "quick" and len(pieces) == 1 + 9 + 1
    grid = {(c.variant, c.batch_size, c.padding, c.mode) for p in pieces[1:10] for c in p.cells if c.sampler}
    assert len(grid) == 8 * 3 * 3
    for piece in pieces:
        assert sum(not c.sampler for c in piece.cells) == 1  # one overhead cell each
        groups = {(c.batch_size, c.padding, c.mode) for c in piece.cells if c.sampler and c.variant != "adaptive"}
        for group in groups:
            assert ("fp32", *group) in {(c.variant, c.batch_size, c.padding, c.mode) for c in piece.cells}


def test_runtime_piece_builds_evaluates_and_measures_runtime_cells_in_fresh_processes(kit, tmp_path, monkeypatch):
    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[1])
    piece = gpucheck.plan_pieces()[10]
    assert piece.isolated and piece.accuracy and set(gpucheck.RUNTIME_CELLS) <= set(piece.variants)
    out = tmp_path / "check"
    assert cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "1", "--piece", "10", "--kit", str(path),
                     "--out", str(out)]) == 0
    out = out / "piece-10"
    summary = io.read_parquet(out / "eval" / "summary.parquet").set_index("variant")
    assert summary.loc["fp32@torch_compile", "status"] == "ok" and summary.loc["fp32@onnxruntime", "status"] == "ok"
    assert "cuda" in summary.loc["fp16@torch_compile_cudagraphs", "reason"]  # CUDA-only runtime, on a CPU
    m = io.read_parquet(out / "energy" / "measurements.parquet")
    assert {"fp32@torch_compile", "fp32@onnxruntime"} <= set(m[m.status == "ok"].variant)


def test_quick_piece_fits_eight_minutes_on_a_gpu():
    from greenbench.config import load_config

    energy = gpucheck.energy_settings(load_config(["config/config.yaml"])["energy"], gpucheck.plan_pieces()[0], False)
    measured = [c for c in gpucheck.plan_pieces()[0].cells if not (c.mode == "cuda_graph" and c.variant == "adaptive")]
    per_trial = gpucheck.estimate_trial_seconds(len(measured), energy, "cuda")
    assert 5 * per_trial + 90 <= 8 * 60  # five trials plus accuracy and loading


def test_cpu_rehearsal_writes_the_pipeline_tables_and_a_summary(kit, tmp_path, monkeypatch, capsys):
    path, _ = kit
    out = tmp_path / "check"
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[1])
    code = cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "2", "--kit", str(path), "--out", str(out)])
    assert code == 0
    summary = io.read_parquet(out / "eval" / "summary.parquet")
    assert set(summary.variant) == set(gpucheck.KIT_VARIANTS)
    by_variant = summary.set_index("variant")
    assert by_variant.loc["fp32", "status"] == "ok" and by_variant.loc["adaptive", "status"] == "ok"
    assert (by_variant.loc[["fp16", "tf32", "int8_weight_only"], "status"] == "not_applicable").all()
    trials = sorted((out / "energy" / "cpu" / "tiny").glob("trial-*.parquet"))
    assert len(trials) == 2
    m = io.read_parquet(out / "energy" / "measurements.parquet")
    assert list(m.columns) == MEASUREMENT_SCHEMA.names
    ok = m[m.status == "ok"]
    assert set(ok.variant) == {"fp32", "bf16", "adaptive"} and (~ok.sampler).sum() == 2  # the overhead cell, per trial
    assert ok.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    refused = m[m.status == "not_applicable"]
    assert refused[refused.variant == "fp16"].reason.str.contains("cuda").all()
    text = (out / "summary.md").read_text()
    for heading in ("## Provenance", "## Accuracy on SST-2 dev", "## Acceptance criteria", "## Cells",
                    "## CUDA graph vs eager", "## Invalid and not-applicable cells"):
        assert heading in text
    assert "float16 safetensors" in text and "trials done 2" in text
    assert not (out / "work").exists()


def test_budget_skips_trials_that_would_not_finish(kit, tmp_path, monkeypatch):
    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[1])
    out = tmp_path / "check"
    assert cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "3", "--budget-s", "1", "--kit", str(path),
                     "--out", str(out)]) == 0
    assert not list((out / "energy").rglob("trial-*.parquet"))
    assert "skipped to stay in budget: [0, 1, 2]" in (out / "summary.md").read_text()


def test_missing_kit_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[1])
    assert cli.main(["gpu-check", "--device", "cpu", "--kit", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    assert "make the kit first" in capsys.readouterr().err


def test_criteria_verdicts_follow_the_numbers():
    cells = pd.DataFrame([
        dict(variant="fp32", batch_size=64, padding="fixed", mode="eager", sampler=True, disagreement_median=0.01,
             cv_net=0.015, p50_ms=4.0, j_gross=0.1),
        dict(variant="fp16", batch_size=64, padding="fixed", mode="eager", sampler=True, disagreement_median=0.04,
             cv_net=0.03, p50_ms=2.0, j_gross=0.05),
    ])
    graphs = pd.DataFrame([{"variant": "fp32", "speed-up": 6.0}])
    table = gpucheck.criteria(cells, {"fp16": -0.1, "bf16": 0.2}, 1.004, graphs).set_index("criterion").verdict
    assert table.tolist() == ["met", "MISSED", "met", "met", "met"]
    empty = gpucheck.criteria(pd.DataFrame(), {}, float("nan"), pd.DataFrame())
    assert (empty.verdict == "not measured").all()


def test_a_failing_step_is_reported_and_the_rest_goes_on(kit, tmp_path, monkeypatch):
    from greenbench import evaluate as evaluate_module

    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[1])
    real = evaluate_module.evaluate

    def flaky(model_dir, dev, variant, *args, **kwargs):
        if variant == "adaptive":
            raise RuntimeError("simulated driver fault")
        return real(model_dir, dev, variant, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "evaluate", flaky)
    out = tmp_path / "check"
    assert cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "1", "--kit", str(path),
                     "--out", str(out)]) == 0
    text = (out / "summary.md").read_text()
    assert "evaluate adaptive: RuntimeError: simulated driver fault" in text
    summary = io.read_parquet(out / "eval" / "summary.parquet")
    assert "adaptive" not in set(summary.variant) and "fp32" in set(summary.variant)
    assert (out / "energy" / "measurements.parquet").exists()
