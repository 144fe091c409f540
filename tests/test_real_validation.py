"""The real-music validation set: the LMMS mapping, the excerpt builder, the manifest, the benchmark.

No LMMS needed: projects and rendered tracks are made here, small and synthetic.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.checkpoints import save_model
from stemunet.config import STEM_NAMES, ModelConfig, SeparatorConfig, StftConfig
from stemunet.data.lmms import ProjectError, project_rendering_only, read_project, rendered_tracks
from stemunet.data.real_validation import (INFO_NAME, MANIFEST_NAME, PEAK_DBFS, RESERVED_SONGS, ManifestError,
                                           MappingError, ValidationSong, build_validation_set, is_reserved,
                                           load_mapping, read_info, verify_copy)
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "benchmarks" / "real_validation_mapping.yaml"
RATE = 44100


# ----------------------------------------------------------------------------------------------
# The repository's mapping
# ----------------------------------------------------------------------------------------------


def test_the_mapping_holds_ten_songs_or_more_each_complete_licensed_and_none_reserved():
    songs = load_mapping(MAPPING)  # raises on a missing field, an unknown stem, a reserved song
    assert len(songs) >= 10
    for song in songs:
        assert not is_reserved(song) and song.licence.strip() and song.copyright.strip()
        assert {"drums", "bass", "other"} <= set(song.tracks.values()) <= {"drums", "bass", "other", "skip"}
        # rendertracks numbers the files 1..N in its order: a gap or a repeat is a track left out
        numbers = sorted(int(file.split("_", 1)[0]) for file in song.tracks)
        assert numbers == list(range(1, len(numbers) + 1)), song.name
    reserved = {re.sub(r"[^0-9a-z]", "", name.lower()) for name in RESERVED_SONGS}
    text = re.sub(r"[^0-9a-z\n]", "", MAPPING.read_text().lower())
    assert not any(name in text for name in reserved), "a reserved song is named in the mapping"


RESERVED_PROJECTS = [
    "demos/CapDan/CapDan-ReggaeTry.mmpz",
    "demos/CapDan/CapDan-ReggaetonTry.mmpz",
    "demos/CapDan/CapDan-ZeroSumGame-OriginalByZakarra.mmpz",
    "demos/Momo64-esp.mmpz",
    "demos/Settel-InnerRecreation.mmpz",
    "demos/Skiessi/Skiessi-C64.mmpz",
    "demos/Skiessi/Skiessi-Onion.mmpz",
    "demos/Jousboxx-BuzzerBeater.mmpz",
]
"""lmms-common's files of the eight reserved songs."""
OTHER_PROJECTS = [
    "demos/Alf42red-Mauiwowi.mmpz",
    "demos/CapDan/CapDan-TwilightArea-OriginalByAlf42red.mmpz",
    "demos/Oglsdl-PpTrip.mmpz",
    "shorties/Skiessi-222.mmpz",
    "shorties/Crunk(Demo).mmp",
]


@pytest.mark.parametrize("project", RESERVED_PROJECTS + OTHER_PROJECTS)
def test_reserved_songs_are_recognised_by_project_file_whatever_the_mapping_calls_them(project):
    song = ValidationSong(project, "Any", "Name", "Artistic-2.0", "someone", {})
    assert is_reserved(song) == (project in RESERVED_PROJECTS)


@pytest.mark.parametrize("name", RESERVED_SONGS)
def test_reserved_songs_are_recognised_by_author_and_title(name):
    author, title = name.split(" - ")
    assert is_reserved(ValidationSong("demos/renamed.mmpz", author.upper(), f" {title.lower()} ", "Artistic-2.0", "someone", {}))


def song_entry(**changes) -> dict:
    entry = {
        "project": "demos/A-B.mmpz",
        "author": "A",
        "title": "B",
        "licence": "Artistic-2.0",
        "copyright": "2011 A",
        "tracks": {"1_kick.wav": "drums", "2_bass.wav": "bass", "3_pad.wav": {"stem": "other", "why": "a pad"}},
    }
    return {**entry, **changes}


