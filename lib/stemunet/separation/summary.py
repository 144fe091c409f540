"""The summary of a separation job: one row an input (status, error, speed, outputs), its CSV
and metrics, the short text the command line prints, and reading a row's stems back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stemunet.audio import (load_audio)
from stemunet.files import atomic_path, write_json_atomic

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant
    import pandas as pd

    from stemunet.separation.separator import Separator

SUMMARY_COLUMNS = [
    "input", "track", "status", "error", "seconds", "seconds_taken", "x_realtime",
    "sample_rate", "channels", "gain", "outputs", "note",
]  # fmt: skip
"""``note``: what a successful row should still tell (a truncated input, stems of another model kept beside)."""


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def summary_metrics(summary: pd.DataFrame) -> dict[str, Any]:
    """Counts and totals of a :func:`separate_files` summary."""
    done = summary[summary.status == "ok"]
    seconds = float(done.seconds.sum()) if len(done) else 0.0
    taken = float(done.seconds_taken.sum()) if len(done) else 0.0
    return {
        "n_inputs": int(len(summary)),
        "n_separated": int(len(done)),
        "n_skipped": int((summary.status == "skipped").sum()),
        "n_failed": int((summary.status == "failed").sum()),
        "audio_seconds": round(seconds, 3),
        "seconds_taken": round(taken, 3),
        "x_realtime": round(seconds / taken, 2) if taken > 0 else None,
    }


def write_summary_csv(summary: pd.DataFrame, path: str | Path) -> Path:
    """Write the summary as CSV (each row's output paths joined by ``;``), atomically."""
    table = summary.assign(outputs=summary.outputs.map(lambda paths: ";".join(paths or [])))
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)
    return Path(path)


def write_summary(summary: pd.DataFrame, folder: str | Path, output_dir: str | Path | None = None, separator: Separator | None = None) -> dict[str, Any]:
    """Write ``summary.csv`` and ``metrics.json`` (:func:`summary_metrics`, and the post-filter
    ``separator`` ran with) into ``folder``; return the metrics."""
    folder = Path(folder)
    write_summary_csv(summary, folder / "summary.csv")
    metrics = {**summary_metrics(summary), "output_dir": str(output_dir) if output_dir is not None else None}
    if separator is not None:
        metrics["postfilter"] = separator.config.postfilter.to_params()
    write_json_atomic(folder / "metrics.json", metrics)
    return metrics


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as a notebook shows it, narrow enough for its cell beside JupyterLab's file
    browser: one row per track, the stems written named by their stem only (they are
    ``<output_dir>/<track>/<stem>.<ext>``), ``error`` only when some input has one; the input, its
    rate and channels are left to the inputs table above. ``summary.csv`` keeps every column, full
    paths included."""
    view = summary.assign(outputs=summary.outputs.map(lambda paths: ", ".join(Path(p).stem for p in paths or []) or "–"))
    view = view.drop(columns=["input", "sample_rate", "channels"] + (["error"] if not view["error"].fillna("").astype(bool).any() else []))
    return view.rename(columns={"seconds_taken": "seconds taken", "x_realtime": "x realtime"}).set_index("track")


def outcome_table(metrics: dict[str, Any], run_folder: str | Path | None = None) -> pd.DataFrame:
    """The totals of a job (:func:`write_summary`'s metrics) as a small table for a notebook: counts,
    seconds, speed, where the stems went (relative to ``run_folder`` when inside it) and the
    post-filter. ``metrics.json`` keeps the same values, paths in full."""
    import pandas as pd

    output_dir = str(metrics.get("output_dir") or "")
    if output_dir and run_folder is not None and Path(output_dir).is_relative_to(Path(run_folder)):
        output_dir = str(Path(output_dir).relative_to(Path(run_folder)))
    postfilter = metrics.get("postfilter") or {}
    rows = {
        "inputs": metrics.get("n_inputs"),
        "separated": metrics.get("n_separated"),
        "skipped (outputs existed)": metrics.get("n_skipped"),
        "failed": metrics.get("n_failed"),
        "audio (s)": metrics.get("audio_seconds"),
        "time taken (s)": metrics.get("seconds_taken"),
        "x realtime": metrics.get("x_realtime"),
        "stems written to": output_dir,
        "post-filter": ", ".join(f"{name} {value}" for name, value in postfilter.items()),
    }
    return pd.DataFrame({"value": [("" if value is None else str(value)) for value in rows.values()]},
                        index=pd.Index(list(rows), name="outcome"))  # fmt: skip


def check_all_separated(summary: pd.DataFrame) -> None:
    """Raise :class:`RuntimeError` listing the failed inputs, if any (skipped ones are fine)."""
    failed = summary[summary.status == "failed"]
    if len(failed):
        # Most errors name the input first already: it is not printed twice.
        lines = "\n".join(f"  {row.error if str(row.error).startswith(str(row.input)) else f'{row.input}: {row.error}'}" for row in failed.itertuples())
        raise RuntimeError(f"{len(failed)} of {len(summary)} input(s) failed:\n{lines}")


def first_separated(summary: pd.DataFrame) -> pd.Series:
    """The summary row of the first input that was separated (or skipped: its outputs exist)."""
    rows = summary[summary.status.isin(["ok", "skipped"])]
    if not len(rows):
        reasons = "; ".join(row.error if str(row.error).startswith(str(row.input)) else f"{row.input}: {row.error}" for row in summary.itertuples())
        raise ValueError(f"no input was separated ({len(summary)} failed): {reasons}" if len(summary) else "no input was given")
    return rows.iloc[0]


def read_outputs(row: pd.Series, *, max_seconds: float | None = 30.0) -> tuple[dict[str, np.ndarray], int]:
    """The input (as ``mixture``) and the stems of one summary row, for listening and plots.

    Returns ``({name: (n_channels, n_samples) float32}, sample_rate)``: at most the first
    ``max_seconds`` of each.
    """
    waveform, sample_rate = load_audio(row["input"])
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    audio = {"mixture": waveform[:, :limit]}
    for output in row["outputs"]:
        stem, _ = load_audio(output)
        audio[Path(output).stem] = stem[:, :limit]
    return audio, sample_rate


def output_files(row: pd.Series) -> dict[str, Path]:
    """``{"mixture": input, stem: output, ...}`` of a summary row: the files its players link to."""
    return {"mixture": Path(row["input"]), **{Path(output).stem: Path(output) for output in row["outputs"]}}


def summary_text(summary: pd.DataFrame) -> str:
    """The summary as the command line prints it: aligned columns, then each row's error or note
    unpadded (a long message in one row does not pad every other row with spaces)."""
    table = summary[["track", "status", "seconds", "x_realtime"]].to_string(index=False).splitlines()
    messages = [" ".join(str(text) for text in (row.error, row.note) if text) for row in summary.itertuples()]
    return "\n".join([f"{table[0]}  error / note", *(f"{line}  {message}".rstrip() for line, message in zip(table[1:], messages))])
