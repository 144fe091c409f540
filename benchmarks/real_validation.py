"""Real-music validation: a checkpoint on every validation family, next to MIX and IRM1, and the decision rule between settings.

    python benchmarks/real_validation.py CHECKPOINT [--root LMMS_FOLDER] [--families FOLDER]
        [--compare SETTING,SETTING,... | --candidate CHECKPOINT ...] [--per-track] [--json FILE]

``CHECKPOINT``: a training run folder, a checkpoint file, ``latest`` or ``pretrained``.

The families (docs/real-validation.md), each scored and reported on its own:

* ``LMMS``: the frozen LMMS validation set (``--root``, default the ``STEMUNET_REAL_VALIDATION``
  environment variable; built by ``scripts/build_real_validation.py``), checked against
  ``benchmarks/real_validation_sha256.txt`` (``--manifest``) before anything is scored. No lead
  voice: its vocals are silent, not scored; its mean is over drums, bass and other;
* ``MUSDB18``: stempeg's real 6 s MUSDB18 excerpt, always there;
* ``karaoke`` and ``jazz_sax`` (``benchmarks/validation_families.yaml``): the frozen copy of the
  families (``--families``, default ``STEMUNET_VALIDATION_FAMILIES``; built by
  ``scripts/build_validation_families.py``), checked against
  ``benchmarks/validation_families_sha256.txt`` (``--families-manifest``). Without ``--root`` the
  run goes on without LMMS if this copy is given; with neither it stops.

A model's stems are grouped into each family's references (a 4-stem model's drums, bass and
other make karaoke's accompaniment; :mod:`stemunet.data.validation_families`). Per family it
prints SDR (BSSEval v4, SiSEC's convention: median over 1 s frames, then over tracks) per
reference and the family's mean for the model, SiSEC's MIX (mixture / number of references: the
floor) and IRM1 (oracle magnitude-ratio masks, 4096-point STFT: the ceiling of masking), then
global SDR and SI-SDR tables (whole tracks, mean over tracks), then the family means side by side,
``worst family: <name> <mean dB>`` and the average over families.

``--compare mask_power=1,mask_power=0.75,mask_power=0.5`` scores the checkpoint under each
post-filter setting (fields of :class:`stemunet.config.PostFilterChoice`, several joined by ``+``:
``mask_power=0.75+shifts=2``; ``own``: the model's own settings); ``--candidate CHECKPOINT``
(repeatable) scores other checkpoints, ``--candidate CHECKPOINT@SETTING`` one under a setting. Each
setting after the first is then judged against the first by the decision rule
(:mod:`stemunet.evaluation.decision`): adopted only if it loses no more than 0.1 dB on any family's
mean and gains on their average. For choosing recipes only: this audio never enters training.
``--json`` keeps every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stemunet.checkpoints import CheckpointError, CheckpointRef
from stemunet.config import STEM_NAMES, ChunkingConfig, ConfigError, PostFilterChoice, StemSet, StftConfig
from stemunet.data.real_validation import STEMPEG_EXCERPT, ManifestError, sdr_table, stempeg_excerpt_root, verify_copy
from stemunet.data.tracks import list_tracks, read_track
from stemunet.data.validation_families import (LMMS_FAMILY, MUSDB_FAMILY, MUSDB_REFERENCES, Family, FamilyError,
                                               Grouping, family_folders, group_stems, load_families, read_family_track,
                                               refuse_reserved)
from stemunet.evaluation.decision import TOLERANCE_DB, adopt, family_average, worst_family
from stemunet.evaluation.evaluate import mean_over_tracks, median_over_tracks, track_estimates
from stemunet.evaluation.metrics import WHOLE_TRACK_METRICS, whole_track_scores
from stemunet.evaluation.scoring import is_silent, score_track, track_medians
from stemunet.separation.loading import load_separator

ENVIRONMENT_VARIABLE = "STEMUNET_REAL_VALIDATION"
FAMILIES_VARIABLE = "STEMUNET_VALIDATION_FAMILIES"
HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "real_validation_sha256.txt"
FAMILIES_MANIFEST = HERE / "validation_families_sha256.txt"
FAMILIES_MAPPING = HERE / "validation_families.yaml"
METRICS = ("SDR", "ISR", "SIR", "SAR", *WHOLE_TRACK_METRICS)


@dataclasses.dataclass
class FamilyAudio:
    """A family and its tracks' audio: ``(name, mixture (n_channels, n_samples), references
    (n_references, n_channels, n_samples), sample_rate)`` each, read once for every setting."""

    family: Family
    source: str
    tracks: list[tuple[str, np.ndarray, np.ndarray, int]]

    @property
    def seconds(self) -> float:
        return sum(mixture.shape[-1] / rate for _, mixture, _, rate in self.tracks)


@dataclasses.dataclass(frozen=True)
class Contender:
    """One setting scored: a label, a checkpoint and the post-filter choice over its own."""

    label: str
    checkpoint: str
    postfilter: PostFilterChoice = dataclasses.field(default_factory=PostFilterChoice)


def parse_setting(text: str) -> PostFilterChoice:
    """``mask_power=0.75+shifts=2`` (or ``own``) -> :class:`PostFilterChoice`; ConfigError on a typo."""
    if text.strip() in ("own", ""):
        return PostFilterChoice()
    params: dict[str, Any] = {}
    for item in text.split("+"):
        key, separator, value = item.partition("=")
        if not separator:
            raise ConfigError(f"setting {text!r}: expected name=value (joined by +), or own")
        params[key.strip()] = json.loads(value) if value.strip()[:1] in "-0123456789" else value.strip()
    return PostFilterChoice.from_params(params)


def contenders_of(args: argparse.Namespace) -> list[Contender]:
    """What to score: the checkpoint alone, under each ``--compare`` setting, or beside each ``--candidate``."""
    if args.compare and args.candidate:
        raise ConfigError("--compare and --candidate cannot be combined: compare settings of one checkpoint, or checkpoints")
    if args.compare:
        settings = [text.strip() for text in args.compare.split(",") if text.strip()]
        return [Contender(text, args.checkpoint, parse_setting(text)) for text in settings]
    if args.candidate:
        # CHECKPOINT@SETTING: that checkpoint under a post-filter setting (a new model at the
        # bundled one's mask power, say); a path that itself holds "@" is taken whole.
        entries = [(args.checkpoint, "", PostFilterChoice())]
        for text in args.candidate:
            path, _, setting = text.rpartition("@")
            if path and not Path(text).exists() and ("=" in setting or setting == "own"):
                entries.append((path, f"@{setting}", parse_setting(setting)))
            else:
                entries.append((text, "", PostFilterChoice()))
        # Short labels for the table (a run folder's or file's own name, not its whole path).
        names = [(Path(checkpoint).name or checkpoint) + suffix for checkpoint, suffix, _ in entries]
        return [Contender(name if names.count(name) == 1 else f"{name}#{n}", checkpoint, choice)
                for n, (name, (checkpoint, _, choice)) in enumerate(zip(names, entries), start=1)]
    return [Contender("model", args.checkpoint)]


def read_families(args: argparse.Namespace, scratch: Path) -> list[FamilyAudio]:
    """Every family there is, verified and read: LMMS (given ``--root``), MUSDB18, then the copy's
    families (given ``--families``). Raises ManifestError, FamilyError or FileNotFoundError."""
    found: list[FamilyAudio] = []
    musdb_sets = [(LMMS_FAMILY, Path(args.root).expanduser().resolve())] if args.root else []
    if args.root:
        verify_copy(musdb_sets[0][1], Path(args.manifest))
    musdb_sets.append((MUSDB_FAMILY, stempeg_excerpt_root(scratch)))
    for name, folder in musdb_sets:
        tracks = sorted(list_tracks(folder, "test"), key=lambda t: t.name)
        if not tracks:
            raise FileNotFoundError(f"{folder}/test: no tracks")
        audio = [(track.name, *read_track(track, StemSet())) for track in tracks]
        source = str(folder) if name == LMMS_FAMILY else STEMPEG_EXCERPT
        found.append(FamilyAudio(Family(name, MUSDB_REFERENCES), source, audio))
    if args.families:
        root = Path(args.families).expanduser().resolve()
        verify_copy(root, Path(args.families_manifest))
        _, families = load_families(args.families_mapping)
        for family in families:
            folders = family_folders(root, family)
            if not folders:
                raise FileNotFoundError(f"{root / family.name}/test: no tracks")
            found.append(FamilyAudio(family, str(root / family.name), [(f.name, *read_family_track(f, family.reference_names)) for f in folders]))
    for audio in found:
        refuse_reserved([name for name, *_ in audio.tracks], audio.family.name)
    return found


def medians_of(name: str, references: np.ndarray, estimates: dict[str, np.ndarray], rate: int, names: tuple[str, ...]) -> dict:
    """``{method: {metric: (n_references,) dB}}`` of one track: BSSEval's medians over 1 s frames
    (``irm1`` reported as ``IRM1``) and the whole track's global SDR and SI-SDR; NaN: a silent reference."""
    stores = score_track(references, estimates, rate, name, names)
    medians = {method: track_medians(store) for method, store in stores.items()}
    whole = whole_track_scores(references, estimates, names, [not is_silent(reference.T) for reference in references])
    return {
        ("IRM1" if method == "irm1" else method): {
            metric: np.array([{**by_stem.get(stem, {}), **whole[method].get(stem, {})}.get(metric, np.nan) for stem in names])
            for metric in METRICS
        }
        for method, by_stem in medians.items()
    }


