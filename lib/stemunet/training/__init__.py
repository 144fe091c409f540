"""Training: a separator learnt from multitrack data.

Its configuration (:mod:`~stemunet.training.config`), the pieces a run is built from
(:mod:`~stemunet.training.builders`), the losses (:mod:`~stemunet.training.losses`), one epoch and one
validation pass (:mod:`~stemunet.training.loop`), the history and result a run folder keeps
(:mod:`~stemunet.training.history`), where a run begins: resume, init and the best checkpoint it
carries (:mod:`~stemunet.training.resume`), the whole run in one process (:mod:`~stemunet.training.fit`),
and in several (:mod:`~stemunet.training.launch`, over the process-group helpers of
:mod:`~stemunet.training.distributed`). The command line is :mod:`stemunet.train`.

May import: the core modules, :mod:`stemunet.data`, :mod:`stemunet.separation` and
:mod:`stemunet.evaluation`.
"""
