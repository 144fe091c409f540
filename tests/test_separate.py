"""Batch separation (stemunet.separate): inputs of every kind, outputs, policies, failures, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from stemunet.audio import declared_samples, load_audio
from stemunet.checkpoints import save_model
from stemunet.config import ChunkingConfig, ConfigError, ModelConfig, SeparatorConfig, StftConfig
from stemunet.separate import main
from stemunet.separation.batch import separate_file, separate_files
from stemunet.separation.config import SeparateConfig
from stemunet.separation.inputs import discover_inputs, track_name
from stemunet.separation.outputs import output_paths
from stemunet.separation.separator import Separator

TINY = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
# Short segments, so second-long test files go through the chunked, streamed path.
FAST = {"segment_seconds": 0.25, "overlap": 0.25, "batch_segments": 2}


@pytest.fixture(scope="module")
def separator() -> Separator:
    torch.manual_seed(0)
    return Separator(TINY).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, separator) -> Path:
    return save_model(separator, tmp_path_factory.mktemp("model") / "tiny.pt")


def _noise(n_channels: int, n_samples: int, amplitude: float = 0.3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n_samples, n_channels)) * amplitude).astype(np.float32)


def _write(path: Path, n_channels: int = 2, n_samples: int = 20000, rate: int = 44100, subtype: str = "PCM_16", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _noise(n_channels, n_samples, **kwargs), rate, subtype=subtype)
    return path


def _config(**changes) -> SeparateConfig:
    return SeparateConfig.from_params({**FAST, **changes})


def _leftovers(folder: Path) -> list[Path]:
    """Temporary files (hidden ``.part`` files) anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


def test_inputs_of_every_kind_keep_their_rate_channels_and_length(tmp_path, separator, example_stem_path):
    inputs = tmp_path / "in"
    files = [
        _write(inputs / "stereo.wav", 2, 30001, 44100),
        _write(inputs / "mono.flac", 1, 20000, 22050),
        _write(inputs / "low.wav", 2, 9000, 8000, subtype="FLOAT"),
    ]
    m4a = inputs / "compressed.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(files[0]), "-c:a", "aac", str(m4a)], check=True)
    files += [m4a, example_stem_path]

    summary = separate_files(files, separator, _config(), tmp_path / "out", progress=False)

    assert list(summary.status) == ["ok"] * 5, summary.error.tolist()
    assert list(summary.track) == ["stereo", "mono", "low", "compressed", "The Easton Ellises - Falcon 69"]
    for path, row in zip(files, summary.itertuples()):
        audio, rate = load_audio(path)  # what any reader (ffmpeg for m4a and .stem.mp4) decodes
        assert len(row.outputs) == 4
        for output in row.outputs:
            info = sf.info(output)
            assert (info.samplerate, info.channels, info.frames) == (rate, audio.shape[0], audio.shape[1]), output
            assert info.subtype == "PCM_16"
    assert {p.name for p in (tmp_path / "out" / "stereo").iterdir()} == {"drums.wav", "bass.wav", "other.wav", "vocals.wav", "source.json"}
    record = json.loads((tmp_path / "out" / "stereo" / "source.json").read_text())
    assert record["input"] == str(files[0].resolve()) and record["size"] == files[0].stat().st_size and len(record["sha256"]) == 64
    # AAC decodes to whole 1024-sample frames; the stems have the length the container declares.
    declared = declared_samples(m4a)
    assert abs(declared - 30001) < 1024 and sf.info(tmp_path / "out" / "compressed" / "drums.wav").frames == declared
    assert summary.seconds.iloc[0] == pytest.approx(30001 / 44100, abs=1e-3) and (summary.x_realtime > 0).all()


def test_streamed_file_separation_equals_separating_the_waveform_in_memory(tmp_path, separator):
    path = _write(tmp_path / "song.wav", 2, 40000, 48000, subtype="FLOAT")
    config = _config(encoding="float32")
    outputs = output_paths(tmp_path / "out", "song", config)
    separate_file(path, outputs, separator, config)
    audio, rate = load_audio(path)
    expected = separator.separate(audio, rate, config.chunking).numpy()
    for index, output in enumerate(outputs.values()):
        written, _ = load_audio(output)
        np.testing.assert_allclose(written, expected[index], atol=1e-6)


