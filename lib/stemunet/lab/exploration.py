"""What is in a multitrack data set: tracks, loudness, silence, spectra, consistency checks.

:func:`explore_dataset` lists the tracks of a MUSDB18 / MUSDB18-HQ folder or of the synthetic set
and reads each analysed track exactly once, in blocks of about 30 s (a wav folder) or in one
decode (a ``.stem.mp4``), computing everything from that single pass:

* loudness: the RMS of every 100 ms frame in dBFS, ``20 log10(rms)`` with the RMS taken over both
  channels, relative to full scale 1.0 (a full-scale square wave is 0 dBFS, a full-scale sine
  -3 dBFS); digital silence is floored at :data:`FLOOR_DB`;
* silence: a frame is *silent* when its RMS is below ``silence_threshold_db`` (default -60 dBFS,
  about where a stem becomes inaudible under a mixture at a normal listening level);
* the average power spectrum of each stem (4096-point Hann frames, half overlapping), in dB
  relative to a full-scale sine;
* checks: every file of a track has the same length, sample rate and channel count, and the
  residual ``mixture - sum(stems)`` in dB relative to the mixture. The synthetic set's mixture is
  the sum of its stems (residual about -140 dB, float32 rounding); MUSDB18's mixtures are mastered
  and AAC-coded separately from the stems, so theirs is typically -15 to -30 dB. It is shown,
  never treated as an error.

Bad data does not stop the analysis: a missing subset folder, a track missing a file, files that
cannot be read or that disagree in length, rate or channels become rows of the ``problems`` table
(subset, track, problem). Only a ``musdb_root`` that does not exist raises, with a clear message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import musdb
import numpy as np
import pandas as pd

from stemunet.config import STEM_NAMES, Config, ConfigError, DataConfig
from stemunet.data.synthetic import is_synthetic_dataset, read_synthetic_manifest
from stemunet.data.tracks import (SOURCE_NAMES, StreamInfo, TrackExcerpt, is_stem_file, is_wav_layout, list_tracks,
                                  read_track_excerpt, resolve_root, stream_infos, track_label)
from stemunet.files import write_json_atomic, write_text_atomic
from stemunet.lab.track_analysis import (BAND_EDGES_HZ, analyse_track, consistency_problems, power_db, silent_share,
                                         spectrum_frequencies, stream_agreement)
from stemunet.progress import progress_bar

SUBSET_NAMES = ("train", "test")




@dataclasses.dataclass(frozen=True)
class ExploreConfig(Config):
    """What ``explore.ipynb`` analyses and shows."""

    data: DataConfig = DataConfig()
    subsets: tuple[str, ...] = ("train", "test")  # which subsets to list and analyse
    max_tracks: int = 0  # tracks analysed per subset, the first by name (0 = all)
    silence_threshold_db: float = -60.0  # a 100 ms frame quieter than this (RMS, dBFS) is silent
    track: str = ""  # track shown in detail (spectrograms, players); "" = the first analysed one
    start_seconds: float = 0.0  # where the detailed excerpt starts
    listen_seconds: float = 6.0  # length of the detailed excerpt (spectrograms and players)

    def __post_init__(self) -> None:
        if not self.subsets:
            raise ConfigError("subsets must name at least one of 'train', 'test'")
        for subset in self.subsets:
            if subset not in SUBSET_NAMES:
                raise ConfigError(f"subsets: {subset!r} is not one of {list(SUBSET_NAMES)}")
        if self.max_tracks < 0:
            raise ConfigError(f"max_tracks must be >= 0 (0 = all), got {self.max_tracks}")
        if self.silence_threshold_db >= 0:
            raise ConfigError(f"silence_threshold_db must be negative (dBFS), got {self.silence_threshold_db}")
        if self.start_seconds < 0:
            raise ConfigError(f"start_seconds must be >= 0, got {self.start_seconds}")
        if self.listen_seconds <= 0:
            raise ConfigError(f"listen_seconds must be > 0, got {self.listen_seconds}")


def validation_track_names(root: Path) -> set[str]:
    """Names of the train tracks set aside for validation: the manifest's, or MUSDB18's official ones."""
    if is_synthetic_dataset(root):
        return set(read_synthetic_manifest(root)["validation_tracks"])
    return {track.name for track in list_tracks(root, "train", "valid")}


@dataclass
class Exploration:
    """What :func:`explore_dataset` found. Tables are pandas DataFrames.

    * ``tracks``: subset, split (train/valid/test), track, duration_seconds, sample_rate,
      n_channels, format (wav/stem.mp4), analysed (bool).
    * ``loudness``: one row per analysed track and source (mixture and stems): subset, track,
      source, active_median_db (median frame RMS of non-silent frames, dBFS), silent_share.
    * ``checks``: one row per analysed or broken track: subset, track, files_present,
      lengths_agree, rates_agree, channels_agree (from the files' headers), residual_db (mixture
      minus the sum of the stems relative to the mixture) and mixture_peak_db (>= 0: clipped);
      the last two are NaN for a track that was not analysed.
    * ``problems``: subset, track, problem; empty when all is well.
    * ``frame_db``: source -> every analysed frame's RMS in dBFS (for distributions).
    * ``spectra``: index frequency_hz, one column per source: mean power spectrum in dB re a
      full-scale sine, over all analysed frames.
    """

    root: Path
    synthetic: bool
    silence_threshold_db: float
    tracks: pd.DataFrame
    loudness: pd.DataFrame
    checks: pd.DataFrame
    problems: pd.DataFrame
    frame_db: dict[str, np.ndarray]
    spectra: pd.DataFrame
    musdb_tracks: list[musdb.audio.MultiTrack] = field(default_factory=list, repr=False)
    """Listed tracks without problems, in table order (for the detail view and players)."""

    def loudness_summary(self) -> pd.DataFrame:
        """Per source over all analysed frames: active median / 10th / 90th percentile (dBFS) and silent share."""
        rows = []
        for source, frame_db in self.frame_db.items():
            active = frame_db[frame_db >= self.silence_threshold_db]
            percentiles = np.percentile(active, [10, 50, 90]) if active.size else [np.nan] * 3
            rows.append({
                "source": source,
                "active_median_db": percentiles[1],
                "active_p10_db": percentiles[0],
                "active_p90_db": percentiles[2],
                "silent_share": silent_share(frame_db, self.silence_threshold_db),
                "n_frames": frame_db.size,
            })
        return pd.DataFrame(rows).set_index("source")

    def synthetic_songs(self) -> pd.DataFrame:
        """How each song of a synthetic set was played, from its manifest: tempo, key, and per part
        its instruments (the General MIDI preset's name when sampled from the SoundFont, else
        ``additive``; design 3 adds the SoundFont's name: ``Fingered Bass (FluidR3_GM)``, and the
        singer of songs not formant-sung: ``female, none (NIT SONG070 F001)``). Empty for a real data set. How each stem was mixed: :meth:`synthetic_production`."""
        rows = []
        for subset, name, info in self._synthetic_track_infos():
            rows.append({
                "subset": subset, "track": name, "bpm": info["bpm"], "key": f"{info['key']} {info['mode']}",
                "drums": _instrument(info["drums"].get("instrument", "additive")) + _soundfont_of(info["drums"]),
                "bass": info["bass"]["timbre"] + _soundfont_of(info["bass"]),
                "other": ", ".join(f"{role}: {_instrument(kind)}" for role, kind in info["other"].get("instruments", {}).items())
                + _soundfont_of(info["other"]),
                "vocals": f"{info['vocals']['voice']}, {info['vocals']['backing']}" + _singer_of(info["vocals"]),
            })
        return pd.DataFrame(rows).set_index(["subset", "track"]) if rows else pd.DataFrame()

    def synthetic_production(self) -> pd.DataFrame:
        """Which mixing processes each song's stems went through: one column per process (EQ,
        compressor, saturation, delay, hum), holding the initials of the stems it ran on (``D B O V``
        for drums, bass, other, vocals; ``–`` none), and whether the mix bus was compressed. Empty
        for a real data set."""
        rows = []
        for subset, name, info in self._synthetic_track_infos():
            produced = info.get("production", {})
            processes = sorted({process for stem in STEM_NAMES for process in produced.get(stem, {})}, key=_process_order)
            row: dict[str, Any] = {"subset": subset, "track": name}
            for process in processes:
                row[process] = " ".join(stem[0].upper() for stem in STEM_NAMES if process in produced.get(stem, {})) or "–"
            row["bus compressor"] = "yes" if "bus_compressor" in produced else "no"
            rows.append(row)
        if not rows:
            return pd.DataFrame()
        table = pd.DataFrame(rows).set_index(["subset", "track"]).fillna("–")
        return table[[*sorted((c for c in table.columns if c != "bus compressor"), key=_process_order), "bus compressor"]]

    def _synthetic_track_infos(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(subset, track, manifest entry)`` of every song of a synthetic set; none for a real one."""
        if not self.synthetic:
            return []
        manifest = read_synthetic_manifest(self.root)
        return [(subset, name, manifest["track_info"][name]) for subset in ("train", "test") for name in manifest["tracks"].get(subset, [])]

    def per_track(self, column: str = "silent_share") -> pd.DataFrame:
        """``loudness[column]`` as a table: one row per analysed track, one column per source."""
        table = self.loudness.pivot(index=["subset", "track"], columns="source", values=column)
        return table.reindex(columns=[s for s in self.loudness["source"].drop_duplicates() if s in table.columns])

    def band_energy(self, edges_hz: tuple[float, ...] = BAND_EDGES_HZ) -> pd.DataFrame:
        """Share (%) of each source's average power in each frequency band: rows sources, columns bands.

        Stems with large shares in the same band compete there: the mask must split that band's
        energy between them.
        """
        if self.spectra.empty:
            return pd.DataFrame()
        frequencies = self.spectra.index.to_numpy()
        edges = [0.0, *edges_hz, float("inf")]
        labels = [f"{_hz(low)}-{_hz(high)}" if np.isfinite(high) else f">{_hz(low)}" for low, high in zip(edges[:-1], edges[1:])]
        labels[0] = f"<{_hz(edges[1])}"
        rows = {}
        for source in self.spectra.columns:
            power = 10 ** (self.spectra[source].to_numpy(dtype=np.float64) / 10)
            total = power.sum()
            rows[source] = [100 * power[(frequencies >= low) & (frequencies < high)].sum() / total if total > 0 else np.nan
                            for low, high in zip(edges[:-1], edges[1:])]
        return pd.DataFrame.from_dict(rows, orient="index", columns=labels).rename_axis("source")

    def summary(self) -> dict:
        """Key numbers as plain Python values (written to ``summary.json``)."""
        loudness = self.loudness_summary()
        splits = self.tracks.groupby("split").size().to_dict() if len(self.tracks) else {}
        residuals = self.checks["residual_db"].dropna()
        return {
            "root": str(self.root),
            "synthetic": self.synthetic,
            "n_tracks": int(len(self.tracks)),
            "tracks_per_split": {k: int(v) for k, v in splits.items()},
            "n_analysed": int(self.tracks["analysed"].sum()) if len(self.tracks) else 0,
            "n_problems": int(len(self.problems)),
            "silence_threshold_db": self.silence_threshold_db,
            "active_median_db": {k: _plain(v) for k, v in loudness["active_median_db"].items()},
            "silent_share": {k: _plain(v) for k, v in loudness["silent_share"].items()},
            "residual_db_max": _plain(residuals.max()) if len(residuals) else None,
        }

    def describe(self) -> str:
        """The summary in one paragraph."""
        summary = self.summary()
        kind = "the synthetic set" if self.synthetic else ("MUSDB18-HQ layout, wav" if is_wav_layout(self.root) else "MUSDB18 layout, .stem.mp4")
        splits = ", ".join(f"{n} {split}" for split, n in summary["tracks_per_split"].items())
        problems = f"{summary['n_problems']} problem(s): see the problems table" if summary["n_problems"] else "no problems found"
        return f"{self.root} ({kind}): {summary['n_tracks']} tracks ({splits}); {summary['n_analysed']} analysed; {problems}."

    def save(self, folder: str | Path) -> list[Path]:
        """Write the tables as CSV and the summary as JSON into ``folder``; returns the paths."""
        folder = Path(folder)
        paths = []
        for name in ("tracks", "loudness", "checks", "problems"):
            paths.append(write_text_atomic(folder / f"{name}.csv", getattr(self, name).to_csv(index=False)))
        paths.append(write_text_atomic(folder / "spectra.csv", self.spectra.to_csv()))
        paths.append(write_json_atomic(folder / "summary.json", self.summary()))
        return paths

    def find_track(self, name: str = "") -> musdb.audio.MultiTrack:
        """A listed, problem-free track by name (``name`` or ``subset/name``); "" = the first."""
        if not self.musdb_tracks:
            raise ValueError(f"{self.root}: no usable track (see the problems table)")
        if not name:
            return self.musdb_tracks[0]
        for track in self.musdb_tracks:
            if name in (track.name, track_label(track)):
                return track
        names = [track_label(t) for t in self.musdb_tracks]
        raise ValueError(f"no usable track {name!r} in {self.root}; usable tracks: {names}")

    def excerpt(self, name: str = "", start_seconds: float = 0.0, duration_seconds: float | None = None) -> TrackExcerpt:
        """:func:`read_track_excerpt` of :meth:`find_track` ``(name)``."""
        return read_track_excerpt(self.find_track(name), start_seconds, duration_seconds)


