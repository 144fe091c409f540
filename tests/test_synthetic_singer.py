"""Design 3's sung vocals: Sinsy's singer (pysinsy, an extra that scripts/setup.sh installs, so
these tests require it rather than skip) sings the plan's melody on kana, in time and in tune,
deterministically; the manifest and the cache name say which singer sang; without pysinsy design 3
is formant-sung as before."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from stemunet.config import STEM_NAMES, DataConfig
from stemunet.data.synthetic import (SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest, render_track,
                                     singing, soundfont_registry, synthetic_set_name)
from stemunet.data.synthetic.dataset import _samples_of
from stemunet.data.synthetic.plan import _make_plan
from stemunet.data.synthetic.singing import SINSY_SINGER, SungNote, repair_bursts, score_musicxml, sing
from stemunet.data.synthetic.vocals import _harmony_pitch, _sung_harmony_pitch
from stemunet.lab.exploration import ExploreConfig, explore_dataset

SR = 22050
BPM = 120.0  # 0.5 s a beat
# Sustained notes (beat, beats, MIDI pitch, kana) with rests between them.
NOTES = [SungNote(1.0, 2.0, 62, "ら"), SungNote(4.0, 2.0, 67, "あ", breath_after=True), SungNote(7.0, 2.0, 72, "の")]
# Seed 0, 2 s songs: train_003 is sung by Sinsy's singer, train_000..002 formant-sung (song.py's draw).
SPEC = SyntheticSpec(n_train_tracks=4, n_test_tracks=0, track_seconds=2.0, seed=0, version=3)
SUNG, FORMANT = "train_003", "train_002"


@pytest.fixture
def no_pysinsy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without pysinsy: the singer's voice file is not found."""
    monkeypatch.setattr(singing, "_voice_path", lambda: None)


def test_pysinsy_and_its_voice_are_installed() -> None:
    assert singing.singer_available(), "pysinsy is missing: bash scripts/setup.sh installs it (the 'sing' extra)"
    assert singing.singer_fingerprint()["file"] == "nitech_jp_song070_f001.htsvoice"


def test_the_singer_sings_each_note_at_its_pitch_and_time_and_nothing_between() -> None:
    line, silenced_s, corrections = sing(NOTES, BPM, SR, int(11 * 0.5 * SR))
    again, _, _ = sing(NOTES, BPM, SR, line.size)
    assert np.array_equal(line, again)  # deterministic
    assert line.shape == (int(11 * 0.5 * SR),) and np.max(np.abs(line)) == pytest.approx(1.0)
    seconds_per_beat = 60.0 / BPM
    for note in NOTES:  # the middle of each note: voiced, at the note's pitch (within a semitone)
        middle = line[int((note.beat + 0.4) * seconds_per_beat * SR):int((note.beat + note.length - 0.4) * seconds_per_beat * SR)]
        f0 = librosa.yin(middle, fmin=150.0, fmax=800.0, sr=SR, frame_length=1024)
        assert abs(float(np.median(librosa.hz_to_midi(f0))) - note.pitch) < 1.0, note
        assert np.sqrt(np.mean(middle ** 2)) > 0.05, note
    for start, end in ((0.0, 0.8), (3.4, 3.8), (6.4, 6.8), (9.6, 11.0)):  # rests (after the release): quiet,
        rest = line[int(start * seconds_per_beat * SR):int(end * seconds_per_beat * SR)]  # Sinsy's floor is -55 dB
        assert np.sqrt(np.mean(rest ** 2)) < 0.005, (start, end)
    assert silenced_s < 0.1 and len(corrections) == len(NOTES) and max(map(abs, corrections)) < 5.0


def test_the_score_ties_notes_across_bar_lines_and_sings_each_syllable_once() -> None:
    notes = [SungNote(3.0, 2.0, 61, "か"), SungNote(5.5, 0.5, 70, "り", breath_after=True)]
    root = ElementTree.fromstring(score_musicxml(notes, 97.5, 6.0).encode())
    measures = root.findall("./part/measure")
    assert len(measures) == 3  # two bars of notes and a bar of rest
    assert root.find(".//sound").get("tempo") == "97.5"
    for measure in measures:  # every bar is full: 4 beats of 480 divisions
        assert sum(int(note.findtext("duration")) for note in measure.findall("note")) == 4 * 480
    sung = [note for note in root.iter("note") if note.find("pitch") is not None]
    assert [(note.findtext("pitch/step"), note.findtext("pitch/alter"), note.findtext("pitch/octave"),
             int(note.findtext("duration")), note.findtext("lyric/text"), [tie.get("type") for tie in note.findall("tie")])
            for note in sung] == [("C", "1", "4", 480, "か", ["start"]), ("C", "1", "4", 480, None, ["stop"]),
                                  ("A", "1", "4", 240, "り", [])]
    assert sung[2].find("notations/articulations/breath-mark") is not None


