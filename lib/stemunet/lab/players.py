"""Audio players that play without a kernel: MP3 bytes of a waveform, HTML ``<audio>`` players
with a download link, spectrogram images, and the :class:`Player` a widget shows."""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from matplotlib.figure import Figure

from stemunet.lab.plots import plot_spectrogram
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


def player_bytes(waveform: np.ndarray, sample_rate: int) -> bytes:
    """:data:`PLAYER_FORMAT` file contents of ``(n_channels, n_samples)`` audio (clipped to [-1, 1]).

    Levels are kept as they are (no normalisation): players compare loudness too.
    """
    audio = np.clip(np.atleast_2d(np.asarray(waveform, dtype=np.float32)), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, int(sample_rate), format=PLAYER_FORMAT[0], subtype=PLAYER_FORMAT[1])
    return buffer.getvalue()


def audio_player_html(waveform: np.ndarray, sample_rate: int, link: str = "", *, location: str = "") -> str:
    """An HTML ``<audio>`` player with the audio embedded (plays in a saved, trusted notebook without a
    kernel), and a link to ``link`` (a file beside the notebook) that plays wherever HTML is sanitised;
    or, for a file elsewhere, its ``location`` as text."""
    data = base64.b64encode(player_bytes(waveform, sample_rate)).decode("ascii")
    player = f"<audio controls preload='none' src='data:{PLAYER_FORMAT[2]};base64,{data}'></audio>"
    if link:
        return player + f"<br><a href='{html.escape(link)}' target='_blank'>{html.escape(Path(link).name)}</a>"
    return player + (f"<br><code>{html.escape(location)}</code>" if location else "")


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
) -> Any:
    """A table of labelled players, one per ``(n_channels, n_samples)`` waveform, at most ``max_seconds`` each.

    ``files``: the full-length file behind each name, linked from ``notebook_folder`` (where the
    notebook is saved: :attr:`stemunet.lab.runs.Run.links_from`; :func:`file_link`), for viewers
    whose notebook is not trusted. A file JupyterLab does not serve (a separated input outside the
    project, say) is named as text, not linked: a link would lead nowhere.
    """
    from IPython.display import HTML

    limit = int(max_seconds * sample_rate)
    rows = []
    for name, waveform in named.items():
        link, location = "", ""
        if files and name in files:
            link = str(files[name]) if notebook_folder is None else file_link(files[name], notebook_folder)
            location = "" if link else str(Path(files[name]).resolve())
        player = audio_player_html(np.asarray(waveform)[..., :limit], sample_rate, link, location=location)
        rows.append(f"<tr><td style='text-align:left'><b>{html.escape(name)}</b></td><td>{player}</td></tr>")
    return HTML("<table>" + "".join(rows) + "</table>")


def spectrogram_png(waveform: np.ndarray, sample_rate: int, title: str = "", *, max_frequency: float = DISPLAY_MAX_FREQUENCY) -> bytes:
    """A small spectrogram picture (PNG bytes) of ``(n_channels, n_samples)`` audio."""
    # A bare Figure, not pyplot: nothing is registered with the notebook's inline backend (so the
    # picture is not shown twice) and the global rcParams stay untouched.
    figure = Figure(figsize=(4.6, 2.0), dpi=80)
    ax = figure.add_subplot()
    plot_spectrogram(ax, waveform, sample_rate, title, max_frequency=max_frequency)
    for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
        text.set_fontsize(8)
    ax.tick_params(labelsize=7)
    figure.subplots_adjust(left=0.16, right=0.98, bottom=0.22, top=0.9 if title else 0.96)
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
