"""lhotse manifests (JSON lines, usually ``.jsonl.gz``), parsed from lhotse's documented schema
without importing lhotse.

Three kinds of file, told apart by their lines' keys:

* recordings ``{id, sources: [{type, channels, source}], sampling_rate, num_samples, duration}``
* supervisions ``{id, recording_id, start, duration, channel, text, speaker, language, gender, custom}``
* cuts ``{id, start, duration, channel, supervisions: [...], recording: {...}, type: "MonoCut"}``

Supervisions only have times; their audio is in the recordings manifest beside them (same file
name with ``supervisions`` for ``recordings``, found from either one). With both: one row per
supervision (its segment of the recording), then one whole-recording row for each recording no
supervision names; with recordings only: one whole row per recording; cuts: one row per cut (its
segment; text = its supervisions' texts joined by a space, speaker / language / gender of the
first). ``__line`` is the row's line in the file it came from; relative ``file`` sources resolve
against the recordings manifest's folder (``__base``).

Audio sources: ``file`` and ``url`` are entries; ``command`` is never run (``unsupported_pipe``);
``memory``, ``shar`` and others, several sources (one file per channel), and transforms other
than resampling (speed/volume/reverb change the audio the times refer to) are ``unsupported_source``.

Carried, under fixed names so a writer can map back: ``recording_id``, ``supervision_id`` (cuts:
``cut_id``), ``text``, ``speaker``, ``language``, ``gender``, ``channel`` (an int; a list as JSON
text), ``custom`` (JSON text, or None) and ``sampling_rate``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from ..rows import (
    MALFORMED_LINE,
    UNSUPPORTED_PIPE,
    UNSUPPORTED_SOURCE,
    ManifestFormatError,
    ManifestRead,
    error_row,
    row,
    rows_frame,
)
from .text import JsonRecord, display, folder, json_records, keys_found, non_negative

__all__ = ["CUT", "RECORDING", "SUPERVISION", "read_lhotse", "record_kind"]

RECORDING, SUPERVISION, CUT = "recording", "supervision", "cut"
_PLURAL = {RECORDING: "recordings", SUPERVISION: "supervisions"}
_HARMLESS_TRANSFORMS = {"Resample"}  # the job resamples anyway; times are unchanged


def record_kind(record: dict[str, Any]) -> str | None:
    """Which lhotse manifest a line belongs to, or None if it looks like none of them."""
    if str(record.get("type", "")).endswith("Cut") or isinstance(record.get("recording"), dict):
        return CUT
    if "sources" in record and "sampling_rate" in record:
        return RECORDING
    if "recording_id" in record and "start" in record:
        return SUPERVISION
    return None


def read_lhotse(fs: Any, path: str) -> ManifestRead:
    """The rows of the lhotse manifest at ``path`` (with its sibling, see the module doc)."""
    source = display(fs, path)
    records = list(json_records(fs, path, source))
    kind = next((k for r in records if r.value is not None and (k := record_kind(r.value))), None)
    if kind is None:
        raise ManifestFormatError(f"{source}: declared lhotse, but none of its {len(records)} lines is a lhotse "
                                  f"recording, supervision or cut; keys found: {keys_found(records)}")
    if kind == CUT:
        return ManifestRead("lhotse", rows_frame(_cut_rows(records, folder(path), source)), source, "lhotse cuts")
    other = _sibling(fs, path, kind)
    if kind == SUPERVISION and other is None:
        raise ManifestFormatError(f"{source} is a lhotse supervisions manifest: its audio is in the recordings "
                                  f"manifest beside it, but {_sibling_name(path, kind) or 'none'} does not exist")
    if other is None:
        rows = _recording_rows(records, set(), folder(path), source)
        return ManifestRead("lhotse", rows_frame(rows), source, "lhotse recordings")
    recs_path, sups_path = (path, other) if kind == RECORDING else (other, path)
    recs = records if kind == RECORDING else list(json_records(fs, recs_path, display(fs, recs_path)))
    sups = records if kind == SUPERVISION else list(json_records(fs, sups_path, display(fs, sups_path)))
    rows = _paired_rows(recs, sups, folder(recs_path), display(fs, recs_path), display(fs, sups_path))
    return ManifestRead("lhotse", rows_frame(rows), source, "lhotse supervisions + recordings")


def _sibling_name(path: str, kind: str) -> str | None:
    """The path of the other half (recordings <-> supervisions), or None if the name does not say."""
    name = posixpath.basename(path)
    mine = _PLURAL[kind]
    theirs = _PLURAL[SUPERVISION if kind == RECORDING else RECORDING]
    at = name.rfind(mine)
    if at < 0:
        return None
    return posixpath.join(posixpath.dirname(path), name[:at] + theirs + name[at + len(mine):])


def _sibling(fs: Any, path: str, kind: str) -> str | None:
    other = _sibling_name(path, kind)
    return other if other is not None and fs.exists(other) else None


# --------------------------------------------------------------------------- rows


def _paired_rows(recs: list[JsonRecord], sups: list[JsonRecord], base: str, rec_source: str,
                 sup_source: str) -> list[dict[str, Any]]:
    """One row per supervision, then the recordings no supervision names (and bad recording lines)."""
    by_id, _ = _index_recordings(recs, base, rec_source)
    named: set[str] = set()
    rows = []
    for sup in sups:
        at = f"line {sup.number} of {sup_source}"
        rid = sup.value.get("recording_id") if sup.value is not None else None
        found = by_id.get(rid) if isinstance(rid, str) else None
        if found is not None:
            named.add(rid)
        rows.append(_supervision_row(sup, found, base, at, rec_source))
    return rows + _recording_rows(recs, named, base, rec_source)


def _index_recordings(recs: list[JsonRecord], base: str,
                      source: str) -> tuple[dict[str, JsonRecord], dict[int, dict[str, Any]]]:
    """Recordings by id, and the error row of every recording line that cannot be used as one."""
    by_id: dict[str, JsonRecord] = {}
    errors: dict[int, dict[str, Any]] = {}
    for rec in recs:
        at = f"line {rec.number} of {source}"
        value = rec.value
        if value is None:
            errors[rec.number] = error_row(base, rec.number, MALFORMED_LINE, rec.error)
        elif record_kind(value) != RECORDING or not isinstance(value.get("id"), str):
            errors[rec.number] = error_row(base, rec.number, MALFORMED_LINE, f"{at}: not a lhotse recording "
                                           f"(needs 'id', 'sources', 'sampling_rate'; has {', '.join(value)})")
        elif value["id"] in by_id:
            errors[rec.number] = error_row(base, rec.number, MALFORMED_LINE, f"{at}: recording id {value['id']!r} "
                                           f"again (first on line {by_id[value['id']].number})")
        else:
            by_id[value["id"]] = rec
    return by_id, errors


def _recording_rows(recs: list[JsonRecord], named: set[str], base: str, source: str) -> list[dict[str, Any]]:
    """A whole-recording row per recording not in ``named``, error rows in place of bad lines."""
    by_id, errors = _index_recordings(recs, base, source)
    listed = {r.number for r in by_id.values()}
    rows = []
    for rec in recs:
        if rec.number in errors:
            rows.append(errors[rec.number])
        elif rec.number in listed and rec.value["id"] not in named:
            carried = _carried(rec.value, None, None)
            rows.append(_audio_row(rec.value, base, rec.number, f"line {rec.number} of {source}", carried))
    return rows


def _supervision_row(sup: JsonRecord, rec: JsonRecord | None, base: str, at: str,
                     rec_source: str) -> dict[str, Any]:
    if sup.value is None:
        return error_row(base, sup.number, MALFORMED_LINE, sup.error)
    value = sup.value
    carried = _carried(rec.value if rec else {}, value, value.get("id"), id_key="supervision_id")
    carried["recording_id"] = value.get("recording_id")
    problem = _times_problem(value) if record_kind(value) == SUPERVISION else (
        f"not a lhotse supervision (needs 'recording_id', 'start', 'duration'; has {', '.join(value)})")
    if not problem and rec is None:
        problem = f"recording_id {value.get('recording_id')!r} is not in {rec_source}"
    if problem:
        return error_row(base, sup.number, MALFORMED_LINE, f"{at}: {problem}", carried=carried)
    return _audio_row(rec.value, base, sup.number, at, carried, value["start"], value["duration"])


def _cut_rows(records: list[JsonRecord], base: str, source: str) -> list[dict[str, Any]]:
    rows = []
    for cut in records:
        at = f"line {cut.number} of {source}"
        if cut.value is None:
            rows.append(error_row(base, cut.number, MALFORMED_LINE, cut.error))
            continue
        value = cut.value
        sups = [s for s in value.get("supervisions") or [] if isinstance(s, dict)]
        recording = value.get("recording")
        carried = _carried(recording if isinstance(recording, dict) else {}, sups[0] if sups else None,
                           value.get("id"), id_key="cut_id")
        carried.update(text=_joined_text(sups), custom=_json_text(value.get("custom")))
        carried["channel"] = _channel(value.get("channel"))
        error_type, problem = _cut_problem(value)
        if problem:
            rows.append(error_row(base, cut.number, error_type, f"{at}: {problem}", carried=carried))
        else:
            rows.append(_audio_row(recording, base, cut.number, at, carried, value["start"], value["duration"]))
    return rows


def _cut_problem(value: dict[str, Any]) -> tuple[str, str]:
    """(error type, message) of a cut line that cannot be used, or ("", "")."""
    if record_kind(value) != CUT:
        return MALFORMED_LINE, f"not a lhotse cut (needs 'recording', 'start', 'duration'; has {', '.join(value)})"
    if not isinstance(value.get("recording"), dict):
        return UNSUPPORTED_SOURCE, (f"lhotse {value.get('type')} has no single recording (it mixes or pads "
                                    "tracks); frcrn reads one recording per cut: list MonoCuts, or save the "
                                    "mixed audio to files first")
    problem = _times_problem(value)
    return (MALFORMED_LINE if problem else ""), problem


def _times_problem(value: dict[str, Any]) -> str:
    for key in ("start", "duration"):
        if non_negative(value.get(key)) is None:
            return f"{key} {value.get(key)!r} is not a number of seconds >= 0"
    return ""


# --------------------------------------------------------------------------- audio and fields


def _audio_row(recording: dict[str, Any], base: str, line: int, at: str, carried: dict[str, Any],
               start: float | None = None, duration: float | None = None) -> dict[str, Any]:
    """The row for (a segment of) ``recording``, or why its audio cannot be read."""
    entry, error_type, problem = _audio(recording)
    if error_type:
        return error_row(base, line, error_type, f"{at}: {problem}", carried=carried)
    if start is None:
        return row(entry=entry, base=base, line=line, carried=carried)
    return row(entry=entry, base=base, line=line, offset=float(start), duration=float(duration), carried=carried)


def _audio(recording: dict[str, Any]) -> tuple[str | None, str, str]:
    """(entry, "", "") for a readable recording, else (None, error type, message)."""
    rid = recording.get("id")
    sources = recording.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, dict) for s in sources):
        return None, MALFORMED_LINE, f"recording {rid!r} has no audio sources"
    if len(sources) > 1:
        return None, UNSUPPORTED_SOURCE, (f"recording {rid!r} has {len(sources)} audio sources (one file per "
                                          "channel); frcrn reads one file per recording: combine the channels "
                                          "into one file first")
    transforms = [t.get("name") for t in recording.get("transforms") or [] if isinstance(t, dict)]
    if set(transforms) - _HARMLESS_TRANSFORMS:
        return None, UNSUPPORTED_SOURCE, (f"recording {rid!r} has lhotse transforms ({', '.join(map(str, transforms))})"
                                          " that change its audio; frcrn reads the file as stored: save the "
                                          "transformed audio to files first")
    kind, value = sources[0].get("type"), sources[0].get("source")
    if kind in ("file", "url") and isinstance(value, str) and value:
        return value, "", ""
    if kind == "command":
        return None, UNSUPPORTED_PIPE, (f"recording {rid!r}: lhotse command sources are not run; convert the "
                                        "audio to files and list those")
    return None, UNSUPPORTED_SOURCE, (f"recording {rid!r}: lhotse {kind!r} audio sources are not read; save the "
                                      "audio to files and list those")


def _carried(recording: dict[str, Any], sup: dict[str, Any] | None, row_id: Any,
             id_key: str = "supervision_id") -> dict[str, Any]:
    """The fixed carried fields of one row (see the module doc)."""
    sup = sup or {}
    return {
        "recording_id": recording.get("id"), id_key: row_id if sup or id_key == "cut_id" else None,
        "text": sup.get("text"), "speaker": sup.get("speaker"), "language": sup.get("language"),
        "gender": sup.get("gender"), "channel": _channel(sup.get("channel")),
        "custom": _json_text(sup.get("custom")), "sampling_rate": recording.get("sampling_rate"),
    }


def _joined_text(sups: list[dict[str, Any]]) -> str | None:
    texts = [s["text"] for s in sups if isinstance(s.get("text"), str) and s["text"]]
    return " ".join(texts) if texts else None


def _channel(value: Any) -> Any:
    return value if value is None or isinstance(value, int) else json.dumps(value)


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