def score_family(audio: FamilyAudio, separators: list, grouping: Grouping) -> list[dict[str, dict]]:
    """Per separator, ``{track: {method: {metric: (n_scored,) dB}}}`` of it (``model``), MIX and
    IRM1 on one family, its references grouped by ``grouping``. Every estimate of a track is scored
    in one call, so BSSEval factorises the track's references once for all settings."""
    per_track: list[dict[str, dict]] = [{} for _ in separators]
    for name, mixture, references, rate in audio.tracks:
        scored = grouping.sum_references(references)
        estimates = track_estimates(None, mixture, scored, rate, ChunkingConfig(), ("MIX", "irm1"), StftConfig())
        for index, separator in enumerate(separators):
            estimates[f"model {index}"] = grouping.sum_estimates(separator.separate(mixture, rate, ChunkingConfig()).numpy())
        medians = medians_of(name, scored, estimates, rate, grouping.names)
        for index, tracks in enumerate(per_track):
            tracks[name] = {"model": medians[f"model {index}"], "MIX": medians["MIX"], "IRM1": medians["IRM1"]}
    return per_track


def score_contenders(contenders: list[Contender], families: list[FamilyAudio], device: str) -> list[dict[str, Any]]:
    """Load each contender's separator and score them all on every family each can be scored on:
    ``[{label, checkpoint, stems, postfilter, families: {name: scores}, not_scored, family_means,
    average, worst_family}]`` in the contenders' order."""
    separators, results = [], []
    for contender in contenders:
        checkpoint = CheckpointRef.resolve(contender.checkpoint)
        separators.append(load_separator(checkpoint, device, contender.postfilter))
        config = separators[-1].config
        results.append({"label": contender.label, "checkpoint": str(checkpoint.file), "stems": list(config.model.stem_set.names),
                        "postfilter": config.postfilter.to_params(), "families": {}, "not_scored": {}})
    for audio in families:
        groupings = [group_stems(audio.family.references, separator.config.model.stem_set) for separator in separators]
        for grouping in dict.fromkeys(groupings):  # the contenders whose stems group alike are scored together
            chosen = [index for index, other in enumerate(groupings) if other == grouping]
            if not grouping.scorable:
                for index in chosen:
                    results[index]["not_scored"][audio.family.name] = f"the model's stems make only one reference of it ({grouping.names[0]})"
                continue
            for index, per_track in zip(chosen, score_family(audio, [separators[i] for i in chosen], grouping)):
                medians = median_over_tracks(per_track)
                results[index]["families"][audio.family.name] = {
                    "references": list(grouping.names),
                    "grouping": grouping.describe(results[index]["stems"]),
                    "per_track": per_track,
                    "medians": medians,
                    "means": mean_over_tracks(per_track),
                    "mean_sdr": float(np.nanmean(medians["model"]["SDR"])),
                }
    for result in results:
        result["families"] = {audio.family.name: result["families"][audio.family.name] for audio in families if audio.family.name in result["families"]}
        means = result["family_means"] = {name: scored["mean_sdr"] for name, scored in result["families"].items()}
        if means:
            result["average"] = family_average(means)
            result["worst_family"] = worst_family(means)
    return results


