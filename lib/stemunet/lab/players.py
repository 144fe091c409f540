"""Audio players that play without a kernel: MP3 bytes of a waveform, links to the files beside a
notebook, and the synced player (one transport over the mixture, references and estimates of one
excerpt, one source audible; its script is ``synced_player.js``), with the :class:`Player` a
widget shows."""

from __future__ import annotations

import base64
import html
import io
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from matplotlib.figure import Figure

from stemunet.lab.plots import plot_spectrogram
from stemunet.lab.runs import short_path
from stemunet.runfolders import project_root

CONTEXT_SECONDS = 1.0
"""Audio separated on each side of an excerpt and then cut off: the model hears the excerpt's
borders with context, as it would inside a whole track."""

DISPLAY_MAX_FREQUENCY = 8000.0
"""Top of the spectrograms (Hz): where the stems differ most visibly."""


# --------------------------------------------------------------------------------------------
# Encoding audio and pictures for the browser
# --------------------------------------------------------------------------------------------


PLAYER_FORMAT = ("MP3", "MPEG_LAYER_III", "audio/mpeg", "mp3")
"""How players carry their audio in a notebook: MP3 (soundfile's, every browser plays it), about a
tenth of 16-bit WAV, so that executed notebooks stay small (widget state and HTML outputs)."""

PLAYER_SECONDS = 10.0
"""Longest audio a static player embeds; the files it links to hold the rest."""


MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
"""The sample rates MP3 can carry (Hz); players of audio at any other rate are resampled to the next one up (at most 48 kHz)."""


def player_bytes(waveform: np.ndarray, sample_rate: int) -> bytes:
    """:data:`PLAYER_FORMAT` file contents of ``(n_channels, n_samples)`` audio (clipped to [-1, 1]).

    Levels are kept as they are (no normalisation): players compare loudness too. Audio at a rate
    MP3 cannot carry (96 kHz, say) is resampled (:data:`MP3_RATES`); more than two channels are
    averaged to one.
    """
    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float32))
    if audio.shape[0] > 2:
        audio = audio.mean(axis=0, keepdims=True)
    rate = int(sample_rate)
    if rate not in MP3_RATES:
        import torch

        from stemunet.audio import resample

        new_rate = next((r for r in MP3_RATES if r >= rate), MP3_RATES[-1])
        audio, rate = resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, new_rate).numpy(), new_rate
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0).T, rate, format=PLAYER_FORMAT[0], subtype=PLAYER_FORMAT[1])
    return buffer.getvalue()


def file_link(file: str | Path, notebook_folder: str | Path) -> str:
    """A link to ``file`` from a notebook saved in ``notebook_folder``, relative, where JupyterLab
    serves both (inside the project it was started in: ``make lab``), so it works from a source
    notebook in ``notebooks/`` as from a run folder; "" for a file it does not serve."""
    file, folder = Path(file).resolve(), Path(notebook_folder).resolve()
    project = project_root()
    served = project.resolve() if project is not None and folder.is_relative_to(project.resolve()) else folder
    return os.path.relpath(file, folder) if file.is_relative_to(served) else ""


def audio_players(
    named: Mapping[str, np.ndarray],
    sample_rate: int,
    *,
    files: Mapping[str, str | Path] | None = None,
    notebook_folder: str | Path | None = None,
    max_seconds: float = PLAYER_SECONDS,
    title: str = "",
) -> Any:
    """A synced player (:func:`synced_player_html`) of labelled ``(n_channels, n_samples)``
    waveforms, at most ``max_seconds`` each.

    ``files``: the full-length file behind each name, linked from ``notebook_folder`` (where the
    notebook is saved: :attr:`stemunet.lab.runs.Run.links_from`; :func:`file_link`), for viewers
    whose notebook is not trusted. A file JupyterLab does not serve (a separated input outside the
    project, say) is named as text, not linked: a link would lead nowhere.
    """
    from IPython.display import HTML

    limit = int(max_seconds * sample_rate)
    links, locations = {}, {}
    for name, file in (files or {}).items():
        links[name] = str(file) if notebook_folder is None else file_link(file, notebook_folder)
        locations[name] = "" if links[name] else str(Path(file).resolve())
    players = [Player(name, np.asarray(waveform)[..., :limit], sample_rate) for name, waveform in named.items()]
    return HTML(synced_player_html(players, title=title, links=links, locations=locations))


# --------------------------------------------------------------------------------------------
# The synced player
# --------------------------------------------------------------------------------------------


PEAK_COLUMNS = 800
"""Columns of the waveform a synced player draws (min and max of each): about 2 kB a source."""

SYNCED_PLAYER_SCRIPT = "synced_player.js"
"""The player's script (package data beside this module), embedded in every player's HTML."""


