"""The post-filter (stemunet.separation.postfilter) and the full band: Open-Unmix's Wiener filter, mask power,
the band above the model shared among the stems, and stems that add up to the mixture."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.checkpoints import save_model
from stemunet.config import ChunkingConfig, ModelConfig, PostFilterChoice, PostFilterConfig, SeparatorConfig, StftConfig
from stemunet.separation.loading import load_separator
from stemunet.separation.postfilter import band_shares, shape_masks, share_residual, wiener
from stemunet.separation.separator import Separator

TINY_MONO = SeparatorConfig(StftConfig(sample_rate=16000, n_channels=1, n_fft=256, hop_length=64), ModelConfig(base_channels=4, depth=2))
TINY_STEREO_BAND = SeparatorConfig(
    StftConfig(sample_rate=22050, n_channels=2, n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2, max_frequency=6000.0)
)
CHUNKING = ChunkingConfig(segment_seconds=0.5, overlap=0.25, batch_segments=2)


def _complex(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=generator), torch.randn(*shape, generator=generator)).to(torch.complex128)


def _softmax_masks(batch: int, channels: int, bins: int, frames: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(batch, 4, channels, bins, frames, generator=generator, dtype=torch.float64), dim=1)


def _band_energy(audio: np.ndarray, rate: int, above_hz: float) -> float:
    """Energy of ``(..., n)`` audio above ``above_hz``."""
    spectrum = np.fft.rfft(audio, axis=-1)
    return float((np.abs(spectrum[..., np.fft.rfftfreq(audio.shape[-1], 1 / rate) > above_hz]) ** 2).sum())


def _broadband(n_channels: int, seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """``(n_channels, n)``: noise and a chirp up to 20 kHz, so every band up to 20 kHz holds energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    chirp = 0.2 * np.sin(2 * np.pi * (100 * t + (20000 - 100) / (2 * seconds) * t**2))
    return (0.1 * rng.normal(size=(n_channels, t.size)) + chirp).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("iterations", [1, 2])
def test_wiener_gives_open_unmix_numbers(channels, iterations):
    from openunmix.filtering import wiener as umx_wiener

    mixture = _complex(2, channels, 33, 50)
    masks = _softmax_masks(2, channels, 33, 50)
    ours = wiener(masks * mixture.unsqueeze(1), mixture, iterations)
    for item in range(2):
        # Open-Unmix: (frames, bins, channels, sources) magnitudes and a (frames, bins, channels, 2) mixture.
        magnitudes = (masks[item] * mixture[item].abs().unsqueeze(0)).permute(3, 2, 1, 0)
        theirs = umx_wiener(magnitudes, torch.view_as_real(mixture[item].permute(2, 1, 0)), iterations)
        theirs = torch.view_as_complex(theirs.permute(0, 1, 2, 4, 3).contiguous()).permute(3, 2, 1, 0)
        torch.testing.assert_close(ours[item], theirs, rtol=1e-5, atol=1e-7)  # 2x2 inverse: closed form vs solve
    assert not torch.allclose(ours, masks * mixture.unsqueeze(1))  # the filter did something


def test_zero_wiener_iterations_leave_the_estimates_alone():
    stems = _complex(1, 4, 2, 9, 7)
    assert wiener(stems, stems.sum(dim=1), 0) is stems


def test_mask_power_renormalises_and_one_keeps_softmax_masks_exactly():
    masks = _softmax_masks(1, 2, 17, 11).float()
    assert shape_masks(masks, 1.0, already_shares=True) is masks
    for power in (0.5, 2.0):
        shaped = shape_masks(masks, power, already_shares=True)
        torch.testing.assert_close(shaped.sum(dim=1), torch.ones_like(shaped[:, 0]))
    # Sharper above 1, softer below: the largest share of each bin grows or shrinks.
    assert (shape_masks(masks, 2.0).amax(dim=1) >= masks.amax(dim=1) - 1e-6).all()
    assert (shape_masks(masks, 0.5).amax(dim=1) <= masks.amax(dim=1) + 1e-6).all()
    # Sigmoid masks (not shares) are renormalised, so the stems still add up; all-zero ones split evenly.
    sigmoid = torch.rand(1, 4, 2, 5, 3)
    sigmoid[..., 0, 0] = 0
    shaped = shape_masks(sigmoid, 1.0, already_shares=False)
    torch.testing.assert_close(shaped.sum(dim=1), torch.ones_like(shaped[:, 0]))
    torch.testing.assert_close(shaped[0, :, 0, 0, 0], torch.full((4,), 0.25))