CHECK_COLUMNS = ["subset", "track", "files_present", "lengths_agree", "rates_agree", "channels_agree", "residual_db", "mixture_peak_db"]


def _hz(value: float) -> str:
    return f"{value / 1000:g} kHz" if value >= 1000 else f"{value:g} Hz"


def _plain(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 3)


def _problems_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["subset", "track", "problem"])


PRODUCTION_ORDER = ("eq", "compressor", "saturation", "delay", "hum")
"""The order a mix engineer's chain runs in, for the production table's columns."""


def _process_order(process: str) -> tuple[int, str]:
    return (PRODUCTION_ORDER.index(process) if process in PRODUCTION_ORDER else len(PRODUCTION_ORDER), process)


def _instrument(description: str) -> str:
    """``sampled: Steel Guitar`` -> ``Steel Guitar``: a preset name says it was sampled; ``additive`` stays."""
    return description.removeprefix("sampled: ")


def _soundfont_of(part: dict[str, Any]) -> str:
    """`` (FluidR3_GM)``: the SoundFont a design-3 part was sampled from; empty when it names none."""
    file = part.get("soundfont", {}).get("file")
    return f" ({Path(file).stem})" if file else ""


def _singer_of(vocals: dict[str, Any]) -> str:
    """`` (NIT SONG070 F001)``: the voice that sang a design-3 song; empty when formant-sung."""
    name = vocals.get("singer", {}).get("name", "")
    return f" ({name})" if name and not name.startswith("formant") else ""


