"""Build the real-music validation set from LMMS demo songs, once, and freeze it.

    python scripts/build_real_validation.py OUT --renders RENDERS [--render] [--projects FOLDER]
        [--mapping benchmarks/real_validation_mapping.yaml] [--write-manifest FILE]

1. ``--render``: renders the tracks of each song that ``RENDERS/<project name>/`` lacks (all
   but those the mapping skips) with ``lmms rendertracks`` (Debian: ``apt-get install lmms
   lmms-common``); a file moves in when lmms has finished, so an interrupted run resumes where
   it stopped. Seconds per song go to ``RENDERS/render_seconds.json``; some songs take half an
   hour. Without ``--render``, the tracks must be there already.
2. Checks the mapping against each project (``--projects``: LMMS's projects folder, Debian's
   by default): every rendered track mapped, none invented.
3. Writes ``OUT`` (must be new or empty): one excerpt per song in the MUSDB18-HQ layout, the
   mixture the exact sum of the stems, a description and ``OUT/sha256.txt``
   (:mod:`stemunet.data.real_validation`). A song that fails is reported and left out.
4. ``--write-manifest FILE`` copies ``OUT/sha256.txt`` there (the repository keeps it in
   ``benchmarks/real_validation_sha256.txt``, so a copy can be checked before scoring).

Renders are not bit-reproducible: a set built again differs from the frozen one; score it with
``benchmarks/real_validation.py --manifest OUT/sha256.txt``. Validation only: never train on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from stemunet.data.lmms import ProjectError, render_tracks, rendered_tracks
from stemunet.data.real_validation import (EXCERPT_SECONDS, MANIFEST_NAME, MappingError, build_validation_set,
                                           check_rendered, load_mapping, needed_tracks)
from stemunet.files import read_mapping, write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_PROJECTS = Path("/usr/share/lmms/projects")
"""Where Debian's ``lmms-common`` installs the demo projects."""
RENDER_SECONDS_NAME = "render_seconds.json"


def lmms_version() -> str:
    try:
        result = subprocess.run(["lmms", "--allowroot", "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (result.stdout.strip().splitlines() or ["unknown"])[0]


def render_missing(songs, projects: Path, renders: Path, timeout_seconds: float) -> dict[str, str]:
    """Render each song's needed tracks (all but the skipped) that ``renders`` lacks; ``{song: error}``
    for those that failed. Files move in only when lmms has finished, so a render cut short
    leaves complete files, and the next run renders just what is still missing."""
    times_file = renders / RENDER_SECONDS_NAME
    failed = {}
    for song in songs:
        folder = renders / song.render_folder
        missing = needed_tracks(song) - ({path.name for path in folder.glob("*.wav")} if folder.is_dir() else set())
        if not missing:
            continue
        print(f"rendering {len(missing)} tracks of {song.name} ({song.project})...", file=sys.stderr, flush=True)
        try:
            seconds = render_tracks(projects / song.project, folder, only=missing, timeout_seconds=timeout_seconds)
        except ProjectError as error:
            failed[song.name] = str(error)
            print(f"error: {error}", file=sys.stderr)
            continue
        write_json_atomic(times_file, {**read_mapping(times_file), song.render_folder: round(seconds, 1)})
    return failed


def check_arguments(args: argparse.Namespace, out: Path) -> None:
    """:class:`ValueError` naming what cannot work, before anything is rendered or written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: is a file; name a new folder for the frozen set")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{out}: not empty; a frozen validation set is never overwritten (choose a new folder)")
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ValueError(f"--seconds {args.seconds:g}: the excerpt length must be a number of seconds > 0")
    if args.render and shutil.which("lmms") is None:
        raise ValueError("--render needs lmms on the PATH (Debian: apt-get install lmms lmms-common), or render the tracks into --renders yourself")


def report_failures(failed: dict[str, str], out: Path) -> int:
    """Print each song that failed and that nothing was frozen; the exit status 1."""
    for name, reason in failed.items():
        print(f"failed: {name}: {reason}", file=sys.stderr)
    print(f"error: {len(failed)} song(s) failed; nothing was written to {out} (fix them and run again)", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the new frozen set's folder (must not exist or be empty)")
    parser.add_argument("--renders", required=True, help="folder of rendered tracks, one subfolder per project")
    parser.add_argument("--render", action="store_true", help="render the songs missing from --renders first (needs lmms)")
    parser.add_argument("--projects", default=str(DEBIAN_PROJECTS), help="LMMS's projects folder (default: Debian's)")
    parser.add_argument("--mapping", default=str(ROOT / "benchmarks" / "real_validation_mapping.yaml"))
    parser.add_argument("--seconds", type=float, default=EXCERPT_SECONDS, help="excerpt length per song")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one song may render")
    parser.add_argument("--write-manifest", default="", help="also copy OUT/sha256.txt to this file")
    args = parser.parse_args(argv)

    out, renders, projects = Path(args.out).resolve(), Path(args.renders).resolve(), Path(args.projects).resolve()
    try:
        songs = load_mapping(args.mapping)
        check_arguments(args, out)
    except (MappingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = render_missing(songs, projects, renders, args.timeout) if args.render else {}
    usable = []
    for song in songs:
        if song.name in failed:
            continue
        try:
            expected = [track.file_name for track in rendered_tracks(projects / song.project)] if projects.is_dir() else None
            check_rendered(song, renders / song.render_folder, expected)
        except (MappingError, ProjectError) as error:
            failed[song.name] = str(error)  # printed once, by report_failures
            continue
        usable.append(song)
    if failed:  # a set missing songs is not the set the mapping describes: nothing is frozen
        return report_failures(failed, out)
    about = {
        "about": "LMMS demo songs rendered per track, mapped to stems; validation only, never training data",
        "lmms": lmms_version(),
        "mapping": str(Path(args.mapping).name),
        "render_seconds": read_mapping(renders / RENDER_SECONDS_NAME),
    }
    # Built in a temporary sibling and renamed into place whole: a failed song, a crash, Ctrl-C or a
    # full disk leaves OUT as it was (new or empty), so the next run is not refused.
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(building, 0o777 & ~umask)  # mkdtemp's folder is its owner's alone; OUT gets a new folder's mode
    try:
        built, failed = build_validation_set(usable, renders, building, seconds=args.seconds, about=about)
        if failed:
            return report_failures(failed, out)
        if out.is_dir():
            out.rmdir()  # the empty folder we were asked to fill
        os.rename(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    for track in built:
        print(f"{track['track']}: {track['seconds']:.0f} s from {track['start_seconds']:.0f} s, all stems play {track['seconds_all_stems_play']} s, {track['licence']}")
    if args.write_manifest:
        shutil.copyfile(out / MANIFEST_NAME, args.write_manifest)
    print(json.dumps({"written": len(built), "failed": len(failed), "out": str(out)}))
    return 0 if built else 1


if __name__ == "__main__":
    raise SystemExit(main())
