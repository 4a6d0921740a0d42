"""The GPU lease review's findings 3, 4, 6, 7 and the runtime piece, each at its root, on the CPU
(fake meters, fake steps): the numbers a node brings back must be right before one is lent."""

import time

import pytest
import torch

from greenbench.measure.energy import EnergyMonitor
from greenbench.measure.energy.meters.base import ESTIMATED, Reading
from greenbench.measure.energy.cells import Cell
from greenbench.measure.energy.trial import estimate_trial_seconds, run_trial
from greenbench.measure.energy.window import first_calls, measure_cell, timed_window, window_problem

from test_energy import dev_tokens  # noqa: F401,F811  (the tiny model's dev tokens, a fixture)

CFG = {
    "batch_sizes": [4],
    "paddings": ["fixed"],
    "modes": ["eager"],
    "window_s": {"cpu": 0.2, "cuda": 0.2},
    "min_iterations": 2,
    "warmup": {"min_iters": 2, "max_s": 0.3, "tolerance": 0.5},
    "idle_s": 0.05,
    "sampler_hz": 50,
    "overhead_check": True,
    "cooldown_max_temp_c": 0,
    "max_inputs": 16,
    "codecarbon_country": "DEU",
    "interleave": False,
}


class _Clock:
    """A meter whose window is its elapsed time at 10 W (estimated); counts its windows."""

    source = "clock"

    def __init__(self):
        self.windows = 0

    def begin(self):
        self.t0 = time.perf_counter()

    def end(self):
        self.windows += 1
        return Reading(self.source, ESTIMATED, 10.0 * (time.perf_counter() - self.t0))


class _CompilesOnFirstSight:
    """A prepared model whose first call per input shape takes ``compile_s`` (as torch.compile's does)."""

    graph_safe, caveat, info = True, "", {}

    def __init__(self, compile_s=0.6, step_s=0.002):
        self.compile_s, self.step_s, self.seen, self.calls = compile_s, step_s, set(), 0

    def forward(self, ids, mask):
        self.calls += 1
        if tuple(ids.shape) not in self.seen:
            self.seen.add(tuple(ids.shape))
            time.sleep(self.compile_s)
        time.sleep(self.step_s)
        return ids


def _batches(n=6, shape=(4, 16)):
    return [(torch.zeros(shape, dtype=torch.long), torch.ones(shape, dtype=torch.long)) for _ in range(n)]


# ---------------------------------------------------------------- finding 3: compile outside the timed warm-up
def test_a_first_call_per_shape_runs_before_warm_up_so_the_window_is_full():
    prepared = _CompilesOnFirstSight()
    cfg = {**CFG, "warmup": {"min_iters": 3, "max_s": 0.5, "tolerance": 0.05}}
    row = measure_cell(prepared, Cell("fp32", 4, "fixed", "eager"), _batches(), "cpu", cfg, EnergyMonitor(_Clock()))
    # before the fix the compile landed in warm-up: warm-up stopped after one 0.6 s call, the window was
    # sized from it and came out a few milliseconds long
    assert row["status"] == "ok" and row["window_s"] >= cfg["window_s"]["cpu"]
    assert row["warmup_iterations"] >= 2 * cfg["warmup"]["min_iters"]
    assert row["iterations"] > 20


def test_first_calls_cover_the_first_the_shortest_and_the_longest_shape():
    calls = []
    batches = [(torch.zeros((4, n)), None) for n in (9, 3, 12, 3, 9)]
    assert first_calls(lambda b: calls.append(b[0].shape[1]), batches, lambda: None) == 3
    assert sorted(calls) == [3, 9, 12]
    assert first_calls(lambda b: None, [], lambda: None) == 0


def test_the_window_runs_on_until_it_has_the_seconds_the_sensor_needs():
    monitor = EnergyMonitor(_Clock())
    window, latencies, sizes, lengths = timed_window(
        lambda b: time.sleep(0.01), _batches(), lambda: None, 2, monitor, min_seconds=0.15
    )
    assert window.seconds >= 0.15 and len(latencies) > 2 and len(sizes) == len(lengths) == len(latencies)
    # whole passes stay whole: 6 batches a pass
    window, latencies, *_ = timed_window(
        lambda b: time.sleep(0.005), _batches(6), lambda: None, 6, monitor, min_seconds=0.05, multiple=6
    )
    assert len(latencies) % 6 == 0 and window.seconds >= 0.05


def test_a_window_shorter_than_nine_tenths_of_its_target_is_invalid(monkeypatch):
    assert window_problem(0.5, 2.0) and "0.9" in window_problem(0.5, 2.0)
    assert window_problem(1.8, 2.0) is None
    from greenbench.measure.energy import window

    real = window.timed_window

    def cut_short(step, batches, sync, iterations, monitor, min_seconds=0.0, multiple=0):
        return real(step, batches, sync, 1, monitor)  # as a window sized from a wrong warm-up would be

    monkeypatch.setattr(window, "timed_window", cut_short)
    row = measure_cell(
        _CompilesOnFirstSight(0.0),
        Cell("fp32", 4, "fixed", "eager"),
        _batches(),
        "cpu",
        {**CFG, "window_s": {"cpu": 1.0}},
        EnergyMonitor(_Clock()),
    )
    assert row["status"] == "invalid" and not row["valid"] and "shorter than 0.9" in row["reason"]


# ---------------------------------------------------------------- finding 4: the router and padding
class _Tier:
    graph_safe, caveat, info, device, model = True, "", {}, "cpu", None

    def __init__(self):
        self.widths = []

    def forward(self, ids, mask):
        self.widths.append(ids.shape[1])
        return torch.zeros((ids.shape[0], 2))


