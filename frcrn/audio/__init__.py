"""Audio in and out: `codec` (bytes <-> float32 mono at 16 kHz, every input problem one clear
AudioError), `files` (which files a spec names; reading and writing files and URLs) and
`loudness` (the reference's loudness normalisation, level and clipping measurements).

The names used most are importable from here: ``from frcrn.audio import read_audio, write_audio``.
"""

from .codec import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    SAMPLE_RATE,
    AudioError,
    AudioInfo,
    DecodedAudio,
    decode_audio,
    downmix,
    encode_audio,
    probe_audio,
    resample,
)
from .files import AUDIO_SUFFIXES, audio_files, list_audio_files, load_clips, read_audio, write_audio
from .loudness import LEVEL_FLOOR_DBFS, clipping_fraction, level_dbfs, normalisation_gain

__all__ = [
    "AUDIO_SUFFIXES",
    "LEVEL_FLOOR_DBFS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "SAMPLE_RATE",
    "AudioError",
    "AudioInfo",
    "DecodedAudio",
    "audio_files",
    "clipping_fraction",
    "decode_audio",
    "downmix",
    "encode_audio",
    "level_dbfs",
    "list_audio_files",
    "load_clips",
    "normalisation_gain",
    "probe_audio",
    "read_audio",
    "resample",
    "write_audio",
]
