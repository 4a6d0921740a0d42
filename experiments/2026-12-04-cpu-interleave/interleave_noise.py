"""How much of a paired ratio's noise on this host does interleaving cancel? In one process, runs
fp32, int8-dynamic, a second fp32 copy, a second int8 copy and bf16 MiniLM in rounds (one iteration of
each per round, order reshuffled every round, the same batch for all) until each has ARM_S seconds of
busy time; REPS such windows per batch size. Prints each cell's ratio to fp32 (seconds per batch: on a
CPU without RAPL, codecarbon's estimate is a constant power times time, so this is the energy ratio)
and the SD of the log ratio across windows. Run it in several processes (SEED) to see the
between-process part.

    python experiments/2026-12-04-cpu-interleave/interleave_noise.py results/models/minilm/baseline REPS ARM_S SEED
"""

import math
import sys
import time
import warnings

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

warnings.filterwarnings("ignore")
torch.set_num_threads(2)
path, reps, arm_s, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(seed)


def load():
    return AutoModelForSequenceClassification.from_pretrained(path).eval()


def int8(m):
    return torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)


names = ["fp32", "int8", "fp32 copy", "int8 copy", "bf16"]
arms = [load(), int8(load()), load(), int8(load()), load().to(torch.bfloat16)]
rng = np.random.default_rng(seed)
for bs in (1, 8, 64):
    batches = [torch.randint(1000, 20000, (bs, int(n))) for n in rng.choice([8, 12, 20, 28, 40, 56], 32)]
    with torch.inference_mode():
        for m in arms:
            for b in batches[:4]:
                m(input_ids=b, attention_mask=torch.ones_like(b))
    logs = []
    for _ in range(reps):
        busy, n = np.zeros(len(arms)), np.zeros(len(arms), int)
        with torch.inference_mode():
            while busy.min() < arm_s:
                for a in rng.permutation(len(arms)):
                    b = batches[n[a] % len(batches)]
                    t0 = time.perf_counter()
                    arms[a](input_ids=b, attention_mask=torch.ones_like(b))
                    busy[a] += time.perf_counter() - t0
                    n[a] += 1
        logs.append(np.log((busy / n) / (busy[0] / n[0])))
    logs = np.array(logs)
    print(
        f"seed {seed} batch {bs}: "
        + "  ".join(
            f"{names[i]} {math.exp(logs[:, i].mean()):.3f} sd {logs[:, i].std(ddof=1):.4f}" for i in range(1, len(arms))
        ),
        flush=True,
    )
