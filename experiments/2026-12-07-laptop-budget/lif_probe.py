"""A spiking training step of MiniLM with the multi-step LIF stepped through autograd
(``spiking.lif_step_by_step``, the reference) and as one autograd node (``spiking.lif``), interleaved in one
process, at 1 and 2 threads; then six optimizer steps from the same start with each, to show the weights they
leave are the same to the bit. (When ``lif-results.txt`` was recorded, the reference was a copy of the same
lines in this file.)

    python experiments/2026-12-07-laptop-budget/lif_probe.py results/models/minilm/baseline
"""

import hashlib
import sys
import time

import torch

from greenbench.cells.variants import spiking
from greenbench.data.models import load_classifier

PLAN = {"time_steps": 4, "tau": 2.0, "v_threshold": 1.0, "attn_threshold": 0.5, "scale": 0.125, "surrogate_alpha": 2.0}
FUSED = spiking.lif


def model_and_optimizer():
    torch.manual_seed(0)
    model = load_classifier(sys.argv[1])
    spiking.attach(model, PLAN)
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)


def batches(n: int):
    g = torch.Generator().manual_seed(1)
    for i in range(n):
        length = (12, 20, 28, 16, 24, 9)[i % 6]
        ids = torch.randint(1000, 20000, (32, length), generator=g)
        mask = torch.ones_like(ids)
        mask[:5, length // 2 :] = 0  # padded rows, as in a length bucket
        yield ids, mask, torch.randint(0, 2, (32,), generator=g)


def step(model, optimizer, ids, mask, labels):
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def weights_digest(model) -> str:
    h = hashlib.md5()
    for _, tensor in sorted(model.state_dict().items()):
        h.update(tensor.detach().numpy().tobytes())
    return h.hexdigest()


for threads in (1, 2):
    torch.set_num_threads(threads)
    model, optimizer = model_and_optimizer()
    best = {"step-by-step": float("inf"), "one node": float("inf")}
    data = list(batches(6))
    for _ in range(3):  # rounds: each LIF once per round, on the same batches
        for kind, fn in (("step-by-step", spiking.lif_step_by_step), ("one node", FUSED)):
            spiking.lif = fn
            t0 = time.perf_counter()
            for ids, mask, labels in data:
                step(model, optimizer, ids, mask, labels)
            best[kind] = min(best[kind], (time.perf_counter() - t0) / len(data))
    ratio = best["one node"] / best["step-by-step"]
    print(
        f"{threads} thread(s): {1000 * best['step-by-step']:.0f} ms per step step-by-step, "
        f"{1000 * best['one node']:.0f} ms as one node ({ratio:.2f}x; best of 3 rounds of 6 steps)"
    )
    digests = {}
    for kind, fn in (("step-by-step", spiking.lif_step_by_step), ("one node", FUSED)):
        spiking.lif = fn
        model, optimizer = model_and_optimizer()
        for ids, mask, labels in batches(6):
            step(model, optimizer, ids, mask, labels)
        digests[kind] = weights_digest(model)
    same = len(set(digests.values())) == 1
    print(f"{threads} thread(s): weights after 6 steps {'identical' if same else 'DIFFERENT'}: {digests}")
