"""bfloat16 where the hardware has it: the choice of precision, separation and training in it."""

from __future__ import annotations

import pytest
import torch

from stemunet import precision
from stemunet.config import ChunkingConfig, ModelConfig, PostFilterChoice, SeparatorConfig, StftConfig
from stemunet.separation.separator import Separator
from stemunet.training.config import TrainConfig
from stemunet.training.fit import fit
from test_training import TINY

CPU = torch.device("cpu")


@pytest.mark.parametrize("native", [True, False], ids=["a CPU with native bf16", "a CPU without"])
def test_auto_is_bf16_exactly_where_the_cpu_computes_it_natively(monkeypatch, native):
    monkeypatch.delenv("STEMUNET_NATIVE_BF16", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert precision.autocast_dtype("auto", CPU) == (torch.bfloat16 if native else None)
    assert precision.autocast_dtype("float32", CPU) is None and precision.autocast_dtype("off", CPU) is None
    assert precision.autocast_dtype("bf16", CPU) == torch.bfloat16  # forced either way
    assert precision.autocast_dtype("auto", torch.device("mps")) is None
    config = TrainConfig.from_params(TINY)
    assert config.uses_channels_last(precision.autocast_dtype("auto", CPU), CPU) == native


def test_amx_counts_as_native_bf16_and_the_variable_turns_it_off(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    monkeypatch.delenv("STEMUNET_NATIVE_BF16", raising=False)
    assert precision.cpu_has_native_bf16()
    monkeypatch.setenv("STEMUNET_NATIVE_BF16", "0")
    assert not precision.cpu_has_native_bf16() and precision.autocast_dtype("auto", CPU) is None


def test_separation_in_bf16_is_close_to_float32_and_still_adds_up():
    torch.manual_seed(0)
    config = SeparatorConfig(StftConfig(sample_rate=8000, n_channels=1, n_fft=256, hop_length=64), ModelConfig(base_channels=8, depth=3))
    model = Separator(config).eval()
    song = torch.randn(1, 16000, generator=torch.Generator().manual_seed(2)) * 0.1
    chunking = ChunkingConfig(segment_seconds=1.0)
    full = model.use_postfilter(PostFilterChoice(precision="float32")).separate(song, 8000, chunking)
    half = model.use_postfilter(PostFilterChoice(precision="bf16")).separate(song, 8000, chunking)
    assert not torch.equal(full, half)  # the U-Net did run in bfloat16
    error = (full - half).pow(2).sum() / full.pow(2).sum()
    assert error < 1e-3  # more than 30 dB below the stems
    torch.testing.assert_close(half.sum(dim=0), song, atol=1e-4, rtol=0)  # masks stay float32: the stems add up


@pytest.mark.usefixtures("one_torch_thread")
def test_training_in_bf16_on_a_cpu_trains_and_records_it(tmp_path):
    result = fit(TrainConfig.from_params({**TINY, "epochs": 1, "mixed_precision": "bf16"}), tmp_path / "run", progress=False)
    assert result.metrics["mixed_precision"] == "bfloat16"
    assert result.separator.unet.head.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(row["train_loss"]) if torch.is_tensor(row["train_loss"]) else row["train_loss"] == row["train_loss"]
               for row in result.history)
