"""Specification of frcrn.audio.codec: what comes out for good input, and which error for bad input.

Every input is synthesised here with numpy + soundfile; nothing is read from disk but tmp_path.
"""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import pytest
import soundfile as sf

from frcrn.audio.codec import (
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
from frcrn.audio.loudness import level_dbfs

from .conftest import file_bytes, noise, sine


def expected_length(frames: int, from_rate: int, to_rate: int) -> int:
    """round(frames * to / from) with halves rounded up (soxr's rule; Python's round() is
    half-to-even and would differ on exact halves such as 96123 frames at 96 kHz)."""
    return (2 * frames * to_rate + from_rate) // (2 * from_rate)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * rate / len(x)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("format", "subtype", "tolerance"),
    [
        ("WAV", "PCM_U8", 1 / 2**7),
        ("WAV", "PCM_16", 1 / 2**15),
        ("WAV", "PCM_24", 1 / 2**23),
        ("WAV", "PCM_32", 1 / 2**30),
        ("WAV", "FLOAT", 0.0),
        ("FLAC", "PCM_16", 1 / 2**15),
        ("FLAC", "PCM_24", 1 / 2**23),
    ],
)
def test_lossless_formats_decode_to_the_written_samples(
    format: str, subtype: str, tolerance: float
) -> None:
    x = noise(4000)

    decoded = decode_audio(file_bytes(x, format=format, subtype=subtype))

    assert isinstance(decoded, DecodedAudio)
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.ndim == 1
    assert decoded.samples.flags.c_contiguous
    assert decoded.sample_rate == SAMPLE_RATE
    assert decoded.source == AudioInfo(SAMPLE_RATE, 1, 4000, format, subtype)
    np.testing.assert_allclose(decoded.samples, x, rtol=0, atol=tolerance)


def test_ogg_vorbis_decodes_to_about_the_same_length_and_pitch() -> None:
    x = sine(frames=16000)

    decoded = decode_audio(file_bytes(x, format="OGG", subtype="VORBIS"))

    assert decoded.source.format == "OGG"
    assert abs(len(decoded.samples) - len(x)) <= 0.01 * len(x)
    assert peak_frequency(decoded.samples, SAMPLE_RATE) == pytest.approx(440, abs=2)


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile built without MP3")
def test_mp3_decodes_when_libsndfile_supports_it() -> None:
    x = sine(frames=16000)

    decoded = decode_audio(file_bytes(x, format="MP3", subtype="MPEG_LAYER_III"))

    assert decoded.source.format == "MP3"
    assert abs(len(decoded.samples) - len(x)) <= 0.1 * len(x)
    assert peak_frequency(decoded.samples, SAMPLE_RATE) == pytest.approx(440, abs=2)


def test_memoryview_input_decodes_like_bytes() -> None:
    data = file_bytes(noise(1000))

    assert np.array_equal(decode_audio(memoryview(data)).samples, decode_audio(data).samples)


# --------------------------------------------------------------------------- downmix


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_input_is_downmixed_to_the_channel_mean(channels: int) -> None:
    x = noise(3000, channels)

    decoded = decode_audio(file_bytes(x, subtype="FLOAT"))

    assert decoded.source.channels == channels
    np.testing.assert_allclose(decoded.samples, x.mean(axis=1), atol=1e-6)


def test_downmix_of_dual_mono_is_the_original_signal_without_gain() -> None:
    x = sine(amp=0.99)

    assert np.array_equal(downmix(np.stack([x, x], axis=1)), x)


def test_downmix_passes_mono_through_and_rejects_other_shapes() -> None:
    x = noise(10)

    assert np.array_equal(downmix(x), x)
    assert np.array_equal(downmix(x[:, None]), x)
    with pytest.raises(ValueError):
        downmix(np.zeros((2, 2, 2), np.float32))


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_other_rates_are_resampled_to_16k_with_exact_length_and_same_pitch(rate: int) -> None:
    frames = rate + 123  # awkward lengths; at 96 kHz the exact result is a half (16020.5)
    x = sine(440, rate, frames)

    decoded = decode_audio(file_bytes(x, rate, subtype="FLOAT"))

    assert decoded.sample_rate == SAMPLE_RATE
    assert decoded.source.sample_rate == rate
    assert len(decoded.samples) == expected_length(frames, rate, SAMPLE_RATE)
    assert peak_frequency(decoded.samples, SAMPLE_RATE) == pytest.approx(440, abs=2)
    assert level_dbfs(decoded.samples) == pytest.approx(level_dbfs(x), abs=0.1)