def test_folders_are_searched_recursively_and_globs_expanded(tmp_path):
    root = tmp_path / "music"
    _write(root / "a.wav", n_samples=100)
    _write(root / "deep" / "er" / "b.flac", n_samples=100)
    (root / "notes.txt").write_text("not audio")
    _write(root / ".hidden.wav", n_samples=100)
    track = root / "musdb" / "Artist - Song"  # a MUSDB18-HQ track folder: only its mixture counts
    for name in ("mixture", "drums", "bass", "other", "vocals"):
        _write(track / f"{name}.wav", n_samples=100)
    _write(tmp_path / "glob" / "c.ogg", n_samples=100, subtype="VORBIS")
    _write(tmp_path / "glob" / "d.wav", n_samples=100)

    found = discover_inputs([str(root), str(tmp_path / "glob" / "*.ogg"), str(root / "a.wav")])

    assert [(item.path.relative_to(tmp_path).as_posix(), item.track) for item in found] == [
        ("music/a.wav", "a"),
        ("music/deep/er/b.flac", "b"),
        ("music/musdb/Artist - Song/mixture.wav", "Artist - Song"),
        ("glob/c.ogg", "c"),
    ]  # a.wav, named twice, comes once
    assert all(item.error == "" for item in found)


def test_track_names_follow_musdb_conventions():
    assert track_name("x/Artist - Title.stem.mp4") == "Artist - Title"
    assert track_name("x/Artist - Title/mixture.wav") == "Artist - Title"
    assert track_name("x/song.final.flac") == "song.final"


def test_inputs_that_name_nothing_or_clash_are_reported(tmp_path):
    _write(tmp_path / "one" / "song.wav", n_samples=100)
    _write(tmp_path / "two" / "song.flac", n_samples=100)
    (tmp_path / "empty").mkdir()
    found = discover_inputs([str(tmp_path / "missing.wav"), str(tmp_path / "empty"), str(tmp_path / "*.mp3"), str(tmp_path / "one"), str(tmp_path / "two")])
    errors = [item.error for item in found]
    assert "no such file or folder" in errors[0]
    assert "holds no audio files" in errors[1]
    assert "matches no audio files" in errors[2]
    assert errors[3] == "" and "same output folder" in errors[4]


def test_track_folders_written_into_the_output_folder_are_not_searched_for_inputs(tmp_path):
    _write(tmp_path / "song.wav", n_samples=100)
    _write(tmp_path / "stems" / "song" / "vocals.wav", n_samples=100)
    (tmp_path / "stems" / "song" / "source.json").write_text("{}")  # what a separation writes beside its stems
    assert [item.track for item in discover_inputs([str(tmp_path)], exclude=tmp_path / "stems")] == ["song"]


def test_stem_selection_writes_only_the_chosen_stems(tmp_path, separator):
    path = _write(tmp_path / "song.wav")
    summary = separate_files([path], separator, _config(stems=["vocals", "bass"], format="flac", encoding="pcm24"), tmp_path / "out", progress=False)
    assert summary.status[0] == "ok"
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == ["bass.flac", "source.json", "vocals.flac"]
    assert sf.info(tmp_path / "out" / "song" / "vocals.flac").subtype == "PCM_24"


def test_two_stem_mode_writes_vocals_and_the_sum_of_the_other_three(tmp_path, separator):
    path = _write(tmp_path / "song.wav", subtype="FLOAT")
    config = _config(two_stems=True, encoding="float32")
    summary = separate_files([path], separator, config, tmp_path / "out", progress=False)
    assert summary.status[0] == "ok"
    vocals, _ = load_audio(tmp_path / "out" / "song" / "vocals.wav")
    accompaniment, _ = load_audio(tmp_path / "out" / "song" / "accompaniment.wav")
    audio, rate = load_audio(path)
    stems = separator.separate(audio, rate, config.chunking).numpy()
    np.testing.assert_allclose(vocals, stems[3], atol=1e-6)
    np.testing.assert_allclose(accompaniment, stems[0] + stems[1] + stems[2], atol=1e-6)
    # Softmax masks split the mixture: the two stems add back up to it.
    np.testing.assert_allclose(vocals + accompaniment, audio, atol=1e-4)


