"""Training: parameter checking, the fit loop's files, checkpoints, resume, augmentation, data seeding."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from stemunet.checkpoints import read_training_checkpoint, save_model
from stemunet.config import ConfigError
from stemunet.data.augment import WaveformAugmentation, add_noise, frequency_mask, random_gain, swap_channels, time_mask
from stemunet.data.chunks import FreshSyntheticChunks, RandomChunkDataset, SequentialChunkDataset
from stemunet.data.tracks import list_tracks, resolve_root
from stemunet.separation.loading import load_separator
from stemunet.training.builders import build_data_loaders, build_optimizer, build_scheduler, build_separator, training_example
from stemunet.training.config import TrainConfig
from stemunet.training.fit import fit
from stemunet.training.history import HISTORY_COLUMNS, read_history
from stemunet.training.losses import training_loss

# A seconds-long run: tiny synthetic set (2 training tracks + 1 validation track), tiny model.
TINY = {
    "synthetic_train_tracks": 3,
    "synthetic_test_tracks": 1,
    "synthetic_seconds": 3.0,
    "sample_rate": 8000,
    "n_channels": 1,
    "n_fft": 256,
    "hop_length": 64,
    "base_channels": 4,
    "depth": 2,
    "max_frequency": 0.0,
    "epochs": 2,
    "samples_per_epoch": 8,
    "batch_size": 4,
    "chunk_seconds": 1.0,
    "valid_chunk_seconds": 1.5,
    "learning_rate": 1e-3,
    "device": "cpu",
    "mixed_precision": "off",  # float32 on every host (auto is bf16 on CPUs with it natively: tests/test_precision.py)
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is fastest


@pytest.fixture(scope="module")
def tiny_config() -> TrainConfig:
    return TrainConfig.from_params(TINY)


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C between epochs."""


# ---------------------------------------------------------------- parameters


def test_unknown_parameter_is_rejected_naming_it():
    with pytest.raises(ConfigError, match="epoch"):
        TrainConfig.from_params({**TINY, "epoch": 3})


@pytest.mark.parametrize("name, value", [("epochs", "three"), ("augment_remix", 1), ("learning_rate", "fast"), ("loss", "l3"), ("loss", "wave"), ("block", "tdf")])
def test_wrong_type_is_rejected_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        TrainConfig.from_params({**TINY, name: value})


@pytest.mark.parametrize("name, value", [("device", "gpu"), ("final_learning_rate", 1.0), ("epochs", 0), ("block", "tfc_tdf")])
def test_out_of_range_values_are_rejected_naming_them(name, value):
    with pytest.raises(ConfigError, match=name):
        TrainConfig.from_params({**TINY, name: value})


def test_resume_from_a_missing_folder_stops_before_training(tmp_path, tiny_config):
    with pytest.raises(FileNotFoundError, match="resume_from"):
        fit(tiny_config.replace(resume_from=str(tmp_path / "nowhere")), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "history.csv").exists()


# ---------------------------------------------------------------- schedule and loss


