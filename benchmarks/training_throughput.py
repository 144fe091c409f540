"""Training throughput: what the model consumes, and what the data pipeline can deliver.

For each preset (``seed_card``, ``default``, ``demo``, ``pretrained``: ``parameters/train_seed_card.yaml``,
``train.yaml``, ``train_demo.yaml``, ``train_pretrained.yaml``) it prints

* model: training examples per second (chunks of the preset's ``chunk_seconds``) of full training
  steps (STFT, U-Net forward and backward under the preset's mixed precision, Adam step) on
  random audio, on the available device;
* data: examples per second the data pipeline alone delivers (``RandomChunkDataset`` with the
  preset's augmentations, through a ``DataLoader``), with and without the RAM cache, with 0 and
  N worker processes;
* fresh: examples per second of ``fresh_synthetic`` (every example a newly generated song,
  :class:`stemunet.data.chunks.FreshSyntheticChunks`), with 0 and N workers.

Data loading can feed the model when its figure is several times the model's. Usage::

    python benchmarks/training_throughput.py [--presets seed_card default demo] [--steps 5]
        [--workers 4] [--musdb-root /path/to/musdb18hq] [--batch-size N] [--threads N]

Without ``--musdb-root`` the data pipeline reads the demo's synthetic set (16 x 12 s tracks,
44.1 kHz stereo wav, like MUSDB18-HQ). On a CPU the model figures use a batch of 2 unless
``--batch-size`` is given (a preset's GPU batch would take minutes per step there).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from stemunet.config import resolve_device
from stemunet.data.chunks import FreshSyntheticChunks, RandomChunkDataset
from stemunet.data.tracks import list_tracks, resolve_root
from stemunet.lab.runs import load_parameter_file, parse_value
from stemunet.model import count_parameters
from stemunet.training.builders import build_optimizer, build_separator, waveform_augmentation
from stemunet.training.config import TrainConfig, resolve_mixed_precision
from stemunet.training.losses import training_loss

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"seed_card": "train_seed_card.yaml", "default": "train.yaml", "demo": "train_demo.yaml",
           "pretrained": "train_pretrained.yaml"}


def model_throughput(config: TrainConfig, batch_size: int, steps: int, clock: Callable[[], float] = time.perf_counter) -> tuple[float, str]:
    """Training examples per second of full steps on random audio, and the precision used.

    ``clock``: wall time by default; ``time.process_time`` counts this process's CPU time (all its
    threads) instead, which other processes on a shared machine barely change (CPU only).
    """
    device = resolve_device(config.device)
    amp_dtype = resolve_mixed_precision(config.mixed_precision, device)
    torch.manual_seed(0)
    separator = build_separator(config).to(device).train()
    if config.uses_channels_last(amp_dtype, device):
        separator.unet.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(separator, config)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    n_samples = int(round(config.chunk_seconds * config.stft.sample_rate))
    stems = torch.randn(batch_size, 4, config.stft.n_channels, n_samples, device=device) * 0.1
    mixture = stems.sum(dim=1)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        loss = training_loss(separator, mixture, stems, config, amp_dtype=amp_dtype, mask_generator=generator)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    step()  # warm-up: cuDNN autotuning, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
    began = clock()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    precision = str(amp_dtype).removeprefix("torch.") if amp_dtype is not None else "float32"
    return batch_size * steps / (clock() - began), precision


def data_throughput(config: TrainConfig, tracks, *, cache: bool, workers: int, n_batches: int, batch_size: int,
                    fresh: bool = False) -> float:
    """Examples per second a DataLoader over the preset's augmented random chunks (with ``fresh``:
    newly generated songs) delivers."""
    count = batch_size * (n_batches + 1)
    if fresh:
        dataset = FreshSyntheticChunks(config.data, config.chunk_seconds, config.stft.sample_rate, config.stft.n_channels,
                                       count, seed=0, augmentation=waveform_augmentation(config))
    else:
        dataset = RandomChunkDataset(
            tracks, config.chunk_seconds, config.stft.sample_rate, config.stft.n_channels,
            samples_per_epoch=count, seed=0, cache=cache, augmentation=waveform_augmentation(config),
        )
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    iterator = iter(loader)
    next(iterator)  # worker start-up is paid once per run, not per batch
    began = time.perf_counter()
    count = 0
    for mixture, _ in iterator:
        count += mixture.shape[0]
    return count / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per preset")
    parser.add_argument("--batch-size", type=int, default=None, help="model batch (default: the preset's on CUDA, 2 on CPU)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="loader workers of the second data figure")
    parser.add_argument("--data-batches", type=int, default=8, help="timed batches per data figure")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads of this process (0: torch's default); "
                        "1 gives steadier figures on a busy machine")
    parser.add_argument("--musdb-root", default=None, help="read this MUSDB18(-HQ) folder instead of the synthetic set")
    parser.add_argument("--precisions", nargs="+", default=["off", "auto"], choices=["off", "auto", "bf16", "fp16"],
                        help="the model figure once per mixed_precision setting, side by side (off: float32; auto: bf16 on "
                             "GPUs and on CPUs with AVX-512 BF16 or AMX, with channels-last on a CPU)")
    parser.add_argument("--model-only", action="store_true", help="skip the data pipeline's figures")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a preset parameter, e.g. -p mixed_precision bf16 -p channels_last true")
    args = parser.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")
    for preset in args.presets:
        params = load_parameter_file(ROOT / "parameters" / PRESETS[preset])
        params["device"] = "auto"
        if args.musdb_root is not None:
            params["musdb_root"] = args.musdb_root
        else:  # the demo's synthetic set, so every preset reads the same files
            demo = load_parameter_file(ROOT / "parameters" / PRESETS["demo"])
            params.update({k: demo[k] for k in demo if k.startswith("synthetic_") or k == "musdb_root"})
        params.update({name: parse_value(value, name) for name, value in args.parameter})
        config = TrainConfig.from_params(params)
        batch_size = args.batch_size or (config.batch_size if device.type == "cuda" else 2)
        n_parameters = count_parameters(build_separator(config))
        print(f"\n{preset}: {config.stft.sample_rate} Hz, {config.stft.n_channels} ch, n_fft {config.stft.n_fft}, "
              f"{n_parameters / 1e6:.2f} M parameters, {config.chunk_seconds:g} s chunks")
        model_rates = {}
        for setting in args.precisions:
            variant = config.replace(mixed_precision=setting)
            cpu_rate, precision = model_throughput(variant, batch_size, args.steps, clock=time.process_time)
            model_rates[setting], _ = model_throughput(variant, batch_size, args.steps)
            layout = "channels-last" if variant.uses_channels_last(resolve_mixed_precision(setting, device), device) else "contiguous"
            print(f"  model  {model_rates[setting]:8.1f} examples/s  ({cpu_rate:.2f} per CPU-second; {setting}: {precision}, {layout}; "
                  f"batch {batch_size}, {args.steps} steps)")
        model_rate = model_rates[args.precisions[-1]]
        if args.model_only:
            continue

        tracks = list_tracks(resolve_root(config.data, progress=False), "train", "train")
        for cache in (False, True):
            for workers in sorted({0, args.workers}):
                rate = data_throughput(config, tracks, cache=cache, workers=workers,
                                       n_batches=args.data_batches, batch_size=config.batch_size)
                print(f"  data   {rate:8.1f} examples/s  (cache {'on ' if cache else 'off'}, {workers} workers, "
                      f"{rate / model_rate:5.1f}x the model)")
        if config.data.musdb_root:
            continue
        for workers in sorted({0, args.workers}):
            rate = data_throughput(config, tracks, cache=False, workers=workers, n_batches=max(1, args.data_batches // 4),
                                   batch_size=config.batch_size, fresh=True)
            print(f"  fresh  {rate:8.1f} examples/s  (new songs, {workers} workers, {rate / model_rate:5.1f}x the model)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
