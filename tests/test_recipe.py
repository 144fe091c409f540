"""The training recipe's modern pieces: gradient accumulation, the weights' moving average (EMA),
validation by global SDR and SDR-selected checkpoints, and polarity-flip augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_training import TINY

from stemunet.checkpoints import read_checkpoint, read_training_checkpoint
from stemunet.data.augment import WaveformAugmentation, apply_waveform_augmentation, flip_signs
from stemunet.separation.loading import load_separator
from stemunet.training.builders import build_data_loaders, build_separator, seed_everything
from stemunet.training.config import TrainConfig
from stemunet.training.ema import WeightAverage
from stemunet.training.fit import fit
from stemunet.training.history import read_history
from stemunet.training.loop import train_one_epoch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def weights(path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def one_epoch_of_sgd(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The weights after one epoch of :func:`train_one_epoch` with plain SGD at learning rate 1, so
    they differ from the start by exactly the (accumulated, clipped) gradients: Adam's first step
    is about lr * sign(g), which rounding can flip for a gradient near 0."""
    seed_everything(config.seed)
    separator = build_separator(config)
    loaders = build_data_loaders(config, progress=False)
    loaders.set_epoch(1)
    optimizer = torch.optim.SGD(separator.parameters(), lr=1.0)
    train_one_epoch(separator, loaders.train, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
                    config, epoch=1, progress=False)
    return {name: value.detach().clone() for name, value in separator.state_dict().items()}


def test_accumulating_k_batches_steps_as_one_batch_k_times_as_large(monkeypatch):
    # BatchNorm normalises by each batch's statistics, which a split batch cannot share: hold it in
    # eval mode (running statistics) so that only the accumulation is compared.
    monkeypatch.setattr(torch.nn.modules.batchnorm._BatchNorm, "train", lambda self, mode=True: torch.nn.Module.train(self, False))
    base = {**TINY, "samples_per_epoch": 8}
    whole = one_epoch_of_sgd(TrainConfig.from_params({**base, "batch_size": 8}))
    split = one_epoch_of_sgd(TrainConfig.from_params({**base, "batch_size": 2, "accumulate_steps": 4}))
    plain = one_epoch_of_sgd(TrainConfig.from_params({**base, "batch_size": 2}))
    for name in whole:
        torch.testing.assert_close(split[name].float(), whole[name].float(), atol=1e-6, rtol=0)
    assert any(not torch.allclose(plain[name].float(), whole[name].float(), atol=1e-4) for name in whole), "4 steps of 2 must differ from 1 of 8"


def test_a_run_counts_optimiser_steps_when_it_accumulates(tmp_path):
    split = fit(TrainConfig.from_params({**TINY, "epochs": 1, "samples_per_epoch": 8, "batch_size": 2, "accumulate_steps": 4,
                                         "valid_every": 0}), tmp_path / "split", progress=False)
    assert split.metrics["global_batch_size"] == 2 and read_training_checkpoint(split.run_dir / "checkpoints" / "last.pt")["global_step"] == 1


def test_the_average_after_n_updates_is_the_closed_form():
    layer = torch.nn.Linear(3, 2)
    decay = 0.8
    average = WeightAverage(layer, decay)
    seen = []
    for step in range(5):
        with torch.no_grad():
            layer.weight.copy_(torch.full_like(layer.weight, float(step + 1) ** 2))
        seen.append(layer.weight.detach().clone())
        average.update(layer)
    n = len(seen)
    # Demucs' unbiased rule: the decay-weighted mean of every weight seen.
    weights = [decay ** (n - k) for k in range(1, n + 1)]
    closed = sum(w * seen_k for w, seen_k in zip(weights, seen)) / sum(weights)
    torch.testing.assert_close(average.module.weight, closed, atol=1e-5, rtol=0)
    assert average.updates == 5