def test_filter_bursts_are_silenced_and_clean_audio_left_alone() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    voice = 3000.0 * np.sin(2 * np.pi * 220.0 * t)
    assert repair_bursts(voice, rate)[1] == 0 and repair_bursts(voice, rate)[0] is voice
    burst = voice.copy()
    begin = int(0.5 * rate)
    burst[begin:begin + 2400] += np.exp(np.linspace(0.0, 60.0, 2400))  # an unstable filter: up to 1e26
    repaired, silenced = repair_bursts(burst, rate)
    assert np.max(np.abs(repaired)) <= 3000.0 + 1e-9
    assert 2400 <= silenced <= 2400 + 2 * int(0.015 * rate) + 2 * 240
    assert np.array_equal(repaired[:begin - int(0.02 * rate)], voice[:begin - int(0.02 * rate)])  # untouched before
    assert np.array_equal(repaired[begin + 2400 + int(0.02 * rate):], voice[begin + 2400 + int(0.02 * rate):])


def test_a_v3_set_names_its_singers_and_stays_the_sum_of_its_stems(tmp_path: Path) -> None:
    root = generate_synthetic_dataset(tmp_path / "set", SPEC, progress=False)
    manifest = read_synthetic_manifest(root)
    assert manifest["samples"]["singer"] == singing.singer_fingerprint()
    assert manifest["samples"]["singer"]["licence"] == "CC BY 3.0"
    singers = {track: info["vocals"]["singer"]["name"] for track, info in manifest["track_info"].items()}
    assert singers[SUNG] == SINSY_SINGER["name"] and singers[FORMANT].startswith("formant")
    sung = manifest["track_info"][SUNG]["vocals"]
    assert sung["singer"] == SINSY_SINGER and len(sung["lyrics"]) >= 1 and set(sung["lyrics"]) <= set(singing.SYLLABLES)
    for folder in sorted(p.parent for p in root.rglob("mixture.wav")):
        stems = sum(sf.read(folder / f"{stem}.wav", dtype="float64")[0] for stem in STEM_NAMES)
        assert np.max(np.abs(sf.read(folder / "mixture.wav", dtype="float64")[0] - stems)) < 1e-7, folder
    vocals = sf.read(root / "train" / SUNG / "vocals.wav", dtype="float64")[0]
    assert np.sqrt(np.mean(vocals ** 2)) > 1e-3
    # The explore notebook's table of how the songs were made names the singer of a sung song.
    table = explore_dataset(ExploreConfig(data=DataConfig(musdb_root=str(root))), progress=False).synthetic_songs()
    assert table.loc[("train", SUNG), "vocals"].endswith(" (NIT SONG070 F001)")
    assert table.loc[("train", FORMANT), "vocals"].endswith(("none", "double", "harmony"))


def test_without_pysinsy_v3_is_formant_sung_as_before(no_pysinsy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soundfont_registry, "SEARCH_FOLDERS", ())  # TimGM6mb alone: design 3 then plays as design 2
    v3_stems, v3_info = render_track(SPEC, "train", 3)
    v2_stems, v2_info = render_track(replace(SPEC, version=2), "train", 3)
    for stem in STEM_NAMES:
        assert np.array_equal(v3_stems[stem], v2_stems[stem]), stem
    assert v3_info["vocals"] == {**v2_info["vocals"], "singer": {"name": "formant synthesiser (stemunet.synthetic.vocals)"}}
    assert "singer" not in str(v2_info)  # v2's manifest is as it was
    assert "singer" not in _samples_of(SPEC)  # the set's cache name is the one it had before pysinsy


def test_the_singer_changes_only_the_songs_it_sings_and_keys_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    with_singer = {index: render_track(SPEC, "train", index) for index in (2, 3)}
    name_with = synthetic_set_name(SPEC)
    monkeypatch.setattr(singing, "_voice_path", lambda: None)
    without = {index: render_track(SPEC, "train", index) for index in (2, 3)}
    assert synthetic_set_name(SPEC) != name_with
    for stem in STEM_NAMES:  # a formant-sung song is the same song with or without pysinsy
        assert np.array_equal(with_singer[2][0][stem], without[2][0][stem]), stem
    assert with_singer[2][1] == without[2][1]
    assert with_singer[3][1]["vocals"]["singer"] == SINSY_SINGER
    assert without[3][1]["vocals"]["singer"]["name"].startswith("formant")
    assert not np.allclose(with_singer[3][0]["vocals"], without[3][0]["vocals"], atol=1e-3)
    assert {part: with_singer[3][1][part] for part in ("drums", "bass", "other")} == \
        {part: without[3][1][part] for part in ("drums", "bass", "other")}  # the singer's draw took nothing else


def test_a_sung_harmony_stays_in_the_voices_range_on_a_chord_tone() -> None:
    plan = _make_plan(SPEC, np.random.default_rng(0))
    for chord in plan.chords:
        for pitch in range(61, 77):
            harmony = _sung_harmony_pitch(plan, chord.start, pitch)
            above = _harmony_pitch(plan, chord.start, pitch)
            assert harmony == above if above <= 76 else (harmony < pitch and harmony % 12 in chord.tones), (pitch, chord)
