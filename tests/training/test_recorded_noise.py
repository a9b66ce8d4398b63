"""frcrn.training.recorded_noise: recorded sound effects from Debian packages, with their licences;
and the trainer's pool of the permissive ones."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from frcrn.training import recorded_noise


def _wav_bytes(x, sr):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write_opensfx_bank(root, entries):
    """An OpenTTD-style .cat bank under ``root``: (offset, size) table, then name + WAV per entry."""
    table = 8 * len(entries)
    blobs, offset, header = [], table, b""
    for name, wav in entries:
        blob = bytes([len(name)]) + name + wav
        header += struct.pack("<II", offset | (0x80000000 if not blobs else 0), len(blob))
        blobs.append(blob)
        offset += len(blob)
    bank = root / recorded_noise.OPENSFX_BANK
    bank.parent.mkdir(parents=True)
    bank.write_bytes(header + b"".join(blobs))
    return bank


def test_opensfx_bank_parser_and_listing(tmp_path):
    entries = [
        (b'"Wind". License: Creative Commons Zero 1.0.\x00', _wav_bytes(np.zeros(441), 44100)),
        (b'"Saw". License: Creative Commons Attribution 3.0 Unported.\x00', _wav_bytes(np.ones(800) * 0.1, 8000)),
    ]
    bank = _write_opensfx_bank(tmp_path, entries)
    parsed = recorded_noise.read_opensfx_bank(str(bank))
    assert [p[0] for p in parsed] == ['"Wind". License: Creative Commons Zero 1.0.',
                                      '"Saw". License: Creative Commons Attribution 3.0 Unported.']
    sounds = recorded_noise.list_recorded_sounds(str(tmp_path))
    assert [s.licence for s in sounds] == ["CC0-1.0", "CC-BY-3.0"]
    assert sounds[0].duration == pytest.approx(0.01)
    y = recorded_noise.load_recorded_sound(sounds[1], 16000)
    assert y.dtype == np.float32 and abs(y.size - 1600) <= 2
    assert recorded_noise.summarize(sounds)["openttd-opensfx"]["sounds"] == 2
    assert recorded_noise.list_recorded_sounds(str(tmp_path / "empty")) == []


def test_training_noise_sources_keep_permissive_sounds_with_their_credits(tmp_path):
    from frcrn.training.trainer import recorded_noise_sources

    rng = np.random.default_rng(0)
    _write_opensfx_bank(tmp_path, [
        (b'"Horn". License: Creative Commons Attribution 3.0 Unported.\x00',
         _wav_bytes(rng.uniform(-.5, .5, 8000), 16000)),
        (b'"Mill". License: Creative Commons Attribution-ShareAlike 3.0.\x00',
         _wav_bytes(rng.uniform(-.5, .5, 8000), 16000)),
        (b'"Tick". License: Creative Commons Zero 1.0.\x00', _wav_bytes(rng.uniform(-.5, .5, 800), 16000)),
    ])
    arrays, records = recorded_noise_sources(str(tmp_path))
    # share-alike dropped by licence, the 0.05 s tick dropped as too short: one sound, one record
    assert len(arrays) == len(records) == 1
    assert arrays[0].shape == (8000,)
    assert records == [{"package": "openttd-opensfx", "file": recorded_noise.OPENSFX_BANK, "member": 0,
                        "licence": "CC-BY-3.0",
                        "credit": '"Horn". License: Creative Commons Attribution 3.0 Unported.'}]
