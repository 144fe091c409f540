"""Listening widgets: synced players for data set tracks and for separation estimates.

One implementation serves both notebooks:

* :class:`StemPlayer` (``explore.ipynb``): the mixture and each stem of a data set track;
* :class:`ComparisonPlayer` (``listen.ipynb``): the mixture, the reference stem and the estimates
  of one or more training runs, side by side, with the track's SDR for each run when an
  evaluation of that run exists.

Both share a track dropdown and start/duration sliders that apply to every source. The sources
play in one synced player (:func:`stemunet.lab.players.synced_player_html`: one transport and
playhead, one source audible, switched without a gap), each source's spectrogram under the
playhead. Selections change programmatically with ``select(...)`` and what is shown is exposed as
``players`` (label, waveform, sample rate) and ``sdr_labels``, so tests need no browser.
:meth:`ListeningWidget.figure` and :meth:`ListeningWidget.static_audio` give the same content as a
static figure and a synced player with its audio embedded, which survive in an executed notebook
without a live kernel.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import musdb
import numpy as np
import pandas as pd

from stemunet.audio import apply_clipping_policy, save_audio
from stemunet.config import REST, STEM_NAMES, ChunkingConfig, Config, ConfigError, DataConfig, PostFilterChoice, StemSet, check_device
from stemunet.data.tracks import (TrackError, TrackExcerpt, base_stems, dataset_of, list_tracks, read_track_excerpt, resolve_root,
                                  stream_infos, track_label)
from stemunet.lab.overview import ComparedRun, evaluated_data, resolve_runs, run_time, track_sdr
from stemunet.lab.players import (CONTEXT_SECONDS, DISPLAY_MAX_FREQUENCY, Player, _slug, file_link, spectrogram_strip_png,
                                  synced_player_html)
from stemunet.lab.plots import plot_stems


@dataclasses.dataclass(frozen=True)
class ListenConfig(Config):
    """What ``listen.ipynb`` compares."""

    data: DataConfig = DataConfig()
    postfilter: PostFilterChoice = PostFilterChoice()
    runs: tuple[str, ...] = ()  # training run folders, checkpoint files, pretrained or latest; empty = pretrained if bundled, else latest
    subset: Literal["train", "test"] = "test"  # where the tracks come from
    track: str = ""  # track name; "" = the first of the subset
    stem: str = "vocals"  # the stem compared: one every model has (the bundled one's: drums, bass, other, vocals)
    start_seconds: float = 0.0  # where the excerpt starts
    duration_seconds: float = 5.0  # excerpt length; every player plays the same excerpt
    device: str = "auto"  # where the models run: auto (CUDA if available), cpu, cuda, cuda:N, mps

    def __post_init__(self) -> None:
        if self.start_seconds < 0:
            raise ConfigError(f"start_seconds must be >= 0, got {self.start_seconds}")
        if not 0 < self.duration_seconds <= 120:
            raise ConfigError(f"duration_seconds must be in (0, 120], got {self.duration_seconds}")
        check_device(self.device)


# --------------------------------------------------------------------------------------------
# The shared widget
# --------------------------------------------------------------------------------------------


class ListeningWidget:
    """A track dropdown, start/duration sliders shared by every player, and a row of players.

    Subclasses say what the players are (:meth:`_players`). Nothing is drawn until
    :attr:`widget` is first used (a notebook displaying the object); ``select`` and ``players``
    work without it.
    """

    require_stems = True  # False: a track without stem files still plays its mixture

    def __init__(
        self,
        tracks: Sequence[musdb.audio.MultiTrack],
        *,
        track: str = "",
        start_seconds: float = 0.0,
        duration_seconds: float = 5.0,
        max_frequency: float = DISPLAY_MAX_FREQUENCY,
        stems: StemSet = StemSet(),
    ):
        if not tracks:
            raise ValueError("no tracks to listen to")
        self.tracks = list(tracks)
        self.stems = stems  # the reference stems read from the data set, and how they are made
        self.max_frequency = max_frequency
        self._durations: dict[str, float] = {}
        self._excerpts: OrderedDict[tuple, TrackExcerpt] = OrderedDict()
        self._widget: Any = None
        self._spectrograms: OrderedDict[tuple, bytes] = OrderedDict()  # the live player's pictures, by player and selection
        self._syncing = False
        self.track = self._find(track).name if track else self.tracks[0].name
        self.start_seconds = 0.0
        self.duration_seconds = 0.0
        self._set_times(start_seconds, duration_seconds)
        self._cached_players: list[Player] | None = None

    # -- selection ---------------------------------------------------------------------------

    @property
    def track_names(self) -> list[str]:
        return [t.name for t in self.tracks]

    def _find(self, name: str) -> musdb.audio.MultiTrack:
        for track in self.tracks:
            if name in (track.name, track_label(track)):
                return track
        raise ValueError(f"no track {name!r}; choose one of {self.track_names}")

    @property
    def current_track(self) -> musdb.audio.MultiTrack:
        return self._find(self.track)

    def track_seconds(self, track: musdb.audio.MultiTrack | None = None) -> float:
        """Length of a track (default: the selected one) in seconds, from its mixture's header."""
        track = track or self.current_track
        if track.name not in self._durations:
            infos, problems = stream_infos(track)
            mixture = next((info for info in infos if info.name == "mixture"), None)
            if mixture is None:
                raise TrackError(track, "; ".join(problems))
            self._durations[track.name] = mixture.n_samples / mixture.sample_rate
        return self._durations[track.name]

    def _set_times(self, start_seconds: float, duration_seconds: float) -> None:
        """Fit start and duration inside the track (an excerpt never runs past its end)."""
        if duration_seconds <= 0:
            raise ValueError(f"duration must be > 0 s, got {duration_seconds}")
        if start_seconds < 0:
            raise ValueError(f"start must be >= 0 s, got {start_seconds}")
        total = self.track_seconds()
        self.duration_seconds = float(min(duration_seconds, total))
        self.start_seconds = float(min(start_seconds, max(0.0, total - self.duration_seconds)))

    def select(self, *, track: str | None = None, start: float | None = None, duration: float | None = None, **more: Any) -> ListeningWidget:
        """Change what is selected (any subset of the arguments) and refresh the players.

        ``start`` and ``duration`` are seconds; they are fitted inside the track. Subclasses take
        more selections as keywords (``stem``). Returns ``self``.
        """
        if track is not None:
            self.track = self._find(track).name
        self._select_more(**more)
        self._set_times(self.start_seconds if start is None else start, self.duration_seconds if duration is None else duration)
        self._cached_players = None
        self._refresh()
        return self

    def _select_more(self, **more: Any) -> None:
        if more:
            raise TypeError(f"unknown selection(s) {sorted(more)}")

    # -- what is played ----------------------------------------------------------------------

    def excerpt(self, context_seconds: float = 0.0) -> tuple[TrackExcerpt, int]:
        """The selected excerpt read with up to ``context_seconds`` more on each side.

        Returns ``(excerpt, offset)``: the selection starts ``offset`` samples into ``excerpt``.
        The last few excerpts are cached.
        """
        before = min(context_seconds, self.start_seconds)
        key = (self.track, self.start_seconds, self.duration_seconds, context_seconds)
        if key not in self._excerpts:
            self._excerpts[key] = read_track_excerpt(
                self.current_track, self.start_seconds - before, self.duration_seconds + before + context_seconds,
                require_stems=self.require_stems, stems=self.stems,
            )
            while len(self._excerpts) > 4:
                self._excerpts.popitem(last=False)
        excerpt = self._excerpts[key]
        return excerpt, int(round(before * excerpt.sample_rate))

    def selection_samples(self, excerpt: TrackExcerpt, offset: int) -> slice:
        """The samples of ``excerpt`` that the selection covers."""
        return slice(offset, offset + int(round(self.duration_seconds * excerpt.sample_rate)))

    def _players(self) -> list[Player]:
        raise NotImplementedError

    @property
    def players(self) -> list[tuple[str, np.ndarray, int]]:
        """What the players play: ``(label, waveform (n_channels, n_samples) float32, sample_rate)``."""
        return [player.as_tuple() for player in self._player_objects()]

    @property
    def labels(self) -> list[str]:
        return [player.label for player in self._player_objects()]

    def _player_objects(self) -> list[Player]:
        if self._cached_players is None:
            self._cached_players = self._players()
        return self._cached_players

    # -- static output -----------------------------------------------------------------------

    def figure(self) -> plt.Figure:
        """Spectrograms of every player, stacked (a static picture of what the widget shows)."""
        players = self._player_objects()
        figure = plot_stems({p.label: p.waveform for p in players}, players[0].sample_rate, max_frequency=self.max_frequency)
        figure.suptitle(self.title())
        return figure

    def title(self) -> str:
        return f"{self.track}, {self.start_seconds:.1f}-{self.start_seconds + self.duration_seconds:.1f} s"

    def static_audio(self, folder: str | Path | None = None, notebook_folder: str | Path | None = None) -> Any:
        """The synced player (:func:`~stemunet.lab.players.synced_player_html`) of every player, its audio
        embedded: it plays in a saved notebook, without a kernel.

        ``folder``: also write each player's audio there (:meth:`save_audio`) and link it from
        ``notebook_folder`` (where the notebook is saved, :attr:`stemunet.lab.runs.Run.links_from`;
        default the folder above ``folder``), for viewers whose notebook is not trusted.
        """
        from IPython.display import HTML

        links = {}
        if folder is not None:
            folder = Path(folder)
            files = {p.stem: file_link(p, notebook_folder if notebook_folder is not None else folder.parent) for p in self.save_audio(folder)}
            links = {player.label: files.get(_slug(player.label), "") for player in self._player_objects()}
        return HTML(synced_player_html(self._player_objects(), title=self.title(), links=links))

    def save_audio(self, folder: str | Path) -> list[Path]:
        """Write every player's audio as ``<folder>/<label>.wav`` (16-bit); returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for player in self._player_objects():
            clipped = apply_clipping_policy(np.atleast_2d(player.waveform), "clamp")
            paths.append(save_audio(folder / f"{_slug(player.label)}.wav", clipped, player.sample_rate, overwrite=True))
        return paths

    # -- the live widget ---------------------------------------------------------------------

    def _controls(self) -> list[Any]:
        """The selection widgets above the players (subclasses add theirs)."""
        import ipywidgets as w

        self._track_dropdown = w.Dropdown(options=self.track_names, value=self.track, description="track", layout=w.Layout(width="420px"))
        self._start_slider = w.FloatSlider(
            value=self.start_seconds, min=0.0, max=max(0.0, self.track_seconds() - self.duration_seconds), step=0.1,
            description="start (s)", continuous_update=False, readout_format=".1f",
        )
        self._duration_slider = w.FloatSlider(
            value=self.duration_seconds, min=0.5, max=max(0.5, min(30.0, self.track_seconds())), step=0.5,
            description="duration (s)", continuous_update=False, readout_format=".1f",
        )
        self._watch(self._track_dropdown, lambda value: self.select(track=value))
        self._watch(self._start_slider, lambda value: self.select(start=value))
        self._watch(self._duration_slider, lambda value: self.select(duration=value))
        return [self._track_dropdown, w.HBox([self._start_slider, self._duration_slider])]

    def _watch(self, control: Any, action: Callable[[Any], Any]) -> None:
        self._watched.append(control)

        def on_change(change: dict) -> None:
            if self._syncing:
                return  # the change came from select() updating the controls
            self._set_busy(True)
            try:
                action(change["new"])
            except Exception as error:  # a broken track: say so in the widget, keep it usable
                self._show_error(error)
            finally:
                self._set_busy(False)

        control.observe(on_change, names="value")

    def _set_busy(self, busy: bool) -> None:
        """While a selection is read and separated (seconds): every control disabled, the players
        hidden and a line saying what is being prepared, so nothing shows an old excerpt under a
        new title and no second change queues up behind the first."""
        for control in self._watched:
            control.disabled = busy
        self._player_box.layout.visibility = "hidden" if busy else "visible"
        if busy:
            self._status.value = "<i class='stemunet-working'>working: reading the excerpt and separating it...</i>"

    def _sync_controls(self) -> None:
        self._syncing = True
        try:
            self._track_dropdown.value = self.track
            total = self.track_seconds()
            self._duration_slider.max = max(0.5, min(30.0, total))
            self._duration_slider.value = self.duration_seconds
            self._start_slider.max = max(0.0, total - self.duration_seconds)
            self._start_slider.value = self.start_seconds
        finally:
            self._syncing = False

    @property
    def widget(self) -> Any:
        """The ipywidgets box (built on first use)."""
        if self._widget is None:
            import ipywidgets as w

            self._status = w.HTML()
            # The synced player's HTML and script, rendered by the notebook as any output (trusted: it ran here).
            self._player_box = w.Output(layout=w.Layout(width="100%"))
            self._watched: list[Any] = []  # the controls a change of selection comes from (_watch)
            self._widget = w.VBox([*self._controls(), self._status, self._player_box])
            self._refresh()
        return self._widget

    def _spectrogram(self, player: Player) -> bytes:
        """A player's picture in the live player, kept while its label and selection stay the same
        (switching the stem draws only the players that changed)."""
        key = (player.label, self.track, self.start_seconds, self.duration_seconds)
        if key not in self._spectrograms:
            self._spectrograms[key] = spectrogram_strip_png(player.waveform, player.sample_rate, max_frequency=self.max_frequency)
            while len(self._spectrograms) > 24:
                self._spectrograms.popitem(last=False)
        return self._spectrograms[key]

    def live_player_html(self) -> str:
        """What the live widget's player area shows: the synced player of :attr:`players`, each
        source's spectrogram under the playhead."""
        players = self._player_objects()
        return synced_player_html(players, images={player.label: self._spectrogram(player) for player in players})

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self._sync_controls()
        try:
            html_text = self.live_player_html()
            self._player_box.outputs = ({"output_type": "display_data", "metadata": {},
                                         "data": {"text/html": html_text, "text/plain": self.title()}},)  # fmt: skip
            self._status.value = f"<i>{self.title()}</i>"
        except Exception as error:
            self._show_error(error)

    def _show_error(self, error: Exception) -> None:
        if self._widget is not None:
            self._status.value = f"<span style='color:#b00'>{type(error).__name__}: {error}</span>"
            self._player_box.outputs = ()

    def display_bundle(self) -> dict[str, Any]:
        """What a notebook shows: the live widget's view, and as plain text (what a viewer without the
        widget state, e.g. an untrusted copy, sees instead of ``VBox(children=...``) a sentence saying
        what it is and where the same content lies."""
        bundle = self.widget._repr_mimebundle_()
        bundle = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        bundle["text/plain"] = self.saved_note()
        return bundle

    def saved_note(self) -> str:
        """What a saved notebook shows in place of the live widget, whose controls need a kernel
        (:func:`stemunet.lab.runner.execute_notebook` puts it there)."""
        return (
            f"Live player ({self.title()}): its controls need a running kernel. Run the notebook (Run All) "
            "to choose another track or excerpt here; the saved figure shows this selection."
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.display_bundle(), raw=True)


