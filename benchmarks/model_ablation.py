"""Which model and loss options pay? Each trained at an equal budget, scored on the validation tracks.

    python benchmarks/model_ablation.py [-f parameters/train_demo.yaml] [--out DIR]
        [--seconds S] [--variants NAME=VALUE[,NAME=VALUE...] ...] [-p NAME VALUE ...]

Trains the recipe (default: the README demo's) once as it is (``baseline``) and once per variant,
each changing one option of issue #19 and nothing else:

* ``loss=l1_wave``, ``loss=l1_mag_wave``: phase-aware losses on the masked estimates' waveforms
  (:func:`stemunet.training.losses.training_loss`), or ``loss=l1`` (magnitudes) in place of the one
  the recipe already uses;
* ``n_channels=2`` (or ``1`` when the recipe is stereo): one U-Net hearing both channels, masks
  per channel, against the channel-by-channel mono model;
* ``block=tfc_tdf``: MDX-Net's frequency-aware blocks (with ``max_frequency`` at Nyquist when the
  recipe models every bin, as the block needs a band limit).

``--variants`` replaces that list (each a comma-separated set of ``name=value`` overrides).

Budget: by default every variant sees the recipe's examples (``epochs x samples_per_epoch``).
With ``--seconds S`` every variant gets S seconds of CPU time in training steps instead: its
steps are timed first (full steps on random audio, as ``benchmarks/training_throughput.py`` does,
for about two seconds of this process's CPU time, which other processes change far less than wall
time) and ``samples_per_epoch`` is set so that ``epochs`` epochs take S seconds, so a slower
option trains on fewer examples, as it would on the same machine for the same time (data loading
and validation passes are not counted; the learning-rate schedule runs its full course either
way). On a GPU, time is wall time of the same steps. Run it on a quiet machine: on a 2-core one
at load 10, a toy model's examples per CPU second still varied by a quarter between runs.

Each model is scored on the recipe's validation tracks (BSSEval v4 SDR, median over 1 s frames
then tracks, :func:`stemunet.evaluation.evaluate.sisec_medians`), next to SiSEC's MIX and oracle IRM1 on
the same tracks. Validation losses are printed too, but they compare only runs with the same
loss. Finished trainings in ``--out`` are reused, so an interrupted ablation resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_throughput import model_throughput  # noqa: E402

from stemunet.checkpoints import CheckpointRef  # noqa: E402
from stemunet.config import STEM_NAMES, ConfigError, resolve_device  # noqa: E402
from stemunet.data.tracks import list_tracks, resolve_root  # noqa: E402
from stemunet.evaluation.evaluate import sisec_medians  # noqa: E402
from stemunet.lab.runs import add_parameter_arguments, parameters_from_arguments, parse_value  # noqa: E402
from stemunet.model import count_parameters  # noqa: E402
from stemunet.separation.loading import load_separator
from stemunet.training.config import TrainConfig  # noqa: E402
from stemunet.training.launch import fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMED_SECONDS = 2.0  # --seconds: CPU time spent timing a variant's training steps (at least 3, after a warm-up step)


def default_variants(recipe: TrainConfig) -> list[dict[str, Any]]:
    """Issue #19's options, each as the overrides that turn ``recipe`` into it."""
    stft, model = recipe.stft, recipe.model
    # The two losses the recipe does not use (of magnitude L1, waveform L1 and both together).
    losses = [{"loss": loss} for loss in ("l1", "l1_wave", "l1_mag_wave") if loss != recipe.loss][:2]
    return [
        *losses,
        {"n_channels": 1 if stft.n_channels == 2 else 2},
        {"block": "tfc_tdf", "max_frequency": model.max_frequency or stft.sample_rate / 2},
    ]


def parse_variant(text: str) -> dict[str, Any]:
    """``"block=tfc_tdf,max_frequency=8000"`` -> ``{"block": "tfc_tdf", "max_frequency": 8000.0}``."""
    overrides = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"variant {text!r}: expected name=value[,name=value...], got {item!r}")
        overrides[name.strip()] = parse_value(value.strip(), name.strip())
    return overrides


def variant_name(overrides: dict[str, Any]) -> str:
    return ",".join(f"{name}={value}" for name, value in overrides.items()) or "baseline"


