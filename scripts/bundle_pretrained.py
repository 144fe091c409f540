"""Make a training run's best checkpoint the bundled model: ``lib/stemunet/pretrained/model.pt``.

    python scripts/bundle_pretrained.py runs/<stamp>_train [--wiener-iterations N] [--mask-power P]
    python scripts/bundle_pretrained.py pretrained --mask-power P   # only the bundled model's post-filter

Writes a model checkpoint (weights and configuration, no optimiser state; opened safely like any
other, :mod:`stemunet.checkpoints`) with its weights stored as float16, half the size (loading
copies them into the float32 model; scores move by 0.01 dB at most), and its provenance: the recipe and training parameters, the
synthetic data format it learnt from (design 3: the SoundFonts and singing voice, with licences, from
the set's manifest), the training summary (epochs, time, device), the commit, and for a run
fine-tuned with ``init_from`` the same record of the model it began from (``initial_model``).
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

from stemunet.checkpoints import PRETRAINED_RESOURCE, CheckpointRef, read_checkpoint, save_model
from stemunet.config import DataConfig, PostFilterChoice
from stemunet.data.synthetic import FORMAT_VERSION, read_synthetic_manifest
from stemunet.data.synthetic.soundfont import DEFAULT_SOUNDFONT_NAME
from stemunet.data.tracks import resolve_root
from stemunet.files import torch_save_atomic
from stemunet.separation.loading import separator_from_checkpoint
from stemunet.training.resume import model_provenance

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 10 * 2**20


def training_data(train_config: dict, used: dict | None = None) -> str:
    """What the model learnt from, in words: the synthetic set's format, design and SoundFont(s);
    ``used``: :func:`samples_used`'s answer, which names a design-3 set's fonts and voice."""
    version = train_config.get("synthetic_version", 1)
    soundfont = train_config.get("synthetic_soundfont") or DEFAULT_SOUNDFONT_NAME
    samples = f", sampled instruments from {Path(soundfont).name}" if version == 2 else ""
    if version >= 3:  # which ones were installed is in the set's manifest, not in the config
        samples = f", {samples_in_words(used or {}) or 'sampled instruments from the installed General MIDI SoundFonts'}"
    return f"stemunet synthetic set v{version} (format {FORMAT_VERSION}{samples}; no MUSDB18 audio)"


def samples_used(train_config: dict) -> dict:
    """The SoundFonts (and, design 3, the singing voice) of the synthetic set a run trained on, with
    their licences, from that set's manifest (generated again if it is not in the cache)."""
    if train_config.get("musdb_root") or train_config.get("synthetic_version", 1) < 3:
        return {}
    data = DataConfig.from_params({name: value for name, value in train_config.items() if name in DataConfig.parameter_names()})
    return read_synthetic_manifest(resolve_root(data, progress=False)).get("samples", {})


def samples_in_words(samples: dict) -> str:
    """``samples_used``'s answer as the card says it: each SoundFont and the voice, with licences."""
    fonts = " and ".join(f"{font['file']} ({font['licence']})" for font in samples.get("soundfonts", []))
    singer = samples.get("singer")
    voice = f"; sung parts by the {singer['name']} singing voice ({singer['licence']})" if singer else ""
    return f"sampled instruments from {fonts}{voice}" if fonts else ""


def without_machine_paths(record: dict | None) -> dict | None:
    """``record`` with each ``file`` (and its own ``initial_model``'s) as the repository names it,
    or as ``<run folder>/checkpoints/<file>``: a shipped model carries no path of the machine it was made on."""
    if not record:
        return record
    path = Path(record["file"])
    if path.is_relative_to(ROOT):
        shown = path.relative_to(ROOT).as_posix()
    else:
        shown = "/".join(path.parts[-3:]) if path.parent.name == "checkpoints" else path.name
    return {**record, "file": shown, "initial_model": without_machine_paths(record.get("initial_model"))}


def initial_model(checkpoint: dict, metrics: dict) -> dict | None:
    """The model a fine-tuned run began from (``init_from``), as its run recorded it; a run made before
    runs recorded it: read from that file now (which must still be the model it began from)."""
    recorded = checkpoint.get("initial_model") or metrics.get("initial_model")
    init_from = checkpoint.get("train_config", {}).get("init_from")
    if recorded or not init_from:
        return recorded or None
    path = CheckpointRef.resolve(init_from).file
    return model_provenance(read_checkpoint(path), path)


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
    train_config = checkpoint.get("train_config", {})
    samples = samples_used(train_config)
    started = without_machine_paths(initial_model(checkpoint, metrics))  # read before the bundled model it may name is overwritten
    save_model(
        separator_from_checkpoint(checkpoint, source.file).use_postfilter(choice).half(),
        target,
        train_config=train_config,
        recipe=args.recipe,
        training_data=training_data(train_config, samples),
        training_samples=samples or None,
        training_summary=summary,
        trained_commit=checkpoint.get("git_commit"),
        initial_model=started,
    )
    size = target.stat().st_size
    print(f"{target}: {size / 2**20:.1f} MB from {source.file}")
    if size > LIMIT_BYTES:
        print(f"error: over the {LIMIT_BYTES / 2**20:.0f} MB the package may carry", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
