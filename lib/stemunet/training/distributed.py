"""Training on several processes (GPUs, machines) with PyTorch's own engine.

Distributed data parallel (:class:`torch.nn.parallel.DistributedDataParallel`), one process per
GPU (or, on CPUs, per process asked for), started by ``torchrun`` or, from a notebook, by torch's
elastic launcher (:func:`stemunet.training.launch.launch`; the launcher lives with the training entry
point, above :mod:`stemunet.training`: this module holds the process-group helpers only). Each
process reads a disjoint share of every epoch's chunks (:class:`stemunet.data.chunks.EpochSampler`),
so the global batch is ``batch_size x world_size``;
gradients are averaged across processes after every step and BatchNorm statistics are
synchronised (:class:`torch.nn.SyncBatchNorm`, the ``sync_batchnorm`` option). Rank 0 validates,
writes the run folder and checkpoints while the others wait; every rank resumes from the same
``last.pt``. NCCL on CUDA, gloo on CPUs.

Launch::

    torchrun --nproc_per_node 8 -m stemunet.train -f parameters/train.yaml            # one machine
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST:29500 --rdzv_id RUN -m stemunet.train -f parameters/train.yaml  # on each of two

or ``n_processes: 8`` in the train notebook (:func:`stemunet.training.launch.launch`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process stands: its rank among ``world_size`` processes, its GPU (``local_rank``)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The process that validates and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> ProcessGroup:
    """This process's place in the initialised process group (a group of one when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return ProcessGroup()
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


WAIT_TIMEOUT = datetime.timedelta(hours=3)
"""How long a process waits at a barrier: the other ranks wait there while rank 0 validates (whole
validation tracks separated and scored by SDR) and writes, which on a large validation set takes
longer than the process group's default (10 min with NCCL)."""


def init_from_environment() -> ProcessGroup:
    """Join the process group torchrun (or the elastic launcher) describes in the environment.

    NCCL when this process has a GPU, gloo otherwise. Outside a launcher (no ``WORLD_SIZE``), a
    group of one, uninitialised.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return current()
    die_with_launcher()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    with stdout_to_stderr():  # gloo's "[Gloo] Rank ... connected" lines: stdout is for the run folder line
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
            dist.init_process_group("nccl", timeout=WAIT_TIMEOUT)
        else:
            dist.init_process_group("gloo", timeout=WAIT_TIMEOUT)
        dist.barrier()  # connect now, inside the redirection
    return current()


def die_with_launcher() -> None:
    """On Linux, have the kernel kill this worker when its launcher dies, however it dies.

    torchrun stops its workers when it is stopped cleanly, but a launcher killed outright (SIGKILL,
    a job scheduler's timeout, a closed notebook kernel) leaves them running, waiting forever in a
    collective and holding their GPU's memory. ``PR_SET_PDEATHSIG`` makes the parent's death this
    process's SIGKILL; a parent already gone before the call (reparented to init) exits at once.
    Only for processes a torch launcher started (``TORCHELASTIC_RUN_ID`` set); idempotent.
    """
    if not sys.platform.startswith("linux") or "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the launcher died before the call
        os._exit(1)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While inside, what anything in this process writes to file descriptor 1 (C++ libraries
    included) goes to standard error."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def close() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_for(group: ProcessGroup, device: torch.device) -> torch.device:
    """Each process's own GPU: ``cuda`` becomes ``cuda:<local_rank>`` in a group of several."""
    if group.distributed and device.type == "cuda":
        return torch.device("cuda", group.local_rank % torch.cuda.device_count())
    return device


class CrossProcessBatchNorm2d(torch.nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, for CPU process groups.

    :class:`torch.nn.SyncBatchNorm` (used on GPUs) refuses CPU tensors; this computes the same
    thing with torch's differentiable all-reduce (:func:`torch.distributed.nn.functional.all_reduce`):
    per-channel sums and sums of squares over every process's batch, so gradients flow through the
    shared statistics as they do in SyncBatchNorm. Same parameters and buffers as BatchNorm2d (the
    state dict does not change); in eval mode, or alone, it is BatchNorm2d.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce

        channels = input.shape[1]
        local_count = input.numel() // channels
        moments = torch.cat([input.sum(dim=(0, 2, 3)), (input * input).sum(dim=(0, 2, 3)),
                             input.new_tensor([float(local_count)])])  # fmt: skip
        total = all_reduce(moments)
        count = total[-1]
        mean = total[:channels] / count
        variance = (total[channels : 2 * channels] / count - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * variance * count / (count - 1))
        shape = (1, channels, 1, 1)
        normalised = (input - mean.view(shape)) * torch.rsqrt(variance.view(shape) + self.eps)
        if self.affine:
            normalised = normalised * self.weight.view(shape) + self.bias.view(shape)
        return normalised


def synchronise_batchnorm(module: torch.nn.Module) -> None:
    """Make every BatchNorm2d of ``module`` use global-batch statistics, in place (state dict unchanged):
    :class:`torch.nn.SyncBatchNorm` on GPUs, :class:`CrossProcessBatchNorm2d` on CPUs."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.BatchNorm2d) and not isinstance(child, CrossProcessBatchNorm2d):
            if child.weight.device.type != "cpu":
                replacement = torch.nn.SyncBatchNorm.convert_sync_batchnorm(child)
            else:
                replacement = CrossProcessBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
                replacement.load_state_dict(child.state_dict())
                replacement.to(next(child.parameters()).device)
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            synchronise_batchnorm(child)


def wrap(module: torch.nn.Module, group: ProcessGroup, *, sync_batchnorm: bool) -> torch.nn.Module:
    """``module`` for training in ``group``: unchanged alone; else with synchronised BatchNorm (in place,
    so the owner's state dict keeps its keys) inside :class:`DistributedDataParallel`.

    Call the returned module for the forward pass, so that DDP averages gradients across processes.
    """
    if not group.distributed:
        return module
    if sync_batchnorm:
        synchronise_batchnorm(module)
    device = next(module.parameters()).device
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def sum_over_processes(*values: float) -> tuple[float, ...]:
    """The sums of ``values`` over every process (``values`` themselves alone)."""
    if not current().distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tuple(float(v) for v in tensor.cpu())


def wait_for_all() -> None:
    """Every process waits here until all arrive (the others wait while rank 0 validates and writes)."""
    if current().distributed:
        dist.barrier()


def broadcast(value: Any) -> Any:
    """Rank 0's ``value``, on every process."""
    if not current().distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