def equal_time_config(config: TrainConfig, seconds: float) -> TrainConfig:
    """``config`` with ``samples_per_epoch`` set so its ``epochs`` take ``seconds`` of CPU time in training steps."""
    threads = torch.get_num_threads()
    if config.cpu_threads > 0:
        torch.set_num_threads(config.cpu_threads)  # as fit will train it
    # CPU time on a CPU, not wall time: on a shared machine, wall time measures the others' load too.
    clock = time.process_time if resolve_device(config.device).type == "cpu" else time.perf_counter
    try:
        rough, _ = model_throughput(config, config.batch_size, 1, clock=clock)
        steps = max(3, math.ceil(TIMED_SECONDS * rough / config.batch_size))
        examples_per_second, _ = model_throughput(config, config.batch_size, steps, clock=clock)
    finally:
        torch.set_num_threads(threads)
    samples = max(config.batch_size, int(round(seconds * examples_per_second / config.epochs)))
    return config.replace(samples_per_epoch=samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "runs" / "model_ablation"), help="training runs go here (reused when finished)")
    parser.add_argument("--seconds", type=float, default=0.0, help="equal training compute per variant, s (0: equal examples, the recipe's)")
    parser.add_argument("--variants", nargs="+", default=None, metavar="NAME=VALUE[,...]", help="variants instead of issue #19's options")
    add_parameter_arguments(parser)  # the recipe (default: the demo's) and overrides, for every variant
    args = parser.parse_args(argv)
    args.parameters_file = args.parameters_file or [str(ROOT / "parameters" / "train_demo.yaml")]
    params = parameters_from_arguments(args)
    recipe = TrainConfig.from_params(params)
    variants = [parse_variant(text) for text in args.variants] if args.variants is not None else default_variants(recipe)
    # Every variant is checked before any trains, so a typo stops the ablation at once.
    configs = {"baseline": recipe, **{variant_name(v): TrainConfig.from_params({**params, **v}) for v in variants}}

    rows = []
    for name, config in configs.items():
        run = Path(args.out) / name.replace("=", "-").replace(",", "_")
        if not (run / "checkpoints" / "best.pt").is_file():
            if args.seconds > 0:
                config = equal_time_config(config, args.seconds)
            print(f"training {name} ({config.epochs} x {config.samples_per_epoch} examples) -> {run}", file=sys.stderr)
            began = time.perf_counter()
            fit(config, run, progress=False)
            print(f"  {time.perf_counter() - began:.0f} s", file=sys.stderr)
        separator = load_separator(CheckpointRef.resolve(str(run)), "cpu")
        metrics = json.loads((run / "metrics.json").read_text())
        rows.append({
            "name": name, "parameters": count_parameters(separator), "separator": separator,
            "examples": metrics["examples_seen"], "seconds": metrics["train_seconds"], "valid_loss": metrics["best_valid_loss"],
        })

    tracks = list_tracks(resolve_root(recipe.data, progress=False), "train", "valid")
    if not tracks:
        raise FileNotFoundError("the recipe's data set has no validation tracks to score on")
    baselines = None
    for row in rows:
        medians = sisec_medians(tracks, row.pop("separator"))
        row["sdr"] = medians["model"]["SDR"]
        baselines = baselines or {method: medians[method]["SDR"] for method in ("MIX", "IRM1")}

    budget = f"{args.seconds:g} s of CPU time in training steps each" if args.seconds > 0 else "the recipe's examples each"
    print(f"recipe: {' '.join(args.parameters_file)} {' '.join(f'{n}={v}' for n, v in args.parameter)}; budget: {budget}")
    print(f"validation tracks: {len(tracks)}; SDR dB (BSSEval v4, median over 1 s frames then tracks)")
    print(f"{'variant':<34}{'params':>9}{'examples':>9}{'wall s':>8}{'val loss':>9}"
          + "".join(f"{stem:>8}" for stem in STEM_NAMES) + f"{'mean':>8}")
    for row in rows:
        print(f"{row['name']:<34}{row['parameters'] / 1e6:8.3f}M{row['examples']:9d}{row['seconds']:8.1f}{row['valid_loss']:9.4f}"
              + "".join(f"{v:8.2f}" for v in row["sdr"]) + f"{np.mean(row['sdr']):8.2f}")
    for method, values in baselines.items():
        print(f"{method:<34}{'':>9}{'':>9}{'':>8}{'':>9}" + "".join(f"{v:8.2f}" for v in values) + f"{np.mean(values):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
