"""The synthetic set on disk: float WAV files, the manifest, the musdb setup file and the cache of sets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stemunet.config import STEM_NAMES
from stemunet.data.synthetic.singing import singer_fingerprint
from stemunet.data.synthetic.song import _mixture_of, render_track
from stemunet.data.synthetic.soundfont import resolve_soundfont, soundfont_digest
from stemunet.data.synthetic.soundfont_registry import soundfont_pool
from stemunet.data.synthetic.spec import (FAMILY_NAMES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME, MUSDB_SETUP_NAME, SUBSETS,
                                          SyntheticSpec)


def _write_wav_float(path: Path, data: np.ndarray, sample_rate: int) -> None:
    """Write (n, channels) float32 audio as a 32-bit IEEE-float WAV (format tag 3, with the
    'fact' chunk non-PCM WAVs carry). Written by hand because libsndfile stamps the current time
    into a PEAK chunk, which would make equal sets differ in bytes."""
    data = np.ascontiguousarray(data, dtype="<f4")
    n_frames, n_channels = data.shape
    payload = data.tobytes()
    fmt = struct.pack("<HHIIHH", 3, n_channels, sample_rate, sample_rate * 4 * n_channels, 4 * n_channels, 32)
    fact = struct.pack("<I", n_frames)
    riff_size = 4 + (8 + len(fmt)) + (8 + len(fact)) + (8 + len(payload))
    with open(path, "wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
        handle.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        handle.write(b"fact" + struct.pack("<I", len(fact)) + fact)
        handle.write(b"data" + struct.pack("<I", len(payload)))
        handle.write(payload)


def _musdb_setup(spec: SyntheticSpec) -> dict[str, Any]:
    """musdb's own mus.yaml, with this set's validation tracks (musdb reads stems and builds
    targets from it; ``split='train'/'valid'`` then uses our split)."""
    return {
        "sample_rate": float(spec.sample_rate),
        "sources": {name: f"{name}.wav" for name in ("vocals", "drums", "bass", "other")},
        "mixture": "mixture.wav",
        "stem_ids": {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4},
        "targets": {
            "vocals": {"vocals": 1}, "drums": {"drums": 1}, "bass": {"bass": 1}, "other": {"other": 1},
            "accompaniment": {"bass": 1, "drums": 1, "other": 1},
            "linear_mixture": {"vocals": 1, "bass": 1, "drums": 1, "other": 1},
        },
        "validation_tracks": spec.validation_tracks(),
    }


def _samples_of(spec: SyntheticSpec) -> dict[str, Any] | None:
    """Which SoundFonts a set samples its instruments from (None for version 1): version 2, the file
    name and sha256 of its one; version 3, file name, licence, source and sha256 of each it draws
    from, and, where pysinsy is installed, its singer's voice ("singer": name, licence, file, sha256)."""
    if spec.version < 2:
        return None
    if spec.version == 2:
        path = resolve_soundfont(spec.soundfont)
        return {"soundfont": path.name, "sha256": soundfont_digest(path)}
    samples: dict[str, Any] = {"soundfonts": [{**font.attribution(), "source": font.source,
                                               "sha256": soundfont_digest(font.path)}
                                              for font in soundfont_pool(spec.soundfont)]}
    singer = singer_fingerprint()
    if singer is not None:  # Sinsy's singer sings some songs (absent: a set as pysinsy-less machines make it)
        samples["singer"] = singer
    return samples


def _stem_files(spec: SyntheticSpec) -> tuple[str, ...]:
    """The audio files of every track folder, without ``.wav``: the mixture, the four stems and, with
    ``spec.family_stems``, the families of "other"."""
    return ("mixture", *STEM_NAMES, *(FAMILY_NAMES if spec.family_stems else ()))


