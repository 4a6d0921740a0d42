"""The TCN forecaster: causal dilated 1-D convolutions over the scaled history plus origin calendar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from greenbench.carbon.forecasters.forecaster import Forecaster, Model, register_forecaster
from greenbench.config.options import Option, Options, register_options
from greenbench.carbon.forecasters.windows import Windows, _subset


class TCN(Model):
    """Causal dilated 1-D convolutions over the (scaled) history plus origin calendar, direct
    multi-horizon output. Trained seeded with AdamW on MAE."""

    name = "tcn"

    def __init__(
        self,
        lookback: int,
        horizon: int,
        channels: int = 32,
        levels: int = 5,
        kernel: int = 3,
        epochs: int = 10,
        batch_size: int = 256,
        learning_rate: float = 2e-3,
        max_train_windows: int = 0,
    ):
        self.cfg = dict(
            lookback=lookback,
            horizon=horizon,
            channels=channels,
            levels=levels,
            kernel=kernel,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_train_windows=max_train_windows,
        )
        self.net = None

    def _build(self):
        import torch
        from torch import nn

        c = self.cfg

        class CausalBlock(nn.Module):
            def __init__(self, cin, cout, dilation):
                super().__init__()
                self.pad = (c["kernel"] - 1) * dilation
                self.conv1 = nn.Conv1d(cin, cout, c["kernel"], dilation=dilation)
                self.conv2 = nn.Conv1d(cout, cout, c["kernel"], dilation=dilation)
                self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()
                self.act = nn.GELU()

            def forward(self, x):
                h = self.act(self.conv1(nn.functional.pad(x, (self.pad, 0))))
                h = self.act(self.conv2(nn.functional.pad(h, (self.pad, 0))))
                return self.act(h + self.skip(x))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                layers, cin = [], 1
                for i in range(c["levels"]):
                    layers.append(CausalBlock(cin, c["channels"], 2**i))
                    cin = c["channels"]
                self.tcn = nn.Sequential(*layers)
                self.head = nn.Sequential(
                    nn.Linear(c["channels"] * 2 + 31, 256), nn.GELU(), nn.Linear(256, c["horizon"])
                )

            def forward(self, x, cal):
                h = self.tcn(x.unsqueeze(1))
                summary = torch.cat([h[:, :, -1], h.mean(dim=2), cal], dim=1)
                return self.head(summary)

        return Net()

    def recent(self, w: Windows) -> Windows:
        """The last ``lookback`` hours of each window: all the TCN sees."""
        lookback = int(self.cfg["lookback"])
        if w.x.shape[1] <= lookback:
            return w
        return Windows(w.x[:, -lookback:], w.y, w.hour, w.dow, w.zone, w.origin)

    def _tensors(self, w: Windows):
        import torch

        scale = w.x.mean(axis=1, keepdims=True) + 1e-6
        x = torch.as_tensor(w.x / scale - 1.0, dtype=torch.float32)
        cal = torch.as_tensor(np.hstack([np.eye(24)[w.hour], np.eye(7)[w.dow]]), dtype=torch.float32)
        return x, cal, scale

    def fit(self, train: Windows, seed: int = 0) -> "TCN":
        import torch
        from tqdm.auto import tqdm

        train = self.recent(train)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        if self.cfg["max_train_windows"] and len(train.x) > self.cfg["max_train_windows"]:
            keep = np.sort(rng.choice(len(train.x), self.cfg["max_train_windows"], replace=False))
            train = _subset(train, keep)
        self.net = self._build()
        x, cal, scale = self._tensors(train)
        y = torch.as_tensor(train.y / scale - 1.0, dtype=torch.float32)
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.cfg["learning_rate"], weight_decay=1e-4)
        steps = self.cfg["epochs"] * int(np.ceil(len(x) / self.cfg["batch_size"]))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.cfg["learning_rate"], total_steps=max(steps, 1))
        self.history = []
        self.net.train()
        with tqdm(total=steps, desc="train tcn", unit="step", mininterval=5) as bar:
            for epoch in range(self.cfg["epochs"]):
                perm = torch.as_tensor(rng.permutation(len(x)))
                losses = []
                for start in range(0, len(x), self.cfg["batch_size"]):
                    b = perm[start : start + self.cfg["batch_size"]]
                    loss = torch.nn.functional.l1_loss(self.net(x[b], cal[b]), y[b])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
                    bar.update(1)
                self.history.append({"epoch": epoch, "train_mae_scaled": float(np.mean(losses))})
                bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        self.net.eval()
        return self

    def predict(self, w: Windows) -> np.ndarray:
        import torch

        x, cal, scale = self._tensors(self.recent(w))
        with torch.inference_mode():
            out = torch.cat([self.net(x[i : i + 4096], cal[i : i + 4096]) for i in range(0, len(x), 4096)]).numpy()
        return (out + 1.0) * scale

    def save(self, directory: Path) -> None:
        import torch

        torch.save(self.net.state_dict(), directory / "tcn.pt")
        (directory / "tcn.json").write_text(json.dumps({"config": self.cfg, "history": self.history}, indent=2))

    def restore(self, directory: Path) -> "TCN":
        return TCN.load(directory)

    @classmethod
    def load(cls, directory: Path) -> "TCN":
        import torch

        meta = json.loads((Path(directory) / "tcn.json").read_text())
        model = cls(**meta["config"])
        model.net = model._build()
        model.net.load_state_dict(torch.load(Path(directory) / "tcn.pt", map_location="cpu", weights_only=True))
        model.net.eval()
        model.history = meta["history"]
        return model


TCN_OPTIONS = register_options(
    Options(
        "carbon.forecast.tcn",
        "the TCN forecaster's size and training",
        {
            "channels": Option(32, {"type": "integer", "minimum": 1}, "convolution channels"),
            "levels": Option(5, {"type": "integer", "minimum": 1}, "dilated levels (receptive field 2^levels steps)"),
            "kernel": Option(3, {"type": "integer", "minimum": 2}, "convolution kernel size"),
            "epochs": Option(6, {"type": "integer", "minimum": 1}, "training epochs (AdamW, one-cycle schedule)"),
            "batch_size": Option(256, {"type": "integer", "minimum": 1}, "windows per step"),
            "learning_rate": Option(0.002, {"type": "number", "exclusiveMinimum": 0}, "peak learning rate"),
            "max_train_windows": Option(
                12000,
                {"type": "integer", "minimum": 0},
                "seeded subset of the training windows; 0 = all (paper.yaml; about 40,000 for 5 zones)",
            ),
        },
    )
)


def _build(cfg: Mapping[str, Any]) -> list:
    t = TCN_OPTIONS.resolve(cfg.get("tcn"))
    return [
        TCN(
            cfg["lookback_h"],
            cfg["horizon_h"],
            t["channels"],
            t["levels"],
            t["kernel"],
            t["epochs"],
            t["batch_size"],
            t["learning_rate"],
            t["max_train_windows"],
        )
    ]


register_forecaster(Forecaster("tcn", 2, _build, "temporal convolutional network on the last lookback_h hours"))
