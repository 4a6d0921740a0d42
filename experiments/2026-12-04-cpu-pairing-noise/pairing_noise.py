"""How much of the trial-to-trial noise of a paired energy ratio on this host is drift that adjacent windows
cancel? Alternates fp32 and int8-dynamic windows (WINDOW s each, batch 8, order swapped every pair) for
DURATION s in one process; compares the SD of log(cost_int8 / cost_fp32) for adjacent pairs with pairs LAG
windows apart (what pairs of shuffled cells in one trial see). Cost = seconds per batch: on a CPU without
RAPL the codecarbon estimate is a constant power times time, so this is the energy ratio there.

    python experiments/2026-12-04-cpu-pairing-noise/pairing_noise.py results/models/minilm/baseline DURATION [WINDOW]
"""

import sys, time, math
import numpy as np, torch
from transformers import AutoModelForSequenceClassification

torch.set_num_threads(2)
torch.manual_seed(0)
path = sys.argv[1]
duration = float(sys.argv[2])
window = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
fp32 = AutoModelForSequenceClassification.from_pretrained(path).eval()
int8 = torch.ao.quantization.quantize_dynamic(
    AutoModelForSequenceClassification.from_pretrained(path).eval(), {torch.nn.Linear}, dtype=torch.qint8
)
rng = np.random.default_rng(0)
batches = [torch.randint(1000, 20000, (8, int(L))) for L in rng.choice([12, 20, 28, 40, 56], 64)]


def run(m):
    n, t0 = 0, time.perf_counter()
    with torch.inference_mode():
        while time.perf_counter() - t0 < window:
            b = batches[n % len(batches)]
            m(input_ids=b, attention_mask=torch.ones_like(b))
            n += 1
    return (time.perf_counter() - t0) / n  # s per batch ~ J per batch under a constant-power estimate


for m in (fp32, int8):
    run(m)
rows, t_start = [], time.perf_counter()
while time.perf_counter() - t_start < duration:
    order = (fp32, int8) if len(rows) % 2 == 0 else (int8, fp32)
    r = {id(m): run(m) for m in order}
    rows.append((r[id(fp32)], r[id(int8)]))
a = np.array(rows)
lr = np.log(a[:, 1] / a[:, 0])
print(
    f"{len(a)} pairs; fp32 s/batch CV {a[:, 0].std() / a[:, 0].mean():.3f}; adjacent log-ratio SD {lr.std(ddof=1):.4f}; ratio {math.exp(lr.mean()):.3f}"
)
for lag in (5, 20, 60):
    if len(a) > lag + 2:
        d = np.log(a[lag:, 1] / a[:-lag, 0])
        print(f"  lag {lag} pairs ({lag * 2 * window:.0f} s apart): log-ratio SD {d.std(ddof=1):.4f}")