class _Scores:
    def score_torch(self, ids, mask):
        return torch.zeros(ids.shape[0])  # everything to the cheap tier


def test_the_adaptive_router_computes_the_padded_length_in_fixed_padding_cells():
    from greenbench.cells.variants.adaptive import AdaptiveScheduler, _Router

    cheap, precise = _Tier(), _Tier()
    router = _Router(cheap, precise, _Scores(), AdaptiveScheduler(1.0, 0.0), ["int8", "fp32"])
    ids = torch.ones((4, 16), dtype=torch.long)
    mask = torch.zeros((4, 16), dtype=torch.long)
    mask[:, :5] = 1  # the longest real sentence: 5 tokens of 16
    router.forward(ids, mask)
    assert cheap.widths == [5]  # dynamic padding (the default): the sub-batch trimmed to its longest sentence
    router.set_padding("fixed")
    router.forward(ids, mask)
    assert cheap.widths == [5, 16]  # fixed: the full padded length, as every other variant computes
    router.set_padding("dynamic")
    router.forward(ids, mask)
    assert cheap.widths[-1] == 5


def test_measure_cell_tells_a_prepared_model_the_cells_padding():
    seen = []

    class Listens(_CompilesOnFirstSight):
        def set_padding(self, padding):
            seen.append(padding)

    measure_cell(Listens(0.0), Cell("adaptive", 4, "fixed", "eager"), _batches(), "cpu", CFG, EnergyMonitor(_Clock()))
    assert seen == ["fixed"]


# ---------------------------------------------------------------- finding 6: one idle reading per trial
class _IdleCounting(EnergyMonitor):
    def __init__(self):
        super().__init__(_Clock())
        self.idle_calls = []

    def idle_power(self, seconds, settle_s=0.0):
        self.idle_calls.append((seconds, settle_s))
        return 7.0, "", {"seconds": seconds, "aligned": True}


def test_a_trial_takes_one_idle_reading_and_its_cells_none_of_their_own(tiny_model_dir, dev_tokens, tmp_path):
    monitor = _IdleCounting()
    cfg = {**CFG, "idle_per_trial_s": {"cpu": 0.3}, "idle_settle_s": {"cpu": 0.1}}
    df = run_trial(
        tiny_model_dir,
        dev_tokens,
        tmp_path / "t.parquet",
        model_name="tiny",
        device="cpu",
        variant_names=["fp32", "int8_dynamic"],
        artifacts={},
        variant_params={},
        trial=0,
        seed=1,
        cfg=cfg,
        max_length=16,
        threads=1,
        monitor=monitor,
    )
    ok = df[df.status == "ok"]
    assert len(ok) == 3 and monitor.idle_calls == [(0.3, 0.1)]
    assert (ok.idle_power_w == 7.0).all() and ok["flags"].str.contains("the trial's one reading").all()
    assert monitor.primary.windows == len(ok)  # a window per cell, no idle windows around them
    # per cell (the setting's default): two idle windows around each cell, no trial reading
    monitor = _IdleCounting()
    df = run_trial(
        tiny_model_dir,
        dev_tokens,
        tmp_path / "u.parquet",
        model_name="tiny",
        device="cpu",
        variant_names=["fp32"],
        artifacts={},
        variant_params={},
        trial=0,
        seed=1,
        cfg=CFG,
        max_length=16,
        threads=1,
        monitor=monitor,
    )
    assert monitor.idle_calls == [] and monitor.primary.windows == 3 * int((df.status == "ok").sum())


def test_the_estimate_counts_one_idle_reading_per_trial():
    cfg = {**CFG, "idle_per_trial_s": {"cuda": 5.0}, "idle_settle_s": {"cuda": 1.0}, "window_s": {"cuda": 2.0}}
    per_cell = estimate_trial_seconds(11, cfg, "cuda") - estimate_trial_seconds(10, cfg, "cuda")
    assert per_cell == pytest.approx(min(0.3, 0.5) + 2.0 + 0.3)
    assert estimate_trial_seconds(0, cfg, "cuda") >= 5.0 + 1.0


# ---------------------------------------------------------------- the runtime piece: compile mode and determinism
def test_cuda_compiles_in_default_mode_unless_configured():
    from greenbench.cells.runtimes.compile import compile_mode

    options = {"mode": "max-autotune-no-cudagraphs"}
    assert compile_mode(options, "cpu") == "max-autotune-no-cudagraphs"
    assert compile_mode(options, "cuda") is None  # the CPU's autotuning is not carried to CUDA
    assert compile_mode({**options, "cuda_mode": "max-autotune-no-cudagraphs"}, "cuda") == "max-autotune-no-cudagraphs"
    assert compile_mode(options, "cuda", "reduce-overhead") == "reduce-overhead"


def test_compiled_cells_run_with_the_trials_determinism_everywhere():
    from greenbench.cells.runtimes.compile import CompiledPrepared

    seen = []

    class Out:
        logits = torch.zeros((1, 2))

    prepared = CompiledPrepared(None, "cpu")
    prepared.compiled = lambda **kw: seen.append(torch.are_deterministic_algorithms_enabled()) or Out()
    was = torch.are_deterministic_algorithms_enabled()
    try:
        for flag in (True, False):
            torch.use_deterministic_algorithms(flag)
            prepared.forward(torch.zeros((1, 4), dtype=torch.long), torch.ones((1, 4), dtype=torch.long))
            assert torch.are_deterministic_algorithms_enabled() == flag  # restored
    finally:
        torch.use_deterministic_algorithms(was)
    assert seen == [False, False]  # one inductor cache key for build, evaluation and trials