def test_decode_honours_a_non_default_target_rate() -> None:
    decoded = decode_audio(file_bytes(sine(frames=16000)), target_rate=8000)

    assert decoded.sample_rate == 8000
    assert len(decoded.samples) == 8000


def test_resample_is_identity_at_equal_rates_and_always_returns_float32() -> None:
    x = noise(100).astype(np.float64)

    same = resample(x, 16000, 16000)
    down = resample(x, 48000, 16000)

    assert same.dtype == np.float32 and np.array_equal(same, x.astype(np.float32))
    assert down.dtype == np.float32 and len(down) == expected_length(100, 48000, 16000)


@pytest.mark.parametrize(
    ("frames", "from_rate"), [(1, 48000), (2, 48000), (15, 96000), (4, 6000), (7, 44100)]
)
def test_resampled_length_rounds_halves_up(frames: int, from_rate: int) -> None:
    out = resample(np.ones(frames, np.float32), from_rate, 16000)

    assert len(out) == expected_length(frames, from_rate, 16000)


def test_a_few_frames_too_short_for_one_output_sample_are_empty() -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(file_bytes(np.zeros(1, np.float32), 48000))
    assert err.value.kind == "empty"


def test_target_rate_outside_the_sane_range_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        decode_audio(file_bytes(noise(100)), target_rate=100)


# --------------------------------------------------------------------------- bad input


def test_empty_bytes_are_empty() -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(b"")
    assert err.value.kind == "empty"
    assert "0 bytes" in str(err.value)


def test_header_only_wav_is_empty() -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(file_bytes(np.zeros(0, np.float32)))
    assert err.value.kind == "empty"
    assert "0 frames" in str(err.value)


def test_truncated_wav_decodes_the_frames_that_are_present() -> None:
    x = noise(1000)
    data = file_bytes(x)  # 44-byte header + 2 bytes per frame

    decoded = decode_audio(data[: 44 + 2 * 300])

    np.testing.assert_allclose(decoded.samples, x[:300], atol=1 / 2**15)


def test_streamed_wav_with_an_unfinalised_data_size_decodes_all_frames() -> None:
    # Tools writing WAV to a pipe cannot seek back, and leave the data size at 0xFFFFFFFF.
    x = noise(1000)
    data = bytearray(file_bytes(x))
    assert data[36:40] == b"data"
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)

    decoded = decode_audio(bytes(data))

    np.testing.assert_allclose(decoded.samples, x, atol=1 / 2**15)


def test_wav_truncated_right_after_the_header_is_empty() -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(file_bytes(noise(1000))[:44])
    assert err.value.kind == "empty"


def test_wav_truncated_inside_the_header_is_undecodable_and_says_so() -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(file_bytes(noise(1000))[:20])
    assert err.value.kind == "undecodable"
    assert "WAV" in str(err.value) and "truncated or corrupt" in str(err.value)


def test_random_bytes_are_not_audio() -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(np.random.default_rng(1).bytes(4096))
    assert err.value.kind == "undecodable"
    assert str(err.value).startswith("not audio")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"speaker_id,transcript\n0001,hello world\n" * 20, "text"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG image"),
        (b"\xff\xd8\xff\xe0" + bytes(200), "JPEG image"),
        (b"%PDF-1.7\n" + bytes(200), "PDF document"),
        (b"PK\x03\x04" + bytes(200), "ZIP archive"),
        (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "HTML page"),
    ],
)
def test_common_non_audio_files_are_named_in_the_error(data: bytes, named: str) -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(data)
    assert err.value.kind == "undecodable"
    assert str(err.value).startswith("not audio")
    assert named in str(err.value)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"\x00\x00\x00\x20ftypM4A " + bytes(200), "MP4/M4A"),
        (b"\x1a\x45\xdf\xa3" + bytes(200), "WebM"),
    ],
)
def test_audio_in_formats_libsndfile_lacks_is_unsupported_with_a_hint(
    data: bytes, named: str
) -> None:
    with pytest.raises(AudioError) as err:
        decode_audio(data)
    assert err.value.kind == "undecodable"
    assert str(err.value).startswith("unsupported audio format")
    assert named in str(err.value) and "WAV or FLAC" in str(err.value)


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "3 NaN"), (np.inf, "3 infinite")])
def test_float_wav_with_nan_or_inf_is_rejected_with_a_count(bad: float, word: str) -> None:
    x = noise(1000)
    x[[10, 20, 30]] = bad

    with pytest.raises(AudioError) as err:
        decode_audio(file_bytes(x, subtype="FLOAT"))
    assert err.value.kind == "non_finite"
    assert word in str(err.value)


