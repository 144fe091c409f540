"""Stem sets on a data set's tracks: which source streams a :class:`~stemunet.config.StemSet`'s
targets are made of, and the targets built from them. Every reader of the data layer (wav folders,
``.stem.mp4`` files, user folders, songs rendered on the fly) makes its targets here, so a stem set
means the same thing whatever the data comes from. Also :class:`TrackError`, the error that names
a track, which every reader raises.

A track offers *source streams* ``{name: (n_channels, n_samples)}``: MUSDB18's four stems; the
synthetic set's four plus its instrument families (``piano.wav``, ``guitar.wav``, ..., parts of
``other``); or whatever stems a folder track's files map to. Its *base* stems are the ones that
sum to its mixture without overlapping: the four for MUSDB18 and the synthetic set, every stem of
a folder track. A target is

* the stream of its own name (the default),
* the sum of the streams its ``sources`` list, or
* for ``(REST,)``, the sum of the base stems minus the other targets, so the targets still sum to
  the mixture: synthetic ``[drums, bass, guitar, piano, other: [rest], vocals]`` gives ``other -
  guitar - piano``, and ``[vocals, accompaniment: [rest]]`` gives ``drums + bass + other``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stemunet.audio import AudioError
from stemunet.config import REST, StemSet


def track_label(track: Any) -> str:
    """``subset/name``: unique across a data set (MUSDB18's train and test names never repeat)."""
    subset = getattr(track, "subset", None)
    return f"{subset}/{track.name}" if subset else str(track.name)


class TrackError(AudioError):
    """A track of a data set is missing a file, unreadable or inconsistent; names the track
    (``subset/name``; a folder track by its folder, so the message says where to look)."""

    def __init__(self, track: Any, problem: str):
        if isinstance(track, str):
            label = track
        else:
            folder = getattr(track, "folder", None)
            label = str(folder) if folder is not None else track_label(track)
        super().__init__(label, problem)


def sources_needed(stems: StemSet, base: Sequence[str], targets: Sequence[int] | None = None) -> tuple[str, ...]:
    """The source streams that the targets ``targets`` (indices into ``stems.names``; default all)
    are made of, in order of first use. A :data:`REST` target needs every base stem and the
    sources of every other target (it is their difference)."""
    needed: dict[str, None] = {}
    for index in range(len(stems)) if targets is None else targets:
        name = stems.names[index]
        parts = stems.sources_of(name)
        if parts == (REST,):
            parts = (*base, *(part for other in stems.names if other != name for part in stems.sources_of(other)))
        needed.update(dict.fromkeys(parts))
    return tuple(needed)


def build_targets(
    streams: Mapping[str, np.ndarray],
    base: Sequence[str],
    stems: StemSet = StemSet(),
    *,
    track: str = "track",
    allow_missing: bool = False,
    targets: Sequence[int] | None = None,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """A stem set's targets from a track's source streams.

    Args:
        streams: ``{name: (n_channels, n_samples)}``, every one the same shape; streams no target
            needs are ignored.
        base: the track's base stems (the ones that sum to its mixture), for a :data:`REST` target.
        stems: the stem set.
        track: the track's label, for errors.
        allow_missing: a stream the targets need but ``streams`` lacks is silence (folder data
            sets with ``require_all_stems: false``); else :class:`TrackError`.
        targets: indices into ``stems.names`` of the targets to build (default all, in order).
        shape: ``(n_channels, n_samples)`` when ``streams`` may be empty (every needed stream
            missing and allowed to be).

    Returns:
        float32 ``(len(targets), n_channels, n_samples)``. A target read as it is, is the stream's
        samples exactly; sums and differences are taken in float64 and rounded once.
    """
    indices = list(range(len(stems))) if targets is None else list(targets)
    for index in indices:
        name = stems.names[index]
        missing = [part for part in sources_needed(stems, base, [index]) if part not in streams]
        if missing and not allow_missing:
            made_of = "" if stems.sources_of(name) == (name,) else f", which the stem set's {name!r} is made of"
            raise TrackError(track, f"has no {missing[0]!r} stem{made_of} (it has: {', '.join(streams) or 'none'})")
    if streams:
        shape = next(iter(streams.values())).shape
    if shape is None:
        raise TrackError(track, "has none of the stems the stem set is made of")
    if any(stream.shape != shape for stream in streams.values()):
        raise TrackError(track, f"its stems differ in shape ({', '.join(f'{n} {tuple(s.shape)}' for n, s in streams.items())})")

    def summed(parts: Sequence[str]) -> np.ndarray:
        total = np.zeros(shape, dtype=np.float64)
        for part in parts:
            if part in streams:
                total += streams[part]
        return total

    result = np.empty((len(indices), *shape), dtype=np.float32)
    for row, index in enumerate(indices):
        name = stems.names[index]
        parts = stems.sources_of(name)
        if parts == (REST,):
            others = [part for other in stems.names if other != name for part in stems.sources_of(other)]
            result[row] = _without_rounding_residue(summed(base) - summed(others), [streams[p] for p in (*base, *others) if p in streams])
        elif len(parts) == 1:
            result[row] = streams[parts[0]] if parts[0] in streams else 0.0
        else:
            result[row] = summed(parts)
    return result


def _without_rounding_residue(rest: np.ndarray, terms: Sequence[np.ndarray]) -> np.ndarray:
    """``rest`` (a difference of float32 stems, in float64) with every sample that lies within the
    stems' float32 rounding set to 0: that is no signal. The synthetic set's ``other`` minus its
    guitar and piano families, where those families are all of it, leaves 1e-8-size crumbs that
    BSSEval would score as a reference (at -30 dB) instead of leaving a silent stem out.

    The bound per sample is ``len(terms) * 2**-24 * max |term|``: each float32 term is within half
    an ulp of what it was rounded from, and the ulp of a value is at most ``2**-23`` of it.
    """
    largest = np.zeros(rest.shape, dtype=np.float32)
    for term in terms:
        np.maximum(largest, np.abs(term), out=largest)
    rest[np.abs(rest) <= len(terms) * 2.0**-24 * largest] = 0.0
    return rest
