"""What a forecaster plugin is: a ``Forecaster`` entry in ``FORECASTERS`` (a
``greenbench.core.registry.Registry`` over this package) that builds its candidate models from the
``carbon.forecast`` config slice, and ``Model``, the behaviour every fitted model shares.

A model has ``name``, ``fit(windows, seed)`` and ``predict(windows)`` (``windows`` hold at least a week
of history; a model that needs less takes the end of it), and saves and restores itself
(``save(directory)`` / ``restore(directory)``; pickled by default). ``refit_on_validation`` models are
refit on train + validation before the test when ``carbon.forecast.stack.refit`` is on."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from greenbench.core.registry import Registry


@dataclass(frozen=True)
class Forecaster:
    """A forecaster family: ``build(cfg)`` returns its candidate models (one or more) for the
    ``carbon.forecast`` slice ``cfg``; ``order`` places its candidates among the others'."""

    name: str
    order: int
    build: Callable[[Mapping[str, Any]], list]
    description: str = ""


FORECASTERS: Registry[Forecaster] = Registry(
    "forecaster", "greenbench.carbon.forecasters", support=("forecaster", "windows")
)
register_forecaster = FORECASTERS.register


class Model:
    """Saving and restoring by pickle, no refit: what a fitted model does unless it says otherwise."""

    name: str
    refit_on_validation = False

    def save(self, directory: Path) -> None:
        with open(Path(directory) / f"{self.name}.pkl", "wb") as handle:
            pickle.dump(self, handle)

    def restore(self, directory: Path) -> "Model":
        path = Path(directory) / f"{self.name}.pkl"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: rerun the forecasting stage (forecast_carbon)")
        with open(path, "rb") as handle:
            return pickle.load(handle)


def build_models(cfg: Mapping[str, Any]) -> list:
    """Every registered forecaster's candidates, by ``order`` (then name)."""
    families = sorted(FORECASTERS.values(), key=lambda f: (f.order, f.name))
    return [model for family in families for model in family.build(cfg)]