def write_mapping(path: Path, entries: list[dict]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"songs": entries}))
    return path


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (song_entry(licence=""), "'licence' is missing"),
        (song_entry(tracks={"1_kick.wav": "drums", "2_bass.wav": "bass", "3_voice.wav": "vocals"}), "stem must be one of"),
        (song_entry(tracks={"1_kick.wav": "drums", "2_pad.wav": "other"}), "no track is mapped to bass"),
        (song_entry(author="Skiessi", title="Onion", project="demos/Skiessi/Skiessi-Onion.mmpz"), "reserved"),
        (song_entry(author="Someone", title="Else", project="demos/CapDan/CapDan-ZeroSumGame-OriginalByZakarra.mmpz"), "reserved"),
        (song_entry(tracks={"kick.wav": "drums", "2_bass.wav": "bass", "3_pad.wav": "other"}), "not a rendered track's file name"),
    ],
)
def test_a_bad_mapping_is_refused_with_one_line_naming_the_file_and_song(tmp_path, entry, message):
    path = write_mapping(tmp_path / "mapping.yaml", [entry])
    with pytest.raises(MappingError) as raised:
        load_mapping(path, min_songs=1)
    assert message in str(raised.value) and str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_mapping_with_too_few_songs_or_a_song_twice_is_refused(tmp_path):
    with pytest.raises(MappingError, match="1 songs; the set needs at least 10"):
        load_mapping(write_mapping(tmp_path / "one.yaml", [song_entry()]))
    with pytest.raises(MappingError, match="listed twice"):
        load_mapping(write_mapping(tmp_path / "twice.yaml", [song_entry(), song_entry(project="demos/x.mmp")]), min_songs=1)


# ----------------------------------------------------------------------------------------------
# LMMS projects: which files rendertracks writes
# ----------------------------------------------------------------------------------------------

PROJECT_XML = """<?xml version="1.0"?>
<lmms-project version="1.0" creator="LMMS"><head bpm="120"/><song><trackcontainer type="song">
  <track type="0" name="Lead: loud" muted="0"><instrumenttrack vol="100"><instrument name="tripleoscillator"><tripleoscillator/></instrument></instrumenttrack>
    <pattern pos="0"><note key="57" pos="0" len="48"/><note key="69" pos="48" len="48"/></pattern></track>
  <track type="0" name="muted one" muted="1"><instrumenttrack><instrument name="kicker"><kicker/></instrument></instrumenttrack></track>
  <track type="5" name="automation" muted="0"/>
  <track type="1" name="Beat 0" muted="0"><bbtrack><trackcontainer type="bbtrackcontainer">
    <track type="0" name="kick01.ogg" muted="0"><instrumenttrack><instrument name="audiofileprocessor"><audiofileprocessor src="drums/kick01.ogg"/></instrument></instrumenttrack>
      <pattern pos="0"><note key="57" pos="0" len="-192"/></pattern></track>
  </trackcontainer></bbtrack></track>
  <track type="1" name="Beat 1" muted="0"><bbtrack/></track>
  <track type="2" name="Vox?" muted="0"><sampletrack vol="100"/><sampletco src="vocals/hey.ogg" pos="0"/></track>
</trackcontainer></song></lmms-project>
"""


def test_rendered_tracks_lists_song_tracks_then_beat_bassline_tracks_unmuted_with_lmms_file_names(tmp_path):
    plain = tmp_path / "song.mmp"
    plain.write_text(PROJECT_XML)
    compressed = tmp_path / "song.mmpz"
    compressed.write_bytes(struct.pack(">I", len(PROJECT_XML)) + zlib.compress(PROJECT_XML.encode()))
    for path in (plain, compressed):
        tracks = rendered_tracks(path)
        assert [t.file_name for t in tracks] == ["1_Lead loud.wav", "2_Vox.wav", "3_kick01.ogg.wav"]
        lead, vox, kick = tracks
        assert (lead.plugin, lead.n_notes, lead.key_range, lead.in_beat_bassline) == ("tripleoscillator", 2, (57, 69), False)
        assert (vox.plugin, vox.source) == ("sample", "vocals/hey.ogg")
        assert (kick.plugin, kick.source, kick.in_beat_bassline) == ("audiofileprocessor", "drums/kick01.ogg", True)
    (tmp_path / "broken.mmpz").write_bytes(b"\0\0\0\5hello")
    with pytest.raises(ProjectError, match="broken.mmpz: not a compressed LMMS project"):
        read_project(tmp_path / "broken.mmpz")


