"""Kaldi data directories: ``wav.scp`` (required), ``segments``, ``text`` and ``utt2spk`` (optional).

``wav.scp`` lines are ``recording-id rxfilename``. A plain path is the entry; relative paths
resolve against the data dir itself (``__base``): there is no other folder a data dir knows of
(Kaldi itself resolves them against the recipe's working folder, so a recipe's relative paths
must be made absolute, or relative to the data dir, before the job reads them). Two
kinds of rxfilename are not files and are never opened: a command ending in ``|`` (a pipe,
``unsupported_pipe``: frcrn does not run commands from a manifest) and an archive offset
``foo.ark:1234`` or stdin ``-`` (``unsupported_source``).

With ``segments`` (``utterance-id recording-id start end``, end -1 meaning to the end of the
recording): one row per segment, then a whole-recording row for each recording no segment names
(as for lhotse: nothing the data dir lists is dropped). Without it (or with an empty one, as
``lhotse.kaldi.export_to_kaldi`` writes when there are no supervisions): one whole row per
``wav.scp`` line, its utterance id being the recording id. ``__line`` is the row's line in
``segments`` or ``wav.scp``.

Carried: ``utt_id``, ``recording_id``, ``text`` (from ``text``) and ``speaker`` (from ``utt2spk``),
None where the file or the line is absent.
"""

from __future__ import annotations

import math
import posixpath
import re
from typing import Any, NamedTuple

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
from .text import TextLine, display, text_lines

__all__ = ["WAV_SCP", "data_dir_of", "read_kaldi"]

WAV_SCP = "wav.scp"
_ARCHIVE = re.compile(r"\.ark:\d+(\[[^\]]*\])?$|:\d+$")


class _Recording(NamedTuple):
    """One wav.scp line: its number, recording id, entry (None if unusable) and why it is unusable."""

    line: int
    rid: str | None
    entry: str | None
    error_type: str = ""
    error: str = ""


def data_dir_of(fs: Any, path: str) -> str:
    """The data dir a path names: the dir itself, or the folder of its ``wav.scp``."""
    path = path.rstrip("/")
    return posixpath.dirname(path) if posixpath.basename(path) == WAV_SCP and not fs.isdir(path) else path


def read_kaldi(fs: Any, path: str) -> ManifestRead:
    """The rows of the Kaldi data dir at ``path`` (or of the data dir whose ``wav.scp`` it is)."""
    data_dir = data_dir_of(fs, path)
    source = display(fs, data_dir)
    wav_scp = posixpath.join(data_dir, WAV_SCP)
    if not fs.exists(wav_scp):
        raise ManifestFormatError(f"{source}: declared kaldi, but there is no {WAV_SCP} in it")
    scp = _read_wav_scp(fs, wav_scp)
    if not scp:
        raise ManifestFormatError(f"{display(fs, wav_scp)} lists no recordings")
    by_id = {rec.rid: rec for rec in scp if rec.rid is not None}  # repeated ids are malformed lines
    texts = _table(fs, posixpath.join(data_dir, "text"))
    speakers = _table(fs, posixpath.join(data_dir, "utt2spk"))
    segments = _optional_lines(fs, posixpath.join(data_dir, "segments"))
    seg_source = display(fs, posixpath.join(data_dir, "segments"))
    rows = [_segment_row(line, by_id, data_dir, seg_source, texts, speakers) for line in segments]
    named = {r["recording_id"] for r in rows}
    rows += [_whole_row(rec, data_dir, texts, speakers) for rec in scp if rec.rid is None or rec.rid not in named]
    found = [WAV_SCP] + [n for n, f in (("segments", segments), ("text", texts), ("utt2spk", speakers)) if f]
    return ManifestRead("kaldi", rows_frame(rows), source, "Kaldi data dir: " + " + ".join(found))


def _read_wav_scp(fs: Any, path: str) -> list[_Recording]:
    """One record per non-blank wav.scp line (bad lines and repeated ids as malformed ones)."""
    source = display(fs, path)
    first: dict[str, int] = {}
    scp = []
    for line in text_lines(fs, path, source):
        at = f"line {line.number} of {source}"
        fields = line.text.strip().split(maxsplit=1) if line.text is not None else None
        if fields == []:
            continue
        if fields is None or len(fields) < 2:
            problem = line.error or f"{at}: expected 'recording-id path', got {line.text!r}"
            scp.append(_Recording(line.number, None, None, MALFORMED_LINE, problem))
        elif fields[0] in first:
            scp.append(_Recording(line.number, None, None, MALFORMED_LINE,
                                  f"{at}: recording id {fields[0]!r} again (first on line {first[fields[0]]})"))
        else:
            first[fields[0]] = line.number
            scp.append(_rxfilename(line.number, fields[0], fields[1].strip(), at))
    return scp


