"""The GPU kit's CPU rehearsal: the same command a GPU node runs, with --device cpu and tiny sizes."""

import json

import pandas as pd
import pytest

from greenbench.tools import cli, gpukit as gpucheck
from greenbench.core import io
from greenbench.data import models
from greenbench.data.sst2 import DATASET_SCHEMA
from greenbench.measure.energy.trial import MEASUREMENT_SCHEMA

from conftest import toy_sentences


@pytest.fixture(scope="module")
def kit(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("kit")
    for split, n, seed in (("train", 160, 5), ("dev", 48, 6)):
        io.write_parquet(toy_sentences(n, seed), root / f"{split}.parquet", DATASET_SCHEMA)
        models.tokenize_split(root / f"{split}.parquet", f"path:{tiny_model_dir}", 16, root / f"{split}-tok.parquet")
    wheel = root / "fake-0.1-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    manifest = gpucheck.make_kit(
        tiny_model_dir,
        root / "train-tok.parquet",
        root / "dev-tok.parquet",
        root / "kit",
        model_name="tiny",
        max_length=16,
        wheels=[wheel],
    )
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
    with safe_open(str(path / "model" / gpucheck.EMBEDDING_ROWS), "pt") as f:
        assert str(f.get_tensor("rows").dtype) == "torch.float16" and str(f.get_tensor("ids").dtype) == "torch.int64"


def test_the_kit_ships_the_embedding_rows_its_tokens_use_and_the_node_rebuilds_the_rest_as_zeros(
    kit, tiny_model_dir, tmp_path
):
    import torch

    path, manifest = kit
    tokens = [path / "tokens" / f"{s}.parquet" for s in ("train", "dev")]
    tokenizer = models.load_tokenizer(str(tiny_model_dir))
    keep = gpucheck.used_token_ids(tokens, tokenizer.all_special_ids)
    used = {i for t in tokens for ids in io.read_parquet(t).input_ids for i in ids}
    assert used <= set(keep) and set(tokenizer.all_special_ids) <= set(keep)
    original = models.load_classifier(str(tiny_model_dir)).get_input_embeddings().weight.detach().half()
    assert manifest["embedding_rows"] == {"kept": len(keep), "of": original.shape[0]} and len(keep) < original.shape[0]
    rebuilt = gpucheck.load_kit_model(path / "model")
    weight = rebuilt.get_input_embeddings().weight.detach()
    assert weight.dtype == torch.float16 and weight.shape == original.shape
    kept = torch.tensor(keep)
    assert torch.equal(weight[kept], original[kept])
    dropped = torch.ones(original.shape[0], dtype=torch.bool)
    dropped[kept] = False
    assert dropped.any() and not weight[dropped].any()
    # every other tensor is the half-precision original
    whole = models.load_classifier(str(tiny_model_dir)).half().state_dict()
    key = next(k for k, v in rebuilt.state_dict(keep_vars=True).items() if v is rebuilt.get_input_embeddings().weight)
    assert all(torch.equal(v, whole[k]) for k, v in rebuilt.state_dict().items() if k != key)
    up = gpucheck.upcast_model(path, tmp_path / "up")
    assert models.load_classifier(str(up)).get_input_embeddings().weight.dtype == torch.float32


def test_kit_over_the_allocation_limit_is_refused(tiny_model_dir, kit, tmp_path):
    path, manifest = kit
    assert manifest["tree_mb"] > 0 and manifest["total_mb"] == pytest.approx(
        manifest["tree_mb"] + manifest["size_mb"], abs=0.02
    )
    with pytest.raises(ValueError, match=r"the checkout \(.* MiB\) plus the GPU kit .* MiB over the 0.001 MiB"):
        gpucheck.make_kit(
            tiny_model_dir,
            path / "tokens" / "train.parquet",
            path / "tokens" / "dev.parquet",
            tmp_path / "kit",
            model_name="tiny",
            max_length=16,
            max_mb=0.001,
        )
    assert not (tmp_path / "kit").exists()  # nothing half-written
    assert not list(tmp_path.glob(".kit.*"))  # and no temporary left beside it
    wheel = tmp_path / "big-0.1-py3-none-any.whl"
    wheel.write_bytes(b"0" * int((gpucheck.WHEEL_ALLOWANCE_MB + 0.5) * 2**20))
    with pytest.raises(ValueError, match=r"over their 4.0 MiB allowance by 0.5 MiB"):
        gpucheck.make_kit(
            tiny_model_dir,
            path / "tokens" / "train.parquet",
            path / "tokens" / "dev.parquet",
            tmp_path / "kit",
            model_name="tiny",
            max_length=16,
            wheels=[wheel],
        )