def _manifest(spec: SyntheticSpec, track_info: dict[str, Any], samples: dict[str, str] | None) -> dict[str, Any]:
    families = {"family_stems": list(FAMILY_NAMES)} if spec.family_stems else {}  # absent: sets as they were
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "spec": spec.as_record(),
        "samples": samples,
        "stems": list(STEM_NAMES),
        **families,
        "sample_rate": spec.sample_rate,
        "n_samples": spec.n_samples,
        "tracks": {subset: spec.track_names(subset) for subset in SUBSETS},
        "validation_tracks": spec.validation_tracks(),
        "musdb_setup_file": MUSDB_SETUP_NAME,
        "track_info": track_info,
    }


def is_synthetic_dataset(root: str | Path) -> bool:
    """True if ``root`` holds a manifest written by :func:`generate_synthetic_dataset`."""
    try:
        read_synthetic_manifest(root)
    except (OSError, ValueError):
        return False
    return True


def read_synthetic_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest (``root/stemunet_synthetic.json``) as a dict: format, format_version, spec
    (the :class:`SyntheticSpec` fields), samples (the SoundFonts drawn from, with their sha256 and,
    design 3, licences), stems, family_stems (with ``spec.family_stems`` only: the families of
    "other", each a file beside the four stems, summing to ``other``), sample_rate, n_samples,
    tracks ({subset: names}), validation_tracks, track_info (per song; design 3: each sampled
    part's ``soundfont``, file and licence; with family stems, ``other.families``: each role's
    family, the families that play). Raises
    FileNotFoundError / ValueError if there is none."""
    path = Path(root) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a stemunet synthetic-set manifest")
    return manifest


def _expected_files(spec: SyntheticSpec) -> list[Path]:
    return [Path(subset) / name / f"{stem}.wav" for subset in SUBSETS for name in spec.track_names(subset)
            for stem in _stem_files(spec)]


def _holds_set(root: Path, spec: SyntheticSpec, samples: dict[str, str] | None) -> bool:
    """Whether ``root`` already holds the complete set for ``spec`` (manifest and every file)."""
    try:
        manifest = read_synthetic_manifest(root)
    except (OSError, ValueError):
        return False
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("spec") != spec.as_record():
        return False
    if manifest.get("samples") != samples:
        return False
    return all((root / path).is_file() for path in _expected_files(spec))


def generate_synthetic_dataset(root: str | Path, spec: SyntheticSpec = SyntheticSpec(), *,
                               progress: bool = True) -> Path:
    """Write the synthetic set for ``spec`` to ``root`` and return ``root`` as a Path.

    Layout: ``root/{train,test}/<name>/{mixture,drums,bass,other,vocals}.wav`` (stereo 32-bit
    float, ``spec.sample_rate`` Hz, ``spec.n_samples`` samples each), with ``spec.family_stems``
    also ``<family>.wav`` for every family of :data:`FAMILY_NAMES` (silent where the song does not
    play it; they sum to ``other.wav``), plus ``root/`` + :data:`MANIFEST_NAME`. The set is
    written into a temporary sibling folder and renamed into place at the end, so an interrupted
    run never leaves a half-written set.

    If ``root`` already holds this exact set (same spec and format version) nothing is written.
    Raises ValueError if ``root`` is a file, or a non-empty folder that is not this set (another
    spec, an older format, an incomplete set, or not a synthetic set at all): delete it first.
    """
    root = Path(root)
    samples = _samples_of(spec)  # a missing or unreadable SoundFont fails here, before any work
    if root.exists():
        if _holds_set(root, spec, samples):
            return root
        _refuse_to_overwrite(root, spec)
    root.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.partial-"))
    began = time.perf_counter()
    try:
        track_info = _write_tracks(temporary, spec, progress, began)
        for subset in SUBSETS:  # musdb lists a subset's folder even when it holds no track
            (temporary / subset).mkdir(exist_ok=True)
        (temporary / MUSDB_SETUP_NAME).write_text(json.dumps(_musdb_setup(spec), indent=2) + "\n")
        (temporary / MANIFEST_NAME).write_text(json.dumps(_manifest(spec, track_info, samples), indent=2, sort_keys=True) + "\n")
        if progress:
            print(f"\rsynthetic set: {len(track_info)} tracks in {time.perf_counter() - began:.1f} s -> {root}",
                  file=_progress_stream(), flush=True)
        try:
            if root.is_dir():
                root.rmdir()  # the empty folder we were asked to fill
            os.rename(temporary, root)
        except OSError:
            # Another process may have finished the same set first (two workers calling
            # ensure_synthetic_dataset at once); that is as good as ours.
            if _holds_set(root, spec, samples):
                shutil.rmtree(temporary, ignore_errors=True)
                return root
            raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return root


def _refuse_to_overwrite(root: Path, spec: SyntheticSpec) -> None:
    """Raise ValueError if ``root`` (which exists and is not ``spec``'s complete set) is a file or
    a non-empty folder: nothing the user had is overwritten."""
    if not root.is_dir():
        raise ValueError(f"{root} exists and is not a folder; refusing to write a synthetic set there")
    if any(root.iterdir()):
        if is_synthetic_dataset(root):
            found = read_synthetic_manifest(root)
            raise ValueError(
                f"{root} holds a different or incomplete synthetic set (spec {found.get('spec')}, format "
                f"version {found.get('format_version')}); asked for {spec.as_record()}, format version "
                f"{FORMAT_VERSION}. Delete the folder or choose another one.")
        raise ValueError(f"{root} is a non-empty folder that is not a stemunet synthetic set; "
                         "refusing to write into it")


def _write_tracks(folder: Path, spec: SyntheticSpec, progress: bool, began: float) -> dict[str, Any]:
    """Render and write every song of ``spec`` under ``folder/<subset>/<name>/``; their manifest info by name."""
    track_info = {}
    jobs = [(subset, index, name) for subset in SUBSETS for index, name in enumerate(spec.track_names(subset))]
    for number, (subset, index, name) in enumerate(jobs, start=1):
        stems, info = render_track(spec, subset, index)
        track_folder = folder / subset / name
        track_folder.mkdir(parents=True)
        _write_wav_float(track_folder / "mixture.wav", _mixture_of(stems), spec.sample_rate)
        for stem in _stem_files(spec)[1:]:
            _write_wav_float(track_folder / f"{stem}.wav", stems[stem], spec.sample_rate)
        track_info[name] = info
        if progress:
            print(f"\rsynthetic set: {number}/{len(jobs)} tracks ({time.perf_counter() - began:.1f} s)",
                  end="", file=_progress_stream(), flush=True)
    return track_info


def _progress_stream():
    """Information, not an error: stdout in a notebook (JupyterLab shows stderr in red), stderr in a terminal."""
    from stemunet.progress import in_kernel

    return sys.stdout if in_kernel() else sys.stderr


def synthetic_cache_root() -> Path:
    """Folder holding cached synthetic sets: ``$STEMUNET_CACHE/synthetic`` if that variable is set,
    else ``~/.cache/stemunet/synthetic``."""
    from stemunet.files import cache_root

    return cache_root() / "synthetic"


def synthetic_set_name(spec: SyntheticSpec) -> str:
    """Cache folder name of ``spec``'s set: ``musdb-synth-<12 hex digits>``, a hash of the spec, the
    format version (so a new generator version never reuses an old set) and the sha256 of every
    SoundFont the set samples from (so machines with other SoundFonts never share a set)."""
    key = json.dumps({"spec": spec.as_record(), "format_version": FORMAT_VERSION, "samples": _samples_of(spec)}, sort_keys=True)
    return "musdb-synth-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def ensure_synthetic_dataset(spec: SyntheticSpec = SyntheticSpec(), cache_root: str | Path | None = None, *,
                             progress: bool = True) -> Path:
    """Path of the set for ``spec`` under ``cache_root`` (default :func:`synthetic_cache_root`),
    generating it on first use; later calls return the same path without touching it."""
    base = Path(cache_root) if cache_root is not None else synthetic_cache_root()
    return generate_synthetic_dataset(base / synthetic_set_name(spec), spec, progress=progress)
