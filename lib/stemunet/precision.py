"""Which arithmetic the U-Net runs in: bfloat16 where the hardware computes it natively, float32 elsewhere.

On CPUs with AVX-512 BF16 or AMX (recent Xeons and EPYCs), oneDNN runs bfloat16 convolutions about
1.5 times as fast as float32 ones; on CPUs without them bfloat16 is emulated and slower. On CUDA
GPUs bfloat16 (Ampere and later) or float16 (older, with loss scaling in training) feed the tensor
cores. ``auto`` picks what is fast on the device at hand; ``float32``/``off`` and ``bf16``
force either. Only the U-Net runs in the reduced precision (torch's autocast): STFTs, masks,
post-filter and losses stay in float32.
"""

from __future__ import annotations

import os

import torch

PRECISIONS: tuple[str, ...] = ("auto", "float32", "bf16")
"""Settings of the separation's precision (training's ``mixed_precision`` adds ``off`` and ``fp16``)."""


NATIVE_BF16_VARIABLE = "STEMUNET_NATIVE_BF16"
"""Set to 0 to treat this CPU as one without native bfloat16 (``auto`` then means float32): to
reproduce a float32 host's numbers, or run the tests as such a host would."""


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX tiles), unless
    ``$STEMUNET_NATIVE_BF16`` is 0."""
    if os.environ.get(NATIVE_BF16_VARIABLE) == "0":
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def autocast_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the U-Net on ``device`` (``None``: float32).

    ``auto``: bfloat16 on a CPU that has it natively (:func:`cpu_has_native_bf16`), on CUDA
    bfloat16 where supported, else float16; float32 on anything else (MPS, older CPUs).
    ``float32`` or ``off``: float32. ``bf16``/``fp16``: that, wherever asked.
    """
    if setting in ("off", "float32"):
        return None
    if setting == "bf16":
        return torch.bfloat16
    if setting == "fp16":
        return torch.float16
    if setting != "auto":
        raise ValueError(f"precision must be one of auto, float32 (off), bf16, fp16; got {setting!r}")
    if device.type == "cuda":
        try:  # native bf16 (Ampere and later), not the emulation older GPUs also run
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch before 2.3 counts native support only
            native = torch.cuda.is_bf16_supported()
        return torch.bfloat16 if native else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None