def test_the_first_weights_do_not_linger_in_a_short_runs_average():
    """At decay 0.999 over 1,280 steps (a 40-epoch CPU run) the plain rule left 28 % of the average
    on the first, nearly random weights; the unbiased mean gives them 0.04 %, as its decay says."""
    layer = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.zero_()  # "initial" weights
    average = WeightAverage(layer, 0.999)
    average.update(layer)
    with torch.no_grad():
        layer.weight.fill_(1.0)  # every later step: the trained weights
    for _ in range(1279):
        average.update(layer)
    first_share = 1.0 - float(average.module.weight.detach().mean())
    assert first_share == pytest.approx(0.999**1279 / sum(0.999**j for j in range(1280)), rel=1e-3)
    assert first_share < 1e-3  # the plain rule: 0.999**1279 = 0.278


def test_an_average_saved_by_the_plain_rule_goes_on_with_its_normaliser():
    layer = torch.nn.Linear(2, 2)
    average = WeightAverage(layer, 0.9)
    state = {"state_dict": {name: torch.zeros_like(value) for name, value in layer.state_dict().items()}, "updates": 3}
    average.load(state)  # no "count": written before the unbiased rule
    assert average.count == pytest.approx((1 - 0.9**3) / (1 - 0.9)) and average.updates == 3
    with torch.no_grad():
        layer.weight.fill_(1.0)
    average.update(layer)
    assert float(average.module.weight.detach().mean()) == pytest.approx(1 / (0.9 * (1 - 0.9**3) / 0.1 + 1))
    assert average.state()["count"] == pytest.approx(average.count)


def test_ema_weights_are_validated_kept_in_best_pt_and_resumed(tmp_path):
    config = TrainConfig.from_params({**TINY, "epochs": 2, "ema_decay": 0.5, "valid_every": 0})
    straight = fit(config, tmp_path / "straight", progress=False)
    last = read_training_checkpoint(straight.run_dir / "checkpoints" / "last.pt")
    ema = last["ema_state"]
    assert ema["updates"] == 2 * math.ceil(TINY["samples_per_epoch"] / TINY["batch_size"])
    assert any(not torch.equal(ema["state_dict"][k], last["state_dict"][k]) for k in last["state_dict"] if k.startswith("unet"))
    one = fit(config.replace(epochs=1), tmp_path / "one", progress=False)  # one epoch: it is the best
    averaged = read_training_checkpoint(one.run_dir / "checkpoints" / "last.pt")["ema_state"]["state_dict"]
    for name, value in weights(one.run_dir / "checkpoints" / "best.pt").items():
        torch.testing.assert_close(value, averaged[name])  # best.pt holds the average, not the weights
    for name, value in straight.separator.state_dict().items():
        torch.testing.assert_close(value, ema["state_dict"][name])  # the result is the average
    loaded = load_separator(straight.run_dir / "checkpoints" / "last.pt", "cpu").state_dict()
    for name, value in loaded.items():  # last.pt as a model (and a best.pt rebuilt from it on resume): the average
        torch.testing.assert_close(value, ema["state_dict"][name])

    def crash(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # killed after epoch 1, resumed: the average goes on as if never stopped
        fit(config, tmp_path / "first", progress=False, epoch_callback=crash)
    resumed = fit(config.replace(resume_from=str(tmp_path / "first")), tmp_path / "resumed", progress=False)
    again = read_training_checkpoint(resumed.run_dir / "checkpoints" / "last.pt")["ema_state"]
    assert again["updates"] == ema["updates"]
    for name, value in ema["state_dict"].items():
        torch.testing.assert_close(again["state_dict"][name], value, atol=1e-6, rtol=0)


@pytest.mark.parametrize("select_by, best", [("sdr", 2), ("loss", None)])
def test_best_pt_is_the_epoch_the_chosen_figure_calls_best(tmp_path, monkeypatch, select_by, best):
    import stemunet.training.fit as fitting

    scores = iter([1.0, 3.0, 2.0])  # the SDR peaks at epoch 2, whatever the losses do
    monkeypatch.setattr(fitting, "validation_sdr", lambda *args, **kwargs: next(scores))
    result = fit(TrainConfig.from_params({**TINY, "epochs": 3, "select_by": select_by}), tmp_path / "run", progress=False)
    history = result.history
    assert [row["valid_sdr"] for row in history] == [1.0, 3.0, 2.0]
    expected = best or history[int(np.argmin([row["valid_loss"] for row in history]))]["epoch"]
    assert result.metrics["best_epoch"] == expected
    assert read_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] == expected
    if select_by == "sdr":
        assert result.metrics["best_valid_sdr"] == 3.0


