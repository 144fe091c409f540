"""The real validation families beyond LMMS: the mapping, reserved names, how any model's stems
make a family's references, the frozen copy's builder and manifest, and the benchmark on them.

No source audio needed: the resources are made here, small and synthetic, at the mapping's paths.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.checkpoints import save_model
from stemunet.config import ConfigError, ModelConfig, SeparatorConfig, StemSet, StftConfig
from stemunet.data.real_validation import MANIFEST_NAME, ManifestError, parse_manifest, verify_copy
from stemunet.data.validation_families import (INFO_NAME, MUSDB_REFERENCES, RESERVED_NAMES, FamilyError, build_families,
                                               group_stems, is_reserved_name, load_families, read_family_track,
                                               stem_parts)
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "benchmarks" / "validation_families.yaml"
SHA256_LIST = ROOT / "benchmarks" / "validation_families_sha256.txt"
RATE = 44100
KARAOKE = {"vocals": ["vocals"], "accompaniment": ["drums", "bass", "other"]}
JAZZ_SAX = {"other": ["other"], "rhythm": ["drums", "bass"]}


# ----------------------------------------------------------------------------------------------
# The repository's mapping and sha256 list
# ----------------------------------------------------------------------------------------------


def test_the_mapping_has_two_families_or_more_each_licensed_with_its_source_and_none_reserved():
    source, families = load_families(MAPPING)  # raises on a missing field, a bad reference, a reserved name
    assert source.repository == "mir-dataset-loaders/mirdata" and len(source.commit) == 40 and source.licence
    assert {family.name for family in families} >= {"karaoke", "jazz_sax"}
    by_name = {family.name: family for family in families}
    assert by_name["karaoke"].references == {k: tuple(v) for k, v in KARAOKE.items()}
    assert by_name["jazz_sax"].references == {k: tuple(v) for k, v in JAZZ_SAX.items()}
    assert len(by_name["jazz_sax"].tracks) == 4
    for family in families:
        assert family.licence and family.dataset and family.description and family.tracks
    assert not any(is_reserved_name(line) for line in MAPPING.read_text().splitlines()), "a reserved name is in the mapping"
    assert source.rejected, "what was looked at and not used is recorded"


def test_the_sha256_list_covers_every_track_of_the_mapping_and_nothing_else():
    _, families = load_families(MAPPING)
    expected = {INFO_NAME} | {f"{family.name}/test/{track.name}/{name}.wav" for family in families for track in family.tracks
                              for name in ("mixture", *family.reference_names)}
    assert set(parse_manifest(SHA256_LIST)) == expected


@pytest.mark.parametrize("name", [*RESERVED_NAMES, "music_delta-80s ROCK", "Music Delta - 80s Rock/vocals.wav"])
def test_reserved_songs_and_the_reserved_musdb18_track_are_recognised_however_spelt(name):
    assert is_reserved_name(name)


def test_a_family_naming_a_reserved_track_or_file_is_refused(tmp_path):
    text = MAPPING.read_text()
    for reserved in ("Music Delta - 80s Rock", "Skiessi - Onion"):
        path = tmp_path / "mapping.yaml"
        path.write_text(text.replace("iKala - 10161_chorus", reserved))
        with pytest.raises(FamilyError, match="reserved for scoring outside the repository"):
            load_families(path)
    path.write_text(text.replace("filosax/Backing/01/Bass_Drums.wav", "musdb/Music Delta - 80s Rock/bass.wav", 1))
    with pytest.raises(FamilyError, match="reserved"):
        load_families(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("vocals: [vocals]", "vocals: [voice]"), "must list MUSDB18 parts"),
        (("rhythm: [drums, bass]", "rhythm: [drums, other]"), "repeats ['other']"),
        (("channel: right", "channel: middle"), "expected a file path"),
        (("dataset: Filosax", "dataset: ''"), "'dataset' is missing"),
        (("other: filosax/Participant 1/01/Sax.wav", "sax: filosax/Participant 1/01/Sax.wav"), "must be the family's references"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_file_and_family(tmp_path, change, message):
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING.read_text().replace(*change, 1))
    with pytest.raises(FamilyError) as raised:
        load_families(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


# ----------------------------------------------------------------------------------------------
# A model's stems -> a family's references
# ----------------------------------------------------------------------------------------------

FOUR = StemSet()
TWO = StemSet.of(["vocals", "accompaniment"], {"accompaniment": ["rest"]})
SIX = StemSet.of(["drums", "bass", "other", "vocals", "guitar", "piano"], {"other": ["rest"]})


def grouped(references, stems: StemSet) -> dict[str, list[str]]:
    grouping = group_stems(references, stems)
    return {name: [stems.names[i] for i in members] for name, members in zip(grouping.names, grouping.model_stems)}


def test_a_4_stem_model_makes_karaoke_accompaniment_of_drums_bass_other_and_leaves_its_vocals_out_of_jazz_sax():
    assert grouped(KARAOKE, FOUR) == {"vocals": ["vocals"], "accompaniment": ["drums", "bass", "other"]}
    assert grouped(JAZZ_SAX, FOUR) == {"other": ["other"], "rhythm": ["drums", "bass"]}
    assert group_stems(JAZZ_SAX, FOUR).dropped == ("vocals",)
    assert grouped(MUSDB_REFERENCES, FOUR) == {stem: [stem] for stem in FOUR.names}


def test_a_6_stem_model_puts_guitar_and_piano_in_other_and_in_the_accompaniment():
    assert stem_parts(SIX)["guitar"] == stem_parts(SIX)["piano"] == stem_parts(SIX)["other"] == {"other"}
    assert grouped(KARAOKE, SIX) == {"vocals": ["vocals"], "accompaniment": ["drums", "bass", "other", "guitar", "piano"]}
    assert grouped(JAZZ_SAX, SIX) == {"other": ["other", "guitar", "piano"], "rhythm": ["drums", "bass"]}
    assert grouped(MUSDB_REFERENCES, SIX) == {"drums": ["drums"], "bass": ["bass"], "other": ["other", "guitar", "piano"], "vocals": ["vocals"]}


def test_a_2_stem_model_joins_the_references_its_accompaniment_spans_and_cannot_score_jazz_sax():
    assert stem_parts(TWO)["accompaniment"] == {"drums", "bass", "other"}
    assert grouped(KARAOKE, TWO) == {"vocals": ["vocals"], "accompaniment": ["accompaniment"]}
    assert grouped(MUSDB_REFERENCES, TWO) == {"drums+bass+other": ["accompaniment"], "vocals": ["vocals"]}
    assert not group_stems(JAZZ_SAX, TWO).scorable  # one reference would be the mixture itself
    # an accompaniment stem read from a data set as it is (no sources) holds the same parts
    assert stem_parts(StemSet.of(["vocals", "accompaniment"])) == stem_parts(TWO)


def test_grouping_sums_the_references_and_the_model_stems_it_names():
    grouping = group_stems(MUSDB_REFERENCES, TWO)
    references = np.arange(4 * 2 * 3, dtype=float).reshape(4, 2, 3)
    assert np.array_equal(grouping.sum_references(references), np.stack([references[:3].sum(0), references[3]]))
    estimates = np.stack([np.full((2, 3), 1.0), np.full((2, 3), 2.0)])  # vocals, accompaniment
    assert np.array_equal(grouping.sum_estimates(estimates), np.stack([estimates[1], estimates[0]]))


# ----------------------------------------------------------------------------------------------
# The builder and the copy's manifest, on synthetic resources at the mapping's paths
# ----------------------------------------------------------------------------------------------


def write_resources(folder: Path, seconds: float = 3.0) -> Path:
    """Every file the repository's mapping reads, synthetic: iKala's stereo file (accompaniment
    left, voice right), mono sax and bass-and-drums files, the sax silent for its first second."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(3)
    beat = ((t % 0.5) < 0.05) * rng.standard_normal(n) * 0.3 + np.sin(2 * np.pi * 55 * t) * 0.3
    files = {
        "ikala/Wavfile/10161_chorus.wav": np.stack([beat * 0.5, np.sin(2 * np.pi * 330 * t) * 0.2], axis=1),
        "filosax/Backing/01/Bass_Drums.wav": beat,
        "filosax/Backing/02/Bass_Drums.wav": beat[::-1].copy(),
    }
    for participant, pitch in ((1, 233.0), (2, 311.0)):
        for piece in ("01", "02"):
            files[f"filosax/Participant {participant}/{piece}/Sax.wav"] = np.sin(2 * np.pi * pitch * t) * 0.3 * (t >= 1.0)
    for path, audio in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / path, audio, RATE, subtype="PCM_16")
    return folder


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> Path:
    return write_resources(tmp_path_factory.mktemp("resources"))


