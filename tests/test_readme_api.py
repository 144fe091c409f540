"""README's Python API examples run as they are written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

README = Path(__file__).resolve().parents[1] / "README.md"


def api_blocks() -> list[str]:
    """The ```python blocks of README's "Python API" section."""
    text = README.read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_has_an_example_for_each_entry_point():
    code = "\n".join(api_blocks())
    for entry in ("load_separator", ".separate(", "separate_files", "evaluate(", "fit("):
        assert entry in code, f"README's Python API has no example of {entry}"


@pytest.mark.usefixtures("one_torch_thread")
def test_readme_api_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    sf.write("song.wav", np.random.default_rng(1).normal(0, 0.1, (3 * 44100, 2)), 44100)
    namespace: dict = {}
    for block in api_blocks():
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 (README's own examples)
    assert tuple(namespace["stems"].shape) == (4, 2, 44100)
    assert list(namespace["summary"]["status"]) == ["ok"]
    assert (tmp_path / "separated" / "song" / "vocals.wav").is_file()
    assert not (tmp_path / "separated" / "song" / "drums.wav").exists()  # stems=("vocals",)
    assert {"model", "MIX", "irm1"} <= set(namespace["result"].aggregates["method"])
    assert (tmp_path / "runs" / "my_evaluation" / "metrics.json").is_file()
    assert Path(namespace["trained"].best_checkpoint).is_file()
    printed = capsys.readouterr().out
    assert "drums" in printed and "ok" in printed


def test_readme_is_a_front_page_whose_links_lead_somewhere():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    pages = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", text))
    assert len(pages) >= 10
    for page in pages:
        path = README.parent / page
        assert path.is_file(), page
        for linked in re.findall(r"\]\(([\w-]+\.md)\)", path.read_text()):  # pages link each other by name
            assert (path.parent / linked).is_file(), f"{page} links {linked}"