def waveform_peaks(waveforms: Sequence[np.ndarray], n_columns: int = PEAK_COLUMNS) -> list[bytes]:
    """The waveforms a synced player draws: for each ``(n_channels, n_samples)`` waveform, the
    minimum and maximum over channels and samples of each of ``n_columns`` equal spans, interleaved,
    as int8 of the loudest waveform's peak (127): quiet sources look quiet beside loud ones."""
    arrays = [np.atleast_2d(np.asarray(w, dtype=np.float32)) for w in waveforms]
    loudest = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0) or 1.0
    peaks = []
    for audio in arrays:
        n_samples = audio.shape[-1]
        if n_samples == 0:
            peaks.append(b"")
            continue
        edges = np.linspace(0, n_samples, min(n_columns, n_samples) + 1).astype(int)
        low = np.minimum.reduceat(audio.min(axis=0), edges[:-1])
        high = np.maximum.reduceat(audio.max(axis=0), edges[:-1])
        pairs = np.stack([low, high], axis=1).reshape(-1) / loudest
        peaks.append(np.round(np.clip(pairs, -1, 1) * 127).astype(np.int8).tobytes())
    return peaks


def _player_script() -> str:
    from importlib.resources import files

    script = files("stemunet.lab").joinpath(SYNCED_PLAYER_SCRIPT).read_text(encoding="utf-8")
    return "\n".join(line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("//"))


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def synced_player_html(
    players: Sequence[Player],
    *,
    title: str = "",
    links: Mapping[str, str] | None = None,
    locations: Mapping[str, str] | None = None,
    images: Mapping[str, bytes] | None = None,
) -> str:
    """One player for several sources of the same excerpt (mixture, reference, estimates), like
    sigsep's trackswitch.js: one transport and playhead, exactly one source audible, switched
    without a gap (keys: space, 1-9, arrows; a click on the waveform seeks).

    The HTML holds everything (no kernel needed: it plays in a saved, trusted notebook): a table with
    a row per player, its label, note, link (``links``: label -> href) or location (text), and its
    audio embedded (:func:`player_bytes`) in an ``<audio>`` element, which is what plays where
    scripts do not run (an untrusted notebook); the script (:data:`SYNCED_PLAYER_SCRIPT`) decodes
    those into Web Audio buffers and plays them in sync, switching by gains. The picture under the
    playhead is each source's waveform (:func:`waveform_peaks`) or, for a label in ``images``, that
    PNG (a spectrogram, say, spanning the excerpt from edge to edge). Players on one page never play
    at once: starting one pauses the others.
    """
    links, locations, images = links or {}, locations or {}, images or {}
    seconds = max((p.waveform.shape[-1] / p.sample_rate for p in players), default=0.0)
    rows = []
    for player, peaks in zip(players, waveform_peaks([p.waveform for p in players])):
        image = f" data-image='{_data_uri('image/png', images[player.label])}'" if player.label in images else ""
        note = f"<br><span style='color:#555'>{html.escape(player.note)}</span>" if player.note else ""
        audio = _data_uri(PLAYER_FORMAT[2], player_bytes(player.waveform, player.sample_rate))
        file = ""
        if links.get(player.label):
            file = f"<a href='{html.escape(links[player.label])}' target='_blank'>{html.escape(Path(links[player.label]).name)}</a>"
        elif locations.get(player.label):  # a file JupyterLab does not serve: where it is, in full on hover
            location = locations[player.label]
            file = f"<code title='{html.escape(location)}'>{html.escape(str(short_path(location)))}</code>"
        rows.append(
            f"<tr class='stemunet-source' data-peaks='{base64.b64encode(peaks).decode('ascii')}'{image}>"
            f"<td class='stemunet-key'></td><td class='stemunet-label' style='text-align:left'><b>{html.escape(player.label)}</b>{note}</td>"
            f"<td class='stemunet-audio'><audio controls preload='none' src='{audio}'></audio></td>"
            f"<td style='text-align:left'>{file}</td></tr>"
        )
    heading = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return (
        f"<div class='stemunet-player' id='stemunet-player-{uuid.uuid4().hex}' data-seconds='{seconds:.3f}'>{heading}"
        f"<table class='stemunet-sources'>{''.join(rows)}</table>"
        f"<script>{_player_script()}\nwindow.stemunetSyncedPlayers.mount(document.currentScript.closest('.stemunet-player'));</script></div>"
    )


def spectrogram_strip_png(
    waveform: np.ndarray, sample_rate: int, *, width: int = 900, height: int = 120, max_frequency: float = DISPLAY_MAX_FREQUENCY
) -> bytes:
    """A spectrogram of ``(n_channels, n_samples)`` audio as a ``width`` x ``height`` pixel PNG
    without axes, the excerpt from edge to edge (0 to ``max_frequency`` Hz bottom to top): what a
    synced player shows under its playhead."""
    # A bare Figure, not pyplot: nothing is registered with the notebook's inline backend (so the
    # picture is not shown twice) and the global rcParams stay untouched.
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = figure.add_axes((0, 0, 1, 1))
    plot_spectrogram(ax, waveform, sample_rate, max_frequency=max_frequency)
    ax.set_axis_off()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@dataclass
class Player:
    """One thing to listen to: a label, ``(n_channels, n_samples)`` float32 audio, its rate in Hz."""

    label: str
    waveform: np.ndarray
    sample_rate: int
    note: str = ""  # shown under the label (an SDR, say)

    def as_tuple(self) -> tuple[str, np.ndarray, int]:
        return self.label, self.waveform, self.sample_rate


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "audio"