def test_a_render_cut_short_resumes_with_a_project_that_renders_only_the_missing_tracks(tmp_path):
    project = tmp_path / "song.mmp"
    project.write_text(PROJECT_XML)
    copy = tmp_path / "only.mmp"
    copy.write_bytes(project_rendering_only(project, {"1_Lead loud.wav", "3_kick01.ogg.wav"}))
    # rendertracks numbers the copy's files anew, in the original order: lead 1, kick 2
    assert [(t.file_name, t.source) for t in rendered_tracks(copy)] == [("1_Lead loud.wav", ""), ("2_kick01.ogg.wav", "drums/kick01.ogg")]


# ----------------------------------------------------------------------------------------------
# The builder, on a fake rendered song
# ----------------------------------------------------------------------------------------------


def fake_song(author: str = "Fake", title: str = "Song") -> ValidationSong:
    tracks = {"1_kick.wav": "drums", "2_hat.wav": "drums", "3_bass.wav": "bass", "4_pad.wav": "other", "5_voice.wav": "skip"}
    return ValidationSong(f"demos/{author}-{title}.mmpz", author, title, "Artistic-2.0", "2026 Nobody", tracks)


def render_fake_song(folder: Path, seconds: float = 20.0, bass_from: float = 6.0) -> None:
    """Per-track wavs as ``lmms rendertracks`` writes them: float32 stereo at 44.1 kHz, one mono,
    one a little longer, garbage in the first buffer (as LMMS leaves it), the bass entering late."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beat = (t % 0.5) < 0.05
    tracks = {
        "1_kick.wav": np.sin(2 * np.pi * 60 * t) * beat * 2.0,  # beyond full scale, as float renders are
        "2_hat.wav": rng.standard_normal(n) * ((t % 0.25) < 0.02) * 0.1,
        "3_bass.wav": np.sin(2 * np.pi * 55 * t) * (t >= bass_from) * 0.5,
        "4_pad.wav": np.sin(2 * np.pi * 440 * t) * 0.2,
        "5_voice.wav": np.sin(2 * np.pi * 300 * t) * 0.9,
    }
    folder.mkdir(parents=True)
    for name, signal in tracks.items():
        stereo = np.stack([signal, 0.8 * signal], axis=1).astype(np.float32)
        stereo[110:128] = np.nan if name == "1_kick.wav" else 1e24  # LMMS's uninitialised first buffer
        if name == "4_pad.wav":
            stereo = np.concatenate([stereo, np.zeros((RATE, 2), np.float32)])  # a reverb tail: longer
        sf.write(folder / name, stereo[:, :1] if name == "2_hat.wav" else stereo, RATE, subtype="FLOAT")


def test_the_builder_writes_the_musdb18_hq_layout_whose_mixture_is_the_exact_sum_and_a_manifest(tmp_path):
    song, broken = fake_song(), fake_song("Broken", "Render")
    render_fake_song(tmp_path / "renders" / song.render_folder)
    render_fake_song(tmp_path / "renders" / broken.render_folder)
    (tmp_path / "renders" / broken.render_folder / "3_bass.wav").unlink()  # a render that lost a track
    root = tmp_path / "set"
    built, failed = build_validation_set([song, broken], tmp_path / "renders", root, seconds=10.0)

    assert [b["track"] for b in built] == ["Fake - Song"] and list(failed) == ["Broken - Render"]
    assert "missing ['3_bass.wav']" in failed["Broken - Render"]
    folder = root / "test" / "Fake - Song"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["mixture.wav", *(f"{s}.wav" for s in STEM_NAMES)])
    audio = {}
    for path in folder.iterdir():
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (RATE, 2, "FLOAT", 10 * RATE)
        audio[path.stem] = sf.read(path, dtype="float32")[0]
    assert np.array_equal(audio["mixture"], audio["drums"] + audio["bass"] + audio["other"] + audio["vocals"])
    assert not audio["vocals"].any() and np.isfinite(audio["mixture"]).all()
    assert np.isclose(20 * np.log10(np.abs(audio["mixture"]).max()), PEAK_DBFS, atol=1e-3)
    # the skipped track is in no stem: the other stem is the pad alone (440 Hz), not pad + voice
    spectrum = np.abs(np.fft.rfft(audio["other"][:, 0]))
    assert spectrum[300 * 10] < 1e-3 * spectrum[440 * 10]
    info = read_info(root)["tracks"][0]
    assert info["start_seconds"] >= 6.0  # the excerpt waits for the bass: all three stems play
    assert info["seconds_all_stems_play"] == 10 and info["licence"] == "Artistic-2.0"

    verify_copy(root, root / MANIFEST_NAME)  # the manifest lists every file with its sha256
    listed = (root / MANIFEST_NAME).read_text()
    assert "test/Fake - Song/mixture.wav" in listed and INFO_NAME in listed
    with pytest.raises(FileExistsError, match="never overwritten"):
        build_validation_set([song], tmp_path / "renders", root, seconds=10.0)


def test_a_copy_that_differs_from_its_manifest_is_refused_naming_the_file(tmp_path):
    song = fake_song()
    render_fake_song(tmp_path / "renders" / song.render_folder, seconds=12.0, bass_from=1.0)
    (tmp_path / "renders" / song.render_folder / "5_voice.wav").unlink()  # skipped: need not be rendered
    root = tmp_path / "set"
    built, failed = build_validation_set([song], tmp_path / "renders", root, seconds=10.0)
    assert len(built) == 1 and not failed
    manifest = tmp_path / "sha256.txt"
    manifest.write_bytes((root / MANIFEST_NAME).read_bytes())
    extra = root / "test" / "Extra - Track"
    extra.mkdir()
    (extra / "mixture.wav").write_bytes(b"")
    with pytest.raises(ManifestError, match="Extra - Track/mixture.wav: not listed"):
        verify_copy(root, manifest)
    (extra / "mixture.wav").unlink()
    extra.rmdir()
    bass = root / "test" / "Fake - Song" / "bass.wav"
    data, _ = sf.read(bass, dtype="float32")
    sf.write(bass, data * 0.5, RATE, subtype="FLOAT")
    with pytest.raises(ManifestError, match="bass.wav: sha256 differs"):
        verify_copy(root, manifest)


# ----------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------


def run_benchmark(*arguments: str, environment: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("STEMUNET_REAL_VALIDATION", "STEMUNET_VALIDATION_FAMILIES")} | (environment or {})
    return subprocess.run([sys.executable, "benchmarks/real_validation.py", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_the_benchmark_scores_model_mix_and_irm1_on_both_sets_and_refuses_a_bad_copy(tmp_path):
    song = fake_song()
    render_fake_song(tmp_path / "renders" / song.render_folder, seconds=10.0, bass_from=1.0)
    root = tmp_path / "set"
    build_validation_set([song], tmp_path / "renders", root, seconds=8.0)
    torch.manual_seed(0)
    config = SeparatorConfig(StftConfig(sample_rate=22050, n_channels=1, n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
    checkpoint = save_model(Separator(config), tmp_path / "tiny.pt")

    result = run_benchmark(str(checkpoint), "--manifest", str(root / MANIFEST_NAME), "--device", "cpu", "--per-track", "--json", str(tmp_path / "r.json"),
                           environment={"STEMUNET_REAL_VALIDATION": str(root)})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in result.stdout.splitlines() if line.startswith(("LMMS ", "MUSDB18 "))}
    for data_set in ("LMMS", "MUSDB18"):
        assert {f"{data_set} {method}" for method in ("model", "MIX", "IRM1", "share")} <= set(rows)
        mix, irm1 = (np.array([float(v) for v in rows[f"{data_set} {m}"] if v != "-"]) for m in ("MIX", "IRM1"))
        assert (irm1 > mix).all()  # the ceiling above the floor, per stem
    assert rows["LMMS model"][3] == "-" and rows["MUSDB18 model"][3] != "-"  # silent vocals: not scored
    assert "Fake - Song" in result.stdout and "Falcon 69" in result.stdout
    assert (tmp_path / "r.json").is_file()

    no_root = run_benchmark(str(checkpoint))
    assert no_root.returncode == 2 and no_root.stderr.strip() == "error: no validation set: pass --root FOLDER or set STEMUNET_REAL_VALIDATION"
    data, _ = sf.read(root / "test" / "Fake - Song" / "drums.wav", dtype="float32")
    sf.write(root / "test" / "Fake - Song" / "drums.wav", data * 0.5, RATE, subtype="FLOAT")
    altered = run_benchmark(str(checkpoint), "--root", str(root), "--manifest", str(root / MANIFEST_NAME))
    assert altered.returncode == 2 and len(altered.stderr.strip().splitlines()) == 1
    assert "drums.wav: sha256 differs" in altered.stderr
