"""Hybrid neuromorphic variant: every self-attention replaced by Spiking Self-Attention (SSA).

After Spikformer (Zhou et al. 2023), kept hybrid: embeddings, projections and FFNs stay real-valued;
inside attention, Q, K and V become binary spike trains over ``T`` time steps and attention is
computed without softmax from spikes only.

- Rate coding: the (normalised) query/key/value currents drive leaky integrate-and-fire (LIF)
  neurons for T steps (direct encoding: the same current each step); how often a neuron fires
  encodes the value.
- LIF: ``v <- v + (I - v) / tau``; spike when ``v >= v_th``; hard reset to 0.
- SSA per step: ``S_t = (Q_t K_t^T) * scale`` (padded keys masked), ``O_t = S_t V_t``, then an LIF
  with threshold ``attn_threshold``; the output is the spike rate over T (what the output
  projection of the baseline then reads).
- A normalisation sits before every LIF (Spikformer uses BatchNorm, which folds into the weights
  at inference; LayerNorm over the head dimension here). Without it, SST-2's short sentences
  (about 25 tokens, against Spikformer's 64 patches) leave the attention LIF below threshold: it
  never fires and attention is dead.
- Training: the spike's Heaviside step has an arctan surrogate gradient
  (``alpha / 2 / (1 + (pi/2 * alpha * x)^2)``), so the model is fine-tuned from the baseline with
  backprop (``variants.trained``, distillation from the baseline by default).

Firing rates per layer (fraction of neuron-steps that spike, over real tokens) are recorded while
``recording_stats()`` is on (evaluation) and feed the theoretical AC/MAC energy (``flops``).
Implemented here in plain PyTorch (~100 lines) rather than through spikingjelly/snntorch so the
kernel plugs into transformers' attention interface and the tests can read every step.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from greenbench.config.options import Option, Options, register_options
from greenbench.cells.family import Family, register_family
from greenbench.cells.variants import encoder
from greenbench.cells.variants.recipe import is_recording
from greenbench.cells.variants.trained import RECOVERY_OVERRIDE, TrainedRecipe, register_trained

IMPLEMENTATION = "greenbench_spiking"
RATE_KEYS = ("q", "k", "v", "out")


def _surrogate_class():
    import torch

    class ArctanSpike(torch.autograd.Function):
        """Heaviside forward; arctan surrogate derivative backward."""

        @staticmethod
        def forward(ctx, x, alpha: float):
            ctx.save_for_backward(x)
            ctx.alpha = alpha
            return (x >= 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            alpha = ctx.alpha
            return grad_output * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2), None

    return ArctanSpike


_SPIKE = None


def spike(x, alpha: float = 2.0):
    global _SPIKE
    if _SPIKE is None:
        _SPIKE = _surrogate_class()
    return _SPIKE.apply(x, alpha)


def _lif_class():
    import torch

    class MultiStepLIF(torch.autograd.Function):
        """The multi-step LIF as one autograd node: the same arithmetic as stepping ``v``, ``spike`` and the
        reset through autograd, in the same order, so spikes and gradients are bit for bit the same
        (``lif_step_by_step``, checked in tests/cells/test_trained_variants.py), in about two thirds of the
        time: no graph of some forty nodes per call, no intermediate per step kept twice. A spiking training
        step of MiniLM takes 8-9% less (``experiments/2026-12-07-laptop-budget/lif_probe.py``). The membrane before
        each spike (``u``) and the spikes are what the backward pass reads.

        Forward, per step: ``u = v + (I - v) / tau`` (``I / tau`` at the first, ``v = 0``), ``s = u >= th``
        (the sign of ``u - th``), ``v = u * (1 - s)``. Backward, from the last step: ``s`` receives its
        output gradient and, through the reset, ``-g_v * u``; the surrogate turns it into ``u``'s, which
        also receives ``g_v * (1 - s)``; ``I`` receives ``g_u / tau``, the previous ``v`` ``g_u - g_u / tau``.
        Every gradient that two paths feed is a sum of two terms, which rounds the same in either order."""

        @staticmethod
        def forward(ctx, currents, tau: float, v_threshold: float, alpha: float):
            steps = currents.shape[0]
            membrane = torch.empty(currents.shape, dtype=currents.dtype, device=currents.device)
            spikes = torch.empty_like(membrane)
            v = None
            for t in range(steps):
                u = membrane[t]
                if v is None:
                    torch.div(currents[t], tau, out=u)
                else:
                    torch.add(v, torch.sub(currents[t], v).div_(tau), out=u)
                torch.ge(u, v_threshold, out=spikes[t])
                if t < steps - 1:
                    v = u.masked_fill(spikes[t].bool(), 0.0)  # u * (1 - s): u, or +0 where it fired (u >= th > 0)
            ctx.save_for_backward(membrane, spikes)
            ctx.tau, ctx.v_threshold, ctx.alpha = tau, v_threshold, alpha
            return spikes

        @staticmethod
        def backward(ctx, grad_spikes):
            membrane, spikes = ctx.saved_tensors
            tau, alpha = ctx.tau, ctx.alpha
            sharpness = math.pi / 2 * alpha
            grad_currents = torch.empty_like(membrane)
            grad_v = None
            for t in range(membrane.shape[0] - 1, -1, -1):
                u, s = membrane[t], spikes[t]
                grad_s = grad_spikes[t] if grad_v is None else torch.sub(grad_spikes[t], grad_v * u)
                # ArctanSpike's backward: grad * (alpha / 2) / (1 + (pi / 2 * alpha * x) ** 2), x = u - th
                denominator = torch.sub(u, ctx.v_threshold).mul_(sharpness).square_().add_(1)
                grad_u = (grad_s * (alpha / 2)).div_(denominator)
                if grad_v is not None:
                    grad_u.add_(grad_v.mul_(torch.rsub(s, 1)))
                torch.div(grad_u, tau, out=grad_currents[t])
                grad_v = grad_u.sub_(grad_currents[t]) if t > 0 else None
            return grad_currents, None, None, None

    return MultiStepLIF


def lif_step_by_step(currents, tau: float, v_threshold: float, alpha: float = 2.0):
    """The multi-step LIF as the paper writes it, stepped through autograd (``spike`` per step): the reference
    ``lif`` equals bit for bit (tests/cells/test_trained_variants.py), and what
    ``experiments/2026-12-07-laptop-budget/lif_probe.py`` times it against."""
    import torch

    v = torch.zeros_like(currents[0])
    spikes = []
    for current in currents:
        v = v + (current - v) / tau
        s = spike(v - v_threshold, alpha)
        v = v * (1 - s)  # hard reset to 0
        spikes.append(s)
    return torch.stack(spikes)


_LIF = None


def lif(currents, tau: float, v_threshold: float, alpha: float = 2.0):
    """Multi-step LIF. ``currents`` is (T, ...) ; returns binary spikes of the same shape (``_lif_class``)."""
    global _LIF
    if _LIF is None:
        _LIF = _lif_class()
    return _LIF.apply(currents, float(tau), float(v_threshold), float(alpha))


def _params_module():
    import torch
    from torch import nn

    class SpikingAttentionParams(nn.Module):
        """The learnable parts SSA adds to one attention module, plus its firing-rate counters."""

        def __init__(
            self,
            head_dim: int,
            time_steps: int,
            tau: float,
            v_threshold: float,
            attn_threshold: float,
            scale: float,
            alpha: float,
        ):
            super().__init__()
            self.norm_q, self.norm_k, self.norm_v, self.norm_o = (nn.LayerNorm(head_dim) for _ in range(4))
            self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
            self.time_steps, self.tau, self.v_threshold = int(time_steps), float(tau), float(v_threshold)
            self.attn_threshold, self.alpha = float(attn_threshold), float(alpha)
            self.reset_stats()

        def reset_stats(self) -> None:
            self.spike_sums = {key: 0.0 for key in RATE_KEYS}
            self.neuron_steps = {key: 0.0 for key in RATE_KEYS}

        def record(self, name: str, spikes, token_mask) -> None:
            # spikes (T, B, h, L, d); token_mask (B, L) float
            weight = token_mask[None, :, None, :, None]
            self.spike_sums[name] = self.spike_sums[name] + (spikes * weight).sum().detach()
            self.neuron_steps[name] = (
                self.neuron_steps[name] + weight.sum().detach() * spikes.shape[0] * spikes.shape[2] * spikes.shape[4]
            )

        def firing_rates(self) -> dict[str, float] | None:
            if not any(float(self.neuron_steps[key]) for key in RATE_KEYS):
                return None
            return {key: float(self.spike_sums[key]) / float(self.neuron_steps[key]) for key in RATE_KEYS}

    return SpikingAttentionParams


def spiking_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention-interface kernel: (B, h, L, d) query/key/value -> (B, L, h, d) spike rates."""
    import torch

    ssa = module.ssa
    T = ssa.time_steps
    if attention_mask is None:
        keys = torch.ones(query.shape[0], 1, 1, key.shape[2], dtype=query.dtype, device=query.device)
    elif attention_mask.dtype == torch.bool:
        keys = attention_mask[:, :, :1, :].to(query.dtype)
    else:
        keys = (attention_mask[:, :, :1, :] > torch.finfo(attention_mask.dtype).min / 2).to(query.dtype)

    def train(x, norm):
        return lif(norm(x).unsqueeze(0).expand(T, *x.shape), ssa.tau, ssa.v_threshold, ssa.alpha)

    q, k, v = train(query, ssa.norm_q), train(key, ssa.norm_k), train(value, ssa.norm_v)
    scores = torch.matmul(q, k.transpose(-1, -2)) * keys * ssa.log_scale.exp()
    out = lif(ssa.norm_o(torch.matmul(scores, v)), ssa.tau, ssa.attn_threshold, ssa.alpha)
    if is_recording():
        token_mask = keys[:, 0, 0, :]
        for name, spikes in zip(RATE_KEYS, (q, k, v, out)):
            ssa.record(name, spikes, token_mask)
    return out.mean(0).transpose(1, 2).contiguous(), None


