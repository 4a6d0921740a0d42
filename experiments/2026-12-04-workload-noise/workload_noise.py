"""Is a ratio's trial-to-trial noise the host or the workload? In one process, windows of fp32,
int8-dynamic and bf16 MiniLM (interleaved iteration by iteration, order reshuffled every round,
the same batch for all three) alternate between

  S: the study's batches (``make_batches``, seed 0): the same in every window, as every trial now runs;
  F: the same length buckets in a fresh random order per window (what trials drew before 2026-12-04,
     when a partial pass saw a different sample of sentences in every trial).

Prints, per batch size, each arm's mean ratio to fp32 and the SD of the log ratio across windows of
each kind (6 each). Time ratios: on a CPU without RAPL the energy estimate is a power times time.

    python experiments/2026-12-04-workload-noise/workload_noise.py SEED
"""

import math
import sys
import time
import warnings

import numpy as np
import torch

from greenbench.data import sst2 as data, models
from greenbench.measure.energy.batches import make_batches

warnings.filterwarnings("ignore")
torch.set_num_threads(2)
src = models.resolve_source("packaged:all-MiniLM-L6-v2")
tokens = models.tokenize_dataset(data.read_sst2_tsv(data.mirror_path("dev")), models.load_tokenizer(src), 128)


def fresh():
    return models.load_classifier(src).eval()


arms = {
    "fp32": fresh(),
    "int8": torch.ao.quantization.quantize_dynamic(fresh(), {torch.nn.Linear}, dtype=torch.qint8),
    "bf16": fresh().to(torch.bfloat16),
}
names = list(arms)
rng = np.random.default_rng(int(sys.argv[1]))
for bs, rounds in ((8, 27), (64, 5), (1, 60)):  # about a 1 s busy window per arm on a 2-core VM
    study = make_batches(tokens, bs, "dynamic", 128, 0, "cpu", 0)
    res = {"S": [], "F": []}
    for w in range(12):
        kind = "SF"[w % 2]
        batches = study if kind == "S" else [study[i] for i in rng.permutation(len(study))]
        busy = np.zeros(len(names))
        with torch.inference_mode():
            for a in names:  # warm-up
                arms[a](input_ids=batches[0][0], attention_mask=batches[0][1])
            for k in range(rounds):
                ids, mask = batches[k % len(batches)]
                for a in rng.permutation(len(names)):
                    t0 = time.perf_counter()
                    arms[names[a]](input_ids=ids, attention_mask=mask)
                    busy[a] += time.perf_counter() - t0
        res[kind].append(np.log(busy / busy[0]))
    for kind in "SF":
        x = np.array(res[kind])
        print(
            f"batch {bs} {kind}: "
            + "  ".join(
                f"{names[i]}/fp32 {math.exp(x[:, i].mean()):.3f} sd {x[:, i].std(ddof=1):.4f}"
                for i in range(1, len(names))
            ),
            flush=True,
        )