def test_learning_rate_decays_by_cosine_from_initial_to_final(tiny_config):
    separator = build_separator(tiny_config)
    optimizer = build_optimizer(separator, tiny_config)
    scheduler = build_scheduler(optimizer, tiny_config, steps_per_epoch=5)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates.append(optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-5)
    assert rates[5] == pytest.approx((1e-3 + 1e-5) / 2)
    assert all(a > b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("loss", ["l1", "l1_wave", "l1_mag_wave"])
def test_optimisation_lowers_the_loss_on_a_fixed_batch(tiny_config, loss):
    tiny_config = tiny_config.replace(loss=loss)
    torch.manual_seed(0)
    separator = build_separator(tiny_config)
    optimizer = torch.optim.Adam(separator.parameters(), lr=1e-2)
    stems = torch.randn(2, 4, 1, 8000) * torch.tensor([0.3, 0.1, 0.05, 0.02]).view(1, 4, 1, 1)
    mixture = stems.sum(dim=1)
    losses = []
    for _ in range(30):
        loss = training_loss(separator, mixture, stems, tiny_config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_loss_is_zero_for_perfect_masks(tiny_config):
    # A separator whose masks are the true magnitude ratios scores (nearly) 0: the loss compares
    # masked mixture magnitudes with stem magnitudes, as documented.
    separator = build_separator(tiny_config)
    stems = torch.zeros(1, 4, 1, 8000)
    stems[:, 2] = torch.randn(1, 1, 8000)  # only "other" plays: the ideal mask is [0, 0, 1, 0]
    ideal = torch.zeros(1, 4, 1, 129, 126)
    ideal[:, 2] = 1.0
    separator.unet.forward = lambda magnitude: ideal
    assert training_loss(separator, stems.sum(dim=1), stems, tiny_config).item() < 1e-5


def _hand_computed_losses(config: TrainConfig):
    """A separator whose masks are 1/4 everywhere (every estimate is mixture/4, its waveform exactly
    that: ISTFT(STFT(x)) = x), a batch, and each loss's value per stem, computed by hand."""
    torch.manual_seed(0)
    separator = build_separator(config)
    stems = torch.randn(2, 4, 1, 8000) * torch.tensor([0.3, 0.1, 0.05, 0.02]).view(1, 4, 1, 1)
    mixture = stems.sum(dim=1)
    separator.unet.forward = lambda magnitude: torch.full((2, 4, 1, *magnitude.shape[-2:]), 0.25)
    window_norm = torch.hann_window(config.stft.n_fft).square().sum().sqrt()  # 11.1 for 256 bins
    wave = (mixture.unsqueeze(1) / 4 - stems).abs().mean(dim=(0, 2, 3)) * window_norm
    magnitude = (separator.stft(mixture).abs().unsqueeze(1) / 4 - separator.stft(stems).abs()).abs().mean(dim=(0, 2, 3, 4))
    return separator, mixture, stems, {"l1_wave": wave, "l1": magnitude, "l1_mag_wave": magnitude + wave}


def test_waveform_losses_equal_hand_computed_values(tiny_config):
    separator, mixture, stems, per_stem = _hand_computed_losses(tiny_config)
    for loss, expected in per_stem.items():
        value = training_loss(separator, mixture, stems, tiny_config.replace(loss=loss))
        assert value.item() == pytest.approx(expected.mean().item(), rel=1e-4), loss


def test_stem_weights_weigh_each_stems_share_of_every_loss(tiny_config):
    # Weights (0, 1, 0, 0) leave only bass's distances; equal weights of any size give the plain mean.
    separator, mixture, stems, per_stem = _hand_computed_losses(tiny_config)
    for loss, expected in per_stem.items():
        bass_only = training_loss(separator, mixture, stems, tiny_config.replace(loss=loss, stem_weights=(0.0, 1.0, 0.0, 0.0)))
        assert bass_only.item() == pytest.approx(expected[1].item(), rel=1e-4), loss
        doubled = training_loss(separator, mixture, stems, tiny_config.replace(loss=loss, stem_weights=(2.0, 2.0, 2.0, 2.0)))
        assert doubled.item() == pytest.approx(expected.mean().item(), rel=1e-4), loss
        leaning = training_loss(separator, mixture, stems, tiny_config.replace(loss=loss, stem_weights=(1.0, 3.0, 0.0, 0.0)))
        assert leaning.item() == pytest.approx((expected[0] + 3 * expected[1]).item() / 4, rel=1e-4), loss


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (1.0, -1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0), (1.0, float("nan"), 1.0, 1.0)])
def test_stem_weights_must_be_one_number_per_stem_not_all_zero(weights):
    with pytest.raises(ConfigError, match=r"stem_weights must be empty \(equal\) or 4 numbers >= 0"):
        TrainConfig.from_params({**TINY, "stem_weights": list(weights)})


def test_every_loss_has_a_label_naming_its_domain():
    labels = {loss: TrainConfig.from_params({**TINY, "loss": loss}).loss_label for loss in ("l1", "mse", "l1_wave", "l1_mag_wave")}
    assert labels["l1"] == "L1 loss on magnitudes" and "waveforms" in labels["l1_wave"]
    assert "magnitudes" in labels["l1_mag_wave"] and "waveforms" in labels["l1_mag_wave"]


