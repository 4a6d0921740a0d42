"""Paper figures as a reader sees them: every figure drawn from a crowded synthetic study (every
variant of the default CPU study, batch 1/8/64) has no text overlapping text or data and labels
every variant; the layout check catches a deliberately crowded figure; empty inputs give a
'no data' panel; the smoke run's report renders in headless Chromium with its categories and
captions."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from greenbench.report import figures, style

CPU = [
    "fp32",
    "dense_eager",
    "int8_dynamic",
    "int8_dynamic_ao",
    "bf16",
    "adaptive",
    "prune_heads25",
    "prune_heads50",
    "prune_ffn25",
    "magnitude50",
    "topk16",
    "topk16_ft",
    "spiking",
    "fp32@onnxruntime",
    "int8_dynamic@onnxruntime",
    "fp32@aot_inductor",
    "bf16@aot_inductor",
    "int8_dynamic_ao@aot_inductor",
]
GPU_ONLY = ["tf32", "fp16", "autocast_fp16", "int8_weight_only", "int4_weight_only"]
BATCHES = (1, 8, 64)
CELL = ["device", "model", "variant", "recipe", "runtime", "batch_size", "padding", "mode"]


def _split(v):
    from greenbench.core.names import split_name

    return split_name(v)


def synthetic_study(seed: int = 0) -> dict:
    """Tables in the pipeline's schemas for the default CPU study (no carbon outputs)."""
    from greenbench.analysis.summaries import ACCURACY_SCHEMA, ENERGY_STATS_SCHEMA, LENGTH_SCHEMA
    from greenbench.analysis.amortization import CURVE_SCHEMA

    rng = np.random.default_rng(seed)
    acc_rows, e_rows, len_rows, preds = [], [], [], []
    base_acc = 0.878
    for v in CPU + GPU_ONLY:
        recipe, runtime = _split(v)
        ok = v in CPU
        a = {"fp32": base_acc, "spiking": 0.80, "prune_heads50": 0.85, "topk16": 0.86}.get(
            recipe, base_acc - rng.uniform(0, 0.012)
        )
        acc_rows.append(
            {
                "device": "cpu",
                "model": "minilm",
                "variant": v,
                "recipe": recipe,
                "runtime": runtime,
                "status": "ok" if ok else "not_applicable",
                "reason": "" if ok else "cuda only",
                "examples": 872,
                "accuracy": a if ok else np.nan,
                "ci_low": a - 0.022 if ok else np.nan,
                "ci_high": a + 0.021 if ok else np.nan,
                "delta_vs_fp32": a - base_acc if ok else np.nan,
                # paired by sentence: a few tenths of a point either side (fp32 against itself: exactly 0)
                "delta_ci_low": a - base_acc - (0.006 if recipe != "fp32" else 0) if ok else np.nan,
                "delta_ci_high": a - base_acc + (0.005 if recipe != "fp32" else 0) if ok else np.nan,
                "mcnemar_p": (0.03 if a < base_acc - 0.006 else 0.4) if ok else np.nan,
                **{
                    k: np.nan
                    for k in (
                        "parameters",
                        "size_bytes",
                        "macs_dense",
                        "macs_effective",
                        "acs",
                        "theoretical_energy_uj",
                    )
                },
            }
        )
        if not ok:
            continue
        scale = rng.uniform(0.5, 1.6) if v != "fp32" else 1.0
        for b in BATCHES:
            j = 0.05 * scale * (8 / b) ** 0.55
            lat = 4 * scale * b**0.8
            for metric, mean in (
                ("j_per_inf_gross", j),
                ("j_per_inf_net", 0.8 * j),
                ("latency_p50_ms", lat),
                ("latency_p95_ms", lat * 1.2),
                ("throughput_per_s", 1000 * b / lat),
            ):
                e_rows.append(
                    {
                        "device": "cpu",
                        "model": "minilm",
                        "variant": v,
                        "recipe": recipe,
                        "runtime": runtime,
                        "batch_size": b,
                        "padding": "dynamic",
                        "mode": "eager",
                        "metric": metric,
                        "n_trials": 3,
                        "mean": mean,
                        "sd": 0.02 * mean,
                        "ci_low": 0.95 * mean,
                        "ci_high": 1.05 * mean,
                        "cv": 0.02,
                        "energy_label": "estimated",
                    }
                )
            for key, lo, f in (("1-16", 1, 0.6), ("17-32", 17, 1.0), ("33-64", 33, 1.7)):
                len_rows.append(
                    {
                        "device": "cpu",
                        "model": "minilm",
                        "variant": v,
                        "recipe": recipe,
                        "runtime": runtime,
                        "batch_size": b,
                        "padding": "dynamic",
                        "mode": "eager",
                        "length_bin": key,
                        "bin_lo": lo,
                        "n_trials": 3,
                        "share_of_inferences": 0.33,
                        "share_of_seconds": 0.33,
                        "j_per_inf_gross": f * j,
                        "ci_low": 0.95 * f * j,
                        "ci_high": 1.05 * f * j,
                        "energy_label": "estimated",
                    }
                )
        n = 200
        length = rng.integers(4, 60, n)
        label = rng.integers(0, 2, n)
        correct = rng.random(n) < a
        preds.append(
            pd.DataFrame(
                {
                    "idx": range(n),
                    "label": label,
                    "prediction": np.where(correct, label, 1 - label),
                    "confidence": rng.uniform(0.5, 1.0, n),
                    "length": length,
                    "route": rng.integers(0, 2, n) if v == "adaptive" else -1,
                    "variant": v,
                    "device": "cpu",
                }
            )
        )
    accuracy = pd.DataFrame(acc_rows, columns=ACCURACY_SCHEMA.names)
    energy = pd.DataFrame(e_rows, columns=ENERGY_STATS_SCHEMA.names)
    curves = pd.DataFrame(columns=CURVE_SCHEMA.names)
    ratios = synthetic_ratios(energy)
    return {
        "settings": {"answer": {"max_accuracy_loss_pts": 1.0, "max_latency_p95_ms": 200}},
        "accuracy": accuracy,
        "energy": energy,
        "ratios": ratios,
        "points": pd.DataFrame(),
        "front": figures.pareto_table(energy, accuracy, ratios),
        "predictions": pd.concat(preds, ignore_index=True),
        "by_length": pd.DataFrame(len_rows, columns=LENGTH_SCHEMA.names),
        "forecasts": pd.DataFrame(),
        "forecast_metrics": pd.DataFrame(),
        "schedule": pd.DataFrame(),
        "eval_summary": pd.DataFrame(columns=["status", "variant", "device", "variant_info"]),
        "curves": curves,
    }


