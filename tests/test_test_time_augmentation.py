"""Test-time augmentation at separation: the shift trick, channel swap, polarity flip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stemunet.config import ChunkingConfig, ModelConfig, PostFilterChoice, PostFilterConfig, SeparatorConfig, StftConfig
from stemunet.separation.separator import Separator, with_test_time_augmentation

STEREO = SeparatorConfig(StftConfig(sample_rate=8000, n_channels=2, n_fft=256, hop_length=64), ModelConfig(base_channels=4, depth=2))
CHUNKING = ChunkingConfig(segment_seconds=1.0, overlap=0.25, batch_segments=2)


def separator(choice: PostFilterChoice = PostFilterChoice(), config: SeparatorConfig = STEREO) -> Separator:
    torch.manual_seed(0)
    model = Separator(config).eval()
    with torch.no_grad():  # a trained model's running statistics, not the identity of a fresh one
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(0, 0.5)
                module.running_var.uniform_(0.5, 2)
    return model.use_postfilter(choice)


@pytest.fixture(scope="module")
def song() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    left = torch.randn(1, 20000, generator=generator) * 0.1
    return torch.cat([left, 0.3 * left + 0.05 * torch.randn(1, 20000, generator=generator)])  # unequal channels


def test_without_augmentation_the_separation_is_bit_identical_to_before(song):
    plain = separator().separate(song, 8000, CHUNKING)
    explicit = separator(PostFilterChoice(shifts=0, flip_channels=0, flip_sign=0)).separate(song, 8000, CHUNKING)
    assert torch.equal(plain, explicit)
    once = lambda segments: segments  # noqa: E731
    assert with_test_time_augmentation(once, PostFilterConfig(), 8000, n_stems=4) is once


def test_channel_swap_averages_the_separation_of_the_swapped_input_swapped_back(song):
    plain = separator().separate(song, 8000, CHUNKING)
    swapped = separator().separate(song.flip(0), 8000, CHUNKING).flip(1)
    averaged = separator(PostFilterChoice(flip_channels=1)).separate(song, 8000, CHUNKING)
    assert not torch.allclose(plain, swapped, atol=1e-4)  # a stereo model hears the swap
    torch.testing.assert_close(averaged, (plain + swapped) / 2, atol=1e-5, rtol=0)


def test_polarity_flip_gives_a_magnitude_mask_model_back_its_own_separation(song):
    plain = separator().separate(song, 8000, CHUNKING)
    flipped = separator(PostFilterChoice(flip_sign=1)).separate(song, 8000, CHUNKING)
    torch.testing.assert_close(flipped, plain, atol=1e-6, rtol=0)  # |STFT(-x)| = |STFT(x)|: the masks cannot tell


def test_shifts_change_the_frames_keep_the_sum_and_repeat_exactly(song):
    plain = separator().separate(song, 8000, CHUNKING)
    shifted = separator(PostFilterChoice(shifts=3)).separate(song, 8000, CHUNKING)
    again = separator(PostFilterChoice(shifts=3)).separate(song, 8000, CHUNKING)
    assert shifted.shape == plain.shape and torch.equal(shifted, again)
    assert (shifted - plain).abs().max() > 1e-4
    torch.testing.assert_close(shifted.sum(dim=0), song, atol=1e-4, rtol=0)  # the stems still add up to the input


def test_a_model_carries_its_own_augmentation_and_a_run_overrides_it():
    own = PostFilterConfig(shifts=2, flip_channels=True)
    assert PostFilterChoice().applied_to(own) == own
    assert PostFilterChoice(shifts=0, flip_channels=0).applied_to(own).n_variants == 1
    assert PostFilterChoice(flip_sign=1).applied_to(own).n_variants == 8
    with pytest.raises(ValueError, match="shifts"):
        PostFilterChoice(shifts=99)
    with pytest.raises(ValueError, match="flip_sign"):
        PostFilterChoice(flip_sign=2)


def test_the_command_line_takes_the_augmentation_flags():
    from stemunet.separate import _parser

    args = _parser().parse_args(["song.wav", "-o", "out", "--shifts", "2", "--flip-channels", "1", "--flip-sign", "0"])
    assert (args.shifts, args.flip_channels, args.flip_sign) == (2, 1, 0)
    assert np.all(np.array([args.wiener_iterations, args.mask_power]) == -1)


def test_one_shift_is_one_shifted_pass_as_in_demucs(song):
    plain = separator().separate(song, 8000, CHUNKING)
    one = separator(PostFilterChoice(shifts=1)).separate(song, 8000, CHUNKING)
    assert PostFilterConfig(shifts=1).augments and PostFilterConfig(shifts=1).n_variants == 1
    assert (one - plain).abs().max() > 1e-5  # delayed, so not the plain separation
    torch.testing.assert_close(one.sum(dim=0), song, atol=1e-4, rtol=0)