# ----------------------------------------------------------------------------------------------
# Printing
# ----------------------------------------------------------------------------------------------


def table(rows: dict[str, np.ndarray], names: tuple[str, ...], label: str, width: int = 26) -> list[str]:
    """Lines of one family's table: a row per ``{name: (n_references,) dB}``, then the mean over
    the references it has (``-``: not scored); the MUSDB18 four also get their d/b/o mean."""
    width = max(width, *(len(row) + 1 for row in rows))  # whole labels: "c24@mask_power=0.75" and "...=0.5" differ at the end
    if names == STEM_NAMES:
        return sdr_table(rows, label=label, width=width)
    cells = max(9, *(len(name) + 2 for name in names))
    lines = [f"{label:<{width}}" + "".join(f"{name:>{cells}}" for name in names) + f"{'mean':>9}"]
    for row, values in rows.items():
        values = np.asarray(values, dtype=float)
        mean = float(np.nanmean(values)) if (~np.isnan(values)).any() else float("nan")
        lines.append(f"{row:<{width}}" + "".join(f"{'-':>{cells}}" if np.isnan(v) else f"{v:{cells}.2f}" for v in values) + f"{mean:9.2f}")
    return lines


def family_rows(results: list[dict], family: str, metric: str, over: str, share: bool) -> list[tuple[tuple[str, ...], dict]]:
    """``[(references, {row label: values})]`` of one family: the contenders scored with the same
    references share a table, with MIX and IRM1 once (and the share of IRM1 for a single model)."""
    tables: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    baselines: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    for result in results:
        scored = result["families"].get(family)
        if scored is None:
            continue
        references = tuple(scored["references"])
        tables.setdefault(references, {})[f"{family} {result['label']}"] = scored[over]["model"][metric]
        baselines[references] = {method: scored[over][method][metric] for method in ("MIX", "IRM1")}
    for references, rows in tables.items():
        mix, irm1 = baselines[references]["MIX"], baselines[references]["IRM1"]
        rows.update({f"{family} MIX": mix, f"{family} IRM1": irm1})
        if share and len(results) == 1:
            rows[f"{family} share of IRM1"] = (rows[f"{family} {results[0]['label']}"] - mix) / (irm1 - mix)
    return list(tables.items())


