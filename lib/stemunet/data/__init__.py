"""Data: where tracks come from and how they become training examples.

The track listing and reader (:mod:`~stemunet.data.tracks`, the one entry point: MUSDB18 and
MUSDB18-HQ through ``musdb``, the embedded synthetic set, and a user's folders of stems,
:mod:`~stemunet.data.folders`, for ``dataset: folders``), the stem sets' targets built from a
track's stems (:mod:`~stemunet.data.stem_sets`), the chunk data sets and sampler for training and
validation (:mod:`~stemunet.data.chunks`), waveform and spectrogram augmentation
(:mod:`~stemunet.data.augment`), the synthetic multitrack generator (:mod:`~stemunet.data.synthetic`),
and the real-music validation families with their LMMS reader (:mod:`~stemunet.data.real_validation`,
:mod:`~stemunet.data.lmms`).

May import: the core modules at the top of :mod:`stemunet` (config, audio, files, stft, progress).
Nothing here knows about models, separation, evaluation, training or notebooks.
"""
