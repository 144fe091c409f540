"""Separation: a trained model applied to audio.

The :class:`~stemunet.separation.separator.Separator` (STFT, U-Net masks, post-filter, ISTFT;
:mod:`~stemunet.separation.postfilter`, :mod:`~stemunet.separation.chunking` for overlap-add
streaming), loading one from a checkpoint (:mod:`~stemunet.separation.loading`), and the batch job
behind the separate notebook and ``python -m stemunet.separate``: its configuration
(:mod:`~stemunet.separation.config`), inputs (:mod:`~stemunet.separation.inputs`), outputs and their
records (:mod:`~stemunet.separation.outputs`), the loop over files (:mod:`~stemunet.separation.batch`)
and the summary (:mod:`~stemunet.separation.summary`). The command line itself is
:mod:`stemunet.separate`.

May import: the core modules and :mod:`stemunet.data`.
"""
