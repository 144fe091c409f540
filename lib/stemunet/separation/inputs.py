"""Which files a separation job reads: files, folders (searched recursively) and globs become
:class:`InputFile` rows with a track name each, or with the reason they are not audio."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile as sf

from stemunet.config import STEM_NAMES, DataConfig
from stemunet.separation.config import SeparateConfig

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant
    import pandas as pd

    from stemunet.data.folders import FolderTrack


SOURCE_RECORD = "source.json"
"""Written beside a track's stems: the last input separated there (absolute path, size, time, hash),
every stem file in the folder (``outputs``, absolute) and, per stem file (``stems``, by file name),
the input and the model (checkpoint file and hash) that wrote it; a run asked for fewer stems leaves the others as
they were."""


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".opus")
"""File types a folder or glob is searched for (besides ``.stem.mp4``); a file named on its own
is tried whatever its type."""

# Files beside a MUSDB18-HQ ``mixture.wav``: the track's stems, not more songs to separate.
_MUSDB_SIBLINGS = {*STEM_NAMES, "accompaniment", "linear_mixture"}


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class InputFile:
    """One audio file to separate, or an input that resolved to none (``error`` says why)."""

    spec: str  # the input as the user gave it (file, folder or glob)
    path: Path | None
    track: str  # output folder name
    error: str = ""


def is_audio_file(path: str | Path) -> bool:
    """Whether a folder or glob search picks up ``path`` (by its name)."""
    name = Path(path).name.lower()
    return not name.startswith(".") and (name.endswith(".stem.mp4") or Path(name).suffix in AUDIO_SUFFIXES)


def track_name(path: str | Path) -> str:
    """``song.flac`` -> ``song``; ``Artist - Title.stem.mp4`` -> ``Artist - Title``;
    ``Artist - Title/mixture.wav`` (MUSDB18-HQ) or ``Track00001/mix.flac`` (Slakh) -> the folder's name.

    The name becomes a folder inside the output folder, so it is made safe for that: ``.`` and
    ``..`` (a file named ``...wav``), leading dots and path separators are replaced, and an
    empty name becomes ``track``.
    """
    path = Path(path)
    if path.name.lower().endswith(".stem.mp4"):
        name = path.name[: -len(".stem.mp4")]
    elif path.stem.lower() in ("mixture", "mix") and path.parent.name:
        name = path.parent.name
    else:
        name = path.stem
    name = re.sub(r"[/\\\x00]", "_", name).strip()
    name = re.sub(r"^\.+", lambda dots: "_" * len(dots.group()), name)  # no hidden, "." or ".." folders
    return name or "track"


def _written_by_us(folder: Path, output_dir: Path | None) -> bool:
    """Whether ``folder`` is a track folder a separation wrote: directly inside the output folder,
    with a :data:`SOURCE_RECORD`. Only those are kept out of a search; the user's own folders inside
    the output folder (``-o lib`` for ``lib/artist/cd1``) are searched like any other."""
    return output_dir is not None and folder.resolve().parent == output_dir and (folder / SOURCE_RECORD).is_file()


def _folder_audio_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Audio files under ``folder``, sorted; of a MUSDB18-HQ track folder only the mixture; the
    track folders written into ``exclude`` (the output folder) left out."""
    found = []
    for directory, subdirectories, names in os.walk(folder):
        here = Path(directory)
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and not _written_by_us(here / d, exclude))
        audio = sorted(name for name in names if is_audio_file(name))
        if any(Path(name).stem.lower() == "mixture" for name in audio):
            audio = [name for name in audio if Path(name).stem.lower() not in _MUSDB_SIBLINGS]
        found.extend(here / name for name in audio)
    return found


def discover_inputs(specs: Sequence[str], *, exclude: str | Path | None = None) -> list[InputFile]:
    """Resolve files, folders (recursively) and globs to the audio files to separate.

    Args:
        specs: what the user named; a folder or glob picks up the types in :data:`AUDIO_SUFFIXES`
            and ``.stem.mp4``; a file named on its own is taken whatever its type.
        exclude: the output folder: the track folders written there are not searched, so earlier
            outputs are not re-separated (its other folders are).

    Returns:
        One :class:`InputFile` per file, in the order given (folders and globs sorted), each file
        once. An input that names nothing, or a file whose track name another input already has
        (both would write to the same folder), comes back with ``error`` set.
    """
    exclude_path = Path(exclude).expanduser().resolve() if exclude else None
    items: list[InputFile] = []
    seen: set[Path] = set()
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            found = _folder_audio_files(path, exclude_path)
            if not found:
                items.append(InputFile(spec, None, "", f"{spec}: folder holds no audio files ({', '.join(AUDIO_SUFFIXES)}, .stem.mp4)"))
        elif path.exists():
            found = [path]
        elif glob.has_magic(spec):
            found = []
            for match in sorted(glob.glob(os.path.expanduser(spec), recursive=True)):
                match_path = Path(match)
                if match_path.is_dir():
                    found.extend(_folder_audio_files(match_path, exclude_path))
                elif is_audio_file(match_path) and not _written_by_us(match_path.parent, exclude_path):
                    found.append(match_path)
            if not found:
                items.append(InputFile(spec, None, "", f"{spec}: the glob matches no audio files"))
        else:
            items.append(InputFile(spec, None, "", f"{spec}: no such file or folder"))
            found = []
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                items.append(InputFile(spec, file, track_name(file)))
    owners: dict[str, Path] = {}
    for item in items:
        if item.error or item.path is None:
            continue
        if item.track in owners:
            item.error = (
                f"{item.path}: track name {item.track!r} is that of {owners[item.track]} too; both would "
                "write to the same output folder (rename one, or separate it on its own)"
            )
        else:
            owners[item.track] = item.path
    return items


