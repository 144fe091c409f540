"""Track listing, splits and chunk reading on the synthetic set and on real MUSDB18 audio."""

import os

import musdb
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from stemunet.config import DataConfig
from stemunet.data.chunks import RandomChunkDataset
from stemunet.data.synthetic import SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest
from stemunet.data.tracks import list_tracks, read_stems, resolve_root, track_length

SPEC = SyntheticSpec(n_train_tracks=5, n_test_tracks=1, track_seconds=2.0, seed=7)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "set", SPEC, progress=False)


@pytest.fixture(scope="module")
def musdb18_with_a_validation_track(tmp_path_factory, example_stem_path):
    """A MUSDB18 folder: the real excerpt under its own name and under a name musdb lists as validation."""
    setup = yaml.safe_load(open(os.path.join(os.path.dirname(musdb.__file__), "configs", "mus.yaml")))
    root = tmp_path_factory.mktemp("musdb18-split")
    (root / "train").mkdir()
    (root / "test").mkdir()
    (root / "train" / example_stem_path.name).symlink_to(example_stem_path)
    (root / "train" / f"{setup['validation_tracks'][0]}.stem.mp4").symlink_to(example_stem_path)
    (root / "test" / example_stem_path.name).symlink_to(example_stem_path)
    return root, setup["validation_tracks"][0]


def test_synthetic_split_follows_its_manifest(synthetic_root):
    valid = set(read_synthetic_manifest(synthetic_root)["validation_tracks"])
    train = {t.name for t in list_tracks(synthetic_root, "train", "train")}
    validation = {t.name for t in list_tracks(synthetic_root, "train", "valid")}
    assert validation == valid and train and not train & validation
    assert len(train | validation) == SPEC.n_train_tracks
    assert len(list_tracks(synthetic_root, "test")) == SPEC.n_test_tracks


def test_musdb18_uses_musdbs_official_validation_split(musdb18_with_a_validation_track):
    root, validation_name = musdb18_with_a_validation_track
    assert [t.name for t in list_tracks(root, "train", "valid")] == [validation_name]
    assert [t.name for t in list_tracks(root, "train", "train")] == ["The Easton Ellises - Falcon 69"]


def test_read_stems_of_a_real_stem_mp4_reads_only_the_asked_frames(real_musdb_root):
    track = list_tracks(real_musdb_root, "test")[0]
    n_samples, rate = track_length(track)
    assert rate == 44100 and 5.5 < n_samples / rate < 6.5
    whole, _ = read_stems(track)
    part, _ = read_stems(track, start=44100, n_samples=22050)
    assert whole.shape[:2] == (4, 2) and part.shape == (4, 2, 22050)
    # Compressed stems decode with a few samples of slack at seek points: compare by correlation.
    reference = whole[..., 44100 : 44100 + 22050]
    correlation = np.corrcoef(part.ravel(), reference.ravel())[0, 1]
    assert correlation > 0.99


def test_read_stems_of_wav_folders_equals_the_files(synthetic_root):
    track = list_tracks(synthetic_root, "test")[0]
    stems, rate = read_stems(track, start=1000, n_samples=500)
    drums, _ = sf.read(f"{track.path.rsplit('/', 1)[0]}/drums.wav", dtype="float32", always_2d=True)
    np.testing.assert_array_equal(stems[0], drums[1000:1500].T)
    assert rate == 44100


def test_random_chunks_of_real_audio_have_the_model_format(real_musdb_root):
    tracks = list_tracks(real_musdb_root, "train")
    dataset = RandomChunkDataset(tracks, chunk_seconds=1.0, sample_rate=16000, n_channels=1, samples_per_epoch=3, seed=1)
    mixture, stems = dataset[0]
    assert mixture.shape == (1, 16000) and stems.shape == (4, 1, 16000)
    torch.testing.assert_close(mixture, stems.sum(dim=0))
    assert stems.abs().amax(dim=(1, 2)).min() > 0  # every stem of the real excerpt is audible


def test_a_missing_musdb_root_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        resolve_root(DataConfig(musdb_root=str(tmp_path / "nowhere")))
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="train/ and test/"):
        resolve_root(DataConfig(musdb_root=str(tmp_path / "flat")))