@pytest.fixture(scope="module")
def families_copy(tmp_path_factory, resources) -> Path:
    _, families = load_families(MAPPING)
    root = tmp_path_factory.mktemp("families") / "copy"
    built, failed = build_families(families, resources, root)
    assert not failed and len(built) == sum(len(family.tracks) for family in families)
    return root


def test_the_builder_splits_ikala_by_channel_and_writes_stereo_float32_stems_whose_sum_is_the_mixture(families_copy, resources):
    source, _ = sf.read(resources / "ikala/Wavfile/10161_chorus.wav", dtype="float32")
    folder = families_copy / "karaoke" / "test" / "iKala - 10161_chorus"
    assert sorted(p.name for p in folder.iterdir()) == ["accompaniment.wav", "mixture.wav", "vocals.wav"]
    for path in folder.iterdir():
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (RATE, 2, "FLOAT")
    mixture, references, rate = read_family_track(folder, ("vocals", "accompaniment"))
    vocals, accompaniment = references
    assert np.array_equal(mixture, vocals + accompaniment) and rate == RATE
    assert np.array_equal(vocals[0], vocals[1]) and np.array_equal(accompaniment[0], accompaniment[1])  # one channel, played in both
    gain = np.abs(vocals[0]).max() / np.abs(source[:, 1]).max()
    assert np.allclose(vocals[0], source[: vocals.shape[-1], 1] * gain, atol=1e-6)  # the right channel is the voice
    assert np.allclose(accompaniment[0], source[: vocals.shape[-1], 0] * gain, atol=1e-6)
    assert np.isclose(20 * np.log10(np.abs(mixture).max()), -1.0, atol=1e-3)


