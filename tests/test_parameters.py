"""Each notebook's parameters cell, its parameters/*.yaml files and its config class agree."""

import typing
from pathlib import Path

import papermill
import pytest
import yaml

from stemunet.lab.runs import NOTEBOOK_CONFIGS, RUNNER_PARAMETERS, notebook_config_class

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
PARAMETER_FILES = sorted((ROOT / "parameters").glob("*.yaml"))


def _notebook_of(parameter_file: Path) -> str:
    """parameters/train_seed_card.yaml -> train: files are named for their notebook."""
    matches = [nb for nb in NOTEBOOKS if parameter_file.stem == nb or parameter_file.stem.startswith(nb + "_")]
    assert matches, f"{parameter_file.name} is named for no notebook in {NOTEBOOKS}"
    return max(matches, key=len)


def test_every_notebook_has_a_config_and_parameter_files():
    assert set(NOTEBOOKS) == set(NOTEBOOK_CONFIGS), "notebooks/ and runs.NOTEBOOK_CONFIGS disagree"
    for notebook in NOTEBOOKS:
        assert any(_notebook_of(p) == notebook for p in PARAMETER_FILES), f"no parameters/{notebook}*.yaml"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_parameters_cell_matches_the_config(notebook):
    declared = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"))
    config_class = notebook_config_class(notebook)
    assert set(declared) == set(config_class.parameter_names()) | set(RUNNER_PARAMETERS)
    defaults = {name: eval(spec["default"]) for name, spec in declared.items() if name not in RUNNER_PARAMETERS}
    config_class.from_params(defaults)  # the defaults type-check
    assert all(spec["help"] for spec in declared.values()), "every parameter carries a comment"


@pytest.mark.parametrize("parameter_file", PARAMETER_FILES, ids=lambda p: p.name)
def test_parameter_files_fit_their_notebook(parameter_file):
    values = yaml.safe_load(parameter_file.read_text())
    assert isinstance(values, dict) and values
    notebook_config_class(_notebook_of(parameter_file)).from_params(values)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_config_defaults_are_the_notebooks_defaults(notebook):
    """A name's default must not depend on the entry point: notebook, library call and CLI agree."""
    declared = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"))
    defaults = {name: eval(spec["default"]) for name, spec in declared.items() if name not in RUNNER_PARAMETERS}
    config_class = notebook_config_class(notebook)
    expected = config_class.from_params(defaults).to_params()
    actual = config_class().to_params()
    assert {name: actual[name] for name in actual if actual[name] != expected[name]} == {}, f"{config_class.__name__} defaults differ from notebooks/{notebook}.ipynb's (expected {expected})"


@pytest.mark.parametrize("parameter_file", PARAMETER_FILES, ids=lambda p: p.name)
def test_recipes_spell_out_every_parameter(parameter_file):
    """A recipe must not lean on defaults, which are the notebooks' small CPU values."""
    values = yaml.safe_load(parameter_file.read_text())
    names = set(notebook_config_class(_notebook_of(parameter_file)).parameter_names())
    if values.get("musdb_root", "") == "" and "synthetic_seed" not in values:
        names -= {name for name in names if name.startswith("synthetic_")}  # a MUSDB18 recipe: set musdb_root
    assert sorted(names - set(values)) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_choice_parameters_comments_name_every_choice(notebook):
    """A parameter with a fixed set of values (loss, block, ...) says what they are in the notebook."""
    declared = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"))
    fields = notebook_config_class(notebook).parameter_fields()
    for name, (annotation, _, _) in fields.items():
        if typing.get_origin(annotation) is typing.Literal:
            missing = [choice for choice in typing.get_args(annotation) if str(choice) not in declared[name]["help"]]
            assert not missing, f"notebooks/{notebook}.ipynb: {name}'s comment does not name {missing}"
