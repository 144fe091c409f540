"""An exponential moving average of a model's weights (Demucs' ``ema``, MSST's ``ema_momentum``).

Demucs' unbiased rule (``demucs/ema.py``, ``unbias=True``): after ``n`` updates with weights
``w_1 .. w_n`` the average is the decay-weighted mean of every weight seen::

    average_n = sum over k = 1..n of decay**(n-k) * w_k  /  sum over k = 1..n of decay**(n-k)

computed step by step as ``count = decay * count + 1``, ``average += (w - average) / count``.
Weights and floating-point buffers (BatchNorm's running statistics) are averaged; counters are
copied. The plain rule that starts from the first weights (torch's ``AveragedModel`` with
``get_ema_multi_avg_fn``) leaves ``decay**(n-1)`` of the average on ``w_1``, nearly the random
initial weights: 28 % after 1,280 steps at decay 0.999, the length of a 40-epoch CPU run. The
unbiased mean gives ``w_1`` its share of the sum, 0.04 % there.

Training updates it after every optimiser step, in the process that validates and writes (every
process holds the same weights after a step, so one average serves them all).
"""

from __future__ import annotations

import copy
from typing import Any

import torch


class WeightAverage:
    """The unbiased moving average of ``module``'s weights with ``decay`` (in (0, 1)); :attr:`module`
    is a copy of ``module`` holding the average, to validate and save."""

    def __init__(self, module: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"the average's decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module)  # trainable like the original: a returned model can be trained on
        self.updates = 0
        self.count = 0.0  # sum of decay**(n-k) over the updates so far: the mean's normaliser

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        """Take in ``module``'s current weights (after an optimiser step)."""
        self.count = self.decay * self.count + 1.0
        share = 1.0 / self.count  # 1 at the first update: the average starts as the weights
        theirs = module.state_dict()
        for name, mine in self.module.state_dict().items():
            if mine.is_floating_point():
                mine.lerp_(theirs[name].detach().to(mine.dtype), share)
            else:  # counters (BatchNorm's num_batches_tracked) are copied, not averaged
                mine.copy_(theirs[name])
        self.updates += 1

    def state(self) -> dict[str, Any]:
        """What a training checkpoint keeps: the averaged weights (the model's own keys), the number
        of updates and the normaliser."""
        return {"state_dict": {name: value.detach().cpu().clone() for name, value in self.module.state_dict().items()},
                "updates": self.updates, "count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        """Continue the average ``state`` holds. A state written before the unbiased rule has no
        ``count``: it goes on with the normaliser its updates would have (its first weights keep the
        larger share the plain rule gave them, shrinking as further updates come in)."""
        self.module.load_state_dict(state["state_dict"])
        self.updates = int(state["updates"])
        self.count = float(state.get("count", (1 - self.decay**self.updates) / (1 - self.decay)))