class StemPlayer(ListeningWidget):
    """The mixture and each stem of a data set track (``explore.ipynb``)."""

    @classmethod
    def from_config(cls, config: Any) -> StemPlayer:
        """The player an :class:`~stemunet.lab.exploration.ExploreConfig` describes: the tracks of its
        ``subsets``, its ``track`` (empty: the first), ``start_seconds`` and ``listen_seconds``.
        Needs nothing but the config, so its notebook cell runs again on its own."""
        root = resolve_root(config.data)
        tracks = [track for subset in config.subsets for track in list_tracks(config.data, subset)]
        if not tracks:
            raise FileNotFoundError(f"{root}: no tracks in {list(config.subsets)} to listen to")
        # The data set's own stems: MUSDB18's four, or every stem a folders data set's tracks have.
        names = STEM_NAMES if config.data.dataset == "musdb" else tuple(dict.fromkeys(s for t in tracks for s in base_stems(t)))
        return cls(tracks, track=config.track, start_seconds=config.start_seconds, duration_seconds=config.listen_seconds,
                   stems=StemSet(names))

    def _players(self) -> list[Player]:
        excerpt, offset = self.excerpt()
        span = self.selection_samples(excerpt, offset)
        return [Player(name, audio[:, span], excerpt.sample_rate) for name, audio in excerpt.named().items()]


