"""Per-trial SD of the paired log ratio to fp32 (J/inference and p50 latency), per batch size, over the
trial files a glob names (e.g. the CLI's `measure-energy --out DIR/{device}-{model}-trial-{trial}.parquet`).

    python experiments/2026-12-04-cpu-interleave/trial_ratio_noise.py 'DIR/cpu-minilm-trial-*.parquet'
"""

import sys, glob, numpy as np, pandas as pd

files = sorted(glob.glob(sys.argv[1]))
d = pd.concat([pd.read_parquet(f) for f in files])
d = d[(d.status == "ok") & d.sampler]
for metric in ["j_per_inf_gross", "latency_p50_ms"]:
    p = d.pivot_table(index=["batch_size", "variant"], columns="trial", values=metric)
    base = p.xs("fp32", level="variant")
    lr = np.log(p.div(base, level="batch_size"))
    sd = lr.std(axis=1, ddof=1)
    print(
        metric,
        "per-trial log-ratio SD by batch: ",
        sd.groupby(level=0).median().round(4).to_dict(),
        "max",
        sd.groupby(level=0).max().round(4).to_dict(),
    )
    if metric == "j_per_inf_gross":
        print(
            np.exp(lr.mean(axis=1))
            .unstack(0)
            .round(3)
            .assign(**{f"sd{b}": sd.xs(b, level=0) for b in sorted(set(sd.index.get_level_values(0)))})
            .round(3)
            .to_string()
        )
        print("J/inf SD (log) median", np.log(p).std(axis=1, ddof=1).median().round(4))