def test_the_kit_size_estimate_matches_a_real_kit(tiny_model_dir, kit):
    path, manifest = kit
    wheels = sum(p.stat().st_size for p in (path / "wheels").iterdir())
    estimate = gpucheck.estimate_kit_bytes(
        tiny_model_dir, path / "tokens" / "train.parquet", path / "tokens" / "dev.parquet", wheel_bytes=wheels
    )
    actual = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    # the estimate leaves out kit.json (a few kB) and the tokenizer files save_pretrained adds
    assert abs(estimate - actual) <= 0.05 * actual + 64 * 1024


@pytest.fixture(scope="module")
def sst2_tokens(tmp_path_factory, data_mirror):
    """The real SST-2 train/dev tokens of the default model, as the kit carries them."""
    from greenbench.data import sst2 as data
    from greenbench.config.load import load_config

    cfg = load_config(["config/config.yaml"])
    model = cfg["models"]["minilm"]
    root = tmp_path_factory.mktemp("sst2-tokens")
    for split in ("train", "dev"):
        data.prepare_dataset(data_mirror / "sst2" / f"{split}.tsv", root / f"{split}.parquet", split)
        models.tokenize_split(
            root / f"{split}.parquet", model["source"], model["max_length"], root / f"{split}-tok.parquet"
        )
    return root / "train-tok.parquet", root / "dev-tok.parquet", models.resolve_source(model["source"])


def test_the_checkout_plus_the_kit_fits_one_allocation(sst2_tokens):
    """What `make gpu-kit` would ship with this checkout, computed: the default model's classifier in
    float16, its tokenizer, the real SST-2 tokens and the wheels' whole allowance, plus every file a
    copy of this checkout carries, within KIT_MAX_MB (60 of the 64 MiB a lent node takes)."""
    train, dev, model_dir = sst2_tokens
    repo = cli.Path(__file__).resolve().parents[2]
    tree = gpucheck.tree_bytes(repo)
    kit = gpucheck.estimate_kit_bytes(model_dir, train, dev)
    total_mib = (tree + kit) / 2**20
    assert (
        kit / 2**20 > 30
    )  # MiniLM in float16 without the unused embedding rows is ~30 MiB: the estimate is not vacuous
    assert total_mib <= gpucheck.KIT_MAX_MB, (
        f"checkout {tree / 2**20:.1f} MiB + kit {kit / 2**20:.1f} MiB = {total_mib:.1f} MiB > {gpucheck.KIT_MAX_MB} MiB"
    )


def test_tree_bytes_counts_what_a_copy_carries(tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "kept.txt").write_bytes(b"x" * 1000)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "big.bin").write_bytes(b"x" * 100_000)
    assert gpucheck.tree_bytes(tmp_path) == 1000 + len("ignored/\n")


def test_pieces_cover_the_paper_grid_with_fp32_beside_every_group():
    pieces = gpucheck.plan_pieces()
    assert pieces[0].settings == "quick" and len(pieces) == 1 + 9 + 1
    grid = {(c.variant, c.batch_size, c.padding, c.mode) for p in pieces[1:10] for c in p.cells if c.sampler}
    assert len(grid) == 8 * 3 * 3
    # the quick check repeats a GPU-bound (batch 64) and a launch-bound (batch 1) cell with the sampler off
    assert {(c.variant, c.batch_size, c.padding, c.mode) for c in pieces[0].cells if not c.sampler} == {
        ("fp32", 64, "fixed", "eager"),
        ("fp32", 1, "fixed", "eager"),
    }
    for piece in pieces[1:]:
        assert sum(not c.sampler for c in piece.cells) == 1  # one overhead cell each
    for piece in pieces:
        groups = {(c.batch_size, c.padding, c.mode) for c in piece.cells if c.sampler and c.variant != "adaptive"}
        for group in groups:
            assert ("fp32", *group) in {(c.variant, c.batch_size, c.padding, c.mode) for c in piece.cells}