def _made_alike(stems: StemSet, other: StemSet, name: str) -> bool:
    """Whether two stem sets make their stem ``name`` of the same sources (a "rest" stem alike only
    when the rest is of the same stems)."""
    if stems.sources_of(name) != other.sources_of(name):
        return False
    return stems.sources_of(name) != (REST,) or set(stems.names) == set(other.names) and stems.sources == other.sources


class ComparisonPlayer(ListeningWidget):
    """Mixture, reference stem and each run's estimate of one stem of one track (``listen.ipynb``).

    The reference is left out for a track without stem files (a folder of mixtures only).

    Estimates are separated on the fly from the selected excerpt (plus
    :data:`CONTEXT_SECONDS` each side) and cached per (run, track, start, duration), all four
    stems at once, so changing the stem is free.
    """

    def __init__(
        self,
        tracks: Sequence[musdb.audio.MultiTrack],
        runs: Sequence[ComparedRun],
        *,
        stem: str = "vocals",
        device: str = "auto",
        chunking: ChunkingConfig = ChunkingConfig(),
        postfilter: PostFilterChoice = PostFilterChoice(),
        **selection: Any,
    ):
        if not runs:
            raise ValueError("no runs to compare")
        self.runs = list(runs)
        self.device = device
        self.require_stems = False
        self.chunking = chunking
        self.postfilter = postfilter
        models = [run.separator(device, postfilter) for run in self.runs]
        self._stem_sets = [model.config.model.stem_set for model in models]
        # The stems every model has *and makes alike* (a 6-stem model's other is other minus guitar and
        # piano, a 4-stem model's is all of it: not the same stem), in the first model's order.
        self.stem_choices = [name for name in models[0].stem_names
                             if all(name in s.names and _made_alike(s, self._stem_sets[0], name) for s in self._stem_sets)]
        if not self.stem_choices:
            raise ValueError(f"the models share no stem: {', '.join(f'{run.label}: {list(m.stem_names)}' for run, m in zip(self.runs, models))}")
        self._check_stem(stem)
        self.stem = stem
        self._estimates: OrderedDict[tuple, np.ndarray] = OrderedDict()
        super().__init__(tracks, stems=self._reference_set(stem), **selection)

    def _reference_set(self, stem: str) -> StemSet:
        """How the reference of ``stem`` is read: alone (its own sources), or, for a model's "rest"
        stem, with the first model's whole stem set (it is what the others leave)."""
        whole = self._stem_sets[0]
        parts = whole.sources_of(stem)
        return whole if parts == (REST,) else StemSet((stem,), ((stem, parts),) if parts != (stem,) else ())

    @classmethod
    def from_config(cls, config: ListenConfig, runs: Sequence[ComparedRun] | None = None) -> ComparisonPlayer:
        """The widget ``config`` describes (``runs``: already resolved runs, else resolved from ``config.runs``)."""
        runs = resolve_runs(config.runs) if runs is None else runs
        models = [run.separator(config.device, config.postfilter) for run in runs]
        stems = models[0].config.model.stem_set  # a synthetic set with the families the first model's stems need
        root = resolve_root(config.data, stems=stems)
        tracks = list_tracks(config.data, config.subset, stems=stems)
        if not tracks:
            raise FileNotFoundError(f"{root / config.subset}: no tracks to listen to")
        return cls(
            tracks, runs, stem=config.stem, device=config.device, postfilter=config.postfilter, track=config.track,
            start_seconds=config.start_seconds, duration_seconds=config.duration_seconds,
        )

    def _check_stem(self, stem: str) -> None:
        if stem not in self.stem_choices:
            raise ValueError(f"stem must be one of the models' stems {self.stem_choices}, got {stem!r}")

    def _select_more(self, *, stem: str | None = None, **more: Any) -> None:
        super()._select_more(**more)
        if stem is not None:
            self._check_stem(stem)
            self.stem = stem
            self.stems = self._reference_set(stem)
            self._excerpts.clear()  # read again: the reference differs

    def title(self) -> str:
        return f"{self.stem} of {super().title()}"

    def estimate(self, run: ComparedRun) -> tuple[np.ndarray, int]:
        """``run``'s estimate of all four stems over the selection: ``((n_stems, n_channels, n_samples), sample_rate)``."""
        excerpt, offset = self.excerpt(CONTEXT_SECONDS)
        key = (str(run.checkpoint), self.track, self.start_seconds, self.duration_seconds)
        if key not in self._estimates:
            stems = run.separator(self.device, self.postfilter).separate(excerpt.mixture, excerpt.sample_rate, self.chunking)
            self._estimates[key] = stems.numpy()[..., self.selection_samples(excerpt, offset)]
            while len(self._estimates) > 8 * len(self.runs):
                self._estimates.popitem(last=False)
        return self._estimates[key], excerpt.sample_rate

    def _sdr_of(self, run: ComparedRun) -> tuple[float, Path] | None:
        # Only a score of this very data set counts: another synthetic set also has a "test_000".
        return track_sdr(run.evaluate_runs, self.track, self.stem, data=dataset_of(self.current_track))

    @property
    def sdr(self) -> dict[str, float | None]:
        """Run label -> the model's SDR (dB) on the selected track and stem, None when not evaluated."""
        return {run.label: (found[0] if (found := self._sdr_of(run)) else None) for run in self.runs}

    @property
    def sdr_labels(self) -> list[str]:
        """One line per run: its SDR on this track and stem, or why there is none."""
        lines = []
        for run in self.runs:
            found = self._sdr_of(run)
            if found is not None:
                lines.append(f"{run.label}: SDR {found[0]:.2f} dB on {self.stem} of {self.track} (evaluation {found[1].name})")
            elif any(evaluated_data(r) == dataset_of(self.current_track) for r in run.evaluate_runs):
                lines.append(f"{run.label}: {self.track} is not among the tracks of its evaluation {run.evaluate_runs[0].name}")
            elif run.evaluate_runs:
                lines.append(f"{run.label}: no score for this data set (its evaluations scored other data: {run.evaluate_runs[0].name})")
            else:
                lines.append(f"{run.label}: no evaluation of this run found")
        return lines

    def runs_table(self) -> pd.DataFrame:
        """One row per compared model: label, training run folder, checkpoint (inside that folder,
        or the file's name: ``parameters.yaml``'s ``compared`` has the full paths), how many
        evaluations were found and when the newest ran."""
        rows = []
        for run in self.runs:
            inside = run.train_run is not None and run.checkpoint.is_relative_to(run.train_run)
            rows.append({
                "label": run.label,
                "train run": run.train_run.name if run.train_run else "",
                "checkpoint": str(run.checkpoint.relative_to(run.train_run)) if inside else run.checkpoint.name,
                "evaluations": f"{len(run.evaluate_runs)}, newest {run_time(run.evaluate_runs[0].name)}" if run.evaluate_runs else "none",
            })  # fmt: skip
        return pd.DataFrame(rows).set_index("label")

    def summary(self) -> dict[str, Any]:
        """The selection and each run's SDR on it, as plain values (``comparison.json``)."""
        return {
            "track": self.track,
            "stem": self.stem,
            "start_seconds": self.start_seconds,
            "duration_seconds": self.duration_seconds,
            "players": self.labels,
            "runs": [
                {"label": run.label, "checkpoint": str(run.checkpoint), "train_run": str(run.train_run or ""), "sdr_db": sdr,
                 "postfilter": run.separator(self.device, self.postfilter).config.postfilter.to_params()}
                for run, sdr in zip(self.runs, self.sdr.values())
            ],
        }

    def _players(self) -> list[Player]:
        excerpt, offset = self.excerpt(CONTEXT_SECONDS)
        span = self.selection_samples(excerpt, offset)
        players = [Player("mixture", excerpt.mixture[:, span], excerpt.sample_rate)]
        if excerpt.stems is not None:  # a data set without stems has nothing to compare with
            players.append(Player(f"reference {self.stem}", excerpt.stems[self.stems.names.index(self.stem)][:, span], excerpt.sample_rate))
        for run in self.runs:
            stems, rate = self.estimate(run)
            found = self._sdr_of(run)
            note = f"SDR {found[0]:.2f} dB" if found is not None else ""
            stem_index = run.separator(self.device, self.postfilter).stem_names.index(self.stem)
            players.append(Player(f"{self.stem} estimate: {run.label}", stems[stem_index], rate, note=note))
        return players

    def _controls(self) -> list[Any]:
        import ipywidgets as w

        controls = super()._controls()
        self._stem_dropdown = w.Dropdown(options=list(self.stem_choices), value=self.stem, description="stem")
        self._watch(self._stem_dropdown, lambda value: self.select(stem=value))
        self._sdr_html = w.HTML()
        return [w.HBox([controls[0], self._stem_dropdown]), *controls[1:], self._sdr_html]

    def _sync_controls(self) -> None:
        super()._sync_controls()
        self._syncing = True
        try:
            self._stem_dropdown.value = self.stem
            self._sdr_html.value = "<br>".join(self.sdr_labels)
        finally:
            self._syncing = False