def test_waveform_loss_targets_lose_the_frequency_masked_band_too(tiny_config):
    # Perfect masks give 0 only if the zeroed band is taken out of the target waveforms as well.
    config = tiny_config.replace(loss="l1_mag_wave", augment_frequency_mask=True, frequency_mask_hz=2000.0)
    separator = build_separator(config)
    stems = torch.zeros(2, 4, 1, 8000)
    stems[:, 2] = torch.randn(2, 1, 8000)  # only "other" plays: the ideal mask is [0, 0, 1, 0]
    ideal = torch.zeros(2, 4, 1, 129, 126)
    ideal[:, 2] = 1.0
    separator.unet.forward = lambda magnitude: ideal
    generator = torch.Generator().manual_seed(0)
    assert training_loss(separator, stems.sum(dim=1), stems, config, mask_generator=generator).item() < 1e-5
    # A band really went: with silent estimates the loss is the targets' size, smaller once masked.
    separator.unet.forward = lambda magnitude: torch.zeros_like(ideal)
    wave_only = config.replace(loss="l1_wave")
    masked = training_loss(separator, stems.sum(dim=1), stems, wave_only, mask_generator=torch.Generator().manual_seed(0))
    unmasked = training_loss(separator, stems.sum(dim=1), stems, wave_only)
    assert masked.item() < 0.95 * unmasked.item()


@pytest.mark.parametrize("loss", ["l1", "l1_mag_wave"])
def test_mixed_precision_settings_and_its_loss_path_runs(tiny_config, loss):
    from stemunet.training.config import resolve_mixed_precision

    assert resolve_mixed_precision("bf16", torch.device("cpu")) is torch.bfloat16  # forced; auto: tests/test_precision.py
    assert resolve_mixed_precision("fp16", torch.device("cuda")) is torch.float16
    assert resolve_mixed_precision("off", torch.device("cuda")) is None
    # The autocast path itself (bf16 autocast exists on the CPU too): masks come back as float32
    # for the loss, which stays close to the float32 one.
    tiny_config = tiny_config.replace(loss=loss)
    torch.manual_seed(0)
    separator = build_separator(tiny_config)
    stems = torch.randn(2, 4, 1, 8000) * 0.1
    full = training_loss(separator, stems.sum(dim=1), stems, tiny_config)
    mixed = training_loss(separator, stems.sum(dim=1), stems, tiny_config, amp_dtype=torch.bfloat16)
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(full.item(), rel=0.05)
    mixed.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in separator.parameters())


# ---------------------------------------------------------------- fit, files, checkpoints


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_config):
    run_dir = tmp_path_factory.mktemp("fit")
    return fit(tiny_config, run_dir, progress=False)


def test_fit_writes_history_metrics_and_both_checkpoints(fitted):
    run_dir = fitted.run_dir
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert tuple(rows[0]) == HISTORY_COLUMNS
    assert all(math.isfinite(float(row[key])) for row in rows for key in HISTORY_COLUMNS)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["finished"] and metrics["epochs"] == 2
    assert metrics["best_valid_loss"] == min(float(row["valid_loss"]) for row in rows)
    for name in ("best.pt", "last.pt"):
        separator = load_separator(run_dir / "checkpoints" / name, "cpu")
        assert separator.config == fitted.separator.config


def test_last_checkpoint_round_trips_weights_and_training_state(fitted, tiny_config):
    checkpoint = read_training_checkpoint(fitted.last_checkpoint)
    assert checkpoint["epoch"] == 2
    assert checkpoint["train_config"] == tiny_config.to_params()
    assert [row["epoch"] for row in checkpoint["history"]] == [1, 2]
    loaded = load_separator(fitted.last_checkpoint, "cpu")
    for name, value in fitted.separator.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value.cpu(), msg=name)
    # The optimiser state fits a fresh optimiser and holds Adam's moments for every parameter.
    optimizer = build_optimizer(loaded, tiny_config)
    optimizer.load_state_dict(checkpoint["optimizer_state"])
    n_parameters = len(list(loaded.parameters()))
    assert len(optimizer.state) == n_parameters
    steps = {int(state["step"]) for state in optimizer.state.values()}
    assert steps == {checkpoint["global_step"]} == {2 * tiny_config.steps_per_epoch}
    assert checkpoint["scheduler_state"]["last_epoch"] == checkpoint["global_step"]