def dataset_root(data: DataConfig, *, progress: bool = True) -> Path:
    """:func:`~stemunet.data.tracks.resolve_root`, with a hint on what to do when the folder is wrong."""
    try:
        return resolve_root(data, progress=progress)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"{error}. Set musdb_root to a MUSDB18 (.stem.mp4) or MUSDB18-HQ (wav folders) folder "
            "holding train/ and test/, or leave it empty for the embedded synthetic set."
        ) from None


def explore_dataset(config: ExploreConfig, *, progress: bool = True) -> Exploration:
    """List and analyse the data set ``config.data`` describes (see the module docstring).

    Raises:
        FileNotFoundError: ``musdb_root`` is not a folder, or holds neither ``train/`` nor ``test/``.
    """
    root = dataset_root(config.data, progress=progress)
    survey = _Survey()
    if config.data.dataset == "folders":  # splits from sub-folders, list files or valid_root
        for subset in config.subsets:
            splits = ("train", "valid") if subset == "train" else (subset,)
            for split in splits:
                tracks = list_tracks(config.data, subset, split if subset == "train" else None)
                for index, track in enumerate(tracks):
                    survey.check(subset, split, track, analyse=config.max_tracks == 0 or index < config.max_tracks)
        return _explored(config, root, survey, progress)
    valid_names = validation_track_names(root) if "train" in config.subsets and (root / "train").is_dir() else set()
    for subset in config.subsets:
        if not (root / subset).is_dir():
            survey.problems.append({"subset": subset, "track": "", "problem": f"no {subset}/ folder in {root}"})
            continue
        tracks = list_tracks(root, subset)
        if not tracks:
            kind = "track folders" if is_wav_layout(root) else ".stem.mp4 files"
            survey.problems.append({"subset": subset, "track": "", "problem": f"{root / subset} holds no {kind}"})
        for index, track in enumerate(tracks):
            split = subset if subset == "test" else ("valid" if track.name in valid_names else "train")
            survey.check(subset, split, track, analyse=config.max_tracks == 0 or index < config.max_tracks)
    return _explored(config, root, survey, progress)