def test_the_builder_keeps_only_the_whole_seconds_in_which_every_reference_plays(families_copy):
    info = json.loads((families_copy / INFO_NAME).read_text())
    sax = [track for track in info["tracks"] if track["family"] == "jazz_sax"]
    assert len(sax) == 4 and all(track["start_seconds"] == 1.0 and track["seconds"] == 2.0 for track in sax)  # the sax enters at 1 s
    assert info["references"]["karaoke"] == KARAOKE


def test_the_copys_manifest_is_verified_and_a_changed_or_added_file_is_refused_naming_it(families_copy, tmp_path):
    verify_copy(families_copy, families_copy / MANIFEST_NAME)
    manifest = tmp_path / "sha256.txt"
    manifest.write_bytes((families_copy / MANIFEST_NAME).read_bytes())
    rhythm = next((families_copy / "jazz_sax" / "test").glob("*")) / "rhythm.wav"
    original = rhythm.read_bytes()
    try:
        data, _ = sf.read(rhythm, dtype="float32")
        sf.write(rhythm, data * 0.5, RATE, subtype="FLOAT")
        with pytest.raises(ManifestError, match="rhythm.wav: sha256 differs"):
            verify_copy(families_copy, manifest)
    finally:
        rhythm.write_bytes(original)
    extra = families_copy / "karaoke" / "test" / "Extra" / "mixture.wav"
    extra.parent.mkdir()
    extra.write_bytes(b"")
    try:
        with pytest.raises(ManifestError, match="Extra/mixture.wav: not listed"):
            verify_copy(families_copy, manifest)
    finally:
        extra.unlink()
        extra.parent.rmdir()


def test_a_copy_built_again_from_the_same_files_has_the_same_sha256_list(families_copy, resources, tmp_path):
    _, families = load_families(MAPPING)
    build_families(families, resources, tmp_path / "again")
    assert (tmp_path / "again" / MANIFEST_NAME).read_text() == (families_copy / MANIFEST_NAME).read_text()


def test_a_copy_is_never_overwritten_and_a_track_too_short_is_reported(tmp_path, families_copy):
    _, families = load_families(MAPPING)
    with pytest.raises(FileExistsError, match="never overwritten"):
        build_families(families, tmp_path, families_copy)
    resources = write_resources(tmp_path / "short", seconds=1.5)
    built, failed = build_families(families, resources, tmp_path / "out")
    assert not built and "jazz_sax/Filosax - Participant 1 - All The Things You Are" in failed
    assert "needs 2" in failed["karaoke/iKala - 10161_chorus"]


# ----------------------------------------------------------------------------------------------
# The benchmark, end to end on the synthetic copy with a tiny untrained model
# ----------------------------------------------------------------------------------------------