def test_band_shares_follow_the_stem_that_owns_the_top_band():
    bins, frames = 65, 40
    masks = torch.full((1, 4, 1, bins, frames), 0.25)
    masks[..., 48:, :20] = torch.tensor([1.0, 0, 0, 0]).reshape(1, 4, 1, 1, 1)  # drums own the top band first
    masks[..., 48:, 20:] = torch.tensor([0, 0, 0, 1.0]).reshape(1, 4, 1, 1, 1)  # then vocals
    power = torch.ones(1, 1, bins, frames)
    shares = band_shares(masks, power, top_bin=bins, bin_hz=100.0, frames_per_second=10.0)
    assert shares.shape == (1, 4, 1, frames)
    torch.testing.assert_close(shares.sum(dim=1), torch.ones(1, 1, frames))
    assert shares[0, 0, 0, :15].min() > 0.8 and shares[0, 3, 0, 25:].min() > 0.8
    silent = band_shares(masks, torch.zeros(1, 1, bins, frames), top_bin=bins, bin_hz=100.0, frames_per_second=10.0)
    torch.testing.assert_close(silent, torch.full_like(silent, 0.25))


def test_shared_residual_makes_any_stems_add_up():
    stems, mixture = torch.randn(4, 2, 1000), torch.randn(2, 1000)
    weights = torch.rand(4, 2, 1000)
    weights[:, :, :10] = 0  # no weight at all: an even split
    fixed = share_residual(stems, mixture, weights)
    torch.testing.assert_close(fixed.sum(dim=0), mixture, atol=1e-5, rtol=0)
    torch.testing.assert_close(fixed[:, :, :10] - stems[:, :, :10], ((mixture - stems.sum(0)) / 4)[None, :, :10].expand(4, -1, -1))


@pytest.mark.parametrize("postfilter", [PostFilterChoice(), PostFilterChoice(wiener_iterations=1, mask_power=0.75)])
@pytest.mark.parametrize("config", [TINY_MONO, TINY_STEREO_BAND])
def test_stems_keep_the_whole_band_and_add_up_to_the_mixture(config, postfilter):
    """A 44.1 kHz input with energy up to 20 kHz, through models at 16 and 22.05 kHz (one with a
    6 kHz max_frequency): the stems add up to it, the band above the model's included."""
    torch.manual_seed(0)
    separator = Separator(config).eval().use_postfilter(postfilter)
    mixture = _broadband(2, 1.5, 44100)
    stems = separator.separate(mixture, 44100, CHUNKING).numpy()
    assert stems.shape == (4, 2, mixture.shape[1])
    error = ((stems.sum(axis=0) - mixture) ** 2).sum() / (mixture**2).sum()
    assert 10 * np.log10(error) < -80
    top = config.stft.sample_rate / 2
    kept = _band_energy(stems.sum(axis=0), 44100, top) / _band_energy(mixture, 44100, top)
    assert kept == pytest.approx(1.0, abs=1e-3)
    # The band is shared, not handed to one stem.
    assert sum(_band_energy(stem, 44100, top) > 1e-3 * _band_energy(mixture, 44100, top) for stem in stems) >= 2


def test_bins_above_max_frequency_take_the_shares_of_the_band_below():
    """Before, they were split evenly (1/4 each); now they go where the top modelled band goes."""
    torch.manual_seed(0)
    separator = Separator(TINY_STEREO_BAND).eval()
    mixture = _broadband(2, 1.0, 22050)
    stems = separator.separate(mixture, 22050, CHUNKING).numpy()
    high = np.array([_band_energy(stem, 22050, 7000) for stem in stems])
    assert abs(stems.sum(axis=0) - mixture).max() < 1e-4
    assert high.max() / high.min() > 1.5  # not an even split


def test_streamed_and_in_memory_separation_agree_with_the_post_filter():
    torch.manual_seed(0)
    separator = Separator(TINY_STEREO_BAND).eval().use_postfilter(PostFilterChoice(wiener_iterations=1, mask_power=2.0))
    audio = _broadband(2, 1.3, 44100)
    whole = separator.separate(audio, 44100, CHUNKING)
    blocks = [audio[:, i : i + 3001] for i in range(0, audio.shape[1], 3001)]
    streamed = torch.cat(list(separator.separate_stream(blocks, audio.shape[1], 44100, 2, CHUNKING)), dim=-1)
    torch.testing.assert_close(streamed, whole, atol=1e-5, rtol=0)


