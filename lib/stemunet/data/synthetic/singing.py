"""A real singer for design 3's vocals: a melody sung, on Japanese syllables, by Sinsy's HMM voice
of a recorded singer (the optional ``pysinsy`` package).

Sinsy (the HMM-based singing voice synthesis system of the Nagoya Institute of Technology) sings a
MusicXML score with an HTS voice; ``pysinsy`` (MIT) wraps it and ships one voice,
``nitech_jp_song070_f001.htsvoice``, trained on the NIT SONG070 F001 database (70 Japanese
children's songs by one female singer), licensed CC BY 3.0 by the Nagoya Institute of Technology.
Audio it sings is data made with the voice: the manifest attributes every song it sang
(``track_info[song]["vocals"]["singer"]``, :data:`SINSY_SINGER`) and the set's cache name keys on
the voice file's sha256 (:func:`singer_fingerprint`), so a machine without pysinsy never shares a
cached set with one that has it.

Sinsy renders at 48 kHz; the line is resampled to the song's rate with
:func:`stemunet.audio.resample`. Its timing is the score's: a note's vowel starts at its beat (its
consonant just before), so the sung line sits on the plan's grid as the formant singer's does. Two
flaws of the voice are mended: its synthesis filter's occasional blow-ups are silenced
(:func:`repair_bursts`) and its notes, often 1-3 semitones off the written pitch, are tuned
(:func:`tune`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from scipy.ndimage import distance_transform_edt

from stemunet.files import cached_file_sha256

__all__ = ["SungNote", "SINSY_SINGER", "SYLLABLES", "singer_available", "singer_fingerprint", "score_musicxml",
           "repair_bursts", "tune", "sing"]

SINSY_SINGER = {
    "name": "NIT SONG070 F001",
    "synthesiser": "Sinsy (HMM singing voice synthesis) via pysinsy",
    "voice_file": "nitech_jp_song070_f001.htsvoice",
    "licence": "CC BY 3.0",
    "copyright": "Copyright (c) 2004-2015 Nagoya Institute of Technology, Department of Computer Science "
                 "(the Nitech Japanese speech database NIT SONG070 F001, released by the HTS Working Group)",
}
"""What the manifest records of a song this voice sang: its attribution (CC BY 3.0 asks for it)."""

SYLLABLES = tuple("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわがぎぐげござじずぜぞだでどばびぶべぼぱぴぷぺぽ")
"""The kana a sung line's lyrics are drawn from (Japanese consonant-vowel syllables Sinsy's
dictionary knows): vowels, the unvoiced and voiced rows and the n, m, y, r, w rows."""

_SINSY_RATE = 48000  # Hz, the rate of the NIT voices
_DIVISIONS = 480  # MusicXML divisions per beat (a quarter note): score times are rounded to 1/480 beat
_BEATS_PER_BAR = 4


@dataclass(frozen=True)
class SungNote:
    """One sung note: onset and length in beats (from the song's start), MIDI pitch, its syllable
    (a kana of :data:`SYLLABLES`) and whether a breath follows it (the last note of a phrase)."""

    beat: float
    length: float
    pitch: int
    syllable: str
    breath_after: bool = False


@lru_cache(maxsize=1)
def _pysinsy_works() -> bool:
    """Whether ``import pysinsy`` succeeds (it needs pkg_resources, gone from setuptools 82 on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources' deprecation warning
        try:
            import pysinsy  # noqa: F401
        except ImportError:
            return False
    return True


def _voice_path() -> Path | None:
    """The HTS voice file inside the installed pysinsy package; None without a working pysinsy."""
    spec = importlib.util.find_spec("pysinsy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "htsvoice" / SINSY_SINGER["voice_file"]
    return path if path.is_file() and _pysinsy_works() else None


def singer_available() -> bool:
    """Whether pysinsy and its voice are installed (then design 3 sings some songs with it)."""
    return _voice_path() is not None


def singer_fingerprint() -> dict[str, str] | None:
    """What a set's cache name and manifest record of the singer: the voice's name, licence, file
    name and sha256 (None without pysinsy)."""
    path = _voice_path()
    if path is None:
        return None
    return {"name": SINSY_SINGER["name"], "licence": SINSY_SINGER["licence"], "file": path.name,
            "sha256": cached_file_sha256(path)}


_STEPS = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
_ALTERS = (0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0)


def _pitch_xml(midi: int) -> str:
    alter = f"<alter>{_ALTERS[midi % 12]}</alter>" if _ALTERS[midi % 12] else ""
    return f"<pitch><step>{_STEPS[midi % 12]}</step>{alter}<octave>{midi // 12 - 1}</octave></pitch>"


def score_musicxml(notes: list[SungNote], bpm: float, total_beats: float) -> str:
    """A one-part MusicXML score (4/4 at ``bpm``) singing ``notes`` (in time order, not overlapping)
    with rests between them, up to ``total_beats`` and one bar of rest after: notes crossing a bar
    line are tied, the syllable sung on their first piece."""
    bar = _BEATS_PER_BAR * _DIVISIONS
    events: list[tuple[int, int, SungNote | None]] = []  # start, length (divisions), note (None: rest)
    cursor = 0
    for note in notes:
        start, end = int(round(note.beat * _DIVISIONS)), int(round((note.beat + note.length) * _DIVISIONS))
        start = max(start, cursor)
        if end <= start:
            continue
        if start > cursor:
            events.append((cursor, start - cursor, None))
        events.append((start, end - start, note))
        cursor = end
    n_bars = int(np.ceil(max(cursor, total_beats * _DIVISIONS) / bar)) + 1  # a bar of rest at the end
    if n_bars * bar > cursor:
        events.append((cursor, n_bars * bar - cursor, None))
    measures: list[list[str]] = [[] for _ in range(n_bars)]
    for start, length, note in events:
        first = True
        while length > 0:  # split at bar lines
            index, offset = divmod(start, bar)
            piece = min(length, bar - offset)
            if note is None:
                measures[index].append(f"<note><rest/><duration>{piece}</duration></note>")
            else:
                ties = ([] if first else ['<tie type="stop"/>']) + (['<tie type="start"/>'] if piece < length else [])
                notations = "".join(f"<tied{tie[4:]}" for tie in ties)
                articulation = "<articulations><breath-mark/></articulations>" if note.breath_after and piece == length else ""
                lyric = f"<lyric><text>{escape(note.syllable)}</text></lyric>" if first else ""
                measures[index].append(
                    f"<note>{_pitch_xml(note.pitch)}<duration>{piece}</duration>{''.join(ties)}"
                    f"{f'<notations>{notations}{articulation}</notations>' if notations or articulation else ''}"
                    f"{lyric}</note>")
            start, length, first = start + piece, length - piece, False
    body = []
    for index, content in enumerate(measures):
        head = (f"<attributes><divisions>{_DIVISIONS}</divisions><time><beats>{_BEATS_PER_BAR}</beats>"
                f"<beat-type>4</beat-type></time><key><fifths>0</fifths><mode>major</mode></key></attributes><sound tempo=\"{bpm!r}\"/>") if index == 0 else ""
        body.append(f'<measure number="{index + 1}">{head}{"".join(content)}</measure>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="3.0"><part-list>'
            '<score-part id="P1"><part-name>Voice</part-name></score-part></part-list>'
            f'<part id="P1">{"".join(body)}</part></score-partwise>\n')


def repair_bursts(waveform: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """``waveform`` (Sinsy's output, 16-bit scale) with its filter blow-ups silenced, and how many
    samples were silenced.

    Sinsy's MLSA synthesis filter is sometimes unstable for a few milliseconds where the voice
    turns unvoiced (a plosive, the end of a phrase): the samples grow exponentially to 1e9..1e30
    and the filter recovers tens of milliseconds later. Such 5 ms frames (peak above 32767, the
    16-bit range Sinsy writes to, or above 6 times the median peak of the sounding frames) are
    silenced with 10 ms on either side (the divergence starts before it shows) and 5 ms fades:
    a short gap, as a stop consonant or a breath leaves, where the burst was."""
    frame = max(1, int(0.005 * sample_rate))
    n_frames = -(-waveform.size // frame)
    padded = np.zeros(n_frames * frame)
    padded[:waveform.size] = np.abs(waveform)
    peaks = np.nan_to_num(padded.reshape(n_frames, frame).max(axis=1), nan=np.inf)
    sounding = peaks[(peaks > 100.0) & (peaks <= 32767.0)]
    limit = min(32767.0, 6.0 * float(np.median(sounding))) if sounding.size else 32767.0
    broken = peaks > limit
    if not broken.any():
        return waveform, 0
    reach = 2  # frames (10 ms) either side
    gap = np.repeat(np.convolve(broken.astype(float), np.ones(2 * reach + 1), mode="same") > 0, frame)[:waveform.size]
    # Raised-cosine fades over the 5 ms outside each gap: the gain at distance d from it.
    distance = distance_transform_edt(~gap)
    gain = 0.5 - 0.5 * np.cos(np.pi * np.minimum(distance / frame, 1.0))
    repaired = np.where(gap, 0.0, np.nan_to_num(waveform) * gain)
    return repaired, int(np.count_nonzero(gain < 1.0))


_TUNE_LEAD_S = 0.04  # a note's region starts this long before its onset (its consonant)
_TUNE_FADE_S = 0.02  # cross-fade between the regions of consecutive notes
_TUNE_LIMIT = 5.0  # semitones: a larger correction would be a mis-estimate


def tune(line: np.ndarray, notes: list[SungNote], bpm: float, sample_rate: int) -> tuple[np.ndarray, list[float]]:
    """``line`` (mono, beat 0 at sample 0) with each note brought to its written pitch, and the
    correction of each note in semitones.

    The NIT SONG070 F001 voice sings a written pitch 1-3 semitones off in much of its range (its
    pitch models cover the pitches of 70 children's songs, not every note). Each note's sung
    pitch is the median YIN estimate over the middle of the note; the note's region (from just
    before its consonant to the next note's) is pitch-shifted by the difference
    (:func:`librosa.effects.pitch_shift`, duration kept) and the regions are cross-faded, so
    Sinsy's vibrato, scoops and timbre stay and the line follows the melody."""
    import librosa

    seconds_per_beat = 60.0 / bpm
    starts = [max(0, int(round((note.beat * seconds_per_beat - _TUNE_LEAD_S) * sample_rate))) for note in notes]
    bounds = starts[1:] + [line.size]
    fade = max(1, int(_TUNE_FADE_S * sample_rate))
    frame = 2048 if sample_rate > 30000 else 1024
    out = np.zeros_like(line)
    weight_total = np.zeros_like(line)
    corrections = []
    for note, start, end in zip(notes, starts, bounds):
        onset = int(note.beat * seconds_per_beat * sample_rate)
        length = int(note.length * seconds_per_beat * sample_rate)
        middle = line[onset + length // 4:onset + length - length // 6]
        shift = 0.0
        if middle.size >= 2 * frame and np.sqrt(np.mean(middle ** 2)) > 1e-3:
            f0 = librosa.yin(middle, fmin=100.0, fmax=1100.0, sr=sample_rate, frame_length=frame)
            sung = float(np.median(librosa.hz_to_midi(f0)))
            if abs(note.pitch - sung) <= _TUNE_LIMIT:
                shift = note.pitch - sung
        corrections.append(round(shift, 2))
        begin, finish = max(0, start - fade), min(line.size, end + fade)
        if finish <= begin:
            continue
        segment = line[begin:finish]
        if abs(shift) >= 0.05:
            segment = librosa.effects.pitch_shift(segment, sr=sample_rate, n_steps=shift, res_type="soxr_hq")
        # A trapezoid: up over the fade around the region's start, down over the one around its
        # end; consecutive regions' ramps overlap exactly, so the weights sum to 1.
        t = np.arange(begin, finish)
        weight = np.clip((t - (start - fade)) / (2 * fade), 0.0, 1.0) * np.clip((end + fade - t) / (2 * fade), 0.0, 1.0)
        out[begin:finish] += weight * segment
        weight_total[begin:finish] += weight
    covered = weight_total > 0
    out[covered] /= weight_total[covered]
    out[~covered] = line[~covered]
    return out, corrections


@contextlib.contextmanager
def _c_stderr_discarded():
    """Within: what C code writes to the process's stderr (file descriptor 2) is discarded."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def sing(notes: list[SungNote], bpm: float, sample_rate: int, n_samples: int) -> tuple[np.ndarray, float, list[float]]:
    """``notes`` sung by the Sinsy voice at ``bpm``, beat 0 at sample 0: mono float64 (n_samples,)
    at ``sample_rate`` Hz, peak 1 (silence if nothing was sung); the seconds of filter bursts
    silenced in it (:func:`repair_bursts`) and each note's pitch correction in semitones
    (:func:`tune`). Deterministic: the same notes give the same samples. Raises RuntimeError if
    pysinsy is missing or Sinsy fails."""
    path = _voice_path()
    if path is None:
        raise RuntimeError("the Sinsy singer needs pysinsy (pip install pysinsy)")
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources' deprecation warning
        import pysinsy

    from stemunet.audio import resample

    total_beats = n_samples / sample_rate * bpm / 60.0
    with tempfile.TemporaryDirectory(prefix="stemunet-sinsy-") as folder:
        score = Path(folder) / "score.xml"
        score.write_text(score_musicxml(notes, bpm, total_beats), encoding="utf-8")
        synthesiser = pysinsy.Sinsy()
        if not synthesiser.setLanguages("j", pysinsy.get_default_dic_dir()) or not synthesiser.loadVoices(str(path)):
            raise RuntimeError(f"Sinsy could not load its Japanese dictionary or the voice {path.name}")
        if not synthesiser.loadScoreFromMusicXML(str(score)):
            raise RuntimeError("Sinsy could not read the score it was given")
        with _c_stderr_discarded():  # hts_engine warns of each note shorter than its model's states
            waveform, rate = synthesiser.synthesize()
        synthesiser.clearScore()
    if rate != _SINSY_RATE:
        raise RuntimeError(f"the Sinsy voice renders at {rate} Hz, expected {_SINSY_RATE}")
    waveform, silenced = repair_bursts(np.asarray(waveform, dtype=np.float64), rate)
    line = resample(torch.from_numpy(np.ascontiguousarray(waveform)), rate, sample_rate).numpy()[:n_samples]
    line, corrections = tune(line, notes, bpm, sample_rate)
    out = np.zeros(n_samples)
    out[:min(n_samples, line.size)] = line[:n_samples]
    peak = float(np.max(np.abs(out)))
    return (out / peak if peak > 0 else out), silenced / rate, corrections
