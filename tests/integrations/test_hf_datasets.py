"""Hugging Face datasets: an ``Audio`` column enhanced with ``map`` keeps its feature type
through ``save_to_disk`` and ``load_from_disk``, and holds what `frcrn enhance` writes.

torchcodec (datasets' audio decoder) is not installed here, so the Audio columns are given as
bytes (``Audio(decode=False)``), and a decoded ``Audio()`` column is only declared, never
decoded: ``enhance_dataset`` reads its stored bytes through the ``decode=False`` view."""

from __future__ import annotations

import io
import pickle

import datasets
import numpy as np
import soundfile as sf
from datasets import Audio, List, Value

from frcrn.integrations.hf_datasets import EnhanceAudioColumn, enhance_dataset

from .conftest import BROKEN, CONFIG, FILES, signal


def _audio_dataset(audio_folder, decode: bool = False):
    names = [*FILES, BROKEN]
    ds = datasets.Dataset.from_dict({
        "audio": [{"bytes": (audio_folder / n).read_bytes(), "path": f"/corpus/{n}"} for n in names],
        "text": [f"utterance {n}" for n in names],
    })
    return ds.cast_column("audio", Audio(decode=decode)), names


def _int16(value) -> tuple[np.ndarray, int]:
    data, rate = sf.read(io.BytesIO(value["bytes"]), dtype="int16")
    return data, rate


def test_an_audio_column_of_bytes_is_enhanced_saved_and_reloaded(audio_folder, tiny_checkpoint, cli_outputs,
                                                                  tmp_path):
    ds, names = _audio_dataset(audio_folder)
    out = enhance_dataset(ds, "audio", output_column="clean", checkpoint=tiny_checkpoint, config=CONFIG,
                          batch_size=3)
    assert out.features["clean"] == Audio(decode=False) and out.features["clean_error"] == Value("string")
    out.save_to_disk(str(tmp_path / "clean"))
    back = datasets.load_from_disk(str(tmp_path / "clean"))
    assert back.features == out.features and back["text"] == ds["text"]
    rows = dict(zip(names, back))
    broken = rows.pop(BROKEN)
    assert broken["clean"] is None and broken["clean_error"].startswith("undecodable: not audio")
    for name, row in rows.items():
        assert row["clean_error"] is None
        assert row["clean"]["path"] == name.rsplit(".", 1)[0] + ".wav"
        samples, rate = _int16(row["clean"])
        assert rate == 16000 and np.abs(samples.astype(np.int32) - cli_outputs[name]).max() <= 1, name
        assert row["audio"]["bytes"] == (audio_folder / name).read_bytes()  # the input column is kept


def test_a_plain_map_enhances_in_place_and_keeps_the_audio_type(audio_folder, tiny_checkpoint):
    ds, names = _audio_dataset(audio_folder)
    fn = EnhanceAudioColumn(tiny_checkpoint, CONFIG, column="audio", output_format="flac", output_rate="input")
    # features=: datasets types a column from the first batch, and an all-None error column there
    # would be typed null and refuse later errors
    out = ds.map(fn, batched=True, batch_size=2, features=fn.output_features(ds.features))
    assert out.features["audio"] == Audio(decode=False) and out.column_names == ["audio", "text", "audio_error"]
    assert out[names.index(BROKEN)]["audio_error"].startswith("undecodable:")
    first = out[0]
    samples, rate = _int16(first["audio"])
    assert first["audio"]["path"] == "a.flac" and rate == 16000 and samples.size == 16000
    b = out[names.index("b.flac")]["audio"]
    assert sf.info(io.BytesIO(b["bytes"])).samplerate == 22050  # back at the input's rate


def test_a_decoded_audio_column_keeps_its_feature_without_an_audio_decoder(audio_folder, tiny_checkpoint,
                                                                            cli_outputs, tmp_path):
    ds, names = _audio_dataset(audio_folder, decode=True)
    out = enhance_dataset(ds, "audio", checkpoint=tiny_checkpoint, config=CONFIG)
    assert out.features["audio"] == Audio()  # decoded Audio in, decoded Audio out
    out.save_to_disk(str(tmp_path / "decoded"))
    back = datasets.load_from_disk(str(tmp_path / "decoded"))
    assert back.features["audio"] == Audio()
    raw = back.cast_column("audio", Audio(decode=False))  # read the stored bytes (no torchcodec here)
    for name, row in zip(names, raw):
        if name == BROKEN:
            assert row["audio"] is None and row["audio_error"].startswith("undecodable:")
            continue
        assert np.abs(_int16(row["audio"])[0].astype(np.int32) - cli_outputs[name]).max() <= 1, name


def test_a_float_array_column_with_a_rate_column(tiny_checkpoint, reference, tmp_path):
    x16, x8 = signal(0.5, 16000, seed=7), signal(0.3, 8000, seed=8)
    ds = datasets.Dataset.from_dict({"samples": [x16, x8, np.zeros(0, np.float32)], "sr": [16000, 8000, 16000]})
    out = enhance_dataset(ds, "samples", output_column="clean", sample_rate_column="sr", output_rate="input",
                          checkpoint=tiny_checkpoint, config=CONFIG)
    assert out.features["clean"] == List(Value("float32")) and out.features["clean_sampling_rate"] == Value("int32")
    out.save_to_disk(str(tmp_path / "arrays"))
    rows = list(datasets.load_from_disk(str(tmp_path / "arrays")))
    assert np.abs(np.asarray(rows[0]["clean"], np.float32) - reference(x16)).max() <= 1e-5
    assert rows[1]["clean_sampling_rate"] == 8000 and len(rows[1]["clean"]) == x8.size
    assert rows[2]["clean"] is None and rows[2]["clean_error"] == "empty: no audio: the array is empty"


def test_pickling_sends_the_checkpoint_name_and_the_fingerprint_is_stable(tiny_checkpoint):
    from datasets.fingerprint import Hasher

    fn = EnhanceAudioColumn(tiny_checkpoint, CONFIG)
    state = pickle.dumps(fn)
    assert len(state) < 10_000  # no weights inside
    again = pickle.loads(state)
    assert again.enhancer is not fn.enhancer and again.checkpoint_sha256 == fn.checkpoint_sha256
    assert Hasher.hash(fn) == Hasher.hash(EnhanceAudioColumn(tiny_checkpoint, CONFIG))
    assert Hasher.hash(fn) != Hasher.hash(EnhanceAudioColumn(tiny_checkpoint, CONFIG, output_rate="input"))
