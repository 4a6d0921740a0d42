"""Window noise probe: fp32 against int8_dynamic at batch 8, 8 adjacent pairs of 2-s windows in one process
(latency only); prints the log ratio of each pair as JSON. Run it in several processes (SEED) to see the
between-process part. RESULTS is a finished run's results folder (default: results).

    python experiments/2026-11-25-window-noise-probe/window_noise_probe.py SEED [RESULTS]
"""

import sys, time, json, numpy as np, torch
from greenbench.data import models
from greenbench.cells import variants
from greenbench.core import io

torch.set_num_threads(2)
run = sys.argv[2] if len(sys.argv) > 2 else "results"  # was the fixed /work/run45/results of the recorded probe
base = f"{run}/models/minilm/baseline"
tok = io.read_parquet(f"{run}/tokens/minilm/dev.parquet")
ids = [np.array(x) for x in tok.input_ids][:512]
rng = np.random.default_rng(int(sys.argv[1]))


def batches(bs=8):
    order = rng.permutation(len(ids))
    out = []
    for i in range(0, len(order) - bs + 1, bs):
        sel = [ids[j] for j in order[i : i + bs]]
        L = max(len(s) for s in sel)
        x = torch.zeros(bs, L, dtype=torch.long)
        m = torch.zeros(bs, L, dtype=torch.long)
        for k, s in enumerate(sel):
            x[k, : len(s)] = torch.tensor(s)
            m[k, : len(s)] = 1
        out.append((x, m))
    return out


fp32 = models.load_classifier(base).eval()
int8 = variants.get("int8_dynamic").prepare(models.load_classifier(base), "cpu", None, {}).model
B = batches()


def window(model, secs=2.0):
    n = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        while time.perf_counter() - t0 < secs:
            x, m = B[n % len(B)]
            model(input_ids=x, attention_mask=m)
            n += 1
    return (time.perf_counter() - t0) / n


for mdl in (fp32, int8):
    window(mdl, 1.0)
res = []
for rep in range(8):
    a = window(fp32)
    b = window(int8)
    res.append(np.log(b / a))
print(json.dumps({"seed": sys.argv[1], "ratios": [float(x) for x in res]}))
