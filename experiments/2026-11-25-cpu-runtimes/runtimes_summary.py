"""Summary table of a runtime-axis measurement (docs/lab-notes.md, 2026-11-25 "runtimes"):

    python experiments/2026-11-25-cpu-runtimes/runtimes_summary.py TRIALS_DIR [OUT_DIR]

TRIALS_DIR holds the trials of ``python -m greenbench measure-energy --config <OUT_DIR>/config.yaml
--model minilm --batch-sizes 8 --paddings dynamic --modes eager --out TRIALS_DIR/trial-{trial}.parquet``;
accuracies come from results/eval. Copies the trials into OUT_DIR/energy and writes OUT_DIR/summary.md."""

import sys, glob, json
import pandas as pd
from greenbench.core import io
from greenbench.measure.energy import stopping
from greenbench.measure.accuracy import summarize

out = sys.argv[2] if len(sys.argv) > 2 else "benchmarks/results/cpu-runtimes-2026-11-25"
files = sorted(glob.glob(f"{sys.argv[1]}/trial-*.parquet"))
m = pd.concat([io.read_parquet(f) for f in files])
m = m[(m.status == "ok") & m.sampler & m.valid]
cells = [
    "fp32",
    "int8_dynamic",
    "bf16",
    "int8_dynamic_ao",
    "fp32@onnxruntime",
    "int8_dynamic@onnxruntime",
    "fp32@torch_compile",
    "bf16@torch_compile",
    "fp32@aot_inductor",
    "bf16@aot_inductor",
    "int8_dynamic_ao@aot_inductor",
]
evals = [f"results/eval/cpu/minilm/{c}.parquet" for c in cells]
acc = summarize(evals, f"{out}/eval_summary.parquet").set_index("variant")
fp32acc = acc.loc["fp32", "accuracy"]


def ratio(a, b, metric):
    x = m[m.variant == a].set_index("trial")[metric]
    y = m[m.variant == b].set_index("trial")[metric]
    j = pd.concat([x, y], axis=1, keys=["a", "b"]).dropna()
    ci = stopping.paired_log_ratio(j.a, j.b, n0=len(j), level=0.95)
    return ci


rows = []
for c in cells:
    g = m[m.variant == c]
    info = json.loads(acc.loc[c, "variant_info"])
    rb = info.get("runtime_build", {})
    t = ratio(c, "int8_dynamic", "throughput_per_s")
    e = ratio(c, "fp32", "j_per_inf_gross")
    rows.append(
        {
            "cell": c,
            "accuracy": f"{acc.loc[c, 'accuracy']:.4f}",
            "Δ vs fp32 (pts)": f"{100 * (acc.loc[c, 'accuracy'] - fp32acc):+.2f}",
            "sentences/s (median)": f"{g.throughput_per_s.median():.0f}",
            "sentences/s range": f"{g.throughput_per_s.min():.0f}–{g.throughput_per_s.max():.0f}",
            "throughput ÷ int8_dynamic eager": f"{t.estimate:.2f} [{t.low:.2f}, {t.high:.2f}]",
            "J/inf ÷ fp32 eager": f"{e.estimate:.2f} [{e.low:.2f}, {e.high:.2f}]",
            "p50 ms": f"{g.latency_p50_ms.median():.1f}",
            "build s": f"{rb.get('build_s', float('nan')):.1f}" if rb else "—",
            "artifact MB": f"{rb.get('artifact_bytes', 0) / 1e6:.1f}" if rb else "—",
            "trials": len(g),
            "energy label": "+".join(sorted(set(g.energy_label))),
        }
    )
df = pd.DataFrame(rows)
md = df.to_markdown(index=False)
print(md)
meta = io.read_metadata(files[0])
import subprocess, os

os.makedirs(f"{out}/energy", exist_ok=True)
for f in files:
    subprocess.run(["cp", f, f"{out}/energy/"])
open(f"{out}/summary.md", "w").write(
    f"# Runtime axis on the CPU (with aot_inductor) — {len(files)} interleaved trials, batch 8, dynamic padding\n\n"
    f"Machine: {m.device_name.iloc[0]}, {meta.get('threads')} threads (compute.threads), commit {(meta.get('git') or {}).get('commit') if isinstance(meta.get('git'), dict) else meta.get('git_commit')}.\n"
    "Each trial its own process (`python -m greenbench measure-energy --batch-sizes 8 --paddings dynamic`), 11 cells in seeded random order.\n"
    "Ratios: paired by trial; 95% Student-t interval on the log ratios (greenbench.measure.energy.stopping.paired_log_ratio, all trials one stage). "
    "Energy is codecarbon's estimate (no readable RAPL here).\n\n" + md + "\n"
)