def test_config_rejects_unknown_stems_and_float_flac(tmp_path, separator):
    with pytest.raises(ConfigError, match=r"stems \['accompaniment'\] are not stems of this model"):
        SeparateConfig.from_params({"stems": ["accompaniment"]}).output_names(separator.stem_names)
    with pytest.raises(ConfigError, match="guitar"):  # before any file is read or written
        separate_files([tmp_path / "absent.wav"], separator, _config(stems=("guitar",)), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="two-stem mode"):
        SeparateConfig.from_params({"stems": ["drums"], "two_stems": True})
    with pytest.raises(ConfigError, match="flac stores integers"):
        SeparateConfig.from_params({"format": "flac", "encoding": "float32"})


def test_clipping_policies_for_integer_encodings(tmp_path, separator):
    # A float wav peaking at 3: its stems exceed full scale.
    path = _write(tmp_path / "loud.wav", subtype="FLOAT", amplitude=1.0)
    results = {}
    for policy, encoding in [("none", "float32"), ("rescale", "pcm16"), ("clamp", "pcm16"), ("none", "pcm16")]:
        out = tmp_path / f"{policy}-{encoding}"
        summary = separate_files([path], separator, _config(clipping=policy, encoding=encoding), out, progress=False)
        assert summary.status[0] == "ok"
        results[policy, encoding] = (np.stack([load_audio(out / "loud" / f"{s}.wav")[0] for s in ("drums", "bass", "other", "vocals")]), summary.gain[0])
    reference, gain = results["none", "float32"]
    peak = np.abs(reference).max()
    assert peak > 1.5 and gain == 1.0  # float32 keeps everything
    rescaled, gain = results["rescale", "pcm16"]
    assert gain == pytest.approx(1 / peak, rel=1e-4)
    np.testing.assert_allclose(rescaled, reference * gain, atol=2 / 32768)  # every stem scaled alike
    clamped, gain = results["clamp", "pcm16"]
    np.testing.assert_allclose(clamped, np.clip(reference, -1, 1), atol=2 / 32768)
    assert gain == 1.0
    encoder_clipped, _ = results["none", "pcm16"]
    np.testing.assert_allclose(encoder_clipped, np.clip(reference, -1, 1), atol=2 / 32768)  # clipped, never wrapped


def test_existing_outputs_are_never_overwritten_without_the_flag(tmp_path, separator):
    path = _write(tmp_path / "song.wav")
    out = tmp_path / "out"
    assert separate_files([path], separator, _config(), out, progress=False).status[0] == "ok"
    vocals = out / "song" / "vocals.wav"
    vocals.write_bytes(b"the user's own edit")

    summary = separate_files([path], separator, _config(), out, progress=False)
    assert summary.status[0] == "skipped" and "overwrite" in summary.error[0]
    assert vocals.read_bytes() == b"the user's own edit"

    (out / "song" / "bass.wav").unlink()  # some outputs exist, some not: refused too
    summary = separate_files([path], separator, _config(), out, progress=False)
    assert summary.status[0] == "failed" and "vocals.wav" in summary.error[0]
    assert vocals.read_bytes() == b"the user's own edit" and not (out / "song" / "bass.wav").exists()

    summary = separate_files([path], separator, _config(overwrite=True), out, progress=False)
    assert summary.status[0] == "ok" and sf.info(vocals).frames == 20000
    assert not _leftovers(out)


def test_bad_files_are_reported_and_the_rest_go_on(tmp_path, separator):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a_empty.wav").write_bytes(b"")
    (inputs / "b_garbage.wav").write_bytes(b"RIFF this is not a wav file at all" * 10)
    _write(inputs / "c_surround.wav", 3, 5000)
    _write(inputs / "d_fine.wav", 2, 5000)
    out = tmp_path / "out"

    summary = separate_files(discover_inputs([str(inputs)]), separator, _config(), out, progress=False)

    assert list(summary.status) == ["failed", "failed", "failed", "ok"]
    assert "empty" in summary.error[0] and "a_empty.wav" in summary.error[0]
    assert "b_garbage.wav" in summary.error[1]
    assert "3 channels" in summary.error[2] and "downmix" in summary.error[2]
    assert sorted(p.name for p in out.iterdir()) == ["d_fine"]  # no folders left for failures
    assert not _leftovers(out)

    downmixed = separate_files([inputs / "c_surround.wav"], separator, _config(downmix=True), out, progress=False)
    assert downmixed.status[0] == "ok" and sf.info(out / "c_surround" / "vocals.wav").channels == 1