def _explored(config: ExploreConfig, root: Path, survey: _Survey, progress: bool) -> Exploration:
    """Analyse the tracks ``survey`` queued, and gather everything into an :class:`Exploration`."""
    loudness = _Loudness(config.silence_threshold_db)
    for track, infos in progress_bar(survey.to_analyse, desc="analysing tracks", disable=not progress):
        rate = infos[0].sample_rate
        try:
            analysis = analyse_track(track, rate)
        except Exception as error:  # a corrupt file: report it and go on with the others
            survey.problems.append({"subset": track.subset, "track": track.name, "problem": f"could not be read: {error}"})
            continue
        loudness.add(track, rate, analysis)
        survey.checks[(track.subset, track.name)].update(residual_db=analysis.residual_db, mixture_peak_db=analysis.mixture_peak_db)
    return Exploration(
        root=root,
        synthetic=is_synthetic_dataset(root),
        silence_threshold_db=config.silence_threshold_db,
        tracks=pd.DataFrame(survey.track_rows, columns=["subset", "split", "track", "duration_seconds", "sample_rate", "n_channels", "format", "analysed"]),
        loudness=pd.DataFrame(loudness.rows, columns=["subset", "track", "source", "active_median_db", "silent_share"]),
        checks=pd.DataFrame(list(survey.checks.values()), columns=CHECK_COLUMNS),
        problems=_problems_frame(survey.problems),
        frame_db={name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in loudness.frame_db.items()},
        spectra=loudness.mean_spectra(),
        musdb_tracks=survey.usable,
    )