@pytest.mark.parametrize("rate", [1, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 1_000_000])
def test_absurd_sample_rates_are_rejected(rate: int) -> None:
    data = file_bytes(noise(100), rate)

    with pytest.raises(AudioError) as err:
        decode_audio(data)
    assert err.value.kind == "sample_rate"
    assert f"{rate} Hz" in str(err.value)
    assert probe_audio(data).sample_rate == rate  # probing reports, it does not judge


def test_too_long_is_refused_from_the_header_before_samples_are_decoded() -> None:
    # 10 s of NaN: if the samples were decoded first, the error would be "non_finite".
    data = file_bytes(np.full(10 * SAMPLE_RATE, np.nan, np.float32), subtype="FLOAT")

    with pytest.raises(AudioError) as err:
        decode_audio(data, max_seconds=1.0)
    assert err.value.kind == "too_long"
    assert "10.0 s" in str(err.value)


def test_audio_within_max_seconds_is_accepted() -> None:
    assert len(decode_audio(file_bytes(noise(16000)), max_seconds=1.0).samples) == 16000


def test_audio_error_is_a_value_error_that_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(AudioError("empty", "no audio")))

    assert isinstance(err, ValueError)
    assert (err.kind, str(err)) == ("empty", "no audio")


# --------------------------------------------------------------------------- probe


def test_probe_reports_source_facts_from_the_header() -> None:
    info = probe_audio(file_bytes(noise(22050, 2), 44100, "FLAC", "PCM_24"))

    assert info == AudioInfo(
        sample_rate=44100, channels=2, frames=22050, format="FLAC", subtype="PCM_24"
    )
    assert info.duration_seconds == 0.5


def test_probe_rejects_non_audio() -> None:
    with pytest.raises(AudioError) as err:
        probe_audio(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert err.value.kind == "undecodable"


# --------------------------------------------------------------------------- encode


def test_encoded_wav_is_16_bit_pcm_mono_16k_and_decodes_back() -> None:
    x = noise(1600)

    data = encode_audio(x)

    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.samplerate, info.channels, info.frames) == (
        "WAV",
        "PCM_16",
        16000,
        1,
        1600,
    )
    np.testing.assert_allclose(decode_audio(data).samples, x, atol=1 / 2**16)


def test_encoded_flac_is_16_bit() -> None:
    info = sf.info(io.BytesIO(encode_audio(noise(1600), format="flac")))

    assert (info.format, info.subtype) == ("FLAC", "PCM_16")


def test_encoding_samples_on_the_16_bit_grid_round_trips_exactly() -> None:
    x = np.arange(-32768, 32768, 7, dtype=np.float32) / 32768

    assert np.array_equal(decode_audio(encode_audio(x)).samples, x)


def test_encoding_clips_out_of_range_values_to_the_16_bit_range() -> None:
    x = np.array([1.5, -1.5, 1.0, -1.0, 0.0], np.float32)

    decoded = decode_audio(encode_audio(x)).samples

    assert decoded.tolist() == [32767 / 32768, -1.0, 32767 / 32768, -1.0, 0.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encoding_rejects_non_finite_samples(bad: float) -> None:
    x = noise(100)
    x[5] = bad

    with pytest.raises(AudioError) as err:
        encode_audio(x)
    assert err.value.kind == "non_finite"


def test_encoding_rejects_unknown_formats_and_integer_samples() -> None:
    with pytest.raises(ValueError):
        encode_audio(noise(100), format="mp3")
    with pytest.raises(TypeError):
        encode_audio(np.zeros(100, np.int16))