def print_report(results: list[dict], families: list[FamilyAudio], per_track: bool) -> None:
    for result in results:
        print(f"{result['label']}: {result['checkpoint']}, stems {', '.join(result['stems'])}, post-filter "
              + ", ".join(f"{k} {v}" for k, v in result["postfilter"].items()))
    for audio in families:
        family = audio.family
        print(f"{family.name}: {len(audio.tracks)} track(s), {audio.seconds:.0f} s; {audio.source}"
              + (f"; {family.dataset}, references {', '.join(family.references)}" if family.dataset else ""))
        for result in results:
            if family.name in result["not_scored"]:
                print(f"  not scored for {result['label']}: {result['not_scored'][family.name]}")
            elif result is results[0] or result["stems"] != results[0]["stems"]:  # one line per stem set
                print(f"  {result['label']}: {result['families'][family.name]['grouping']}")
    for metric, over, label in (("SDR", "medians", "cSDR dB"), ("global_SDR", "means", "global SDR dB"), ("SI_SDR", "means", "SI-SDR dB")):
        print()
        for audio in families:
            for references, rows in family_rows(results, audio.family.name, metric, over, share=metric == "SDR"):
                print("\n".join(table(rows, references, label)))
        print("(cSDR: BSSEval v4, median over 1 s frames then tracks; share of IRM1: (model - MIX) / (IRM1 - MIX))" if metric == "SDR"
              else "(whole tracks, mean over tracks as the MDX/SDX challenges average the global SDR)")
    if per_track:
        print("\nper track, cSDR dB, mean over the family's references:")
        width = max(10, *(len(result["label"]) + 2 for result in results))
        print(f"{'track':<50}{'family':<10}" + "".join(f"{result['label']:>{width}}" for result in results) + f"{'MIX':>9}{'IRM1':>9}")
        for audio in families:
            for name, *_ in audio.tracks:
                scored = [result["families"].get(audio.family.name) for result in results]
                cells = "".join(f"{np.nanmean(s['per_track'][name]['model']['SDR']):{width}.2f}" if s else f"{'-':>{width}}" for s in scored)
                first = next((s for s in scored if s), None)
                baselines = "".join(f"{np.nanmean(first['per_track'][name][m]['SDR']):9.2f}" for m in ("MIX", "IRM1")) if first else ""
                print(f"{name[:49]:<50}{audio.family.name[:9]:<10}{cells}{baselines}")
    print_summary(results, [audio.family.name for audio in families])


