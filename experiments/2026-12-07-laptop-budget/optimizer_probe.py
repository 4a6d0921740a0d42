"""AdamW's step on MiniLM, three implementations interleaved in one process (2 threads): the default
(foreach), fused, and the plain for-loop. Forward and backward once per step so the gradients are real.

    python experiments/2026-12-07-laptop-budget/optimizer_probe.py results/models/minilm/baseline
"""

import sys
import time

import torch

from greenbench.data.models import load_classifier

torch.set_num_threads(2)
torch.manual_seed(0)
model = load_classifier(sys.argv[1])
model.train()
x = torch.randint(1000, 20000, (32, 24))
mask, labels = torch.ones_like(x), torch.randint(0, 2, (32,))
kinds = {"default (foreach)": {}, "fused": {"fused": True}, "for-loop": {"foreach": False}}
optimizers = {k: torch.optim.AdamW(model.parameters(), lr=1e-5, **kw) for k, kw in kinds.items()}
best = {k: float("inf") for k in kinds}
for _ in range(4):  # rounds: every implementation once per round
    for kind, optimizer in optimizers.items():
        times = []
        for _ in range(6):
            model(input_ids=x, attention_mask=mask, labels=labels).loss.backward()
            t0 = time.perf_counter()
            optimizer.step()
            times.append(time.perf_counter() - t0)
            optimizer.zero_grad()
        best[kind] = min(best[kind], sorted(times)[len(times) // 2])
for kind, seconds in best.items():
    print(f"{kind}: {1000 * seconds:.1f} ms per optimizer step (median of 6, best of 4 rounds)")
t0 = time.perf_counter()
for _ in range(5):
    model(input_ids=x, attention_mask=mask, labels=labels).loss.backward()
    model.zero_grad()
print(f"forward + backward: {1000 * (time.perf_counter() - t0) / 5:.0f} ms (batch 32 x 24 tokens)")