def _register_interface() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, spiking_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)


def attach(model, plan: Mapping[str, Any]) -> None:
    """Give every attention module its SSA parameters and switch the kernel."""
    Params = _params_module()
    for handles in encoder.layers(model):
        ssa = Params(
            encoder.head_dim(handles),
            plan["time_steps"],
            plan["tau"],
            plan["v_threshold"],
            plan["attn_threshold"],
            plan["scale"],
            plan["surrogate_alpha"],
        )
        handles.attention.ssa = ssa.to(handles.query.weight.device)
    _register_interface()
    model.set_attn_implementation(IMPLEMENTATION)


def firing_rates(model) -> list[dict[str, float] | None]:
    return [h.attention.ssa.firing_rates() for h in encoder.layers(model)]


PLAN_KEYS = ("time_steps", "tau", "v_threshold", "attn_threshold", "scale", "surrogate_alpha")


def _plan(model, tokens, params, seed, pad_id) -> dict:
    missing = [k for k in PLAN_KEYS if k not in params]
    if missing:
        raise KeyError(f"config block 'variants.spiking' lacks {', '.join(missing)}")
    return {"kind": "spiking", **{k: params[k] for k in PLAN_KEYS}}


register_trained(
    "spiking",
    "spiking",
    "hybrid neuromorphic: spiking self-attention (LIF, rate coding over T steps, surrogate gradients), "
    "fine-tuned from the baseline",
    TrainedRecipe(_plan, attach, summarize=lambda model, plan: {"time_steps": plan["time_steps"]}),
    ("spiking",),
    label="spiking attention",
)
register_family(Family("spiking", "spiking", "#E69F00", "P", order=60, group="spiking"))

register_options(
    Options(
        "variants.spiking",
        "spiking self-attention (variant `spiking`)",
        {
            "time_steps": Option(4, {"type": "integer", "minimum": 1, "maximum": 64}, "T, the rate-coding window"),
            "tau": Option(2.0, {"type": "number", "minimum": 1}, "LIF membrane time constant, in steps"),
            "v_threshold": Option(1.0, {"type": "number", "exclusiveMinimum": 0}, "LIF threshold of the Q/K/V neurons"),
            "attn_threshold": Option(
                0.5, {"type": "number", "exclusiveMinimum": 0}, "LIF threshold after the attention product"
            ),
            "scale": Option(0.125, {"type": "number", "exclusiveMinimum": 0}, "initial attention scale (learned)"),
            "surrogate_alpha": Option(
                2.0, {"type": "number", "exclusiveMinimum": 0}, "arctan surrogate gradient sharpness"
            ),
            "recovery": Option(
                {"train_subset": 20000, "checks": 1},
                RECOVERY_OVERRIDE,
                "overrides of `variants.recovery` for this variant (it learns new parameters from scratch)",
                required=False,
            ),
        },
    )
)