def test_a_bare_model_checkpoint_cannot_be_resumed(tmp_path, fitted):
    bare = tmp_path / "bare.pt"
    save_model(fitted.separator, bare)
    with pytest.raises(ValueError, match="no training state"):
        read_training_checkpoint(bare)


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tmp_path, tiny_config):
    config = tiny_config.replace(epochs=3)
    uninterrupted = fit(config, tmp_path / "whole", progress=False)

    def crash_after_first_epoch(record):
        if record["epoch"] == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        fit(config, tmp_path / "interrupted", progress=False, epoch_callback=crash_after_first_epoch)
    assert [row["epoch"] for row in read_history(tmp_path / "interrupted" / "history.csv")] == [1]

    resumed = fit(config.replace(resume_from=str(tmp_path / "interrupted")), tmp_path / "resumed", progress=False)
    history = read_history(tmp_path / "resumed" / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2, 3]
    # Same chunks, same masks, same optimiser state: the losses match the uninterrupted run's.
    for a, b in zip(history, uninterrupted.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-4)
        assert a["learning_rate"] == pytest.approx(b["learning_rate"])
    assert resumed.metrics["epochs"] == 3 and resumed.metrics["resumed_from"].endswith("last.pt")
    assert read_training_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["epoch"] == 3
    assert (tmp_path / "resumed" / "checkpoints" / "best.pt").is_file()


def test_resume_refuses_a_checkpoint_of_another_model(fitted, tiny_config, tmp_path):
    config = tiny_config.replace(base_channels=6, resume_from=str(fitted.run_dir))
    with pytest.raises(ConfigError, match="base_channels"):
        fit(config, tmp_path / "run", progress=False)


def test_init_from_starts_a_new_run_from_a_trained_models_weights(fitted, tiny_config, tmp_path):
    # A learning rate of ~0: the fine-tuned weights stay the ones it started from, not random ones.
    config = tiny_config.replace(epochs=1, learning_rate=1e-12, final_learning_rate=1e-12, seed=1,
                                 init_from=str(fitted.run_dir))
    tuned = fit(config, tmp_path / "tuned", progress=False)
    started = load_separator(fitted.run_dir / "checkpoints" / "best.pt", device="cpu")
    scratch = build_separator(config)
    for name, value in started.unet.named_parameters():
        torch.testing.assert_close(dict(tuned.separator.unet.named_parameters())[name], value)
    assert any(not torch.allclose(dict(scratch.unet.named_parameters())[name], value)
               for name, value in started.unet.named_parameters())
    assert tuned.metrics["initialised_from"] == str(fitted.run_dir / "checkpoints" / "best.pt")
    # The model it began from travels with it: in metrics.json and in both checkpoints.
    began = read_training_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.pt")["initial_model"]
    assert began["file"] == tuned.metrics["initialised_from"] and began["training_summary"]["epochs"] == 2
    assert torch.load(tmp_path / "tuned" / "checkpoints" / "best.pt", weights_only=True)["initial_model"] == began
    assert json.loads((tmp_path / "tuned" / "metrics.json").read_text())["initial_model"] == began
    # Its own schedule and history: one epoch, not a continuation of the fitted run's two.
    assert [row["epoch"] for row in tuned.history] == [1]


def test_init_from_accepts_another_post_filter_and_refuses_another_model(fitted, tiny_config, tmp_path):
    checkpoint = torch.load(fitted.run_dir / "checkpoints" / "best.pt", weights_only=True)
    checkpoint["separator_config"]["mask_power"] = 0.5  # a bundled model's own post-filter
    torch.save(checkpoint, tmp_path / "filtered.pt")
    fit(tiny_config.replace(epochs=1, init_from=str(tmp_path / "filtered.pt")), tmp_path / "tuned", progress=False)
    with pytest.raises(ConfigError, match="init_from .*base_channels: checkpoint 4, now 6"):
        fit(tiny_config.replace(base_channels=6, init_from=str(fitted.run_dir)), tmp_path / "other", progress=False)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        fit(tiny_config.replace(init_from=str(tmp_path / "nowhere")), tmp_path / "missing", progress=False)
    assert not (tmp_path / "other" / "history.csv").exists() and not (tmp_path / "missing" / "history.csv").exists()