def print_summary(results: list[dict], names: list[str]) -> None:
    """The family means side by side, each setting's worst family and average, and the rule's verdicts."""
    cells = max(10, *(len(name) + 2 for name in names))
    print("\nfamily means, cSDR dB (mean over each family's references; the average counts each family once):")
    width = max(26, *(len(result["label"]) + 1 for result in results))
    print(f"{'setting':<{width}}" + "".join(f"{name:>{cells}}" for name in names) + f"{'average':>10}  worst family")
    for result in results:
        means = result["family_means"]
        row = "".join(f"{means[name]:{cells}.2f}" if name in means else f"{'-':>{cells}}" for name in names)
        worst = f"{result['worst_family'][0]} {result['worst_family'][1]:.2f}" if means else "-"
        print(f"{result['label']:<{width}}{row}{result.get('average', float('nan')):10.2f}  {worst}")
    for result in results:
        if result["family_means"]:
            prefix = "" if len(results) == 1 else f"{result['label']}: "
            name, mean = result["worst_family"]
            print(f"{prefix}worst family: {name} {mean:.2f} dB")
            print(f"{prefix}average over families: {result['average']:.2f} dB ({len(result['family_means'])} families)")
    if len(results) > 1:
        print(f"\ndecision rule: adopted only if no family's mean loses more than {TOLERANCE_DB:g} dB and the average over "
              f"families gains; each against {results[0]['label']}:")
        for result in results[1:]:
            decision = decide(result, results[0])
            print(f"  {result['label']}: {decision['reason']}")


def decide(candidate: dict, baseline: dict) -> dict[str, Any]:
    """The rule's verdict as a JSON-ready dict (``cannot decide`` when the two cannot be compared:
    other families, or a family whose references their stems group differently)."""
    try:
        for name in set(candidate["families"]) & set(baseline["families"]):
            ours, theirs = candidate["families"][name]["references"], baseline["families"][name]["references"]
            if ours != theirs:
                raise ValueError(f"{name} is scored on {', '.join(ours)} for one and {', '.join(theirs)} for the other (their stems differ)")
        decision = adopt(candidate["family_means"], baseline["family_means"])
    except ValueError as error:
        return {"candidate": candidate["label"], "baseline": baseline["label"], "adopted": False, "reason": f"cannot decide: {error}"}
    return {"candidate": candidate["label"], "baseline": baseline["label"], **dataclasses.asdict(decision)}


