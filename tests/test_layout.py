"""The library's layout: layers whose imports point down, modules of one job, and checkpoints
written before the layout changed that still load, separate and resume."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

LIBRARY = Path(__file__).resolve().parents[1] / "lib" / "stemunet"
BEFORE = Path(__file__).resolve().parent / "data" / "checkpoints_before_layout"

# Bottom to top: a module may import from its own layer and the ones before it, never after.
LAYERS = ("core", "data", "separation", "evaluation", "training", "lab", "commands")
COMMANDS = ("stemunet.run", "stemunet.train", "stemunet.separate")


def layer_of(module: str) -> str:
    if module in COMMANDS:
        return "commands"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "core"


def module_name(path: Path) -> str:
    return ".".join(("stemunet", *path.relative_to(LIBRARY).with_suffix("").parts)).removesuffix(".__init__")


def is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(path: Path, modules: set[str], own: str = "") -> set[str]:
    """The library modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks are type
    hints only and left out), each resolved to the longest module name that exists."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if is_type_checking(node):
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != "stemunet":
                found.add(name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name != own and not own.startswith(name + ".")}  # a package's own modules may use it


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in LIBRARY.rglob("*.py")}
    return {module: runtime_imports(path, set(paths), module) for module, path in paths.items()}


def test_the_library_has_a_folder_for_each_layer_with_a_docstring_saying_what_it_may_import():
    for layer in LAYERS[1:-1]:
        init = LIBRARY / layer / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "May import" in doc, f"{init} must say what lives there and what it may import"


def test_imports_point_down_the_layers():
    upward = [f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
              for module, targets in import_graph().items() for target in targets
              if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(module))]
    assert upward == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    core = tmp_path / "stemunet" / "model.py"
    core.parent.mkdir()
    core.write_text("from stemunet.separation.separator import Separator\n"
                    "if TYPE_CHECKING:\n    from stemunet.lab.widgets import Player\n")
    imports = runtime_imports(core, {"stemunet.separation.separator", "stemunet.lab.widgets"})
    assert imports == {"stemunet.separation.separator"}
    assert layer_of("stemunet.model") == "core" and layer_of("stemunet.separation.separator") == "separation"
    assert layer_of("stemunet.separate") == "commands" and layer_of("stemunet.data.synthetic.song") == "data"


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path, module, target]
            if target not in state and (found := cycle_from(target, [*path, module])):
                return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            assert cycle_from(module, []) is None


@pytest.mark.parametrize("limit", [600])
def test_no_module_over_600_lines_and_no_function_over_120(limit):
    long_modules = {str(path.relative_to(LIBRARY)): n for path in LIBRARY.rglob("*.py")
                    if (n := len(path.read_text().splitlines())) > limit}
    long_functions = [f"{path.relative_to(LIBRARY)}:{node.name}" for path in LIBRARY.rglob("*.py")
                      for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 120]
    assert long_modules == {} and long_functions == []


def test_a_model_checkpoint_written_before_the_layout_changed_separates_as_it_did():
    from stemunet.config import PostFilterChoice
    from stemunet.separation.loading import load_separator

    expected = json.loads((BEFORE / "separated.json").read_text())
    separator = load_separator(BEFORE / "best.pt", "cpu", PostFilterChoice(precision="float32"))  # as it was then
    mixture = 0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        stems = separator.separate(mixture, 8000)
    assert list(separator.stem_names) == expected["stems"]
    torch.testing.assert_close(stems[:, 0, ::8], torch.tensor(expected["every_8th_sample"]), atol=1e-5, rtol=1e-3)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_training_checkpoint_written_before_the_layout_changed_resumes(tmp_path):
    from test_training import TINY

    from stemunet.training.config import TrainConfig
    from stemunet.training.launch import fit

    result = fit(TrainConfig.from_params({**TINY, "epochs": 2, "resume_from": str(BEFORE / "last.pt")}), tmp_path / "run", progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert result.metrics["resumed_from"].endswith("last.pt")