# ---------------------------------------------------------------- augmentations


def test_random_gain_scales_each_stem_within_the_range():
    stems = torch.ones(4, 2, 100)
    out = random_gain(stems, np.random.default_rng(0), max_db=3.0)
    gains_db = 20 * torch.log10(out[:, 0, 0])
    assert (gains_db.abs() <= 3.0 + 1e-6).all()
    assert len(set(gains_db.tolist())) == 4  # one gain per stem
    torch.testing.assert_close(out, out[:, :1, :1].expand_as(out))  # constant over time and channels


def test_channel_swap_flips_whole_stems_and_leaves_mono_alone():
    stems = torch.stack([torch.stack([torch.full((10,), 2.0 * i), torch.full((10,), 2.0 * i + 1)]) for i in range(64)])
    out = swap_channels(stems, np.random.default_rng(0))
    swapped = [bool((out[i] == stems[i].flip(0)).all()) for i in range(64)]
    kept = [bool((out[i] == stems[i]).all()) for i in range(64)]
    assert all(s or k for s, k in zip(swapped, kept))
    assert 10 < sum(swapped) < 54
    mono = torch.randn(4, 1, 10)
    assert torch.equal(swap_channels(mono, np.random.default_rng(0)), mono)


def test_time_mask_silences_one_span_in_every_stem():
    stems = torch.ones(4, 2, 1000)
    for seed in range(10):
        out = time_mask(stems, np.random.default_rng(seed), max_samples=200)
        silent = (out == 0).all(dim=0).all(dim=0)
        assert ((out == 0) | (out == 1)).all()
        assert torch.equal(out == 0, silent.expand_as(out))  # the same samples in all stems and channels
        indices = torch.nonzero(silent).flatten()
        assert len(indices) <= 200
        if len(indices):
            assert indices[-1] - indices[0] + 1 == len(indices)  # one contiguous span


def test_noise_is_added_at_an_snr_in_the_asked_range():
    mixture = torch.randn(2, 48000) * 0.1
    for seed in range(5):
        noisy = add_noise(mixture, np.random.default_rng(seed), min_snr_db=20.0)
        noise = noisy - mixture
        snr = 10 * math.log10(mixture.pow(2).mean() / noise.pow(2).mean())
        assert 19.5 < snr < 40.5
    assert torch.equal(add_noise(torch.zeros(2, 100), np.random.default_rng(0), 20.0), torch.zeros(2, 100))


def test_frequency_mask_zeros_the_same_band_in_mixture_and_targets():
    mixture = torch.ones(8, 2, 100, 5)
    targets = torch.ones(8, 4, 2, 100, 5)
    masked_mixture, masked_targets = frequency_mask(mixture, targets, torch.Generator().manual_seed(0), max_bins=20)
    for example in range(8):
        zero_bins = (masked_mixture[example] == 0).all(dim=0).all(dim=-1)
        assert torch.equal(masked_mixture[example] == 0, zero_bins.view(1, 100, 1).expand(2, 100, 5))
        assert torch.equal(masked_targets[example] == 0, zero_bins.view(1, 1, 100, 1).expand(4, 2, 100, 5))
        band = torch.nonzero(zero_bins).flatten()
        assert len(band) <= 20
        if len(band):
            assert band[-1] - band[0] + 1 == len(band)
    assert (mixture == 1).all()  # inputs untouched


@pytest.fixture(scope="module")
def tiny_tracks(tiny_config):
    return list_tracks(resolve_root(tiny_config.data, progress=False), "train", "train")