def as_json(value: Any) -> Any:
    """Arrays to lists (NaN to null, 4 decimals), tuples to lists, recursively."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [None if np.isnan(v) else round(float(v), 4) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else round(float(value), 4)
    return value


def write_json(path: Path, results: list[dict], families: list[FamilyAudio], seconds: float) -> None:
    first = results[0]
    report = {
        "convention": "BSSEval v4, SDR/SIR/SAR/ISR dB, median over 1 s frames then over tracks (cSDR); global_SDR and SI_SDR "
                      "of each whole track, mean over tracks; values per scored reference (null: not scored); a family's "
                      "mean is the model's cSDR averaged over its references; the average counts each family once",
        "families": {a.family.name: {"source": a.source, "dataset": a.family.dataset, "licence": a.family.licence,
                                     "references": a.family.references, "tracks": [name for name, *_ in a.tracks],
                                     "seconds": a.seconds} for a in families},
        "settings": results,
        "decisions": [decide(result, first) for result in results[1:]],
        "seconds": seconds,
        # The first setting's figures under the keys of earlier versions of this report:
        "checkpoint": first["checkpoint"],
        "sets": {a.family.name: a.source for a in families},
        **{key: {name: scored[key] for name, scored in first["families"].items()} for key in ("medians", "means", "per_track")},
    }
    Path(path).write_text(json.dumps(as_json(report), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="training run folder, checkpoint file, latest or pretrained")
    parser.add_argument("--root", default=os.environ.get(ENVIRONMENT_VARIABLE, ""), help=f"the frozen LMMS validation set (default: ${ENVIRONMENT_VARIABLE})")
    parser.add_argument("--manifest", default=str(MANIFEST), help="sha256sum list the LMMS copy must match (default: the repository's)")
    parser.add_argument("--families", default=os.environ.get(FAMILIES_VARIABLE, ""), help=f"the frozen copy of the other families (default: ${FAMILIES_VARIABLE})")
    parser.add_argument("--families-manifest", default=str(FAMILIES_MANIFEST), help="sha256sum list that copy must match (default: the repository's)")
    parser.add_argument("--families-mapping", default=str(FAMILIES_MAPPING), help="the families' mapping (default: the repository's)")
    parser.add_argument("--compare", default="", help="post-filter settings to compare, the first the baseline: mask_power=1,mask_power=0.5")
    parser.add_argument("--candidate", action="append", default=[], help="another checkpoint to judge against CHECKPOINT (repeatable); CHECKPOINT@mask_power=0.5: under that setting")
    parser.add_argument("--per-track", action="store_true", help="also print each track's SDR (mean over its references)")
    parser.add_argument("--json", default="", help="also write every figure to this JSON file")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    if not args.root and not args.families:
        print(f"error: no validation set: pass --root FOLDER or set {ENVIRONMENT_VARIABLE}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        try:
            contenders = contenders_of(args)
            for contender in contenders:
                CheckpointRef.resolve(contender.checkpoint)  # a typo stops the run before minutes of scoring
            families = read_families(args, Path(scratch))
        except (ManifestError, FamilyError, CheckpointError, ConfigError, FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        results = score_contenders(contenders, families, args.device)
    if not args.root:
        print(f"LMMS: not scored (no copy: pass --root FOLDER or set {ENVIRONMENT_VARIABLE})")
    print_report(results, families, args.per_track)
    seconds = time.perf_counter() - began
    print(f"\nscored in {seconds:.0f} s")
    if args.json:
        write_json(Path(args.json), results, families, round(seconds, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
