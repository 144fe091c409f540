"""Run order for the whole suite: the longest test files first, the other tests, then the notebooks
in pipeline order (explore, train, evaluate, separate, listen), as a user would run them.

Under pytest-xdist (``-n 2 --dist loadfile``, as scripts/test.sh runs it) each file goes to one
worker whole: a module's fixtures (a JupyterLab server, a trained tiny model) are built once, and a
notebook's cells run in order in one kernel. The notebooks' default parameters use the bundled
model, so none of them needs another's run.
"""

from pathlib import Path

NOTEBOOK_ORDER = ["explore", "train", "evaluate", "separate", "listen"]
LONGEST_FIRST = ["test_browser", "test_synthetic_ablation", "test_gpu_check", "test_bsseval", "test_distributed", "test_runs",
                 "test_synthetic", "test_real_validation", "test_model_ablation", "test_train_notebook", "test_demo_quality"]
"""Test files of a minute or more of work, longest first: xdist starts them first, so no worker is left
with a long file at the end while the other idles (measured with --durations on 2 cores)."""


def pytest_collection_modifyitems(session, config, items):
    def key(indexed):
        index, item = indexed
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            return (0, LONGEST_FIRST.index(path.stem) if path.stem in LONGEST_FIRST else len(LONGEST_FIRST), index)
        rank = NOTEBOOK_ORDER.index(path.stem) if path.stem in NOTEBOOK_ORDER else len(NOTEBOOK_ORDER)
        return (1, rank, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
