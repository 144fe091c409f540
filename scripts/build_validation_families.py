"""Build the frozen copy of the real validation families (karaoke, jazz_sax) from their source files, once.

    python scripts/build_validation_families.py RESOURCES OUT [--mapping benchmarks/validation_families.yaml]
        [--write-manifest FILE]

``RESOURCES``: a checkout of the repository the mapping's ``source`` names (at its commit), or
the folder inside it that the tracks' paths are relative to (``tests/resources/mir_datasets``).
``OUT`` (must be new or empty) receives ``<family>/test/<track>/{mixture,<reference>...}.wav``
(44.1 kHz stereo float32, the mixture the exact sum of the references), a description and
``OUT/sha256.txt`` (:mod:`stemunet.data.validation_families`). A track that fails is reported and
nothing is frozen. ``--write-manifest FILE`` copies ``OUT/sha256.txt`` there (the repository keeps
it in ``benchmarks/validation_families_sha256.txt``); score the copy with
``benchmarks/real_validation.py CHECKPOINT --families OUT``. Validation only: never train on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from stemunet.data.validation_families import MANIFEST_NAME, FamilyError, build_families, load_families

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "benchmarks" / "validation_families.yaml"


def resources_folder(given: Path, inner: str) -> Path:
    """The folder the tracks' paths are relative to: ``given/inner`` for a checkout, else ``given``."""
    return given / inner if (given / inner).is_dir() else given


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("resources", help="a checkout of the source repository, or its resources folder")
    parser.add_argument("out", help="the new frozen copy's folder (must not exist or be empty)")
    parser.add_argument("--mapping", default=str(MAPPING), help="the families' mapping (default: the repository's)")
    parser.add_argument("--write-manifest", default="", help="also copy OUT/sha256.txt to this file")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    try:
        source, families = load_families(args.mapping)
        resources = resources_folder(Path(args.resources).resolve(), source.folder)
        if not resources.is_dir():
            raise FamilyError(f"{resources}: no such folder")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FamilyError(f"{out}: not a new or empty folder; a frozen copy is never overwritten")
    except FamilyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    about = {
        "about": "real recordings with separate stems, grouped in families; validation only, never training data",
        "source": {"repository": source.repository, "commit": source.commit, "folder": source.folder, "licence": source.licence},
        "licences": {family.name: {"dataset": family.dataset, "licence": family.licence} for family in families},
        "mapping": Path(args.mapping).name,
    }
    # Built in a temporary sibling and renamed into place whole: a failed track, a crash or Ctrl-C
    # leaves OUT as it was, so the next run is not refused.
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(building, 0o777 & ~umask)
    try:
        built, failed = build_families(families, resources, building, about=about)
        if failed:
            for name, reason in failed.items():
                print(f"failed: {name}: {reason}", file=sys.stderr)
            print(f"error: {len(failed)} track(s) failed; nothing was written to {out}", file=sys.stderr)
            return 1
        if out.is_dir():
            out.rmdir()
        os.rename(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    for track in built:
        print(f"{track['family']}/{track['track']}: {track['seconds']:.0f} s from {track['start_seconds']:.0f} s, gain {track['gain_db']:+.1f} dB")
    if args.write_manifest:
        shutil.copyfile(out / MANIFEST_NAME, args.write_manifest)
    print(json.dumps({"written": len(built), "out": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