def test_runtime_piece_builds_evaluates_and_measures_runtime_cells_in_fresh_processes(kit, tmp_path, monkeypatch):
    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    piece = gpucheck.plan_pieces()[10]
    assert piece.isolated and piece.accuracy and set(gpucheck.RUNTIME_CELLS) <= set(piece.variants)
    out = tmp_path / "check"
    assert (
        cli.main(
            [
                "gpu-check",
                "--device",
                "cpu",
                "--tiny",
                "--trials",
                "1",
                "--piece",
                "10",
                "--kit",
                str(path),
                "--out",
                str(out),
            ]
        )
        == 0
    )  # straight into the folder named
    summary = io.read_parquet(out / "eval" / "summary.parquet").set_index("variant")
    assert (out / "eval" / "fp32-torch_compile.parquet").exists()  # file names a node's output folder returns
    assert summary.loc["fp32@torch_compile", "status"] == "ok" and summary.loc["fp32@onnxruntime", "status"] == "ok"
    assert "cuda" in summary.loc["fp16@torch_compile_cudagraphs", "reason"]  # CUDA-only runtime, on a CPU
    m = io.read_parquet(out / "energy" / "measurements.parquet")
    assert {"fp32@torch_compile", "fp32@onnxruntime"} <= set(m[m.status == "ok"].variant)


def test_the_quick_check_fits_300_s_and_the_runtime_piece_one_command_by_their_own_estimates():
    from greenbench.config.load import load_config

    cfg = load_config(["config/config.yaml"])["energy"]
    pieces = gpucheck.plan_pieces()
    quick = gpucheck.estimate_check_seconds(
        pieces[0], gpucheck.energy_settings(cfg, pieces[0], False), "cuda", pieces[0].trials
    )
    assert quick["total_s"] <= gpucheck.QUICK_LIMIT_S and quick["trials"] >= 4
    assert quick["startup_s"] > 0 and quick["builds_s"] > 0 and quick["accuracy_s"] > 0
    runtimes = gpucheck.estimate_check_seconds(
        pieces[10], gpucheck.energy_settings(cfg, pieces[10], False), "cuda", pieces[10].trials
    )
    assert runtimes["total_s"] <= gpucheck.COMMAND_LIMIT_S - 30 and runtimes["builds_s"] >= 4 * 45
    one = gpucheck.estimate_check_seconds(pieces[10], gpucheck.energy_settings(cfg, pieces[10], False), "cuda", 1)
    assert one["total_s"] < runtimes["total_s"]  # --trials shortens it


def test_estimate_flag_prints_the_estimate_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    assert cli.main(["gpu-check", "--device", "cuda", "--estimate", "--kit", str(tmp_path / "none")]) == 0
    assert "piece 0 on cuda: about" in capsys.readouterr().out


def test_cpu_rehearsal_writes_the_pipeline_tables_and_a_summary(kit, tmp_path, monkeypatch, capsys):
    path, _ = kit
    out = tmp_path / "check"
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    monkeypatch.delenv("GREENBENCH_DATA", raising=False)  # a node has the kit, not the data: nothing looks for it
    monkeypatch.delenv("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", raising=False)
    code = cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "2", "--kit", str(path), "--out", str(out)])
    assert code == 0
    import os

    assert os.environ["TORCHAO_FORCE_SKIP_LOADING_SO_FILES"] == "1"
    summary = io.read_parquet(out / "eval" / "summary.parquet")
    assert set(summary.variant) == set(gpucheck.KIT_VARIANTS)
    by_variant = summary.set_index("variant")
    assert by_variant.loc["fp32", "status"] == "ok" and by_variant.loc["adaptive", "status"] == "ok"
    assert (by_variant.loc[["fp16", "tf32", "int8_weight_only"], "status"] == "not_applicable").all()
    trials = sorted((out / "energy").glob("trial-*.parquet"))
    assert len(trials) == 2
    m = io.read_parquet(out / "energy" / "measurements.parquet")
    assert list(m.columns) == MEASUREMENT_SCHEMA.names
    ok = m[m.status == "ok"]
    from greenbench.cells.variants import get, native

    native_bf16 = native.emulation(get("bf16"), "cpu", {}) is None  # a CPU that would only emulate it skips it
    expected = {"fp32", "adaptive"} | ({"bf16"} if native_bf16 else set())
    assert set(ok.variant) == expected and (~ok.sampler).sum() == 2 * 2  # two overhead cells
    assert ok.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    assert ok["flags"].str.contains("the trial's one reading").all()  # one idle reading per trial
    refused = m[m.status == "not_applicable"]
    assert refused[refused.variant == "fp16"].reason.str.contains("cuda").all()
    text = (out / "summary.md").read_text()
    for heading in (
        "## Provenance",
        "- host class: ",
        "## Accuracy on SST-2 dev",
        "## Acceptance criteria",
        "## Cells",
        "## Harness overhead",
        "## CUDA graph vs eager",
        "## Invalid and not-applicable cells",
    ):
        assert heading in text
    assert "- host class: not recorded" not in text  # the trials' fingerprint (greenbench.core.host)
    assert "float16 safetensors" in text and "trials done 2" in text and "progress: finished" in text
    assert "estimated" in text and "torchao" in text
    # at most one folder below the one named, one archive of everything, no scratch
    files = [p.relative_to(out) for p in out.rglob("*") if p.is_file()]
    assert files and max(len(p.parts) for p in files) <= 2
    assert not (out / "work").exists() and (out / "log.txt").exists()
    import tarfile

    with tarfile.open(out / gpucheck.ARCHIVE) as tar:
        names = set(tar.getnames())
    assert {f"check/{p}" for p in files if p.name != gpucheck.ARCHIVE} <= names


