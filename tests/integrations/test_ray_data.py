"""Ray Data: ``EnhanceAudio`` on an actor pool and ``enhance_dataset``'s three stages, on the
session's real local Ray, give what `frcrn enhance` gives on the same files: the float output
within 1e-5 of ``Enhancer`` on the decoded input (the CLI's float path) and, written as 16-bit
PCM by the project's codec, the CLI's files; a broken item is an error value, the others succeed.
The batch formats and column options run in-process (no actor: milliseconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import soundfile as sf

from frcrn.audio import decode_audio
from frcrn.integrations.ray_data import EnhanceAudio, enhance_dataset

from .conftest import BROKEN, CONFIG, FILES, encoded, pcm16, signal


@pytest.fixture(autouse=True)
def _quiet_ray_data(ray_local):
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False


def _check_against_cli(name, out, data, reference, cli_outputs):
    expected = reference(data)
    got = np.asarray(out, dtype=np.float32)
    assert got.shape == expected.shape, name
    assert np.abs(got - expected).max() <= 1e-5, name
    assert np.abs(pcm16(got).astype(np.int32) - cli_outputs[name]).max() <= 1, name  # int16 vs the CLI's file


def test_from_items_of_arrays_on_an_actor_pool_equals_frcrn_enhance(audio_folder, tiny_checkpoint, reference,
                                                                     cli_outputs):
    import ray
    from ray.data import ActorPoolStrategy

    items = []
    for name in FILES:
        samples, rate = sf.read(audio_folder / name, dtype="float32")  # what the codec reads before resampling
        items.append({"name": name, "audio": samples, "sr": rate})
    ds = ray.data.from_items(items).map_batches(
        EnhanceAudio, fn_constructor_kwargs=dict(checkpoint=tiny_checkpoint, config=CONFIG, audio_column="audio",
                                                 sample_rate_column="sr", output_column="clean"),
        batch_size=len(items), batch_format="numpy", compute=ActorPoolStrategy(size=1), num_cpus=1)
    rows = {r["name"]: r for r in ds.take_all()}
    assert sorted(rows) == sorted(FILES)
    for name, row in rows.items():
        assert row["clean_error"] is None and row["clean_sampling_rate"] == 16000
        _check_against_cli(name, row["clean"], (audio_folder / name).read_bytes(), reference, cli_outputs)


def test_read_binary_files_through_the_three_stages_with_a_broken_file(audio_folder, tiny_checkpoint, reference,
                                                                         cli_outputs):
    import ray

    ds = ray.data.read_binary_files(str(audio_folder), include_paths=True)
    ds = enhance_dataset(ds, audio_column="bytes", checkpoint=tiny_checkpoint, config=CONFIG, keep_audio=False,
                         rows_per_model_batch=4, rows_per_task=2, task_cpus=0.5)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in ds.take_all()}
    assert sorted(rows) == sorted([*FILES, BROKEN])
    assert set(next(iter(rows.values()))) == {"path", "enhanced", "enhanced_sampling_rate", "enhanced_error"}
    broken = rows.pop(BROKEN)
    assert broken["enhanced"] is None and broken["enhanced_sampling_rate"] is None
    assert broken["enhanced_error"].startswith("undecodable: not audio"), broken["enhanced_error"]
    for name, row in rows.items():
        assert row["enhanced_error"] is None, row["enhanced_error"]
        _check_against_cli(name, row["enhanced"], (audio_folder / name).read_bytes(), reference, cli_outputs)


@pytest.fixture(scope="module")
def stage(tiny_checkpoint):
    def make(**kwargs):
        return EnhanceAudio(tiny_checkpoint, CONFIG, **kwargs)

    return make


def test_every_batch_format_and_the_output_options(stage, reference):
    x22, x8 = signal(0.6, 22050, seed=3), signal(0.4, 8000, seed=4)
    data22 = encoded(x22, 22050)
    numpy_batch = {"audio": np.array([data22, b"not audio", encoded(x8, 8000, "FLAC")], dtype=object),
                   "id": np.arange(3)}
    table = stage(audio_column="audio", output_rate="input", output_format="flac")(numpy_batch)
    assert table.column_names == ["audio", "id", "enhanced", "enhanced_sampling_rate", "enhanced_error"]
    assert table.column("enhanced").type == pa.large_binary()
    rows = table.to_pylist()
    assert [r["enhanced_sampling_rate"] for r in rows] == [22050, None, 8000]
    assert rows[1]["enhanced"] is None and rows[1]["enhanced_error"].startswith("undecodable:")
    out22 = decode_audio(rows[0]["enhanced"], target_rate=22050)
    assert out22.source.sample_rate == 22050 and out22.source.format == "FLAC" and out22.samples.size == x22.size

    # pandas, float arrays at a fixed rate, in place, the input column dropped when it is replaced
    x16 = signal(0.5, 16000, seed=5)
    frame = pd.DataFrame({"audio": [x16, np.zeros((2, 2), np.float32)]})
    table = stage(audio_column="audio", output_column="audio", sample_rate=16000)(frame)
    assert table.column_names == ["audio", "audio_sampling_rate", "audio_error"]
    assert table.column("audio").type == pa.large_list(pa.float32())
    first, second = table.to_pylist()
    assert np.abs(np.asarray(first["audio"]) - reference(x16)).max() <= 1e-5
    assert second["audio"] is None and second["audio_error"].startswith("invalid_input: expected a 1-D mono array")

    # pyarrow, with an error set by an earlier stage: that row is passed through untouched
    arrow = pa.table({"bytes": [data22, data22], "enhanced_error": [None, "read_error: gone"]})
    rows = stage(audio_column="bytes", keep_audio=False)(arrow).to_pylist()
    assert list(rows[0]) == ["enhanced", "enhanced_sampling_rate", "enhanced_error"]
    assert np.abs(np.asarray(rows[0]["enhanced"]) - reference(data22)).max() <= 1e-5
    assert rows[1] == {"enhanced": None, "enhanced_sampling_rate": None, "enhanced_error": "read_error: gone"}


def test_settings_are_checked_when_the_stage_is_made(stage):
    with pytest.raises(ValueError, match="output_format"):
        stage(output_format="mp3")
    with pytest.raises(ValueError, match="output_rate"):
        stage(output_rate=1)
    with pytest.raises(ValueError, match="not both"):
        stage(sample_rate_column="sr", sample_rate=16000)
    with pytest.raises(KeyError, match="no column 'audio'"):
        stage()(pa.table({"bytes": [b""]}))
