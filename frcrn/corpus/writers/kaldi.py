"""Kaldi: a data directory (``wav.scp``, ``segments``, ``text``, ``utt2spk``, ``spk2utt``, ``reco2dur``).

Kaldi has two layouts, and the export picks the one the rows need:

* with ``segments`` (any row is a segment, any row's utterance id differs from its recording
  id, or any row has no transcript): ``wav.scp`` maps each recording id to its file (the
  output, or a selection's original), ``segments`` maps each utterance to ``<recording> <start>
  <end>`` in seconds (a whole-file row: 0 to the recording's duration);
* without (every row is a whole file whose utterance id is its recording id, Kaldi's own
  convention for that case, and has a transcript): ``wav.scp`` is keyed by that id. A
  ``segments`` file an earlier export left in the folder is removed, as it would describe
  other utterances.

``text`` holds every utterance's transcript with whitespace runs (newlines included) made one
space; an utterance without one has an empty transcript (a line with the id alone). Kaldi reads
those in either layout, lhotse's importer only in the segments layout, hence the third reason
for it above. ``utt2spk`` names the speaker, or the
utterance itself when the speaker is unknown (Kaldi's convention: one speaker per utterance);
``spk2utt`` is its inverse (what ``utils/utt2spk_to_spk2utt.pl`` makes); ``reco2dur`` gives each
recording's duration so no tool has to read the audio to learn it.

Every file is sorted by its key in byte order (``LC_ALL=C sort``). Ids never contain whitespace
(``fields`` sanitises them: each run of whitespace becomes ``_``). Utterance ids are not prefixed
with speaker ids; Kaldi recipes that need utterances sorted by speaker too (e.g.
``utils/validate_data_dir.sh`` when speakers are known) want ``utils/fix_data_dir.sh`` first.
Times are written with up to 6 decimals (microseconds: finer than one sample at 48 kHz is not
needed, coarser would move segment edges).
"""

from __future__ import annotations

from collections.abc import Iterable

from .files import Destination
from .rows import ExportRows

__all__ = ["FILES", "write"]

FILES = ("wav.scp", "segments", "text", "utt2spk", "spk2utt", "reco2dur")


def seconds(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _lines(pairs: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{key} {value}".rstrip() + "\n" for key, value in sorted(pairs)).encode("utf-8")


def write(rows: ExportRows, dest: Destination) -> None:
    items = list(rows)
    with_segments = rows.any_segment or any(r.utterance_id != r.recording_id or not (r.text or "").strip()
                                            for r in items)
    durations = {rec.id: rec.duration for rec in rows.recordings.values()}
    if with_segments:
        dest.write("wav.scp", _lines((rec.id, rec.uri) for rec in rows.recordings.values()))
        dest.write("segments", _lines((r.utterance_id, f"{r.recording_id} {seconds(r.start)} "
                                       f"{seconds(r.start + r.duration)}") for r in items))
    else:
        dest.write("wav.scp", _lines((r.utterance_id, r.audio_uri) for r in items))
        dest.remove_stale("segments", keep=set())
    dest.write("text", _lines((r.utterance_id, " ".join((r.text or "").split())) for r in items))
    speakers = {r.utterance_id: r.speaker or r.utterance_id for r in items}
    dest.write("utt2spk", _lines(speakers.items()))
    by_speaker: dict[str, list[str]] = {}
    for utt in sorted(speakers):
        by_speaker.setdefault(speakers[utt], []).append(utt)
    dest.write("spk2utt", _lines((spk, " ".join(utts)) for spk, utts in by_speaker.items()))
    dest.write("reco2dur", _lines((rid, seconds(d)) for rid, d in durations.items()))
