"""What a synthetic set is: its spec (:class:`SyntheticSpec`), design versions and file format."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FORMAT_NAME = "stemunet-synthetic-musdb"
FORMAT_VERSION = 3
"""Bump whenever the generated audio or the layout changes: cached sets are keyed on it.
2: stems carry a recording's noise floor while they play (BSSEval's SIR, SAR and ISR are meaningful).
3: the spec names a design (``SyntheticSpec.version``): 1 is the audio format 2 wrote; 2 adds
sampled (SoundFont) instruments and a production chain."""
DESIGN_VERSIONS = (1, 2, 3)
"""``SyntheticSpec.version``: 1 = additive synths, room reverb and noise floors (the first design);
2 = the default: per song, each part drawn as sampled (a General MIDI SoundFont) or additive, then
EQ, compression, saturation, delay, automation, hum and bus compression (see stemunet.data.synthetic.production);
3 = 2, with each sampled part's SoundFont drawn per song from every known one installed
(stemunet.data.synthetic.soundfont_registry: TimGM6mb, FluidR3_GM, MuseScore_General) and, where pysinsy
is installed, half of the songs sung by Sinsy's singer (stemunet.data.synthetic.singing)."""
MANIFEST_NAME = "stemunet_synthetic.json"
MUSDB_SETUP_NAME = "musdb_setup.yaml"
"""A musdb setup file (JSON, which is YAML) naming this set's validation tracks:
``musdb.DB(root, is_wav=True, setup_file=MUSDB_SETUP_NAME, subsets="train", split="valid")``."""
FAMILY_NAMES = ("piano", "guitar", "organ", "strings", "brass", "pads", "mallets", "synth")
"""The instrument families of the "other" stem, each written as its own stem by a set whose spec has
``family_stems`` (``<family>.wav`` beside the four; they sum to ``other.wav``). Every role and GM
program ``other`` plays is exactly one of them (:data:`stemunet.data.synthetic.other.PROGRAM_FAMILY`,
:data:`~stemunet.data.synthetic.other.ADDITIVE_FAMILY`): pianos, electric pianos, clavinet and the
additive keys are piano; guitars, the additive strum and overdriven guitar, sitar are guitar; harp
and string ensembles are strings; vibraphone, celesta, glockenspiel, music box, marimba, xylophone and
kalimba are mallets; "synth" holds what fits none of GM's other families: the synth leads and the
additive saw/square arpeggio. Demucs' htdemucs_6s guitar and piano are the first two; its other is
the rest."""
SUBSETS = ("train", "test")
_SUBSET_CODES = {"train": 0, "test": 1}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. Equal specs give byte-identical sets.

    ``track_seconds`` is each song's length in seconds; ``validation_fraction`` is the share of
    the train songs listed in the manifest as validation songs (they stay in ``train/``, as in
    MUSDB18, whose validation songs are a named subset of its train folder).
    """

    n_train_tracks: int = 12
    n_test_tracks: int = 4
    track_seconds: float = 12.0
    seed: int = 0
    sample_rate: int = 44100
    validation_fraction: float = 0.2
    version: int = 2
    soundfont: str = ""
    family_stems: bool = False

    # ``version``: the design (DESIGN_VERSIONS); ``soundfont``: version 2: the .sf2 file sampled
    # instruments come from ("" = TimGM6mb.sf2 from pretty_midi); version 3: a .sf2 file drawn from
    # besides the installed known ones ("" = none). A set's cache name includes the sha256 of every
    # SoundFont it draws from, so another, an edited or one more installed file makes another set.
    # ``family_stems``: also write each instrument family of "other" as its own stem (FAMILY_NAMES),
    # and have render_track return them; the four stems and the mixture are the same either way.

    def __post_init__(self) -> None:
        if not (isinstance(self.n_train_tracks, int) and self.n_train_tracks >= 0):
            raise ValueError(f"n_train_tracks must be an int >= 0, got {self.n_train_tracks!r}")
        if not (isinstance(self.n_test_tracks, int) and self.n_test_tracks >= 0):
            raise ValueError(f"n_test_tracks must be an int >= 0, got {self.n_test_tracks!r}")
        if self.n_train_tracks + self.n_test_tracks < 1:
            raise ValueError("a synthetic set needs at least one track")
        if not (isinstance(self.track_seconds, (int, float)) and 1.0 <= self.track_seconds <= 600.0):
            raise ValueError(f"track_seconds must be in [1, 600], got {self.track_seconds!r}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if not (isinstance(self.sample_rate, int) and 8000 <= self.sample_rate <= 192000):
            raise ValueError(f"sample_rate must be an int in [8000, 192000], got {self.sample_rate!r}")
        if not (isinstance(self.validation_fraction, (int, float)) and 0.0 <= self.validation_fraction < 1.0):
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if self.version not in DESIGN_VERSIONS:
            raise ValueError(f"version must be one of {DESIGN_VERSIONS}, got {self.version!r}")
        if not isinstance(self.soundfont, str):
            raise ValueError(f"soundfont must be a path (str), got {self.soundfont!r}")
        if not isinstance(self.family_stems, bool):
            raise ValueError(f"family_stems must be True or False, got {self.family_stems!r}")
        # 12 and 12.0 must name the same set (the cache key is the JSON of the fields).
        object.__setattr__(self, "track_seconds", float(self.track_seconds))
        object.__setattr__(self, "validation_fraction", float(self.validation_fraction))

    def as_record(self) -> dict[str, Any]:
        """The fields as a manifest records them and the cache name hashes them: ``family_stems``
        only when it is set, so a set without family stems keeps the record and the cache name
        of the sets written before the field existed, and a set with them is another set."""
        record = asdict(self)
        if not self.family_stems:
            del record["family_stems"]
        return record

    @property
    def n_samples(self) -> int:
        """Length of every song in samples."""
        return int(round(self.track_seconds * self.sample_rate))

    def track_names(self, subset: str) -> list[str]:
        """Folder names of the songs of ``subset`` ('train' or 'test'): ``train_000``, ..."""
        count = {"train": self.n_train_tracks, "test": self.n_test_tracks}[subset]
        return [f"{subset}_{index:03d}" for index in range(count)]

    def validation_tracks(self) -> list[str]:
        """The train songs used for validation: the last ``round(fraction * n_train)`` of them
        (at least one when the fraction is > 0 and there are >= 2 train songs; never all)."""
        n_train = self.n_train_tracks
        if self.validation_fraction <= 0 or n_train < 2:
            return []
        n_val = min(max(int(round(self.validation_fraction * n_train)), 1), n_train - 1)
        return self.track_names("train")[n_train - n_val:]
