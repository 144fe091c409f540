"""Fingerprints of a generated synthetic set that hold on every x86-64 host and still catch a real change.

The generator's floating point rounds differently on different CPUs (AVX2, AVX-512 and AMX kernels
of numpy, scipy and torch sum in different orders), so the float32 audio it writes can differ in the
last bits from host to host and a byte digest of it cannot be a test. Instead each audio file is
summarised by

- its exact sample rate, channel count and length in samples;
- its RMS per 100 ms per channel, compared to 1e-5 relative (a gain change of 0.01 dB is 1.2e-3);
- four projections of all its samples on fixed random ±1 sequences, compared to 1e-3 absolute: a
  change of any one sample by d moves each projection by exactly d, while rounding differences
  of ~1e-7 per sample move them by ~1e-7 x sqrt(samples) (about 6e-5 for 2 s of stereo).

Files other than audio (the manifest, the musdb setup) are compared byte for byte. Record new
fingerprints with ``python tests/synthetic_fingerprints.py`` after a change that alters the audio on
purpose (and bump ``FORMAT_VERSION``); a refactor must leave them as they are.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf

RECORDED = Path(__file__).parent / "data" / "synthetic_fingerprints.json"
RMS_WINDOW_SECONDS = 0.1
RMS_RELATIVE_TOLERANCE = 1e-5
RMS_ABSOLUTE_TOLERANCE = 1e-9  # a silent window: rounding around zero
N_PROJECTIONS = 4
PROJECTION_TOLERANCE = 1e-3


def audio_fingerprint(path: Path) -> dict:
    """The summary of one audio file: rate, channels, samples, RMS per 100 ms per channel
    (``[window][channel]``) and ``N_PROJECTIONS`` random-sign projections of its samples."""
    audio, rate = sf.read(path, dtype="float64", always_2d=True)  # (samples, channels)
    n_samples, n_channels = audio.shape
    window = int(round(RMS_WINDOW_SECONDS * rate))
    rms = [np.sqrt(np.mean(audio[start : start + window] ** 2, axis=0)).tolist() for start in range(0, n_samples, window)]
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(N_PROJECTIONS, audio.size))  # same signs for every file
    return {"sample_rate": rate, "channels": n_channels, "samples": n_samples, "rms": rms, "projections": (signs @ audio.reshape(-1)).tolist()}


def set_fingerprint(root: Path) -> dict[str, object]:
    """Every file of ``root`` by relative path: an audio fingerprint for ``.wav`` files, the sha256 of the bytes otherwise."""
    return {
        path.relative_to(root).as_posix(): audio_fingerprint(path) if path.suffix == ".wav" else hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def as_json(record: dict[str, dict[str, object]]) -> str:
    """``{version: {file: fingerprint}}`` as JSON with one file per line (readable diffs)."""
    versions = []
    for version, files in sorted(record.items()):
        rows = ",\n".join(f"  {json.dumps(name)}: {json.dumps(value)}" for name, value in sorted(files.items()))
        versions.append(f"{json.dumps(version)}: {{\n{rows}\n}}")
    return "{\n" + ",\n".join(versions) + "\n}\n"


def differences(ours: dict[str, object], recorded: dict[str, object]) -> list[str]:
    """What differs between two set fingerprints beyond hardware rounding, one line per problem; empty if none."""
    problems = [f"{name}: missing" for name in sorted(set(recorded) - set(ours))]
    problems += [f"{name}: not expected" for name in sorted(set(ours) - set(recorded))]
    for name in sorted(set(ours) & set(recorded)):
        a, b = ours[name], recorded[name]
        if isinstance(b, str) or isinstance(a, str):
            if a != b:
                problems.append(f"{name}: bytes differ")
            continue
        for key in ("sample_rate", "channels", "samples"):
            if a[key] != b[key]:
                problems.append(f"{name}: {key} {a[key]} instead of {b[key]}")
        if problems and problems[-1].startswith(f"{name}:"):
            continue
        rms_a, rms_b = np.asarray(a["rms"]), np.asarray(b["rms"])
        off = np.abs(rms_a - rms_b) > RMS_RELATIVE_TOLERANCE * np.abs(rms_b) + RMS_ABSOLUTE_TOLERANCE
        if off.any():
            window = int(np.argwhere(off)[0][0])
            problems.append(f"{name}: RMS of 100 ms window {window} is {rms_a[off][0]:.8g} instead of {rms_b[off][0]:.8g} ({off.sum()} windows off)")
        shift = np.abs(np.asarray(a["projections"]) - np.asarray(b["projections"])).max()
        if shift > PROJECTION_TOLERANCE:
            problems.append(f"{name}: samples changed (projection moved by {shift:.3g})")
    return problems


if __name__ == "__main__":
    import tempfile

    from test_synthetic_layout import SMALL  # the sets the test regenerates

    from stemunet.data.synthetic import generate_synthetic_dataset

    with tempfile.TemporaryDirectory() as folder:
        record = {str(version): set_fingerprint(generate_synthetic_dataset(Path(folder) / f"v{version}", spec, progress=False)) for version, spec in SMALL.items()}
    RECORDED.parent.mkdir(exist_ok=True)
    RECORDED.write_text(as_json(record))
    print(f"recorded {RECORDED}")
