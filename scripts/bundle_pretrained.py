"""Make a training run's best checkpoint the bundled model: ``lib/stemunet/pretrained/model.pt``.

    python scripts/bundle_pretrained.py runs/<stamp>_train [--wiener-iterations N] [--mask-power P]
    python scripts/bundle_pretrained.py pretrained --mask-power P   # only the bundled model's post-filter

Writes a model checkpoint (weights and configuration, no optimiser state; opened safely like any
other, :mod:`stemunet.checkpoints`) with its weights stored as float16, half the size (loading
copies them into the float32 model; scores move by 0.01 dB at most), and its provenance: the recipe and training parameters, the
synthetic data format it learnt from, the training summary (epochs, time, device) and the commit.
The bundled model is what ``checkpoint: pretrained`` (and the separation CLI without
``--checkpoint``) uses. ``--wiener-iterations`` and ``--mask-power`` set the post-filter it
separates with by default (choose them with ``benchmarks/postfilter_ablation.py``); given
``pretrained`` as the run, only those settings of the bundled model change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stemunet.checkpoints import PRETRAINED_RESOURCE, CheckpointRef, read_checkpoint, save_model, separator_from_checkpoint
from stemunet.config import PostFilterChoice
from stemunet.files import torch_save_atomic
from stemunet.synthetic import FORMAT_VERSION
from stemunet.synthetic.soundfont import DEFAULT_SOUNDFONT_NAME

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 10 * 2**20


def training_data(train_config: dict) -> str:
    """What the model learnt from, in words: the synthetic set's format, design and SoundFont."""
    version = train_config.get("synthetic_version", 1)
    soundfont = train_config.get("synthetic_soundfont") or DEFAULT_SOUNDFONT_NAME
    samples = f", sampled instruments from {Path(soundfont).name}" if version == 2 else ""
    if version >= 3:  # which ones were installed is in the set's manifest, not in the config
        samples = ", sampled instruments from the installed General MIDI SoundFonts"
    return f"stemunet synthetic set v{version} (format {FORMAT_VERSION}{samples}; no MUSDB18 audio)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the training run folder (its checkpoints/best.pt)")
    parser.add_argument("--recipe", default="parameters/train_pretrained.yaml", help="the parameter file the run was made with")
    parser.add_argument("--wiener-iterations", type=int, default=-1, help="its default Wiener EM iterations (-1: keep the checkpoint's)")
    parser.add_argument("--mask-power", type=float, default=-1.0, help="its default mask power (-1: keep the checkpoint's)")
    parser.add_argument("--output", default=str(ROOT / "lib" / "stemunet" / PRETRAINED_RESOURCE), help="where to write it (default: the bundled model's place)")
    args = parser.parse_args(argv)
    choice = PostFilterChoice(wiener_iterations=args.wiener_iterations, mask_power=args.mask_power)
    target = Path(args.output).resolve()

    source = CheckpointRef.resolve(args.run)
    checkpoint = read_checkpoint(source.file)
    if args.run == "pretrained":
        # Only the post-filter changes: weights (float16), provenance and card stay as they are.
        own = separator_from_checkpoint(checkpoint, source.file).own_postfilter
        checkpoint["separator_config"].update(choice.applied_to(own).to_params())
        torch_save_atomic(checkpoint, target)
        print(f"{target}: post-filter {choice.applied_to(own)}")
        return 0
    metrics = json.loads((source.train_run / "metrics.json").read_text()) if source.train_run else {}
    summary = {key: metrics.get(key) for key in ("epochs", "best_epoch", "best_valid_loss", "train_seconds", "examples_seen", "device", "n_parameters")}
    save_model(
        separator_from_checkpoint(checkpoint, source.file).use_postfilter(choice).half(),
        target,
        train_config=checkpoint.get("train_config", {}),
        recipe=args.recipe,
        training_data=training_data(checkpoint.get("train_config", {})),
        training_summary=summary,
        trained_commit=checkpoint.get("git_commit"),
    )
    size = target.stat().st_size
    print(f"{target}: {size / 2**20:.1f} MB from {source.file}")
    if size > LIMIT_BYTES:
        print(f"error: over the {LIMIT_BYTES / 2**20:.0f} MB the package may carry", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