def synthetic_ratios(energy: pd.DataFrame) -> pd.DataFrame:
    """Paired J/inference ratios against fp32 in the same cell (stats/ratios.parquet's columns that the
    figures read), with a ±4% interval."""
    from greenbench.analysis.summaries import RATIO_SCHEMA

    j = energy[energy.metric == "j_per_inf_gross"]
    base = j[j.variant == "fp32"].set_index("batch_size")["mean"]
    r = j[j.variant != "fp32"].copy()
    r["ratio"] = r["mean"].to_numpy() / base.loc[r.batch_size].to_numpy()
    r = r.assign(baseline="fp32", n_pairs=3, ci_low=0.96 * r.ratio, ci_high=1.04 * r.ratio)
    return r.reindex(columns=RATIO_SCHEMA.names)


VARIANT_FIGURES = (
    "accuracy_by_variant",
    "energy_by_batch",
    "pareto_accuracy_energy",
    "latency_vs_throughput",
    "difficulty_by_length",
)


def test_every_recipe_and_runtime_declares_its_look_beside_its_code():
    """Labels, families, colours and orders come from the plugins: every recipe has a label and a declared
    family, every runtime a label and a family of its own, and no two families share a colour and marker."""
    from greenbench.cells import runtimes, variants

    fams = style.families()
    for name, v in variants.REGISTRY.items():
        assert v.label and v.family in fams and style.recipe_family(name) == v.family, name
        assert style.label(name) == v.label
    for name, runtime in runtimes.RUNTIMES.items():
        assert runtime.label and name in fams and fams[name].group == "runtimes", name
    assert len({(f.colour, f.marker) for f in fams.values()}) == len(fams)
    assert style.family("no_such_recipe") == "other" and style.label("no_such_recipe") == "no such recipe"
    assert style.family("int8_dynamic@onnxruntime") == "onnxruntime"
    assert style.ordered(["spiking", "fp32@onnxruntime", "bf16", "fp32"])[:2] == ["fp32", "bf16"]
    assert len({style.label(v) for v in CPU + GPU_ONLY}) == len(CPU + GPU_ONLY)  # labels tell variants apart


def test_bins_print_as_the_integers_they_hold_not_as_pandas_intervals():
    assert style.length_bin_label(3.999, 17.0) == "4–17"
    assert style.length_bin_label(16, 32, unit=True) == "17–32 tokens"
    assert style.interval_label(0.5, 0.7) == "0.5–0.7" and style.interval_label(0.9, 0.99, short=True) == ".9–.99"
    assert style.parse_interval("(3.999, 17.0]") == (3.999, 17.0)
    by_len, by_conf = figures.difficulty_tables(synthetic_study()["predictions"])
    assert not any("(" in lab or "]" in lab for lab in list(by_len.label) + list(by_conf.label))


