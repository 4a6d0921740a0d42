"""Two torch threads with and without ``OMP_NUM_THREADS=2`` (what Snakemake exports to a job of 2 threads), each
in a fresh process, alternating: the forecasting stage (every forecaster, the TCN at the laptop budget; as
rule forecast_carbon runs it, without Snakemake), and a MiniLM training step (batch 32 x 24 tokens).

    python experiments/2026-12-07-laptop-budget/omp_probe.py results/carbon/traces.parquet results/models/minilm/baseline
"""

import os
import subprocess
import sys

FORECAST = """
import sys, tempfile, time, torch
torch.set_num_threads(2)
from greenbench.carbon.forecasting import run_forecasting
from greenbench.config.load import load_config
from greenbench.pipeline import wiring
s = wiring.forecast_carbon(load_config(["config/config.yaml"]))
d = tempfile.mkdtemp()
t0 = time.perf_counter()
run_forecasting(sys.argv[1], s["forecast"], s["seed"], f"{d}/m.parquet", f"{d}/f.parquet", f"{d}/model")
print(f"{time.perf_counter() - t0:.1f}")
"""

STEP = """
import sys, time, torch
torch.set_num_threads(2)
torch.manual_seed(0)
from greenbench.data.models import load_classifier
model = load_classifier(sys.argv[1]).train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
x = torch.randint(1000, 20000, (32, 24)); mask, labels = torch.ones_like(x), torch.randint(0, 2, (32,))
def step():
    model(input_ids=x, attention_mask=mask, labels=labels).loss.backward(); opt.step(); opt.zero_grad()
for _ in range(3): step()
t0 = time.perf_counter()
for _ in range(10): step()
print(f"{1000 * (time.perf_counter() - t0) / 10:.0f}")
"""


def run(code: str, arg: str, omp: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp:
        env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code, arg], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


for name, code, arg, unit in (("forecasting", FORECAST, sys.argv[1], "s"), ("MiniLM step", STEP, sys.argv[2], "ms")):
    for _ in range(2):  # alternating, each in a fresh process
        for omp in (False, True):
            print(f"{name}, OMP_NUM_THREADS {'=2' if omp else 'unset'}: {run(code, arg, omp)} {unit}", flush=True)