def test_a_checkpoint_carries_its_post_filter_and_a_run_may_override_it(tmp_path):
    separator = Separator(TINY_MONO).eval().use_postfilter(PostFilterChoice(wiener_iterations=2, mask_power=0.75))
    path = save_model(separator, tmp_path / "model.pt")
    assert load_separator(path, "cpu").config.postfilter == PostFilterConfig(wiener_iterations=2, mask_power=0.75)
    chosen = load_separator(path, "cpu", PostFilterChoice(wiener_iterations=0))
    assert chosen.config.postfilter == PostFilterConfig(wiener_iterations=0, mask_power=0.75)
    # -1 always means the checkpoint's own, whatever an earlier run chose.
    assert chosen.use_postfilter(PostFilterChoice()).config.postfilter == PostFilterConfig(wiener_iterations=2, mask_power=0.75)


def test_post_filter_settings_out_of_range_are_refused():
    from stemunet.config import ConfigError

    with pytest.raises(ConfigError, match="wiener_iterations"):
        PostFilterChoice(wiener_iterations=-2)
    with pytest.raises(ConfigError, match="mask_power"):
        PostFilterChoice(mask_power=0.0)
    with pytest.raises(ConfigError, match="mask_power"):
        PostFilterConfig(mask_power=-1.0)


def test_cli_keeps_the_band_above_11_5_khz_of_a_real_song_and_its_stems_add_up(tmp_path, example_stem_path, capsys):
    """The CLI's defaults (the bundled 22.05 kHz model, 16-bit output) on real MUSDB18 audio at 44.1 kHz."""
    import stempeg

    from stemunet.separate import main

    audio, rate = stempeg.read_stems(str(example_stem_path), dtype=np.float32)
    mixture = audio[0].T  # (2, n)
    sf.write(tmp_path / "song.wav", mixture.T, rate, subtype="FLOAT")
    assert main([str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "-q"]) == 0
    stems = np.stack([sf.read(tmp_path / "out" / "song" / f"{stem}.wav", dtype="float32")[0].T for stem in ("drums", "bass", "other", "vocals")])
    total = stems.sum(axis=0)
    assert _band_energy(total, rate, 11500) >= 0.8 * _band_energy(mixture, rate, 11500)
    assert 10 * np.log10(((total - mixture) ** 2).sum() / (mixture**2).sum()) < -30
    printed = capsys.readouterr().err
    assert "x real time" in printed and "post-filter: 0 Wiener iteration(s)" in printed

    assert main([str(tmp_path / "song.wav"), "-o", str(tmp_path / "wiener"), "-q", "--wiener-iterations", "1", "--mask-power", "0.75"]) == 0
    assert "post-filter: 1 Wiener iteration(s), mask power 0.75" in capsys.readouterr().err
    filtered = np.stack([sf.read(tmp_path / "wiener" / "song" / f"{stem}.wav", dtype="float32")[0].T for stem in ("drums", "bass", "other", "vocals")])
    assert np.abs(filtered - stems).max() > 1e-3  # the options changed the stems
    assert 10 * np.log10(((filtered.sum(axis=0) - mixture) ** 2).sum() / (mixture**2).sum()) < -30


def test_postfilter_ablation_scores_each_setting_on_the_real_excerpt(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    torch.manual_seed(0)
    checkpoint = save_model(Separator(TINY_MONO).eval(), tmp_path / "tiny.pt")
    command = [sys.executable, "benchmarks/postfilter_ablation.py", str(checkpoint), "--data", "excerpt",
               "--wiener", "0", "1", "--power", "1", "2", "--device", "cpu"]  # fmt: skip
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("|")[1].strip(): [float(v) for v in line.split("|")[2:-1]] for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line and "setting" not in line}
    assert set(rows) == {"MIX", "wiener 0, power 1", "wiener 0, power 2", "wiener 1, power 1", "wiener 1, power 2"}
    assert len(rows["MIX"]) == 6 and rows["wiener 0, power 1"] != rows["wiener 1, power 2"]


def test_the_bundled_models_post_filter_can_be_set_without_touching_its_weights(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from stemunet.checkpoints import CheckpointRef, read_checkpoint

    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "model.pt"
    command = [sys.executable, "scripts/bundle_pretrained.py", "pretrained", "--mask-power", "0.6", "--wiener-iterations", "1", "--output", str(target)]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    bundled, rewritten = read_checkpoint(CheckpointRef.resolve("pretrained").file), read_checkpoint(target)
    assert load_separator(target, "cpu").config.postfilter == PostFilterConfig(wiener_iterations=1, mask_power=0.6)
    assert all(torch.equal(bundled["state_dict"][k], rewritten["state_dict"][k]) for k in bundled["state_dict"])
    assert rewritten["training_summary"] == bundled["training_summary"]