def test_a_crowded_study_draws_every_figure_without_overlaps_and_labels_every_variant(tmp_path):
    data = synthetic_study()
    problems = {}
    for name, build in figures.build_all(data).items():
        fig = build()
        problems[name] = figures.check_layout(fig)
        if name in VARIANT_FIGURES:
            texts = figures.figure_texts(fig)
            expected = CPU + (GPU_ONLY if name in ("accuracy_by_variant", "energy_by_batch") else [])
            missing = [v for v in expected if not figures.labels_variant(texts, v)]
            assert not missing, (name, missing)
        figures.save(fig, tmp_path / name)
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert problems == {name: [] for name in problems}


def test_the_layout_check_catches_text_over_data_and_over_text():
    import matplotlib.pyplot as plt

    style.apply()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(range(20), range(20), marker="o", label="a long legend entry")
    ax.legend(loc="center", fontsize=12)  # on top of the line
    ax.set_xticks(range(0, 20, 1), [f"label {i}" for i in range(20)])  # crowded tick labels
    problems = figures.check_layout(fig)
    assert any("legend covers data" in p for p in problems)
    assert any("x tick label" in p and "overlaps x tick label" in p for p in problems)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], marker="o")
    ax.annotate("here", (0.5, 0.5))  # a label over the line
    assert any("annotation 'here' covers data" in p for p in figures.check_layout(fig))
    plt.close(fig)


def test_empty_inputs_give_no_data_panels_and_captions_say_so(tmp_path):
    data = synthetic_study()
    empty = {k: (v.iloc[0:0] if isinstance(v, pd.DataFrame) else v) for k, v in data.items()}
    outs, problems = figures.write_all(empty, tmp_path)
    assert {p.name for p in outs} >= {f"{n}.png" for n in figures.build_all(empty)}
    assert "no accuracy-energy points" in " ".join(figures.figure_texts(figures.fig_pareto(empty["front"])))
    assert (tmp_path / "pareto_accuracy_energy.rst").read_text().count("- ") >= 1
    # energy unavailable (no meter) but accuracy measured: accuracy drawn, energy panel says why
    no_energy = {**data, "energy": data["energy"].iloc[0:0], "front": data["front"].iloc[0:0]}
    texts = figures.figure_texts(
        figures.fig_energy_by_batch(no_energy["energy"], no_energy["accuracy"], no_energy["front"])
    )
    assert any("energy unavailable" in t for t in texts)


def test_captions_state_key_numbers_from_the_tables():
    data = synthetic_study()
    caps = figures.captions(data)
    assert set(caps) == set(figures.build_all(data))
    front = data["front"]
    first = front[front.on_front].sort_values("j").iloc[0]
    assert first.variant in caps["pareto_accuracy_energy"] and f"{first.j:.3g} J" in caps["pareto_accuracy_energy"]
    base = data["accuracy"].set_index("variant").loc["fp32"]
    assert f"fp32 {base.accuracy:.4g}" in caps["accuracy_by_variant"]
    assert "not applicable: tf32 on cpu" in caps["accuracy_by_variant"]
    assert "batch 64: lowest" in caps["energy_by_batch"]


def test_the_pareto_figure_is_paired_against_fp32_with_the_answers_bounds():
    """x the J ratio and y the accuracy difference to fp32 (paired intervals; fp32 exactly at (1, 0)), the
    uncertain front judged on them, the accuracy bound drawn, cells beyond the latency bound hollow, and
    the caption says so with the numbers."""
    from matplotlib.colors import to_rgba

    data = synthetic_study()
    front = data["front"].set_index("variant")
    assert front.loc["fp32", ["ratio", "ratio_low", "ratio_high", "delta", "delta_low", "delta_high"]].tolist() == [
        1,
        1,
        1,
        0,
        0,
        0,
    ]
    assert (front.ratio_low <= front.ratio).all() and (front.delta_low <= front.delta).all()
    # spiking loses 7.8 points, clearly (its whole paired interval below the others'): off the uncertain front
    assert not front.loc["spiking", "on_uncertain_front"]
    assert front.on_front.sum() >= 1 and not (front.on_front & ~front.on_uncertain_front).any()
    for v, r in front[~front.on_uncertain_front].iterrows():  # dropped: another point is better with confidence
        better = front[(front.delta_low >= r.delta_high) & (front.ratio_high <= r.ratio_low)]
        assert len(better.drop(index=v, errors="ignore")), v
    slow = front[front.p95_ms > 200].index
    assert len(slow) and len(slow) < len(front)
    fig = figures.fig_pareto(data["front"], data["accuracy"], 1.0, 200.0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] < -7.8 < ax.get_ylim()[1]
    bound = [line for line in ax.get_lines() if list(line.get_ydata()) == [-1.0, -1.0]]
    assert bound and bound[0].get_gid() == figures.REFERENCE  # a guide line, not data, for the layout check
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() in ("none", (0, 0, 0, 0))]
    filled = [line for line in ax.get_lines() if line.get_marker() not in ("None", "", None)]
    assert len(hollow) >= len(slow) and to_rgba(filled[0].get_markeredgecolor())
    texts = " ".join(figures.figure_texts(fig))
    assert "accuracy bound: −1 pt vs fp32" in texts and "hollow: p95 latency > 200 ms" in texts
    assert "paired 95% CI" in texts
    assert figures.check_layout(fig) == []
    caption = figures.captions(data)["pareto_accuracy_energy"]
    assert "accuracy minus fp32's in points" in caption and "hollow markers" in caption
    assert "p95 latency above 200 ms (hollow): " + slow[0] in caption or slow[0] in caption
    assert "clearly beyond the accuracy bound" in caption and "spiking" in caption.split("clearly beyond")[1]


