"""frcrn.audio.files: reading and writing a file or URL, which files a spec names, loading clips."""

from __future__ import annotations

import os

import fsspec
import numpy as np
import pytest
import soundfile as sf

from frcrn.audio.codec import AudioError
from frcrn.audio.files import audio_files, load_clips, read_audio, write_audio

from .conftest import file_bytes, noise, sine

SR = 16000


# --------------------------------------------------------------------------- read / write


def test_write_then_read_a_local_path_creating_directories(tmp_path) -> None:
    x = noise(1600)
    path = tmp_path / "a" / "b" / "utt.wav"

    write_audio(str(path), x)

    assert os.listdir(path.parent) == ["utt.wav"]  # no temporary file left behind
    np.testing.assert_allclose(read_audio(str(path)).samples, x, atol=1 / 2**16)


def test_write_chooses_flac_from_the_extension(tmp_path) -> None:
    path = tmp_path / "utt.FLAC"

    write_audio(str(path), noise(1600))

    assert sf.info(str(path)).format == "FLAC"


def test_write_refuses_an_extension_it_cannot_encode(tmp_path) -> None:
    with pytest.raises(ValueError):
        write_audio(str(tmp_path / "utt.mp3"), noise(100))
    assert list(tmp_path.iterdir()) == []


def test_write_of_bad_samples_leaves_no_file(tmp_path) -> None:
    with pytest.raises(AudioError):
        write_audio(str(tmp_path / "utt.wav"), np.full(100, np.nan, np.float32))
    assert list(tmp_path.iterdir()) == []


def test_write_then_read_a_memory_url(mem_dir: str) -> None:
    x = noise(1600)
    url = f"{mem_dir}/utt.flac"

    write_audio(url, x)

    decoded = read_audio(url)
    assert decoded.source.format == "FLAC"
    np.testing.assert_allclose(decoded.samples, x, atol=1 / 2**16)


def test_read_resamples_and_limits_duration(mem_dir: str) -> None:
    url = f"{mem_dir}/utt.wav"
    fsspec.filesystem("memory").pipe(
        url.removeprefix("memory://"), file_bytes(sine(440, 48000, 48000), 48000)
    )

    assert len(read_audio(url).samples) == 16000
    with pytest.raises(AudioError) as err:
        read_audio(url, max_seconds=0.5)
    assert err.value.kind == "too_long"


@pytest.mark.parametrize("where", ["local", "memory"])
def test_read_refuses_files_larger_than_max_bytes_and_names_them(
    where: str, tmp_path, mem_dir: str
) -> None:
    url = str(tmp_path / "big.wav") if where == "local" else f"{mem_dir}/big.wav"
    write_audio(url, noise(16000))  # 32 044 bytes

    with pytest.raises(AudioError) as err:
        read_audio(url, max_bytes=10_000)
    assert err.value.kind == "too_large"
    assert url in str(err.value) and "32044 bytes" in str(err.value)
    assert len(read_audio(url, max_bytes=32_044).samples) == 16000


def test_read_errors_name_the_url(tmp_path) -> None:
    path = tmp_path / "photo.wav"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))

    with pytest.raises(AudioError) as err:
        read_audio(str(path))
    assert err.value.kind == "undecodable"
    assert str(err.value).startswith(f"{path}: not audio")


# --------------------------------------------------------------------------- which files a spec names


def test_load_clips_resamples_and_downmixes(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, np.full((8000, 2), 0.25, dtype=np.float32), 8000)
    (clip,) = load_clips([str(p)], SR)
    assert clip.dtype == np.float32 and abs(clip.size - 16000) <= 2
    assert float(np.median(clip)) == pytest.approx(0.25, abs=0.01)


def test_audio_files_understands_globs_folders_lists_and_single_files(tmp_path):
    for rel in ("a/1.wav", "a/2.flac", "a/deep/3.wav", "a/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "list.txt").write_text("# corpus\na/2.flac\n\n/abs/x.wav  # absolute kept\ns3://b/y.wav\n")
    assert audio_files(str(tmp_path / "a" / "*.wav")) == [str(tmp_path / "a" / "1.wav")]
    assert audio_files(str(tmp_path / "a" / "**" / "*.wav")) == [
        str(tmp_path / "a" / p) for p in ("1.wav", "deep/3.wav")]
    assert audio_files(str(tmp_path / "a")) == [str(tmp_path / "a" / p) for p in ("1.wav", "2.flac", "deep/3.wav")]
    assert audio_files(str(tmp_path / "list.txt")) == [str(tmp_path / "a" / "2.flac"), "/abs/x.wav", "s3://b/y.wav"]
    assert audio_files(str(tmp_path / "a" / "1.wav")) == [str(tmp_path / "a" / "1.wav")]
    with pytest.raises(FileNotFoundError, match="no audio files match"):
        audio_files(str(tmp_path / "a" / "*.ogg"))
