"""Does synthetic set v2 transfer better than v1? One recipe and budget, trained on each design.

    python benchmarks/synthetic_ablation.py [-f parameters/train_demo.yaml] [--out DIR]
        [--versions 1 2] [-p NAME VALUE ...]

Trains the recipe (default: the README demo's, 0.91 M parameters, 16 songs x 12 s, 16 epochs x 96
chunks, about 4 min per design on 2 cores) once with ``synthetic_version 1`` and once with
``synthetic_version 2``, everything else equal, then scores both models (BSSEval v4 SDR, median over
1 s frames then tracks, :func:`stemunet.evaluation.evaluate.sisec_medians`) on stempeg's real MUSDB18 excerpt
and on the recipe's v1 and v2 synthetic test sets, with SiSEC's MIX and IRM1 on the same data; with
``--validation-root`` (or ``STEMUNET_REAL_VALIDATION``) also on the real-music validation set of
LMMS songs (``benchmarks/real_validation.py``; checked against its sha256 manifest first), the set
that decides which design is the default.
``--versions 2 3`` compares two other designs the same way (v3: several SoundFonts, whichever are
installed; the set's cache name says which). Finished trainings in ``--out`` are reused, so an
interrupted comparison resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from stemunet.checkpoints import CheckpointRef
from stemunet.config import STEM_NAMES
from stemunet.data.real_validation import ManifestError, stempeg_excerpt_root, verify_copy
from stemunet.data.synthetic import DESIGN_VERSIONS
from stemunet.data.tracks import list_tracks, resolve_root
from stemunet.evaluation.evaluate import sisec_medians
from stemunet.lab.runs import add_parameter_arguments, parameters_from_arguments
from stemunet.separation.loading import load_separator
from stemunet.training.config import TrainConfig
from stemunet.training.launch import fit

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = (1, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "runs" / "synthetic_ablation"), help="training runs go here (reused when finished)")
    parser.add_argument("--versions", type=int, nargs=2, default=list(VERSIONS), choices=DESIGN_VERSIONS,
                        help=f"the two designs to compare (default: {' '.join(map(str, VERSIONS))})")
    parser.add_argument("--validation-root", default=os.environ.get("STEMUNET_REAL_VALIDATION", ""),
                        help="the frozen LMMS validation set, also scored (default: $STEMUNET_REAL_VALIDATION; empty: not scored)")
    parser.add_argument("--manifest", default=str(ROOT / "benchmarks" / "real_validation_sha256.txt"), help="sha256sum list that set must match")
    add_parameter_arguments(parser)  # the recipe (default: the demo's) and overrides, for both designs
    args = parser.parse_args(argv)
    if args.versions[0] == args.versions[1]:
        parser.error(f"--versions: two different designs, got {args.versions[0]} twice")
    validation = Path(args.validation_root).expanduser().resolve() if args.validation_root else None
    if validation is not None:
        try:
            verify_copy(validation, Path(args.manifest))  # before any training
        except (ManifestError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    args.parameters_file = args.parameters_file or [str(ROOT / "parameters" / "train_demo.yaml")]
    params = parameters_from_arguments(args)
    configs = {version: TrainConfig.from_params({**params, "synthetic_version": version}) for version in args.versions}
    models = {}
    for version, config in configs.items():
        run = Path(args.out) / f"v{version}"
        if not (run / "checkpoints" / "best.pt").is_file():
            print(f"training on synthetic set v{version} -> {run}", file=sys.stderr)
            fit(config, run, progress=False)
        models[version] = load_separator(CheckpointRef.resolve(str(run)), "cpu")

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        data = {"LMMS validation": validation} if validation is not None else {}
        data["real excerpt"] = stempeg_excerpt_root(Path(scratch))
        data.update({f"synthetic v{version} test": resolve_root(config.data, progress=False) for version, config in configs.items()})
        for name, root in data.items():
            tracks = list_tracks(root, "test")
            for version, separator in models.items():
                medians = sisec_medians(tracks, separator)
                rows.append((name, f"model trained on v{version}", medians["model"]["SDR"]))
            rows += [(name, method, medians[method]["SDR"]) for method in ("MIX", "IRM1")]

    print(f"recipe: {' '.join(args.parameters_file)} {' '.join(f'{n}={v}' for n, v in args.parameter)}")
    print(f"SDR dB (BSSEval v4, median over 1 s frames then tracks)\n{'data':<22}{'method':<22}"
          + "".join(f"{stem:>8}" for stem in STEM_NAMES) + f"{'mean':>8}{'d/b/o':>8}")
    for name, method, values in rows:
        print(f"{name:<22}{method:<22}" + "".join(f"{v:8.2f}" for v in values) + f"{np.mean(values):8.2f}{np.mean(values[:3]):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
