import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.audio import AudioError, apply_clipping_policy, load_audio, match_channels, resample, save_audio


def _tone(seconds=0.5, rate=44100, channels=2):
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * (c + 1) * t) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize("suffix, encoding, tolerance", [
    (".wav", "pcm16", 1e-4), (".wav", "pcm24", 1e-6), (".wav", "float32", 0.0),
    (".flac", "pcm16", 1e-4), (".flac", "pcm24", 1e-6),
])
def test_save_then_load_round_trip(tmp_path, suffix, encoding, tolerance):
    audio = _tone()
    path = save_audio(tmp_path / f"x{suffix}", audio, 44100, encoding)
    loaded, rate = load_audio(path)
    assert rate == 44100 and loaded.dtype == np.float32 and loaded.shape == audio.shape
    assert np.abs(loaded - audio).max() <= tolerance


def test_save_refuses_to_overwrite_and_leaves_no_temporary_files(tmp_path):
    path = save_audio(tmp_path / "a.wav", _tone(), 44100)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        save_audio(path, _tone() * 0.1, 44100)
    assert path.read_bytes() == before
    save_audio(path, _tone() * 0.1, 44100, overwrite=True)
    assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_mono_file_loads_as_one_channel(tmp_path):
    sf.write(tmp_path / "m.wav", _tone(channels=1)[0], 22050)
    audio, rate = load_audio(tmp_path / "m.wav")
    assert audio.shape[0] == 1 and rate == 22050


@pytest.mark.parametrize("make, problem", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"this is not audio at all" * 20), "not a readable audio file|could not decode"),
    (lambda p: sf.write(p, np.zeros((0, 2), np.float32), 44100), "no audio samples"),
    (lambda p: sf.write(p, np.full((100, 2), np.nan, np.float32), 44100, subtype="FLOAT"), "NaN or infinite"),
])
def test_bad_inputs_raise_audio_error_naming_the_file(tmp_path, make, problem):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=problem) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


@pytest.mark.parametrize("suffix", [".ogg", ".mp3"])
def test_compressed_formats_through_soundfile(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    sf.write(path, _tone().T, 44100, format=suffix[1:].upper().replace("OGG", "OGG"), subtype="VORBIS" if suffix == ".ogg" else "MPEG_LAYER_III")
    audio, rate = load_audio(path)
    assert rate == 44100 and audio.shape[0] == 2 and abs(audio.shape[1] - 22050) < 2000


def test_m4a_through_ffmpeg(tmp_path):
    wav = save_audio(tmp_path / "x.wav", _tone(), 44100)
    m4a = tmp_path / "x.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    audio, rate = load_audio(m4a)
    assert rate == 44100 and audio.shape[0] == 2 and abs(audio.shape[1] - 22050) < 3000
    assert np.abs(audio).max() > 0.3


def test_stem_mp4_mixture_through_ffmpeg(example_stem_path):
    audio, rate = load_audio(example_stem_path)
    assert rate == 44100 and audio.shape[0] == 2 and 5.5 < audio.shape[1] / rate < 6.5


def test_resample_preserves_a_tone_and_the_length():
    audio = torch.from_numpy(_tone(1.0, 44100, 1))
    down = resample(audio, 44100, 16000)
    assert down.shape[-1] == 16000
    reference = torch.from_numpy(_tone(1.0, 16000, 1))
    # Compare away from the edges, where the filter sees padding.
    assert (down[:, 500:-500] - reference[:, 500:-500]).abs().max() < 1e-3


def test_match_channels():
    stereo = torch.stack([torch.ones(10), -torch.ones(10)])
    assert match_channels(stereo, 1).abs().max() == 0
    assert match_channels(stereo[:1], 2).shape == (2, 10)
    with pytest.raises(AudioError, match="3 channels"):
        match_channels(torch.zeros(3, 10), 2, path="surround.wav")
    assert match_channels(torch.zeros(6, 10), 2, downmix=True).shape == (2, 10)


def test_clipping_policies():
    stems = np.array([[[2.0, -0.5]], [[0.5, 0.5]]], dtype=np.float32)
    rescaled = apply_clipping_policy(stems, "rescale")
    assert np.abs(rescaled).max() == pytest.approx(1.0) and rescaled[1, 0, 0] == pytest.approx(0.25)
    assert np.abs(apply_clipping_policy(stems, "clamp")).max() == 1.0
    assert apply_clipping_policy(stems, "none") is stems


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os

    path = save_audio(tmp_path / "a.wav", _tone(), 44100)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
