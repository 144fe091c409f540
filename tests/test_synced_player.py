"""The synced player (one transport over several sources, one audible): its HTML from Python, and
its script in a real (headless) Chromium on a page of two players, without JupyterLab."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from stemunet.lab.players import Player, player_bytes, synced_player_html, waveform_peaks

RATE = 22050


def tone(frequency: float, level: float, seconds: float = 4.0, rate: int = RATE, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((level * np.sin(2 * np.pi * frequency * t))[None], channels, axis=0).astype(np.float32)


def players(seconds: float = 4.0) -> list[Player]:
    return [Player("mixture", tone(220, 0.5, seconds), RATE), Player("reference vocals", tone(440, 0.25, seconds), RATE),
            Player("vocals estimate: demo model (2026-01-01 10:00)", tone(440, 0.2, seconds), RATE, note="SDR 4.25 dB")]  # fmt: skip


def test_the_player_holds_each_source_once_with_its_label_waveform_and_the_excerpt_length():
    html = synced_player_html(players(), title="vocals of test_000, 0.0-4.0 s", links={"mixture": "excerpts/mixture.wav"})
    assert html.count("<audio") == 3 and html.count("data-peaks=") == 3  # the audio once: the player reads the <audio> elements
    assert "data-seconds='4.000'" in html and "SDR 4.25 dB" in html and "vocals of test_000" in html
    assert "href='excerpts/mixture.wav'" in html
    assert "stemunetSyncedPlayers.mount(" in html and "AudioContext" in html  # self-contained: the script rides along
    ids = re.findall(r"id='(stemunet-player-[0-9a-f]+)'", html + synced_player_html(players()))
    assert len(ids) == 2 and ids[0] != ids[1]  # two players on a page never share an id


def test_the_script_ships_with_the_package():
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["stemunet"]
    assert (root / "lib" / "stemunet" / "lab" / "synced_player.js").is_file()
    assert any(fnmatch.fnmatch("lab/synced_player.js", pattern) for pattern in patterns)


def test_the_player_shows_no_emoji():
    html = synced_player_html(players())
    assert not [c for c in html if ord(c) >= 0x2190], "a glyph that needs an emoji or symbol font"


def test_waveforms_share_one_scale_so_a_quiet_source_looks_quiet():
    loud, quiet = waveform_peaks([tone(100, 0.8), tone(100, 0.2)], n_columns=100)
    loud, quiet = np.frombuffer(loud, np.int8), np.frombuffer(quiet, np.int8)
    assert loud.size == quiet.size == 200  # min and max of each column
    assert loud.max() == 127 and loud.min() == -127 and abs(quiet.max() - 127 / 4) <= 1
    assert (loud[0::2] <= loud[1::2]).all()
    (silent,) = waveform_peaks([np.zeros((1, 1000), np.float32)])
    assert set(silent) == {0}


def test_audio_at_a_rate_or_with_channels_mp3_cannot_carry_still_plays():
    """A 96 kHz, 6-channel input separated: its players carry it at 48 kHz, the channels averaged."""
    import io

    import soundfile as sf

    decoded, rate = sf.read(io.BytesIO(player_bytes(tone(1000, 0.5, 1.0, rate=96000, channels=6), 96000)), always_2d=True)
    assert rate == 48000 and decoded.shape[1] == 1 and abs(decoded.shape[0] - 48000) < 3000
    assert abs(np.sqrt(np.mean(decoded[5000:40000, 0] ** 2)) - 0.5 / np.sqrt(2)) < 0.03  # the level kept


def test_six_seconds_of_five_stereo_sources_stay_small():
    """The separate run notebook holds the mixture and four stems: under 1 MB of player, so the
    notebook stays under 2 MB with its figures."""
    rng = np.random.default_rng(0)
    noise = [Player(f"source {i}", (0.1 * rng.standard_normal((2, 6 * 44100))).astype(np.float32), 44100) for i in range(5)]
    assert len(synced_player_html(noise)) < 1_000_000


# -- in the browser -------------------------------------------------------------------------------


STATE = "(root) => ({...root.stemunetPlayer.state(), now: performance.now()})"


@pytest.fixture(scope="module")
def page_of_two_players(tmp_path_factory):
    """A page holding two synced players, opened in Chromium; yields ``(page, first, second)``."""
    from test_browser import launch, playwright_api

    sync_api = playwright_api()
    page_file = tmp_path_factory.mktemp("player") / "players.html"
    page_file.write_text("<!doctype html><html><body>" + synced_player_html(players(), title="first")
                         + synced_player_html(players(2.0)[:2], title="second") + "</body></html>")  # fmt: skip
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(page_file.as_uri())
        page.wait_for_selector(".stemunet-player.stemunet-synced")
        first, second = page.locator(".stemunet-player").element_handles()
        yield page, first, second
        assert errors == []
        browser.close()


def state(page, root) -> dict:
    return page.evaluate(STATE, root)


def until(page, root, condition, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while not condition(current := state(page, root)):
        assert time.monotonic() < deadline, current
        page.wait_for_timeout(30)
    return current


def test_in_the_browser_a_switch_keeps_the_playhead_and_one_source_sounds(page_of_two_players):
    page, first, _ = page_of_two_players
    first.query_selector("button.stemunet-play").click()
    playing = until(page, first, lambda s: s["playing"] and s["seconds"] > 0.3)
    assert [gain != 0 for gain in playing["gains"]] == [True, False, False]
    for key, source in (("3", 2), ("ArrowUp", 1), ("1", 0)):
        before = state(page, first)
        page.keyboard.press(key)
        page.wait_for_timeout(100)
        after = state(page, first)
        assert after["active"] == source and [gain != 0 for gain in after["gains"]] == [i == source for i in range(3)]
        assert abs((after["seconds"] - before["seconds"]) - (after["now"] - before["now"]) / 1000) < 0.05, (before, after)
    assert first.query_selector("tr.stemunet-active").inner_text().startswith("1")  # the key names its source
    page.keyboard.press("ArrowRight")
    assert state(page, first)["seconds"] > after["seconds"] + 0.9


def test_in_the_browser_starting_one_player_pauses_the_other_and_keys_stay_with_their_player(page_of_two_players):
    page, first, second = page_of_two_players
    if not state(page, first)["playing"]:
        first.query_selector("button.stemunet-play").click()
        until(page, first, lambda s: s["playing"])
    second.query_selector("button.stemunet-play").click()
    until(page, second, lambda s: s["playing"])
    assert not state(page, first)["playing"] and state(page, first)["gains"] == []  # silenced, its sources stopped
    first_active = state(page, first)["active"]
    page.keyboard.press("2")  # the focus is on the second player
    page.wait_for_timeout(100)
    assert state(page, second)["active"] == 1 and state(page, first)["active"] == first_active
    ended = until(page, second, lambda s: not s["playing"], timeout=5.0)  # 2 s long: it stops at its end
    assert abs(ended["seconds"] - 2.0) < 0.05
    assert second.query_selector(".stemunet-time").inner_text() == "0:02.0 / 0:02.0"