@dataclass
class _Survey:
    """What :func:`explore_dataset` learns from the files' headers, track by track: a row per track,
    the problems, the consistency checks, the usable tracks and those to analyse."""

    track_rows: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    checks: dict[tuple[str, str], dict] = field(default_factory=dict)
    usable: list[musdb.audio.MultiTrack] = field(default_factory=list)
    to_analyse: list[tuple[musdb.audio.MultiTrack, list[StreamInfo]]] = field(default_factory=list)

    def check(self, subset: str, split: str, track: musdb.audio.MultiTrack, *, analyse: bool) -> None:
        """Read ``track``'s stream headers and check them; queue it for analysis if ``analyse`` and readable."""
        infos, missing = stream_infos(track)
        agreement = stream_agreement(infos)
        track_problems = missing + consistency_problems(infos)
        mixture = next((info for info in infos if info.name == "mixture"), infos[0] if infos else None)
        # Streams of different lengths are analysed over their common part; a missing or
        # unreadable file, or streams that differ in rate or channels, cannot be summed.
        readable = not missing and agreement["rates_agree"] and agreement["channels_agree"]
        analysed = analyse and readable
        self.track_rows.append({
            "subset": subset,
            "split": split,
            "track": track.name,
            "duration_seconds": mixture.n_samples / mixture.sample_rate if mixture else np.nan,
            "sample_rate": mixture.sample_rate if mixture else np.nan,
            "n_channels": mixture.n_channels if mixture else np.nan,
            "format": "stem.mp4" if is_stem_file(track) else "wav",
            "analysed": analysed,
        })
        self.problems.extend({"subset": subset, "track": track.name, "problem": p} for p in track_problems)
        if not track_problems:
            self.usable.append(track)
        if analysed or track_problems:
            self.checks[(subset, track.name)] = {
                "subset": subset,
                "track": track.name,
                "files_present": not missing,
                **agreement,
                "residual_db": np.nan,
                "mixture_peak_db": np.nan,
            }
        if analysed:
            self.to_analyse.append((track, infos))


