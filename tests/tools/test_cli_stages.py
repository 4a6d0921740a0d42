"""The CLI runs the same stage modules with the same settings as the rules (greenbench.pipeline.stages + wiring)."""

import json
import shutil

import pytest
import yaml

from greenbench.tools import cli
from greenbench.core import io
from greenbench.data import models
from greenbench.pipeline import paths, wiring
from greenbench.config.load import load_config
from greenbench.data.sst2 import DATASET_SCHEMA

from conftest import REPO, toy_sentences


def _tiny_study(tmp_path, tiny_model_dir, monkeypatch) -> dict:
    """The smoke config on the tiny model (fp32 and int8_dynamic on cpu, tiny windows) as my.yaml in
    tmp_path, the working directory; the SST-2 datasets replaced by toy sentences."""
    cfg = load_config([REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml"])
    cfg["models"] = {"tiny": {"source": f"path:{tiny_model_dir}", "finetune": False, "max_length": 16}}
    cfg["study"].update(models=["tiny"], variants=["fp32", "int8_dynamic"], devices=["cpu"])
    cfg["energy"].update(
        batch_sizes=[2],
        window_s={"cpu": 0.05, "cuda": 0.05},
        idle_s=0.02,
        max_inputs=16,
        warmup={"min_iters": 2, "max_s": 0.2, "tolerance": 0.5},
        min_iterations=2,
    )
    cfg["footprint"]["amortization"]["batch_size"] = 2  # and so must the amortized one
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    for split in ("train", "dev"):
        io.write_parquet(toy_sentences(24, 1), paths.DATASET.format(split=split), DATASET_SCHEMA)
    return cfg


def test_cli_stages_without_snakemake(tmp_path, tiny_model_dir, monkeypatch):
    cfg = _tiny_study(tmp_path, tiny_model_dir, monkeypatch)
    assert cli.main(["tokenize", "--config", "my.yaml", "--model", "tiny"]) == 0
    shutil.copytree(tiny_model_dir, paths.BASELINE.format(model="tiny"))
    assert cli.main(["evaluate", "--config", "my.yaml", "--model", "tiny"]) == 0
    meta = io.read_metadata(paths.EVAL.format(device="cpu", model="tiny", variant="int8_dynamic"))
    assert meta["status"] == "ok" and meta["examples"] == 24
    assert cli.main(["measure-energy", "--config", "my.yaml", "--model", "tiny", "--trial", "1"]) == 0
    trial = io.read_parquet(paths.ENERGY_TRIAL.format(device="cpu", model="tiny", trial=1))
    assert set(trial[trial.status == "ok"].variant) == {"fp32", "int8_dynamic"} and (trial.trial == 1).all()
    # a trial after the first stage (energy.trials: 3) follows the stopping plan: without the first stage, refused
    with pytest.raises(SystemExit, match="trial-0.parquet"):
        cli.main(["measure-energy", "--config", "my.yaml", "--model", "tiny", "--trial", "3"])
    # several trials: one process each, like the workflow's trial jobs; trial 3 runs what the plan names
    assert (
        cli.main(
            [
                "measure-energy",
                "--config",
                "my.yaml",
                "--model",
                "tiny",
                "--trial",
                "0",
                "--trial",
                "2",
                "--trial",
                "3",
                "--variant",
                "fp32",
            ]
        )
        == 0
    )
    for n in (0, 2, 3):
        assert (io.read_parquet(paths.ENERGY_TRIAL.format(device="cpu", model="tiny", trial=n)).trial == n).all()
    plan = io.read_parquet(paths.ENERGY_PLAN.format(device="cpu", model="tiny"))
    later = io.read_parquet(paths.ENERGY_TRIAL.format(device="cpu", model="tiny", trial=3))
    assert set(later.variant) == set(plan[plan.trials > 3].variant) & {"fp32"} and (later.status == "ok").all()
    # the settings the CLI handed the stage are the rule's: the same wiring function
    settings = wiring.measure_energy(cfg, "tiny")
    assert "trials" not in settings["energy"] and set(settings["variants"]) == {"fp32", "int8_dynamic"}
    tokens = io.read_metadata(paths.TOKENS.format(model="tiny", split="dev"))
    assert tokens["max_length"] == 16 and models.NUM_LABELS == 2
    # the GPU kit from the same layout (what `make gpu-kit` runs, wheels aside)
    assert cli.main(["gpu-kit", "--config", "my.yaml", "--model", "tiny", "--out", "kit"]) == 0
    kit = json.loads((tmp_path / "kit" / "kit.json").read_text())
    assert kit["model"] == "tiny" and kit["max_length"] == 16 and kit["dev_examples"] == 24
    assert cli.main(["gpu-kit", "--config", "my.yaml", "--model", "absent", "--out", "kit2"]) != 0


def test_cli_carbon_runs_carbon_only_and_reuses_trained_forecasters(tmp_path, monkeypatch, capsys):
    """`greenbench carbon` with the served cell given directly: no inference study needed; a second
    call with the same settings and traces trains nothing."""
    cfg = load_config(
        [REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml", REPO / "config" / "carbon-only.yaml"]
    )
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["carbon", "--config", "c.yaml"]) == 0
    schedule = io.read_parquet(paths.SCHEDULE.format(scenario="europe"))
    assert (schedule.energy_label == "given").all() and (schedule.energy_j_per_request > 0).all()
    trained = (tmp_path / paths.FORECASTER_DIR / "forecasting.json").stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(["carbon", "--config", "c.yaml"]) == 0
    assert "forecasters unchanged" in capsys.readouterr().out
    assert (tmp_path / paths.FORECASTER_DIR / "forecasting.json").stat().st_mtime_ns == trained
    cfg["carbon"]["forecast"]["ridge_alpha"] = 10.0  # a setting changed: trained again
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main(["carbon", "--config", "c.yaml"]) == 0
    assert "forecasters unchanged" not in capsys.readouterr().out


def test_cli_report_writes_the_answer_as_the_paper_rule_does(tmp_path, tiny_model_dir, monkeypatch):
    """`greenbench report` runs the workflow's report steps (their stages, the rules' settings): the paper
    step writes answer.md and its HTML page as rule `paper` does."""
    from greenbench.config.load import validate_config
    from greenbench.pipeline import stages
    from greenbench.pipeline.stages import paper

    _tiny_study(tmp_path, tiny_model_dir, monkeypatch)
    assert cli.main(["tokenize", "--config", "my.yaml", "--model", "tiny"]) == 0
    shutil.copytree(tiny_model_dir, paths.BASELINE.format(model="tiny"))
    assert cli.main(["evaluate", "--config", "my.yaml", "--model", "tiny"]) == 0
    assert cli.main(["measure-energy", "--config", "my.yaml", "--model", "tiny", "--trial", "0", "--trial", "1"]) == 0
    ran, stage = [], cli._stage
    monkeypatch.setattr(cli, "_stage", lambda name: ran.append(name) or stage(name))
    assert cli.main(["report", "--config", "my.yaml"]) == 0
    assert ran == list(cli.RUNS["report"])
    out = tmp_path / paths.PAPER_DIR
    answer = (out / "answer.md").read_text()
    assert answer.startswith("# The study's answer") and "**cpu / tiny**" in answer
    # the answer's tables, as rule `answer` writes them: at the routing scenario's mean rate and each level
    headline, levels = io.read_parquet(paths.ANSWER), io.read_parquet(paths.ANSWER_TRAFFIC)
    assert headline.traffic_rps.tolist() == [1000 / 3600] and "At this traffic, run this:" in answer
    assert len(levels) == 4 and sorted(levels.traffic_rps) == [0.3, 3, 30, 300]
    assert (out / "answer.html").exists() and "answer" in (out / "overview.html").read_text().lower()
    evaluated = sorted(p.stem for p in tmp_path.glob(paths.EVAL.format(device="cpu", model="tiny", variant="*")))
    assert sorted(io.read_parquet(paths.EVAL_SUMMARY).variant) == evaluated and "int8_dynamic" in evaluated
    # what the rule's job writes: the same stage with the rule's params (wiring.paper of the validated config)
    stats = [f"{paths.STATS_DIR}/{table}.parquet" for table in paths.STATS_TABLES]
    rule_job = stages.job(
        {
            "stats": stats,
            "measurements": paths.ENERGY_ALL,
            "forecast_metrics": None,
            "schedule": None,
            "footprint": None,
            "amortization": None,
            "answer": paths.ANSWER,
            "answer_traffic": paths.ANSWER_TRAFFIC,
            "answer_runtimes": paths.ANSWER_RUNTIMES,
            "answer_composed": paths.ANSWER_COMPOSED,
        },
        stages.Output(claims="rule/claims.md"),
        wiring.paper(validate_config(load_config(["my.yaml"]))),
    )
    paper.run(rule_job)
    assert (tmp_path / "rule" / "answer.md").read_text() == answer
