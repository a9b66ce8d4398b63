"""lhotse: a CutSet round-trips through ``enhance_cuts``: the enhanced recordings are written,
load with lhotse and hold the enhancer's output; cuts keep their ids, times and supervisions;
the manifest saves and loads; a recording that cannot be read is reported, or skipped."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from frcrn.audio import resample
from frcrn.integrations.lhotse import EnhanceFailures, enhance_cuts, enhance_recordings

from .conftest import CONFIG, signal


@pytest.fixture
def corpus(tmp_path):
    """rec-a: 16 kHz mono 1.5 s; rec/b: 22.05 kHz stereo 1.0 s (an id with a slash); supervisions on both."""
    a, b = tmp_path / "a.wav", tmp_path / "b.flac"
    sf.write(a, signal(1.5, 16000, seed=1), 16000, subtype="PCM_16")
    sf.write(b, np.stack([signal(1.0, 22050, seed=2), 0.5 * signal(1.0, 22050, seed=3)], 1), 22050,
             format="FLAC", subtype="PCM_16")
    recordings = RecordingSet.from_recordings([Recording.from_file(a, recording_id="rec-a"),
                                               Recording.from_file(b, recording_id="rec/b")])
    supervisions = SupervisionSet.from_segments([
        SupervisionSegment("sup-1", "rec-a", start=0.1, duration=0.8, channel=0, text="hello", speaker="s1"),
        SupervisionSegment("sup-2", "rec-a", start=0.9, duration=0.5, channel=0, text="world", speaker="s2"),
        SupervisionSegment("sup-3", "rec/b", start=0.0, duration=1.0, channel=[0, 1], text="stereo"),
    ])
    return recordings, supervisions


def test_a_cutset_round_trips_with_enhanced_recordings(corpus, tiny_checkpoint, reference, tmp_path):
    recordings, supervisions = corpus
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts = CutSet.from_cuts([*cuts, cuts[0].truncate(offset=0.2, duration=0.6)])  # two cuts share rec-a
    clean = enhance_cuts(cuts, str(tmp_path / "clean"), checkpoint=tiny_checkpoint, config=CONFIG,
                         recordings_per_batch=2)
    clean.to_file(tmp_path / "cuts.jsonl.gz")
    back = CutSet.from_file(tmp_path / "cuts.jsonl.gz")
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == ["rec%2Fb.wav", "rec-a.wav"]
    for before, after in zip(cuts, back):
        assert (after.id, after.start, after.duration, after.channel) == (before.id, before.start, before.duration,
                                                                           before.channel)
        assert after.supervisions == before.supervisions
        assert after.recording.sampling_rate == 16000 and after.recording.channel_ids == before.recording.channel_ids
        assert after.recording.sources[0].source == str(tmp_path / "clean" / (after.recording.id.replace("/", "%2F")
                                                                               + ".wav"))
        assert after.load_audio().shape[-1] == after.num_samples
    enhanced = {c.recording.id: c.recording for c in back}
    for rec in recordings:
        got = np.atleast_2d(enhanced[rec.id].load_audio())
        noisy = np.atleast_2d(rec.load_audio())
        assert got.shape == (noisy.shape[0], round(noisy.shape[1] * 16000 / rec.sampling_rate))
        for channel, x in zip(got, noisy):  # each channel enhanced on its own, written as 16-bit PCM
            expected = reference(resample(x, rec.sampling_rate, 16000))
            assert np.abs(channel - np.clip(expected, -1, 32767 / 32768)).max() <= 1 / 32768 + 1e-6


def test_recordings_back_at_their_own_rate(corpus, tiny_checkpoint, tmp_path):
    recordings, _ = corpus
    clean = enhance_recordings(recordings, str(tmp_path / "clean"), checkpoint=tiny_checkpoint, config=CONFIG,
                               output_rate="input", output_format="flac")
    assert isinstance(clean, RecordingSet) and [r.id for r in clean] == [r.id for r in recordings]
    for before, after in zip(recordings, clean):
        assert after.sampling_rate == before.sampling_rate and after.num_samples == before.num_samples
        assert after.sources[0].source.endswith(".flac") and after.load_audio().shape == before.load_audio().shape


def test_an_unreadable_recording_is_reported_or_skipped(corpus, tiny_checkpoint, tmp_path):
    recordings, supervisions = corpus
    gone = Recording.from_file(tmp_path / "a.wav", recording_id="rec-gone")
    gone.sources[0].source = str(tmp_path / "missing.wav")
    recordings = RecordingSet.from_recordings([*recordings, gone])
    with pytest.raises(EnhanceFailures) as info:
        enhance_recordings(recordings, str(tmp_path / "out"), checkpoint=tiny_checkpoint, config=CONFIG)
    assert list(info.value.failures) == ["rec-gone"] and "read_error" in info.value.failures["rec-gone"]
    assert "2 were written" in str(info.value)
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    clean = enhance_cuts(cuts, str(tmp_path / "out"), checkpoint=tiny_checkpoint, config=CONFIG, on_error="skip")
    assert sorted(c.recording.id for c in clean) == ["rec-a", "rec/b"]