def test_a_check_killed_mid_run_leaves_a_summary_of_what_it_finished(kit, tmp_path, monkeypatch):
    from greenbench.measure.energy import trial as trials

    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    real = trials.run_trial

    def killed_in_trial_1(*args, trial, **kwargs):
        if trial == 1:
            raise KeyboardInterrupt("the allocation's limit")  # not an Exception: nothing catches it
        return real(*args, trial=trial, **kwargs)

    monkeypatch.setattr(trials, "run_trial", killed_in_trial_1)
    out = tmp_path / "check"
    with pytest.raises(KeyboardInterrupt):
        cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "3", "--kit", str(path), "--out", str(out)])
    text = (out / "summary.md").read_text()
    assert "trials done 1" in text and "progress: energy trials" in text and "## Accuracy on SST-2 dev" in text
    assert (out / gpucheck.ARCHIVE).exists() and (out / "energy" / "measurements.parquet").exists()
    assert not list(out.rglob("*.tmp"))


def _log_from_a_spawned_process(message):
    from greenbench.core.log import get_logger

    get_logger("greenbench.test").info(message)


def test_a_spawned_trial_process_logs_to_the_checks_log(tmp_path):
    log_file = tmp_path / "log.txt"
    gpucheck._isolated(_log_from_a_spawned_process, "hello from the child", log_file=log_file)
    assert "hello from the child" in log_file.read_text()