def test_validation_sdr_runs_every_n_epochs_and_the_last_and_is_logged(tmp_path):
    result = fit(TrainConfig.from_params({**TINY, "epochs": 3, "valid_every": 2}), tmp_path / "run", progress=False)
    logged = read_history(result.run_dir / "history.csv")
    assert [math.isfinite(row["valid_sdr"]) for row in logged] == [False, True, True]
    assert logged[2]["valid_sdr"] == pytest.approx(result.metrics["final_valid_sdr"])
    assert -30 < logged[2]["valid_sdr"] < 60


def test_select_by_sdr_needs_sdr_validation():
    with pytest.raises(ValueError, match="select_by: sdr needs valid_every"):
        TrainConfig.from_params({**TINY, "select_by": "sdr", "valid_every": 0})


def test_flip_sign_flips_whole_stems_and_the_mixture_follows():
    stems = torch.randn(4, 2, 100)
    flipped = flip_signs(stems, np.random.default_rng(3))
    signs = (flipped / stems).mean(dim=(1, 2))
    assert set(torch.round(signs).tolist()) <= {-1.0, 1.0} and torch.allclose(flipped.abs(), stems.abs())
    seen = {tuple(torch.sign((flip_signs(stems, np.random.default_rng(seed)) / stems).mean(dim=(1, 2))).tolist()) for seed in range(40)}
    assert len(seen) > 4  # stems flip independently
    mixture, out = apply_waveform_augmentation(stems, np.random.default_rng(3), WaveformAugmentation(flip_sign=True), 8000)
    torch.testing.assert_close(out, flipped)
    torch.testing.assert_close(mixture, flipped.sum(dim=0))
    untouched, _ = apply_waveform_augmentation(stems, np.random.default_rng(3), WaveformAugmentation(), 8000)
    torch.testing.assert_close(untouched, stems.sum(dim=0))


def test_the_loss_figure_shows_the_validation_sdr_beside_the_losses_with_whole_epoch_ticks():
    from stemunet.lab.plots import plot_loss_curves

    rows = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 1.2 / e, "valid_sdr": s} for e, s in ((1, math.nan), (2, 2.5), (3, 3.1))]
    figure = plot_loss_curves(rows, best_epoch=3)
    losses, sdr = figure.axes
    assert sdr.get_ylabel() == "global SDR (dB)" and list(sdr.lines[0].get_xdata()) == [2, 3]  # epochs without one skipped
    assert all(float(tick).is_integer() for tick in losses.get_xticks())
    assert len(plot_loss_curves([{k: v for k, v in row.items() if k != "valid_sdr"} for row in rows]).axes) == 1


def test_fine_tuning_from_a_run_that_averaged_starts_from_the_average(tmp_path):
    averaged = fit(TrainConfig.from_params({**TINY, "epochs": 1, "ema_decay": 0.5, "valid_every": 0}), tmp_path / "a", progress=False)
    # The returned model (the average) can be trained on, like any other.
    assert all(value.requires_grad for value in averaged.separator.parameters())
    ema = read_training_checkpoint(averaged.run_dir / "checkpoints" / "last.pt")["ema_state"]["state_dict"]
    # A learning rate so small the fine-tune leaves its starting weights as they were.
    tuned = fit(TrainConfig.from_params({**TINY, "epochs": 1, "valid_every": 0, "learning_rate": 1e-12, "final_learning_rate": 1e-12,
                                         "init_from": str(averaged.run_dir / "checkpoints" / "last.pt")}), tmp_path / "b", progress=False)
    for name, value in tuned.separator.named_parameters():
        torch.testing.assert_close(value.detach(), ema[name], atol=1e-6, rtol=0)