def _rxfilename(number: int, rid: str, spec: str, at: str) -> _Recording:
    """What a wav.scp rxfilename is: a file, or a pipe / archive / stdin frcrn does not open."""
    if spec.endswith("|"):
        return _Recording(number, rid, None, UNSUPPORTED_PIPE, (
            f"{at}: {spec!r} is a command (a Kaldi pipe); frcrn does not run commands from a manifest: convert the "
            "audio to files first (e.g. with sox or ffmpeg) and list them"))
    if spec == "-" or _ARCHIVE.search(spec):
        return _Recording(number, rid, None, UNSUPPORTED_SOURCE, (
            f"{at}: {spec!r} is an offset into a Kaldi archive or stdin, not an audio file; extract the audio to "
            "files first (e.g. with wav-copy) and list them"))
    return _Recording(number, rid, spec)


def _segment_row(line: TextLine, by_id: dict[str, _Recording], data_dir: str, source: str,
                 texts: dict[str, str], speakers: dict[str, str]) -> dict[str, Any]:
    """One segments line: its part of the recording, or why it has none."""
    at = f"line {line.number} of {source}"
    fields = (line.text or "").split()
    if line.text is None or len(fields) != 4:
        problem = line.error or f"{at}: expected 'utterance-id recording-id start end', got {line.text!r}"
        return error_row(data_dir, line.number, MALFORMED_LINE, problem, carried=_carried(None, None, {}, {}))
    utt, rid, start, end = fields
    carried = _carried(utt, rid, texts, speakers)
    problem = _times_problem(start, end) or ("" if rid in by_id else f"recording id {rid!r} is not in {WAV_SCP}")
    if problem:
        return error_row(data_dir, line.number, MALFORMED_LINE, f"{at}: {problem}", carried=carried)
    rec = by_id[rid]
    if rec.error_type:
        return error_row(data_dir, line.number, rec.error_type, f"{at}: recording {rid!r}: {rec.error}",
                         carried=carried)
    start_s, end_s = float(start), float(end)
    return row(entry=rec.entry, base=data_dir, line=line.number, offset=start_s,
               duration=float("nan") if end_s == -1 else end_s - start_s, carried=carried)


def _whole_row(rec: _Recording, data_dir: str, texts: dict[str, str], speakers: dict[str, str]) -> dict[str, Any]:
    """A wav.scp line as a whole-recording row (its utterance id is the recording id)."""
    carried = _carried(rec.rid, rec.rid, texts, speakers)
    if rec.error_type:
        return error_row(data_dir, rec.line, rec.error_type, rec.error, carried=carried)
    return row(entry=rec.entry, base=data_dir, line=rec.line, carried=carried)


def _times_problem(start: str, end: str) -> str:
    try:
        start_s, end_s = float(start), float(end)
    except ValueError:
        return f"start {start!r} and end {end!r} must be numbers of seconds"
    if not (start_s >= 0 and math.isfinite(start_s)):
        return f"start {start!r} is not a number of seconds >= 0"
    if not (end_s == -1 or (end_s > start_s and math.isfinite(end_s))):
        return f"end {end!r} is not after start {start!r} (nor -1, to the end)"
    return ""


def _carried(utt: str | None, rid: str | None, texts: dict[str, str], speakers: dict[str, str]) -> dict[str, Any]:
    return {"utt_id": utt, "recording_id": rid, "text": texts.get(utt or ""), "speaker": speakers.get(utt or "")}


def _optional_lines(fs: Any, path: str) -> list[TextLine]:
    """The non-blank lines of an optional file; [] when it is absent or empty."""
    if not fs.exists(path):
        return []
    return [line for line in text_lines(fs, path, display(fs, path)) if line.text is None or line.text.strip()]


def _table(fs: Any, path: str) -> dict[str, str]:
    """An optional ``key rest-of-line`` file (text, utt2spk) as a dict; unreadable lines are left out."""
    table = {}
    for line in _optional_lines(fs, path):
        if line.text is not None:
            key, *rest = line.text.strip().split(maxsplit=1)
            table.setdefault(key, rest[0] if rest else "")
    return table
