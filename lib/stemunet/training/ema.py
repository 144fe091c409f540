"""An exponential moving average of a model's weights (Demucs' ``ema``, MSST's ``ema_momentum``).

torch's :class:`~torch.optim.swa_utils.AveragedModel` with its EMA rule keeps the average, buffers
(BatchNorm's running statistics) included: after the first update it holds the weights, after
each later one ``average = decay * average + (1 - decay) * weights``. So after ``n`` updates with
weights ``w_1 .. w_n``::

    average_n = decay**(n-1) * w_1 + sum over k = 2..n of (1 - decay) * decay**(n-k) * w_k

Training updates it after every optimiser step, in the process that validates and writes (every
process holds the same weights after a step, so one average serves them all).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """The average of ``module``'s weights with ``decay`` (in (0, 1)); :attr:`module` is a copy of
    ``module`` holding the average, to validate and save."""

    def __init__(self, module: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"the average's decay must be in (0, 1), got {decay}")
        self.decay = decay
        self._averaged = AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    @property
    def module(self) -> torch.nn.Module:
        return self._averaged.module

    @property
    def updates(self) -> int:
        return int(self._averaged.n_averaged)

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        """Take in ``module``'s current weights (after an optimiser step)."""
        self._averaged.update_parameters(module)
        for mine, theirs in zip(self.module.buffers(), module.buffers()):
            if not mine.is_floating_point():  # counters (BatchNorm's num_batches_tracked) are copied, not averaged
                mine.copy_(theirs)

    def state(self) -> dict[str, Any]:
        """What a training checkpoint keeps: the averaged weights (the model's own keys) and the count."""
        return {"state_dict": {name: value.detach().cpu() for name, value in self.module.state_dict().items()}, "updates": self.updates}

    def load(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["state_dict"])
        self._averaged.n_averaged.fill_(int(state["updates"]))
