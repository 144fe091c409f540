"""A deterministic synthetic multitrack data set in MUSDB18-HQ layout.

Real MUSDB18 cannot be downloaded where this project is built and tested, so training, evaluation
and CI run on songs synthesised here. The songs are meant to be *hard enough to be informative*:
a model only learns something that transfers if the stems overlap in time and frequency the way
real stems do. So

* drums: a kick (a pitched-down sine sweep with a click, most energy 40-120 Hz, i.e. in the bass's
  register), snare (tone body + noise), closed/open hi-hats or a ride, toms, crashes and sometimes
  a shaker, in grooves with variations, ghost notes, swing and fills at the song's tempo;
* bass: a bass line on the chord roots (patterns locked to the kick, eighths, root-fifth, walking),
  saw/square/sine+harmonics timbres through an enveloped low-pass, fundamentals 40-200 Hz with
  harmonics well into the mids;
* other: chords (pad, electric-piano-like keys, organ, strummed plucks or an overdriven,
  double-tracked guitar) voiced around 150-900 Hz with harmonics to several kHz, sometimes with an
  arpeggio or a low left-hand root that doubles the bass;
* vocals: a monophonic melody over the chords (mostly chord tones, so its harmonics collide with
  the accompaniment's), with scoops, glides, vibrato, per-note vowel formants, consonant and breath
  noise, phrases with rests, sometimes a double or harmony and an echo, and silent for 20-40 % of
  every song (an instrumental intro and/or break);

with a random tempo (80-160 BPM), key, mode, timbres, stem levels (several dB either way), panning,
stereo width, a shared room reverb and fades, per song.

Three designs (``SyntheticSpec.version``, :data:`DESIGN_VERSIONS`):

* 1: every part additive (oscillators, wavetables, filtered noise), as described above;
* 2 (the default): per song, the drums, the bass and each role of the "other" part are drawn as
  *sampled* (the same notes played by a General MIDI SoundFont through :mod:`stemunet.data.synthetic.soundfont`:
  a GM drum kit, a GM bass, pianos, guitars, organs, strings, brass, pads, mallets) or additive,
  about half each, recorded per track in the manifest; then every stem goes through a mixing
  engineer's chain (:mod:`stemunet.data.synthetic.production`: EQ, compression, saturation, tempo-synced delay,
  fader rides, amplifier hum) and the song's dynamics (section rides and a bus compressor) are
  one gain curve applied to every stem, so the mixture stays their sum. The vocals stay
  formant-synthesised: GM choir and voice samples sound like the "other" stem's pads.
* 3: design 2, with each sampled part's SoundFont drawn per song from every known one installed
  (:mod:`stemunet.data.synthetic.soundfont_registry`), so one GM program sounds like several instruments
  across the set; the manifest names each sampled part's SoundFont and licence. Where the optional
  ``pysinsy`` is installed, half of the songs' melodies are sung by Sinsy's voice of a recorded
  singer (:mod:`stemunet.data.synthetic.singing`: NIT SONG070 F001, CC BY 3.0), the rest formant-sung;
  the manifest names each song's singer.

Layout (what ``musdb.DB(root=..., is_wav=True)`` reads)::

    root/
      stemunet_synthetic.json        # manifest: spec, track names, validation tracks, per-track info
      musdb_setup.yaml               # musdb setup file naming our validation tracks (split="valid")
      train/train_000/{mixture,drums,bass,other,vocals}.wav
      train/train_000/{piano,guitar,organ,strings,brass,pads,mallets,synth}.wav  # with family_stems
      ...
      test/test_000/...

With ``SyntheticSpec(family_stems=True)`` every track folder also holds one stem per instrument
family of the "other" part (:data:`FAMILY_NAMES`: the GM families it plays, piano, guitar, organ,
strings, brass, pads, mallets, and "synth" for the synth leads and the additive arpeggio, which fit
none of them), silent where the song does not play that family, summing to ``other.wav`` (to
float32 rounding, 1e-6): enough to train a 6-stem model (drums, bass, guitar, piano, other,
vocals, Demucs' htdemucs_6s set; its "other" is the families but guitar and piano) or a finer one.
Each family is its instrument's own sound carried through the whole stem's production (see
:mod:`~stemunet.data.synthetic.song`); the four stems and the mixture are the same as without
them. The manifest lists them (``family_stems``) and names each song's role families
(``track_info[name]["other"]["families"]``); such a set is another spec, so another cache entry.

(musdb 0.4 decodes even wav files through ffmpeg/ffprobe, as 16-bit PCM; soundfile reads them
exactly.) Every wav is 32-bit IEEE float, stereo, ``spec.sample_rate`` Hz; ``mixture.wav`` is the float32
rounding of the exact float64 sum of the four stored float32 stems (so mixture == sum of stems to
within 1e-7) and no file peaks above 0.99.

Determinism: every song is drawn from ``numpy.random.Generator(PCG64)`` streams seeded by
``(seed, subset, index, stream)``, one stream per stem, so a song does not depend on how many songs
are generated, and the same spec gives byte-identical files (the wav writer here writes no
timestamp, unlike libsndfile's PEAK chunk).

Modules, each one job, every import pointing down the list:

* :mod:`~stemunet.data.synthetic.spec`: :class:`SyntheticSpec`, design versions, format constants;
* :mod:`~stemunet.data.synthetic.dsp`: signal helpers (wavetables, envelopes, filters, noise);
* :mod:`~stemunet.data.synthetic.soundfont`: sampled instruments (a General MIDI SoundFont);
* :mod:`~stemunet.data.synthetic.soundfont_registry`: the known SoundFonts, where installed, their licences;
* :mod:`~stemunet.data.synthetic.production`: the mixing engineer's chain of design 2;
* :mod:`~stemunet.data.synthetic.plan`: the song plan (tempo, key, chords, grooves, sections);
* :mod:`~stemunet.data.synthetic.singing`: Sinsy's singer (optional pysinsy): score, synthesis, repairs;
* :mod:`~stemunet.data.synthetic.drums`, :mod:`~stemunet.data.synthetic.bass`, :mod:`~stemunet.data.synthetic.other`,
  :mod:`~stemunet.data.synthetic.vocals`: the four part renderers;
* :mod:`~stemunet.data.synthetic.room`: room reverb, noise floor, silence gating;
* :mod:`~stemunet.data.synthetic.song`: one song (:func:`render_track`): parts, room, levels, production, instrument families;
* :mod:`~stemunet.data.synthetic.dataset`: the set on disk, its manifest, musdb setup file and cache.
"""

from stemunet.config import STEM_NAMES
from stemunet.data.synthetic.dataset import (ensure_synthetic_dataset, generate_synthetic_dataset, is_synthetic_dataset,
                                             read_synthetic_manifest, synthetic_cache_root, synthetic_set_name)
from stemunet.data.synthetic.song import render_track
from stemunet.data.synthetic.soundfont_registry import KNOWN_SOUNDFONTS, available_soundfonts
from stemunet.data.synthetic.spec import (DESIGN_VERSIONS, FAMILY_NAMES, FORMAT_VERSION, MANIFEST_NAME, MUSDB_SETUP_NAME,
                                          SyntheticSpec)

__all__ = [
    "STEM_NAMES",
    "SyntheticSpec",
    "generate_synthetic_dataset",
    "synthetic_cache_root",
    "ensure_synthetic_dataset",
    "is_synthetic_dataset",
    "read_synthetic_manifest",
    "render_track",
    "synthetic_set_name",
    "MANIFEST_NAME",
    "MUSDB_SETUP_NAME",
    "FORMAT_VERSION",
    "DESIGN_VERSIONS",
    "FAMILY_NAMES",
    "KNOWN_SOUNDFONTS",
    "available_soundfonts",
]