def test_remix_draws_each_stem_from_its_own_track(tiny_tracks):
    def origins(augmentation):
        dataset = RandomChunkDataset(tiny_tracks, 0.5, 8000, 1, 32, cache=True, augmentation=augmentation)
        drawn = []
        read_chunk = dataset.read_chunk

        def recording_read_chunk(source, rng, stem_indices=None, length=None):
            drawn[-1].append(source.track.name)
            return read_chunk(source, rng, stem_indices, length)

        dataset.read_chunk = recording_read_chunk
        for index in range(len(dataset)):
            drawn.append([])
            mixture, stems = dataset[index]
            assert stems.shape == (4, 1, 4000)
            torch.testing.assert_close(mixture, stems.sum(dim=0))
        return drawn

    plain = origins(WaveformAugmentation())
    assert all(len(item) == 1 for item in plain)  # one track per chunk
    remixed = origins(WaveformAugmentation(remix=True))
    assert all(len(item) == 4 for item in remixed)  # one draw per stem
    assert any(len(set(item)) > 1 for item in remixed)


def test_training_chunks_are_reproducible_and_differ_between_epochs(tiny_config):
    config = tiny_config.replace(augment_time_mask=True, augment_noise=True)
    first = build_data_loaders(config, progress=False)
    second = build_data_loaders(config, progress=False)
    first.set_epoch(1)
    second.set_epoch(1)
    batch_a = next(iter(first.train))
    batch_b = next(iter(second.train))
    assert torch.equal(batch_a[0], batch_b[0]) and torch.equal(batch_a[1], batch_b[1])
    second.set_epoch(2)
    assert not torch.equal(next(iter(second.train))[0], batch_a[0])


def test_training_example_names_the_mixture_and_four_audible_stems(tiny_config):
    loaders = build_data_loaders(tiny_config, progress=False)
    example = training_example(loaders.train_set, 0)
    assert list(example) == ["mixture", "drums", "bass", "other", "vocals"]
    assert all(value.shape == (1, 8000) for value in example.values())
    assert all(value.pow(2).mean().sqrt() > 1e-3 for value in example.values())  # nothing silent to show


def test_cached_and_file_reading_paths_draw_the_same_chunks(tiny_tracks):
    # At the files' own rate (no resampling) the two paths differ only by 16-bit rounding.
    augmentation = WaveformAugmentation(remix=True, gain_db=3.0, channel_swap=True)
    cached, read = (
        RandomChunkDataset(tiny_tracks, 0.25, 44100, 2, 4, seed=3, cache=cache, augmentation=augmentation)
        for cache in (True, False)
    )
    for item in [(0, 0), (1, 3), (7, 2)]:
        torch.testing.assert_close(cached[item][1], read[item][1], atol=1.5 / 32767, rtol=0)


def test_validation_chunks_cover_every_sample_of_every_track(tiny_tracks):
    dataset = SequentialChunkDataset(tiny_tracks, chunk_seconds=1.25, sample_rate=8000, n_channels=1, cache=True)
    per_track = {}
    for number, start in dataset.items:
        per_track.setdefault(number, []).append(start)
    for number, starts in per_track.items():
        length = dataset.model_length(dataset.sources[number])
        covered = np.zeros(length, dtype=bool)
        for start in starts:
            covered[start : start + dataset.chunk_samples] = True
            assert start + dataset.chunk_samples <= length
        assert covered.all()


def test_a_folder_without_validation_tracks_is_refused_saying_how_to_give_some(real_musdb_root, tiny_config):
    config = tiny_config.replace(musdb_root=str(real_musdb_root), cache_audio=False)
    with pytest.raises(FileNotFoundError, match=r"no validation tracks .*dataset: folders.*valid_root"):
        build_data_loaders(config, progress=False)


# ---------------------------------------------------------------- fresh synthetic songs


def test_fresh_synthetic_examples_are_new_songs_reproducible_from_the_seed(tiny_config):
    config = tiny_config.replace(fresh_synthetic=True, augment_channel_swap=False)
    loaders = build_data_loaders(config, progress=False)
    dataset = loaders.train_set
    assert isinstance(dataset, FreshSyntheticChunks) and len(dataset) == config.samples_per_epoch
    assert loaders.train_tracks == ["8 new songs of 1 s per epoch"]
    assert loaders.valid_tracks  # validation still reads the folder's validation songs
    mixture, stems = dataset[(0, 0)]
    assert mixture.shape == (1, 8000) and stems.shape == (4, 1, 8000)
    torch.testing.assert_close(mixture, stems.sum(dim=0))  # no noise augmentation: the exact sum
    again_mixture, again_stems = dataset[(0, 0)]
    torch.testing.assert_close(again_stems, stems, rtol=0, atol=0)
    other_song = dataset[(0, 1)][1]
    next_epoch = dataset[(1, 0)][1]
    assert not torch.equal(other_song, stems) and not torch.equal(next_epoch, stems)
    # Not a chunk of a folder song: no folder song (train/ holds 3 songs of 3 s) contains it.
    folder = RandomChunkDataset(list_tracks(resolve_root(config.data, progress=False), "train"), 1.0, 8000, 1, 1)
    assert all(not torch.equal(stems, folder[(0, index)][1]) for index in range(4))