def test_the_figures_job_reads_the_answers_bounds_from_its_settings(tmp_path):
    from greenbench.config.load import load_config
    from greenbench.pipeline import wiring
    from greenbench.report.figures.pareto_accuracy_energy import bounds

    settings = wiring.figures(load_config(["config/config.yaml"]))
    assert set(settings) == {"answer"} and set(settings["answer"]) == {"max_accuracy_loss_pts", "max_latency_p95_ms"}
    assert bounds({"settings": settings}) == (
        float(settings["answer"]["max_accuracy_loss_pts"]),
        float(settings["answer"]["max_latency_p95_ms"]),
    )
    assert bounds({}) == (None, None)  # no settings: no bound drawn
    data = synthetic_study()
    fig = figures.fig_pareto(data["front"], data["accuracy"])
    assert not any("accuracy bound" in t for t in figures.figure_texts(fig))


def test_markdown_pages_render_tables_bold_and_code_as_html(tmp_path):
    from greenbench.report import html as report

    md = (
        "# Title\n\nText with **bold `code` inside** and *it*.\n\n| a | b |\n|---|--:|\n| x | 1.5 |\n| y \\| z | 2 |\n\n"
        "- one\n- two\n\n## Next\n\nrest\n"
    )
    html = report.markdown_to_html(md)
    assert "<h1>Title</h1>" in html and "<strong>bold <code>code</code> inside</strong>" in html
    assert '<td class="num">1.5</td>' in html and "<td>y | z</td>" in html and "<li>two</li>" in html
    (tmp_path / "answer.md").write_text(md)
    (tmp_path / "footprint.md").write_text("# What this study cost\n\n3 jobs.\n\n| t |\n|---|\n| 1 |\n\n## More\n")
    written = report.write_pages(tmp_path)
    overview = (tmp_path / "overview.html").read_text()
    assert "Title" in overview and "3 jobs." in overview and "<table>" in overview.split("What this study cost")[0]
    assert "<table>" not in overview.split("What this study cost")[1] and len(written) == 3


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.mark.workflow
def test_smoke_figures_are_clean_and_the_report_renders_in_chromium(smoke, tmp_path):
    """The smoke run's figures job found no layout problem; its captions carry numbers; the report
    renders in headless Chromium, opening with the answer and the study's cost, by category."""
    from greenbench.report.figures.figure import ordered

    FIGURES = [figure.name for figure in ordered()]

    from conftest import run

    project, env = smoke
    log = (project / "results" / "logs" / "figures.log").read_text()
    assert "(0 layout problems)" in log, log[-3000:]
    for name in FIGURES:
        caption = (project / "results" / "figures" / f"{name}.rst").read_text()
        assert "\n- " in caption and "unavailable:" not in caption, (name, caption)
    assert "J/inference" in (project / "results" / "figures" / "energy_by_batch.rst").read_text()
    report = run(project, "--configfile", "config/smoke.yaml", "--report", "results/report.html", env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    browser = _chromium()
    if browser is None:
        if os.environ.get("GREENBENCH_REQUIRE_CHROMIUM") == "1":
            pytest.fail("GREENBENCH_REQUIRE_CHROMIUM=1 but no chromium on the PATH")
        pytest.skip("no headless Chromium here (apt-get install chromium)")
    page = f"file://{project / 'results' / 'report.html'}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=8000"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=180).stdout
    for category in (
        "1. Answer",
        "2. What the study cost",
        "3. Accuracy",
        "4. Energy",
        "5. Pareto",
        "6. Carbon",
        "7. Claims",
        "8. Tables",
    ):
        assert category in dom, category
    assert "The study's answer" in dom and "What this study cost" in dom
    assert dom.index("The study's answer") < dom.index("What this study cost")
    assert "one point per variant at its lowest-energy cell" in dom  # a figure's generated caption
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1400,1000", f"--screenshot={shot}", page], capture_output=True, timeout=180
    )
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