def test_budget_skips_trials_that_would_not_finish(kit, tmp_path, monkeypatch):
    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    out = tmp_path / "check"
    assert (
        cli.main(
            [
                "gpu-check",
                "--device",
                "cpu",
                "--tiny",
                "--trials",
                "3",
                "--budget-s",
                "1",
                "--kit",
                str(path),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert not list(out.rglob("trial-*.parquet"))
    assert "skipped to stay in budget: [0, 1, 2]" in (out / "summary.md").read_text()


def test_missing_kit_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    assert (
        cli.main(["gpu-check", "--device", "cpu", "--kit", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    )
    assert "make the kit first" in capsys.readouterr().err


def test_criteria_verdicts_follow_the_numbers():
    cells = pd.DataFrame(
        [
            dict(
                variant="fp32",
                batch_size=64,
                padding="fixed",
                mode="eager",
                sampler=True,
                disagreement_median=0.01,
                cv_net=0.015,
                p50_ms=4.0,
                j_gross=0.1,
            ),
            dict(
                variant="fp16",
                batch_size=64,
                padding="fixed",
                mode="eager",
                sampler=True,
                disagreement_median=0.04,
                cv_net=0.03,
                p50_ms=2.0,
                j_gross=0.05,
            ),
        ]
    )
    graphs = pd.DataFrame([{"variant": "fp32", "speed-up": 6.0}])
    both = pd.DataFrame({"energy": [1.004, 0.995]})
    table = gpucheck.criteria(cells, {"fp16": -0.1, "bf16": 0.2}, both, graphs).set_index("criterion").verdict
    assert table.tolist() == ["met", "MISSED", "met", "met", "met"]
    # the launch-bound cell's overhead counts as much as the GPU-bound one's; one cell alone is not "met"
    assert gpucheck.criteria(cells, {}, pd.DataFrame({"energy": [1.004, 1.03]}), graphs).verdict[2] == "MISSED"
    assert gpucheck.criteria(cells, {}, pd.DataFrame({"energy": [1.004]}), graphs).verdict[2] == "MISSED"
    empty = gpucheck.criteria(pd.DataFrame(), {}, pd.DataFrame(columns=["energy"]), pd.DataFrame())
    assert (empty.verdict == "not measured").all()


def test_overhead_ratios_pair_each_overhead_cell_with_its_sampled_twin():
    rows = []
    for trial in range(2):
        for batch, off_j in ((64, 1.0), (1, 2.0)):
            base = dict(trial=trial, variant="fp32", batch_size=batch, padding="fixed", mode="eager", status="ok")
            rows.append(base | dict(sampler=True, j_per_inf_gross=off_j * 1.02, throughput_per_s=98.0))
            rows.append(base | dict(sampler=False, j_per_inf_gross=off_j, throughput_per_s=100.0))
    ratios = gpucheck.overhead_ratios(pd.DataFrame(rows)).set_index("batch_size")
    assert ratios.energy.tolist() == pytest.approx([1.02, 1.02]) and (ratios.trials == 2).all()
    assert ratios.throughput.tolist() == pytest.approx([0.98, 0.98])


def test_the_summary_states_int4s_layout_padding_and_kernel():
    info = {
        "int4_layout": "tile_packed_to_4d",
        "int4_kernel": "tinygemm _weight_int4pack_mm",
        "int4_k_padding": "384→1024, 1536→2048",
        "int4_mac_padding_factor": 2.2222,
        "int4_weight_bytes_unpadded": 5640192,
        "int4_weight_bytes_padded": 12533760,
    }
    summary = pd.DataFrame(
        [{"variant": "int4_weight_only", "variant_info": json.dumps(info)}, {"variant": "fp32", "variant_info": "{}"}]
    )
    table = gpucheck.int4_layouts(summary)
    assert table.variant.tolist() == ["int4_weight_only"]
    row = table.iloc[0]
    assert row["K padded (in_features)"] == "384→1024, 1536→2048" and row["multiply-adds done / needed"] == 2.2222
    assert row["weight bytes (unpadded)"] == 5640192 and "tinygemm" in row["kernel"]


def test_a_failing_step_is_reported_and_the_rest_goes_on(kit, tmp_path, monkeypatch):
    from greenbench.measure import accuracy as evaluate_module

    path, _ = kit
    monkeypatch.chdir(cli.Path(__file__).resolve().parents[2])
    real = evaluate_module.evaluate

    def flaky(model_dir, dev, variant, *args, **kwargs):
        if variant == "adaptive":
            raise RuntimeError("simulated driver fault")
        return real(model_dir, dev, variant, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "evaluate", flaky)
    out = tmp_path / "check"
    assert (
        cli.main(["gpu-check", "--device", "cpu", "--tiny", "--trials", "1", "--kit", str(path), "--out", str(out)])
        == 0
    )
    text = (out / "summary.md").read_text()
    assert "evaluate adaptive: RuntimeError: simulated driver fault" in text
    summary = io.read_parquet(out / "eval" / "summary.parquet")
    assert "adaptive" not in set(summary.variant) and "fp32" in set(summary.variant)
    assert (out / "energy" / "measurements.parquet").exists()


def test_the_readmes_kit_sizes_are_the_recorded_runs():
    repo = cli.Path(__file__).resolve().parents[2]
    manifest = json.loads((repo / "benchmarks/results/gpu-kit-size-2026-12-07/kit.json").read_text())
    assert manifest["total_mb"] <= manifest["max_total_mb"] == gpucheck.KIT_MAX_MB
    assert (
        f"kit {manifest['size_mb']} MiB, checkout {manifest['tree_mb']} MiB, together {manifest['total_mb']} MiB"
        in " ".join((repo / "README.md").read_text().split())
    )