def test_a_run_on_fresh_songs_trains_and_records_it(tmp_path, tiny_config):
    result = fit(tiny_config.replace(fresh_synthetic=True, epochs=1), tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["finished"] and metrics["train_tracks"] == ["8 new songs of 1 s per epoch"]
    assert math.isfinite(result.history_frame()["train_loss"].iloc[-1])


def test_fresh_synthetic_needs_the_synthetic_set(tmp_path):
    with pytest.raises(ConfigError, match="fresh_synthetic"):
        TrainConfig.from_params({**TINY, "fresh_synthetic": True, "musdb_root": str(tmp_path)})


# ---------------------------------------------------------------- issue 20: the training command's failures


def train_cli(*args: str) -> int:
    from stemunet.train import main

    return main([*(part for name, value in TINY.items() for part in ("-p", name, str(value))), "-p", "cpu_threads", "1", *args])


def test_a_folder_holding_a_run_is_never_written_over(tmp_path, capsys):
    finished = tmp_path / "finished"
    (finished / "checkpoints").mkdir(parents=True)
    for name in ("parameters.yaml", "metrics.json", "checkpoints/best.pt", "checkpoints/last.pt"):
        (finished / name).write_text(f"the finished run's {name}")
    (tmp_path / "a-file").write_text("not a folder")
    for run_dir, message in ((finished, "holds a run already"), (tmp_path / "a-file", "is a file, not a folder")):
        assert train_cli("--run-dir", str(run_dir)) == 2
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1 and message in error, error
    assert all((finished / name).read_text() == f"the finished run's {name}" for name in ("parameters.yaml", "metrics.json", "checkpoints/best.pt"))


def test_a_run_that_cannot_start_is_one_line_and_leaves_no_run_folder(tmp_path, capsys, monkeypatch, fitted):
    runs = tmp_path / "runs"
    monkeypatch.setenv("STEMUNET_RUNS", str(runs))
    other_count = tmp_path / "two-process-run" / "checkpoints" / "last.pt"
    other_count.parent.mkdir(parents=True)
    torch.save({**read_training_checkpoint(fitted.last_checkpoint), "world_size": 2}, other_count)
    (tmp_path / "empty-musdb").mkdir()
    for parameters, message in [
        (["-p", "resume_from", str(tmp_path / "nowhere")], "nowhere"),
        (["-p", "resume_from", str(other_count.parent.parent)], "it was trained by 2 process(es), this run has 1"),
        (["-p", "musdb_root", str(tmp_path / "empty-musdb")], "empty-musdb"),
    ]:
        assert train_cli(*parameters) == 2
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1 and message in error, error
        assert not runs.exists() or not list(runs.iterdir()), list(runs.iterdir())


def test_training_refuses_a_track_whose_stems_differ_in_length_as_evaluation_does(tmp_path, tiny_tracks):
    import shutil

    import soundfile as sf

    from stemunet.data.tracks import TrackError, read_track_excerpt, track_folder

    folder = tmp_path / "train" / "short bass"
    shutil.copytree(track_folder(tiny_tracks[0]), folder)
    bass, rate = sf.read(folder / "bass.wav")
    sf.write(folder / "bass.wav", bass[: len(bass) // 3], rate)
    track = list_tracks(tmp_path, "train", "train")[0]
    with pytest.raises(TrackError, match="differ in length"):
        read_track_excerpt(track)  # evaluation
    with pytest.raises(TrackError, match="short bass.*differ in length"):
        RandomChunkDataset([track], 0.5, 8000, 1, 4)  # training
