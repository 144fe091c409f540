"""Separation speed and memory: our presets against Open-Unmix and HDemucs, on the same input.

Every method separates the same 3-minute 44.1 kHz stereo recording (deterministic noise and
tones; speed does not depend on the content) with random weights:

* ``seed_card``, ``default``, ``demo``: ``Separator`` of ``parameters/train_seed_card.yaml``'s,
  ``SeparatorConfig()``'s and ``parameters/train_demo.yaml``'s signal path and U-Net, through
  ``Separator.separate`` (resampling to the model's rate and back, overlap-add over
  ``--segment-seconds`` segments, ``--batch-segments`` at a time, the band above the model shared
  among the stems);
* ``pretrained``: the bundled model (``checkpoint: pretrained``, its trained weights) with its
  own default post-filter, the same way: what ``python -m stemunet.separate`` runs;
* ``checkpoint``: the model of ``--checkpoint`` (a run folder or checkpoint: a candidate for the
  bundled model, say) the same way, with its own post-filter; on when ``--checkpoint`` is given;
* ``openunmix``: the ``openunmix`` package's UMX architecture (``OpenUnmix`` x 4 targets, hidden
  512, 16 kHz bandwidth, n_fft 4096 / hop 1024) in its ``Separator`` with the default Wiener step
  (``niter=1``, ``wiener_win_len=300``), the whole track at once as its ``umx`` command does;
  ``openunmix_no_wiener``: the same with ``niter=0`` (its networks' share of that time);
* ``hdemucs``: torchaudio's ``hdemucs_high`` over 7.8 s segments with overlap-add (10 % overlap,
  as torchaudio's separation tutorial, one segment at a time unless ``--batch-segments`` says
  otherwise on a GPU).

Each method runs in its own subprocess, so its peak resident memory (``ru_maxrss``: Python,
torch, the model and the separation together) is its own, with torch's default threads (one per
core) unless ``--threads`` says otherwise. A warm-up pass on 10 s precedes the timing. Besides
wall-clock time, each reports the process's CPU time, which other jobs on a shared machine
disturb much less: "x real time (CPU time)" is what the wall clock would show with the threads
to itself.
Speed is given as "x real time" (seconds of audio per second of processing; higher is faster)
and as a ratio to Open-Unmix's.

``--wiener-iterations`` and ``--mask-power`` set our models' post-filter (default -1: each
model's own; random-weight presets have none). ``--precisions float32 bf16`` times our models
once in each arithmetic (the default, ``auto``, is bfloat16 on CPUs with AVX-512 BF16 or AMX).

``--memory-check`` instead separates a 1-minute and a 10-minute file with ``--memory-method``
(default: the default preset) through the batch path (``stemunet.separation.batch.separate_file``: file in, stems out) and prints the
ratio of their peak memory (target: at most 1.5).

Usage::

    python benchmarks/separation_speed.py                      # CPU, every method
    python benchmarks/separation_speed.py --repeats 2          # best of two timings per method
    python benchmarks/separation_speed.py --device cuda --batch-segments 16
    python benchmarks/separation_speed.py --methods pretrained openunmix openunmix_no_wiener --precisions float32 bf16
    python benchmarks/separation_speed.py --memory-check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from stemunet.separation.loading import load_separator

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("seed_card", "default", "demo", "pretrained", "checkpoint")
METHODS = (*PRESETS, "openunmix", "openunmix_no_wiener", "hdemucs")
DEFAULT_METHODS = [method for method in METHODS if method != "checkpoint"]  # "checkpoint" needs --checkpoint
PRESET_FILES = {"seed_card": "parameters/train_seed_card.yaml", "demo": "parameters/train_demo.yaml"}
SAMPLE_RATE = 44100
HDEMUCS_SEGMENT_SECONDS = 7.8
HDEMUCS_OVERLAP = 0.1


def write_test_input(path: Path, seconds: float, seed: int = 0) -> Path:
    """A deterministic stereo 44.1 kHz 16-bit wav: pink-ish noise, a bass line and chords."""
    rng = np.random.default_rng(seed)
    block_seconds = 60
    with sf.SoundFile(path, "w", SAMPLE_RATE, 2, "PCM_16") as file:
        done = 0
        total = int(seconds * SAMPLE_RATE)
        while done < total:
            n = min(block_seconds * SAMPLE_RATE, total - done)
            t = (done + np.arange(n)) / SAMPLE_RATE
            noise = np.cumsum(rng.normal(size=(n, 2)), axis=0) * 0.002
            noise -= noise.mean(axis=0)
            tones = 0.2 * np.sin(2 * np.pi * 55 * t) + 0.1 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
            file.write(np.clip(noise + tones[:, None], -1, 1).astype(np.float32))
            done += n
    return path


def preset_config(name: str):
    """The ``SeparatorConfig`` of a preset (from its training parameter file where there is one)."""
    import yaml

    from stemunet.config import SeparatorConfig

    if name == "default":
        return SeparatorConfig()
    values = yaml.safe_load((ROOT / PRESET_FILES[name]).read_text())
    return SeparatorConfig.from_params({k: v for k, v in values.items() if k in SeparatorConfig.parameter_names()})


def preset_separator(name: str, device, args: argparse.Namespace):
    """The separator of a preset (random weights; the bundled model's own for ``pretrained``) with
    ``--wiener-iterations`` / ``--mask-power`` over its own post-filter."""
    from stemunet.checkpoints import CheckpointRef
    from stemunet.config import PostFilterChoice
    from stemunet.separation.separator import Separator

    choice = PostFilterChoice(wiener_iterations=args.wiener_iterations, mask_power=args.mask_power, precision=args.precision)
    if name in ("pretrained", "checkpoint"):
        return load_separator(CheckpointRef.resolve(args.checkpoint if name == "checkpoint" else "pretrained"), device, choice)
    return Separator(preset_config(name)).to(device).eval().use_postfilter(choice)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> dict:
    """Time one method in this process; return its figures."""
    import torch

    from stemunet.audio import load_audio
    from stemunet.config import ChunkingConfig

    torch.set_num_threads(args.threads or torch.get_num_threads())
    device = torch.device(args.device)
    waveform, rate = load_audio(args.input)
    seconds = waveform.shape[1] / rate
    method = args.worker
    chunking = ChunkingConfig(segment_seconds=args.segment_seconds, overlap=args.overlap, batch_segments=args.batch_segments)
    info: dict = {"method": method, "device": str(device), "threads": torch.get_num_threads()}

    if method in PRESETS:
        from stemunet.model import count_parameters

        model = preset_separator(method, device, args)
        config = model.config
        info.update(parameters_m=count_parameters(model) / 1e6, rate=config.stft.sample_rate, channels=config.stft.n_channels)

        def run(audio: np.ndarray) -> None:
            model.separate(audio, rate, chunking)

    elif method in ("openunmix", "openunmix_no_wiener"):
        from openunmix import model as umx
        from openunmix.utils import bandwidth_to_max_bin

        max_bin = bandwidth_to_max_bin(rate=44100.0, n_fft=4096, bandwidth=16000)
        targets = {name: umx.OpenUnmix(nb_bins=4096 // 2 + 1, nb_channels=2, hidden_size=512, max_bin=max_bin) for name in ("vocals", "drums", "bass", "other")}
        niter = 1 if method == "openunmix" else 0
        model = umx.Separator(target_models=targets, niter=niter, residual=False, n_fft=4096, n_hop=1024, nb_channels=2, sample_rate=44100.0, wiener_win_len=300).to(device).eval()
        info.update(parameters_m=sum(p.numel() for p in model.parameters()) / 1e6, rate=44100, channels=2)

        def run(audio: np.ndarray) -> None:
            with torch.inference_mode():
                model(torch.from_numpy(audio)[None].to(device)).cpu()

    elif method == "hdemucs":
        from torchaudio.models import hdemucs_high

        from stemunet.separation.chunking import overlap_add

        model = hdemucs_high(sources=["drums", "bass", "other", "vocals"]).to(device).eval()
        info.update(parameters_m=sum(p.numel() for p in model.parameters()) / 1e6, rate=44100, channels=2)
        segment = int(HDEMUCS_SEGMENT_SECONDS * rate)
        batch = args.batch_segments if device.type == "cuda" else 1

        def run(audio: np.ndarray) -> None:
            with torch.inference_mode():
                mixture = torch.from_numpy(audio).to(device)
                # The tutorial's normalisation by the mixture's statistics.
                mean, std = mixture.mean(), mixture.std()
                stems = overlap_add(model, (mixture - mean) / std, segment, HDEMUCS_OVERLAP, batch)
                (stems * std + mean).cpu()

    else:
        raise ValueError(f"unknown method {method!r}")

    run(np.ascontiguousarray(waveform[:, : 10 * rate]))  # warm-up: allocator, cudnn, thread pools
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    baseline = _rss_mb()
    timings, cpu_timings = [], []
    for _ in range(args.repeats):
        cpu_started = _cpu_seconds()
        started = time.perf_counter()
        run(waveform)
        _sync(device)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(_cpu_seconds() - cpu_started)
    best = min(timings)
    info.update(
        seconds_audio=seconds,
        seconds_taken=best,
        timings=timings,
        x_realtime=seconds / best,
        cpu_seconds=min(cpu_timings),
        # What the wall clock would show with the threads to itself: a figure that other jobs on
        # a shared machine disturb much less than the wall clock.
        x_realtime_cpu=seconds * torch.get_num_threads() / min(cpu_timings),
        peak_rss_mb=_peak_rss_mb(),
        rss_before_mb=baseline,
    )
    if device.type == "cuda":
        info["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return info


def memory_worker(args: argparse.Namespace) -> dict:
    """Separate ``args.input`` file to file with the default preset; report peak memory."""
    import torch

    from stemunet.separation.batch import separate_file
    from stemunet.separation.config import SeparateConfig

    torch.set_num_threads(args.threads or torch.get_num_threads())
    device = torch.device(args.device)
    separator = preset_separator(args.memory_worker, device, args)
    config = SeparateConfig.from_params({"segment_seconds": args.segment_seconds, "overlap": args.overlap, "batch_segments": args.batch_segments})
    with tempfile.TemporaryDirectory() as folder:
        outputs = {name: Path(folder) / f"{name}.wav" for name in config.output_names}
        baseline = _rss_mb()
        started = time.perf_counter()
        done = separate_file(args.input, outputs, separator, config)
        taken = time.perf_counter() - started
    return {"seconds_audio": done.seconds, "seconds_taken": taken, "x_realtime": done.seconds / taken, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": baseline}


def run_worker(mode: str, method: str, input_path: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, f"--{mode}", method, "--input", str(input_path), "--device", args.device,
               "--segment-seconds", str(args.segment_seconds), "--overlap", str(args.overlap),
               "--batch-segments", str(args.batch_segments), "--repeats", str(args.repeats), "--threads", str(args.threads),
               "--wiener-iterations", str(args.wiener_iterations), "--mask-power", str(args.mask_power),
               "--precision", args.precision, "--checkpoint", args.checkpoint]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        return {"method": method, "error": (result.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def speed_table(results: list[dict]) -> str:
    """A markdown table; "vs Open-Unmix" divides speeds by Open-Unmix's (with its Wiener step)."""
    reference = next((r for r in results if r.get("method") == "openunmix" and "error" not in r), None)
    gpu = any("peak_gpu_mb" in r for r in results)
    header = ["method", "model rate, channels", "params (M)", "seconds", "x real time", "vs Open-Unmix"]
    header += ["peak GPU (MB)"] if gpu else ["CPU s", "x real time (CPU time)", "vs Open-Unmix (CPU time)"]
    header += ["peak RSS (MB)", "RSS before run (MB)"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} |")
            continue
        cells = [r["method"], f"{r['rate']} Hz, {r['channels']} ch", f"{r['parameters_m']:.2f}", f"{r['seconds_taken']:.2f}", f"{r['x_realtime']:.1f}"]
        cells.append(f"{r['x_realtime'] / reference['x_realtime']:.2f}x" if reference else "n/a")
        if gpu:
            cells.append(f"{r.get('peak_gpu_mb', float('nan')):.0f}")
        else:
            cells += [f"{r['cpu_seconds']:.1f}", f"{r['x_realtime_cpu']:.1f}"]
            cells.append(f"{r['x_realtime_cpu'] / reference['x_realtime_cpu']:.2f}x" if reference else "n/a")
        cells += [f"{r['peak_rss_mb']:.0f}", f"{r['rss_before_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=None, choices=list(METHODS),
                        help="default: every method but checkpoint (and checkpoint too when --checkpoint is given)")
    parser.add_argument("--checkpoint", default="", help="the checkpoint method's model: a run folder or checkpoint file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the test input (default 3 minutes)")
    parser.add_argument("--segment-seconds", type=float, default=10.0, help="our presets' overlap-add segments")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch-segments", type=int, default=4, help="segments per batch (our presets; HDemucs on a GPU)")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes per method; the best is reported")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--wiener-iterations", type=int, default=-1, help="our models' Wiener EM iterations (-1: each model's own)")
    parser.add_argument("--mask-power", type=float, default=-1.0, help="our models' mask power (-1: each model's own)")
    parser.add_argument("--precisions", nargs="+", default=["model"], choices=["model", "auto", "float32", "bf16"],
                        help="our models' U-Net arithmetic, each timed as its own row (model: each model's own, which is auto)")
    parser.add_argument("--precision", default="model", help=argparse.SUPPRESS)
    parser.add_argument("--memory-check", action="store_true", help="1-minute vs 10-minute peak memory of --memory-method")
    parser.add_argument("--memory-method", default="default", choices=list(PRESETS), help="the model of --memory-check")
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--json", default="", help="also write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.methods is None:
        args.methods = DEFAULT_METHODS + (["checkpoint"] if args.checkpoint else [])
    if not args.checkpoint and ("checkpoint" in args.methods or (args.memory_check and args.memory_method == "checkpoint")):
        parser.error("the checkpoint method needs --checkpoint (a run folder or checkpoint file)")
    if args.checkpoint:  # typed here, read by a worker started in the repository root
        args.checkpoint = str(Path(args.checkpoint).expanduser().resolve()) if Path(args.checkpoint).expanduser().exists() else args.checkpoint

    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if args.memory_worker:
        print(json.dumps(memory_worker(args)))
        return 0

    import torch

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stemunet-bench-") as folder:
        if args.memory_check:
            results = {}
            for label, minutes in (("short", args.short_minutes), ("long", args.long_minutes)):
                path = write_test_input(Path(folder) / f"{label}.wav", minutes * 60)
                results[label] = run_worker("memory-worker", args.memory_method, path, args)
                r = results[label]
                if "error" in r:
                    print(f"{minutes:g} min: failed: {r['error']}")
                    return 1
                print(f"{minutes:g} min: peak RSS {r['peak_rss_mb']:.0f} MB (before the run {r['rss_before_mb']:.0f} MB), {r['x_realtime']:.1f}x real time")
            ratio = results["long"]["peak_rss_mb"] / results["short"]["peak_rss_mb"]
            print(f"peak memory ratio, {args.long_minutes:g} min / {args.short_minutes:g} min: {ratio:.3f} (target <= 1.5)")
            if args.json:
                Path(args.json).write_text(json.dumps({**results, "ratio": ratio}, indent=2))
            return 0 if ratio <= 1.5 else 1

        path = write_test_input(Path(folder) / "input.wav", args.seconds)
        results = []
        for method in args.methods:
            for precision in args.precisions if method in PRESETS else ["model"]:
                args.precision = precision
                result = run_worker("worker", method, path, args)
                if method in PRESETS and args.precisions != ["model"]:
                    result["method"] = f"{method} ({precision})"
                results.append(result)
                summary = result.get("error") or f"{result['x_realtime']:.1f}x real time, peak RSS {result['peak_rss_mb']:.0f} MB"
                print(f"{result['method']}: {summary}", flush=True)
    print()
    print(f"{args.seconds:g} s of 44.1 kHz stereo, best of {args.repeats}; segments {args.segment_seconds:g} s, overlap {args.overlap:g}, batch {args.batch_segments}")
    print(speed_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
