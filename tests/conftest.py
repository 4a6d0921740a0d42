"""Shared fixtures: tiny random BERT checkpoints (no network) and the real data mirror."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
if (REPO.parent / "shared" / "data").is_dir():  # the mirror beside the checkout, as CI and the README use it
    os.environ.setdefault("GREENBENCH_DATA", str(REPO.parent / "shared" / "data"))
TREE = ("workflow", "config", "scripts", "src", "envs")  # what a workflow run needs from the checkout
SMOKE = ("--cores", "2", "--configfile", "config/smoke.yaml")
WORDS = (
    "good great fine bad awful dull movie film plot actor story funny boring charming "
    "not very a the it is was and but of , . ! ' s n't"
).split()


def make_tiny_bert(out: Path, seed: int = 0, layers: int = 2, heads: int = 4, hidden: int = 32) -> Path:
    """A randomly initialised BERT classifier with a tiny WordPiece vocabulary, saved to ``out``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(WORDS)
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        num_labels=2,
    )
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# the spiking variant's options for tiny-model tests (config/config.yaml's values)
SPIKING = {
    "time_steps": 4,
    "tau": 2.0,
    "v_threshold": 1.0,
    "attn_threshold": 0.5,
    "scale": 0.125,
    "surrogate_alpha": 2.0,
}


def padded_batch(n: int = 6, width: int = 12, seed: int = 0, first_length: int = 3):
    """Random token ids with right padding: row i keeps ``first_length + i`` tokens."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 30, (n, width), generator=g)
    mask = torch.ones_like(ids)
    for i in range(n):
        mask[i, first_length + i :] = 0
    return ids * mask, mask


def toy_sentences(n: int = 64, seed: int = 0) -> pd.DataFrame:
    """A learnable toy sentiment set in the prepared-dataset schema."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pos, neg, filler = (
        ["good", "great", "funny", "charming"],
        ["bad", "awful", "dull", "boring"],
        ["the", "movie", "film", "plot", "story", "was", "very"],
    )
    rows = []
    for i in range(n):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(filler, size=int(rng.integers(2, 8)))) + [str(rng.choice(pos if label else neg))]
        rng.shuffle(words)
        rows.append({"idx": i, "sentence": " ".join(words), "label": label})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    """The offline data mirror ($GREENBENCH_DATA, else ../shared/data beside the checkout)."""
    root = Path(os.environ.get("GREENBENCH_DATA", REPO.parent / "shared" / "data"))
    if not (root / "sst2" / "dev.tsv").exists():
        pytest.skip(f"no SST-2 mirror at {root} (set GREENBENCH_DATA)")
    return root


def copy_tree(root: Path) -> Path:
    """A copy of the workflow tree under ``root``, so runs never touch the checkout's results/."""
    for name in TREE:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


def run(cwd: Path, *args: str, env: dict | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    """``snakemake *args`` in ``cwd`` with this interpreter."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


SMOKE_TIMEOUT_S = 2700


@pytest.fixture(scope="session")
def smoke(tmp_path_factory, data_mirror):
    """One complete local smoke run, shared by the workflow and SLURM tests."""
    root = copy_tree(tmp_path_factory.mktemp("smoke"))
    env = {"GREENBENCH_DATA": str(data_mirror)}
    started = time.monotonic()
    # 20 min sufficed on the Intel hosts; on a 2-core AMD EPYC (Zen, no AMX) the smoke study's CPU work
    # (torchao's eager int8 at 1.7 s a batch-8 step, torch.compile and AOTInductor builds) passed that
    # (killed at 47 of 66 jobs, 2026-12-05): a stall still ends the run, well inside CI's 90 minutes
    proc = run(root, *SMOKE, env=env, timeout=SMOKE_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-4000:]
    print(f"smoke run took {time.monotonic() - started:.1f} s")
    return root, env


def pytest_collection_modifyitems(config, items):
    """Every test that runs the smoke study is a `workflow` test, so `pytest -m "not workflow"` is the
    fast inner loop (CI runs everything)."""
    for item in items:
        if "smoke" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.workflow)


class Said(logging.Handler):
    """What greenbench logs while it is attached (whatever configure() did to propagation)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        logger = logging.getLogger("greenbench")
        self._level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("greenbench").removeHandler(self)
        logging.getLogger("greenbench").setLevel(self._level)
