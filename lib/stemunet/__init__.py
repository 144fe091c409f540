"""stemunet: a 2-D U-Net that splits music into drums, bass, other and vocals.

The library in layers; each imports only from the ones listed before it:

* core (this folder): ``config``, ``audio``, ``files``, ``stft``, ``model``, ``checkpoints``,
  ``runfolders``, ``progress``;
* :mod:`stemunet.data`: track listing and reading, chunk data sets, augmentation, the synthetic set,
  the real-music validation families;
* :mod:`stemunet.separation`: the separator and the batch separation job;
* :mod:`stemunet.evaluation`: BSSEval, baselines, results;
* :mod:`stemunet.training`: the training loop and its launchers;
* :mod:`stemunet.lab`: what the notebooks use (run records, runner, widgets, plots, exploration);
* the commands: ``python -m stemunet.run`` (:mod:`stemunet.run`), ``python -m stemunet.train``
  (:mod:`stemunet.train`) and ``python -m stemunet.separate`` (:mod:`stemunet.separate`).
"""

__version__ = "0.1.0"
