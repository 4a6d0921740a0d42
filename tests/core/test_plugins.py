"""Adding a plugin touches its own module only: each worked example of docs/extending.md, written into a
copy of the source tree, is registered, used by its consumer and wired into the workflow's rule inputs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"


def examples() -> dict[str, str]:
    """{path in the repository: module text} for every python block of docs/extending.md whose first
    line names its file."""
    out = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        first = block.splitlines()[0]
        if first.startswith("# src/"):
            out[first[2:].strip()] = block
    return out


# what each example must do once its module exists (run in a fresh interpreter on the copied tree)
CHECKS = {
    "src/greenbench/cells/variants/toy_fp32.py": """
        from greenbench.cells.variants import MODULE_OF, cell_modules, get
        assert get("toy_fp32").family == "precision"
        assert MODULE_OF["toy_fp32"] == "greenbench.cells.variants.toy_fp32"
        files = plugin_files(SRC, cell_modules("toy_fp32"))
        assert "src/greenbench/cells/variants/toy_fp32.py" in files, files
        # only its own jobs read it: not in the evaluation script's own imports
        assert "src/greenbench/cells/variants/toy_fp32.py" not in module_closure(SRC, SCRIPTS / "evaluate.py")
        """,
    "src/greenbench/cells/runtimes/toy_eager.py": """
        from greenbench.cells.runtimes import MODULE_OF, RUNTIMES
        from greenbench.cells.variants import cell_modules, get
        cell = get("fp32@toy_eager")
        assert (cell.recipe_name, cell.runtime) == ("fp32", "toy_eager")
        assert MODULE_OF["toy_eager"] == "greenbench.cells.runtimes.toy_eager"
        assert RUNTIMES["toy_eager"].load("model", cell, None, "cpu", {}, {}) == "model"
        assert "greenbench.cells.runtimes.toy_eager" in cell_modules("fp32@toy_eager")
        """,
    "src/greenbench/measure/energy/meters/toy.py": """
        from greenbench.measure.energy.monitor import MONITORS, EnergyMonitor
        monitor = EnergyMonitor.for_device("toy")
        monitor.begin_window()
        reading = monitor.end_window().primary
        assert reading.label == "estimated" and reading.joules >= 0, reading
        assert MONITORS.module_of("toy") == "greenbench.measure.energy.meters.toy"
        assert MONITORS["cpu"] and MONITORS["cuda"]  # the built-in meters are still found beside it
        assert "src/greenbench/measure/energy/meters/toy.py" in module_closure(SRC, SCRIPTS / "measure_energy.py")
        """,
    "src/greenbench/carbon/forecasters/persistence.py": """
        import tempfile
        from greenbench.carbon import forecasting
        from test_carbon import FORECAST_CFG, _synthetic_traces
        names = [m.name for m in forecasting.build_models(FORECAST_CFG)]
        assert names == ["seasonal_naive_24h", "seasonal_naive_168h", "ridge", "tcn", "persistence"], names
        out = Path(tempfile.mkdtemp())
        _synthetic_traces(out / "t.parquet")
        cfg = dict(FORECAST_CFG, tcn=dict(FORECAST_CFG["tcn"], epochs=1))
        table = forecasting.run_forecasting(out / "t.parquet", cfg, 0, out / "m.parquet", out / "f.parquet", out / "model")
        assert "persistence" in set(table.model), set(table.model)
        assert [m.name for m in forecasting.load_fitted(out / "model", cfg)][-1] == "persistence"
        assert "src/greenbench/carbon/forecasters/persistence.py" in module_closure(SRC, SCRIPTS / "forecast_carbon.py")
        """,
    "src/greenbench/carbon/policies/lowest_latency_then_greenest.py": """
        import numpy as np
        from greenbench.carbon import routing
        from test_carbon import _scenario
        df = routing.simulate(_scenario(np.random.default_rng(5)), {"deferral_window_h": 6, "weights": [0.5]}, 0)
        fixed = [p for p in df.policy if p != "weighted"]
        assert fixed[-1] == "slo_then_greenest", fixed  # after the built-in policies: their draws are unchanged
        row = df.set_index("policy").loc["slo_then_greenest"]
        assert row.slo_violations == 0 or row.slo_violation_share <= 1
        assert "src/greenbench/carbon/policies/lowest_latency_then_greenest.py" in module_closure(
            SRC, SCRIPTS / "simulate_schedule.py")
        """,
    "src/greenbench/report/figures/accuracy_histogram.py": """
        import pandas as pd
        from greenbench.report.figures import check_layout
        from greenbench.report.figures.figure import FIGURES, ordered
        assert ordered()[-1].name == "accuracy_histogram"
        figure = FIGURES["accuracy_histogram"]
        data = {"accuracy": pd.DataFrame({"accuracy": [0.80, 0.86, 0.88, 0.9]})}
        assert check_layout(figure.draw(data)) == []
        assert figure.caption(data)[1] == ["4 cells"] and figure.place[1] == "histogram"
        assert "src/greenbench/report/figures/accuracy_histogram.py" in module_closure(SRC, SCRIPTS / "figures.py")
        """,
}

PRELUDE = """
import sys
from pathlib import Path
SRC, SCRIPTS = Path({src!r}), Path({scripts!r})
sys.path.insert(0, {tests!r})
from greenbench.pipeline.dag import module_closure, plugin_files
"""


def test_every_worked_example_is_checked():
    assert set(examples()) == set(CHECKS)


@pytest.mark.parametrize("path", sorted(CHECKS))
def test_a_worked_example_plugin_is_registered_used_and_wired(tmp_path, path):
    example = examples().get(path)
    assert example, f"docs/extending.md has no worked example for {path}"
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tmp_path / path
    assert not target.exists(), f"{path} already exists: the example must add a new module"
    assert target.parent.is_dir(), f"{target.parent.relative_to(tmp_path)} is not a plugin package"
    target.write_text(example)
    code = PRELUDE.format(
        src=str(tmp_path / "src"), scripts=str(ROOT / "scripts"), tests=str(ROOT / "tests" / "carbon")
    )
    code += textwrap.dedent(CHECKS[path])
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]


def test_the_registry_is_lazy_ordered_and_names_what_it_knows(tmp_path, monkeypatch):
    from greenbench.core.registry import Registry

    pkg = tmp_path / "toyplugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from greenbench.core.registry import Registry\nTHINGS = Registry('thing', 'toyplugins', support=('shared',))\n"
    )
    (pkg / "shared.py").write_text("raise RuntimeError('support modules are not imported by discovery')\n")
    (pkg / "b_second.py").write_text("from toyplugins import THINGS\nTHINGS.register('b-object', 'b')\n")
    (pkg / "a_first.py").write_text(
        "from toyplugins import THINGS\nTHINGS.register('a1', 'a1')\nTHINGS.register('a2', 'a2')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    things = importlib.import_module("toyplugins").THINGS
    import toyplugins.b_second  # noqa: F401  (imported before discovery: the order must not change)

    assert "toyplugins.a_first" not in sys.modules  # nothing discovered before the first lookup
    assert list(things) == ["a1", "a2", "b"]  # modules by name, each in registration order
    assert things.module_of("b") == "toyplugins.b_second" and dict(things.modules)["a2"] == "toyplugins.a_first"
    with pytest.raises(KeyError, match=r"unknown thing 'c' \(known: a1, a2, b\)"):
        things["c"]
    with pytest.raises(ValueError, match="thing 'a1' registered twice \\(first by toyplugins.a_first\\)"):
        things.register("again", "a1")
    copy = things.copy()
    copy.register("local", "c")
    assert "c" in copy and "c" not in things
    checked = Registry("checked", check=lambda name, obj: None if obj > 0 else "must be positive", reserved=("eager",))
    with pytest.raises(ValueError, match="checked 'x': must be positive"):
        checked.register(-1, "x")
    with pytest.raises(ValueError, match="registered twice"):
        checked.register(1, "eager")
    assert checked.known() == ["eager"]


def test_the_registry_discovers_plugins_in_subpackages(tmp_path, monkeypatch):
    """Plugins grouped by kind (meters by device class, then vendor: ``meters/gpu/nvidia.py``) are found
    without a subpackage's ``__init__`` naming them; ``support`` names a nested helper by its dotted path."""
    pkg = tmp_path / "toynested"
    (pkg / "gpu").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from greenbench.core.registry import Registry\n"
        "THINGS = Registry('thing', 'toynested', support=('base', 'gpu.common'))\n"
    )
    (pkg / "base.py").write_text("raise RuntimeError('support modules are not imported by discovery')\n")
    (pkg / "gpu" / "__init__.py").write_text("")
    (pkg / "gpu" / "common.py").write_text("raise RuntimeError('nested support modules neither')\n")
    (pkg / "gpu" / "vendor.py").write_text("from toynested import THINGS\nTHINGS.register('v', 'gpu')\n")
    (pkg / "cpu.py").write_text("from toynested import THINGS\nTHINGS.register('c', 'cpu')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    things = importlib.import_module("toynested").THINGS
    assert list(things) == ["cpu", "gpu"] and dict(things.modules) == {
        "cpu": "toynested.cpu",
        "gpu": "toynested.gpu.vendor",
    }
    from greenbench.pipeline.dag import _package_modules

    assert _package_modules(tmp_path, "toynested") == {
        "toynested",
        "toynested.base",
        "toynested.cpu",
        "toynested.gpu",
        "toynested.gpu.common",
        "toynested.gpu.vendor",
    }