def run_benchmark(*arguments: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("STEMUNET_REAL_VALIDATION", "STEMUNET_VALIDATION_FAMILIES")}
    return subprocess.run([sys.executable, "benchmarks/real_validation.py", *arguments], check=False, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_the_benchmark_reports_every_family_the_worst_and_the_rules_verdicts(families_copy, tmp_path):
    torch.manual_seed(0)
    config = SeparatorConfig(StftConfig(sample_rate=22050, n_channels=1, n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
    checkpoint = save_model(Separator(config), tmp_path / "tiny.pt")
    common = ("--families", str(families_copy), "--families-manifest", str(families_copy / MANIFEST_NAME), "--device", "cpu")

    result = run_benchmark(str(checkpoint), *common, "--compare", "mask_power=1,mask_power=0.5", "--per-track", "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "LMMS: not scored" in out
    for family, references in (("MUSDB18", ("drums", "vocals")), ("karaoke", ("vocals", "accompaniment")), ("jazz_sax", ("other", "rhythm"))):
        for row in ("mask_power=1", "mask_power=0.5", "MIX", "IRM1"):
            assert any(line.startswith(f"{family} {row} ") for line in out.splitlines()), (family, row)
        assert all(any(name in line.split() for line in out.splitlines() if line.startswith("cSDR dB")) for name in references)
    assert "rhythm <- drums + bass; left out: vocals" in out and "accompaniment <- drums + bass + other" in out
    assert "mask_power=1: worst family: " in out and "mask_power=0.5: average over families: " in out
    assert "decision rule:" in out and ("  mask_power=0.5: adopted" in out or "  mask_power=0.5: refused" in out)
    assert "Filosax - Participant 2 - Alone Together" in out
    report = json.loads((tmp_path / "r.json").read_text())
    first, second = report["settings"]
    assert set(first["family_means"]) == {"MUSDB18", "karaoke", "jazz_sax"}
    assert second["postfilter"]["mask_power"] == 0.5 and first["postfilter"]["mask_power"] == 1.0
    decision = report["decisions"][0]
    assert decision["candidate"] == "mask_power=0.5" and set(decision["deltas"]) == set(first["family_means"])
    assert np.isclose(decision["average_delta"], second["average"] - first["average"], atol=1e-3)
    karaoke = first["families"]["karaoke"]["medians"]
    assert all(i > m for i, m in zip(karaoke["IRM1"]["SDR"], karaoke["MIX"]["SDR"]))  # the ceiling above the floor

    single = run_benchmark(str(checkpoint), *common)
    assert single.returncode == 0 and any(line.startswith("worst family: ") and line.endswith(" dB") for line in single.stdout.splitlines())
    assert "karaoke share of IRM1" in single.stdout

    rhythm = next((families_copy / "jazz_sax" / "test").glob("*")) / "rhythm.wav"
    original = rhythm.read_bytes()
    try:
        data, _ = sf.read(rhythm, dtype="float32")
        sf.write(rhythm, data * 0.5, RATE, subtype="FLOAT")
        altered = run_benchmark(str(checkpoint), *common)
    finally:
        rhythm.write_bytes(original)
    assert altered.returncode == 2 and len(altered.stderr.strip().splitlines()) == 1 and "rhythm.wav: sha256 differs" in altered.stderr
    assert altered.stdout == ""  # refused before anything was scored

    typo = run_benchmark(str(checkpoint), *common, "--compare", "mask_powr=1")
    assert typo.returncode == 2 and "unknown parameter(s) ['mask_powr']" in typo.stderr


def test_a_candidate_can_be_judged_under_a_post_filter_setting(monkeypatch):
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location("real_validation", ROOT / "benchmarks" / "real_validation.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    args = argparse.Namespace(checkpoint="pretrained", compare="", candidate=["runs/c24", "runs/c24@mask_power=0.5", "runs/c24@own"])
    contenders = module.contenders_of(args)
    assert [c.label for c in contenders] == ["pretrained", "c24", "c24@mask_power=0.5", "c24@own"]
    assert [c.checkpoint for c in contenders] == ["pretrained", "runs/c24", "runs/c24", "runs/c24"]
    assert contenders[2].postfilter.mask_power == 0.5 and contenders[1].postfilter == contenders[3].postfilter
    with pytest.raises(ConfigError, match=r"mask_powr"):
        module.contenders_of(argparse.Namespace(checkpoint="pretrained", compare="", candidate=["runs/c24@mask_powr=1"]))
    # Labels longer than the name column are written whole: these two differ only at the end.
    rows = {"karaoke c24-final-raw.pt@mask_power=0.75": np.array([6.3, 7.5]), "karaoke c24-final-raw.pt@mask_power=0.5": np.array([5.5, 6.7])}
    for names in (("vocals", "accompaniment"), ("drums", "bass", "other", "vocals")):
        lines = module.table({k: np.resize(v, len(names)) for k, v in rows.items()}, names, "cSDR dB")
        assert all(any(line.startswith(label + " ") for line in lines) for label in rows), lines
        assert len({len(line) for line in lines}) == 1  # the columns stay aligned