@pytest.mark.parametrize("clipping", ["rescale", "clamp"])
def test_a_failure_midway_leaves_no_half_files(tmp_path, separator, clipping):
    audio = _noise(2, 44100)
    audio[30000] = np.nan  # found only after the first seconds were separated and written
    path = tmp_path / "broken.wav"
    sf.write(path, audio, 44100, subtype="FLOAT")
    out = tmp_path / "out"
    summary = separate_files([path], separator, _config(clipping=clipping), out, progress=False)
    assert summary.status[0] == "failed" and "NaN" in summary.error[0]
    assert not out.exists() or not any(out.rglob("*"))


def test_cli_separates_end_to_end_and_exits_non_zero_on_a_failed_input(tmp_path, checkpoint, capsys):
    _write(tmp_path / "in" / "song.wav", 2, 20000, 32000)
    (tmp_path / "in" / "broken.wav").write_bytes(b"")
    out = tmp_path / "out"
    common = ["-o", str(out), "--checkpoint", str(checkpoint), "--segment-seconds", "0.25", "--batch-segments", "2", "-q"]

    assert main([str(tmp_path / "in" / "song.wav"), "--two-stems", "--encoding", "pcm24", "--summary", str(tmp_path / "s.csv"), *common]) == 0
    assert sorted(p.name for p in (out / "song").iterdir()) == ["accompaniment.wav", "source.json", "vocals.wav"]
    info = sf.info(out / "song" / "vocals.wav")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (32000, 2, 20000, "PCM_24")
    assert pd.read_csv(tmp_path / "s.csv").status.tolist() == ["ok"]

    assert main([str(tmp_path / "in"), "--two-stems", *common]) == 1  # song: skipped (outputs exist), broken: failed
    printed = capsys.readouterr()
    assert "broken" in printed.out and "failed" in printed.out and "skipped" in printed.out
    assert "1 failed" in printed.err


def test_cli_runs_as_a_module(tmp_path, checkpoint):
    _write(tmp_path / "song.flac", 1, 8000, 16000)
    command = [sys.executable, "-m", "stemunet.separate", str(tmp_path / "song.flac"), "-o", str(tmp_path / "out"),
               "--checkpoint", str(checkpoint), "--stems", "vocals", "-q"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sf.info(tmp_path / "out" / "song" / "vocals.wav").frames == 8000


def test_cli_without_a_training_run_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    _write(tmp_path / "song.wav", n_samples=100)
    assert main([str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--checkpoint", "latest"]) == 2
    error = capsys.readouterr().err
    assert f"no finished training run in {tmp_path / 'runs'}" in error and "checkpoint file" in error
    assert main([str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_separation_reads_any_block_size_the_same(separator):
    audio = _noise(2, 23457).T
    chunking = ChunkingConfig(**FAST)
    whole = separator.separate(audio, 22050, chunking)
    blocks = [audio[:, i : i + 1234] for i in range(0, audio.shape[1], 1234)]
    streamed = torch.cat(list(separator.separate_stream(blocks, audio.shape[1], 22050, 2, chunking)), dim=-1)
    torch.testing.assert_close(streamed, whole, atol=1e-6, rtol=0)


def test_cli_options_defaults_and_choices_come_from_the_config():
    from stemunet.separate import CLI_EXCLUDED, _parser
    from stemunet.separation.config import SeparateConfig

    parser = _parser()
    args = parser.parse_args(["song.wav", "-o", "out"])
    defaults = SeparateConfig().to_params()
    for name, value in defaults.items():
        if name not in (*CLI_EXCLUDED, "inputs", "output_dir"):
            assert getattr(args, name) == value, name
    actions = {action.dest: action for action in parser._actions}
    assert actions["encoding"].choices == ["pcm16", "pcm24", "float32"]
    assert actions["clipping"].choices == ["rescale", "clamp", "none"]
    assert "memory grows with it" in actions["segment_seconds"].help


def test_cli_separates_with_the_bundled_model_when_no_checkpoint_is_named(tmp_path, monkeypatch):
    """A fresh clone, no training run: python -m stemunet.separate song.wav -o out/ works."""
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "no-runs"))
    _write(tmp_path / "song.wav", 2, 22050, 44100)
    assert main([str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "-q"]) == 0
    for stem in ("drums", "bass", "other", "vocals"):
        assert sf.info(tmp_path / "out" / "song" / f"{stem}.wav").frames == 22050
    assert not (tmp_path / "no-runs").exists()
