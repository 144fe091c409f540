"""How does a checkpoint do on real music? SDR of the model next to SiSEC's MIX and oracle IRM1.

    python benchmarks/real_transfer.py CHECKPOINT [MUSDB_ROOT] [--subset test] [--max-tracks N]

``CHECKPOINT``: a training run folder, a checkpoint file, ``latest`` or ``pretrained``.
``MUSDB_ROOT``: any MUSDB18 / MUSDB18-HQ layout folder (``test/`` of ``.stem.mp4`` files or track
folders); default: the real MUSDB18 excerpt that ships in the ``stempeg`` wheel ("The Easton
Ellises - Falcon 69", 6 s), as a one-track test set.

Prints per-stem SDR (BSSEval v4, museval's numbers through :mod:`stemunet.evaluation.bsseval`; median over
1 s frames, then over tracks) of the model, of MIX (mixture / 4 as every estimate: the floor) and
of IRM1 (oracle magnitude-ratio masks, 4096-point STFT: the ceiling of masking), and the model's
share of the way from MIX to IRM1, ``(model - MIX) / (IRM1 - MIX)``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from stemunet.checkpoints import CheckpointRef
from stemunet.data.real_validation import STEMPEG_EXCERPT, sdr_table, stempeg_excerpt_root
from stemunet.data.tracks import list_tracks
from stemunet.evaluation.evaluate import sisec_medians
from stemunet.separation.loading import load_separator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="training run folder, checkpoint file, latest or pretrained")
    parser.add_argument("musdb_root", nargs="?", default="", help="MUSDB18(-HQ) layout folder (default: stempeg's real excerpt)")
    parser.add_argument("--subset", default="test", choices=["train", "test"])
    parser.add_argument("--max-tracks", type=int, default=0, help="the first N tracks by name (0: all)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    checkpoint = CheckpointRef.resolve(args.checkpoint)
    separator = load_separator(checkpoint, args.device)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.musdb_root) if args.musdb_root else stempeg_excerpt_root(Path(scratch))
        tracks = sorted(list_tracks(root, args.subset), key=lambda t: t.name)
        tracks = tracks[: args.max_tracks] if args.max_tracks else tracks
        if not tracks:
            print(f"error: {root}/{args.subset}: no tracks", file=sys.stderr)
            return 2
        medians = sisec_medians(tracks, separator)
    sdr = {method: medians[method]["SDR"] for method in ("model", "MIX", "IRM1")}
    share = (sdr["model"] - sdr["MIX"]) / (sdr["IRM1"] - sdr["MIX"])
    where = args.musdb_root or STEMPEG_EXCERPT
    print(f"checkpoint: {checkpoint.file}\ndata: {where}, {len(tracks)} track(s) of {args.subset}/")
    print("\n".join(sdr_table({**sdr, "share of IRM1": share})))
    print("(share of IRM1: (model - MIX) / (IRM1 - MIX); d/b/o: mean over drums, bass and other)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