def summed_mixture_file(track: FolderTrack, cache_root: str | Path | None = None) -> Path:
    """A mixture file for a folders track that has none (a MoisesDB-like set): the sum of its stem
    files, written once as float32 ``<cache>/mixtures/<key>/<track>/mixture.wav`` (``<cache>``:
    ``$STEMUNET_CACHE``, else ``~/.cache/stemunet``), never into the user's folder.

    The stem files get training's checks first (:func:`~stemunet.data.folders.check_folder_files`:
    readable, one length, rate and channel count), so a bad track raises
    :class:`~stemunet.data.stem_sets.TrackError` naming the file. ``<key>`` hashes every stem
    file's path, size and modification time, so an edited stem makes a new sum. Written block by
    block (memory stays flat) into a temporary file renamed when whole, so a sum cut short is never
    taken for one and processes summing the same track at once do not meet.
    """
    from stemunet import files
    from stemunet.data.folders import check_folder_files, iter_summed_blocks

    check_folder_files(track)
    stem_files = sorted(track.all_files())
    stamp = [(str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns) for path in stem_files]
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]
    target = Path(cache_root or files.cache_root()) / "mixtures" / key / track.name / "mixture.wav"
    if not target.is_file():
        info = sf.info(str(stem_files[0]))
        with files.atomic_path(target) as partial:  # renamed when whole: a sum cut short is never taken for one
            with sf.SoundFile(str(partial), "w", info.samplerate, info.channels, "FLOAT", format="WAV") as out:
                for blocks in iter_summed_blocks({"mixture": stem_files}, 1 << 18, track):
                    out.write(blocks["mixture"].T)
    return target


def default_inputs(data: DataConfig) -> list[str]:
    """The test tracks' mixtures of ``data`` (the synthetic set, generated on first use; of a folders
    data set, the test tracks' mixture files, or for a track without one the sum of its stems,
    written into the cache by :func:`summed_mixture_file`). A track whose stems cannot be summed is
    reported in a warning naming the file and left out; the others go on."""
    from stemunet.data.stem_sets import TrackError
    from stemunet.data.tracks import list_tracks, resolve_root

    root = resolve_root(data)
    if data.dataset == "folders":
        tracks = list_tracks(data, "test")
        if not tracks:
            raise FileNotFoundError(f"{root}: no test tracks to take default inputs from; name the inputs")
        mixtures = []
        for track in tracks:  # mixture: sum means the given files are not trusted: the sum is separated, as trained
            try:
                mixtures.append(str(track.mixture_file or summed_mixture_file(track)))
            except TrackError as error:
                warnings.warn(f"{error}; not separated", stacklevel=2)
        if not mixtures:
            raise FileNotFoundError(f"{root}: no test track could be summed into a mixture to separate (see the warnings)")
        return mixtures
    test = root / "test"
    if not test.is_dir():
        raise FileNotFoundError(f"{root}: no test/ folder to take default inputs from")
    return [str(test)]


def resolve_inputs(config: SeparateConfig, output_dir: str | Path | None = None) -> list[InputFile]:
    """The files ``config`` asks for: its ``inputs``, or the data set's test mixtures when empty."""
    specs = list(config.inputs) if config.inputs else default_inputs(config.data)
    return discover_inputs(specs, exclude=output_dir)


def inputs_table(inputs: Sequence[InputFile]) -> pd.DataFrame:
    """One row per input: path, track name, and sample rate, channels and seconds where soundfile knows them."""
    import pandas as pd

    rows = []
    for item in inputs:
        row = {"input": str(item.path or item.spec), "track": item.track, "sample_rate": None, "channels": None, "seconds": None, "problem": item.error}
        if item.path is not None and not item.error and item.path.is_file():  # sf.info would wait forever on a pipe
            try:
                info = sf.info(str(item.path))
                row.update(sample_rate=info.samplerate, channels=info.channels, seconds=round(info.frames / info.samplerate, 2))
            except (sf.LibsndfileError, RuntimeError):
                pass  # ffmpeg formats: known once decoded
        rows.append(row)
    return pd.DataFrame(rows)