@dataclass
class _Loudness:
    """The analysed tracks' loudness rows, frame levels (dB) and power spectra, per source."""

    silence_threshold_db: float
    rows: list[dict] = field(default_factory=list)
    # Per source, in first-seen order: the mixture and MUSDB18's four, or a folders data set's stems.
    frame_db: dict[str, list[np.ndarray]] = field(default_factory=dict)
    spectra: dict[str, list[np.ndarray]] = field(default_factory=dict)
    spectrum_weights: list[int] = field(default_factory=list)
    source_weights: dict[str, list[int]] = field(default_factory=dict)  # each source's tracks' lengths
    common_rate: int | None = None

    def add(self, track: musdb.audio.MultiTrack, rate: int, analysis) -> None:
        """Take in one track's :func:`analyse_track` result (read at ``rate`` Hz)."""
        self.common_rate = self.common_rate or rate
        for name in analysis.frame_db:
            frames = analysis.frame_db[name]
            active = frames[frames >= self.silence_threshold_db]
            self.rows.append({
                "subset": track.subset,
                "track": track.name,
                "source": name,
                "active_median_db": float(np.median(active)) if active.size else np.nan,
                "silent_share": silent_share(frames, self.silence_threshold_db),
            })
            self.frame_db.setdefault(name, []).append(frames)
            # Tracks at another rate are put on the first track's frequency grid.
            self.spectra.setdefault(name, []).append(
                np.interp(spectrum_frequencies(self.common_rate), spectrum_frequencies(rate), analysis.spectrum_power[name])
            )
            self.source_weights.setdefault(name, []).append(analysis.n_samples_read)
        self.spectrum_weights.append(analysis.n_samples_read)

    def mean_spectra(self) -> pd.DataFrame:
        """Each source's power spectrum in dB, averaged over the tracks weighted by their length
        (rows: frequency in Hz on the first track's grid; columns: sources)."""
        if not self.spectrum_weights:
            return pd.DataFrame(columns=list(SOURCE_NAMES), index=pd.Index([], name="frequency_hz"))
        # A stem only some tracks have is averaged over those (a folders data set's optional stems).
        mean_power = {name: np.average(np.stack(parts), axis=0, weights=self.source_weights[name])
                      for name, parts in self.spectra.items() if parts}
        return pd.DataFrame(
            {name: power_db(power) for name, power in mean_power.items()},
            index=pd.Index(spectrum_frequencies(self.common_rate), name="frequency_hz"),
        )
