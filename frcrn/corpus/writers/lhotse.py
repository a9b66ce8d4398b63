"""lhotse: ``recordings.jsonl.gz`` and ``supervisions.jsonl.gz`` in lhotse's manifest schema.

One ``Recording`` per distinct exported file (the output, or a selection's original):
``{"id", "sources": [{"type", "channels": [0], "source"}], "sampling_rate", "num_samples",
"duration", "channel_ids": [0]}`` (the job writes mono files; an original with C channels lists
``0..C-1`` in both, and its supervisions name every channel). A local file is a ``"file"``
source holding its path; any other URI (``s3://``, ``gs://``, ``https://``) is a ``"url"``
source, which lhotse opens with ``smart_open`` (reading the whole object; credentials as boto3
and the other clients find them). lhotse's ``"file"`` type is a plain ``open`` of a local path
and cannot read a URL.

One ``SupervisionSegment`` per row: ``{"id", "recording_id", "start", "duration", "channel": 0,
"text", "speaker", "language", "gender", "custom"}``; a whole-file row starts at 0 and lasts the
recording; fields without a value are left out, as lhotse's own ``to_dict`` does. ``custom`` is
the carried ``custom`` (lhotse's JSON text) merged with every carried field no other key took
(e.g. Common Voice's ``up_votes``, ``age``, ``accents``), so nothing the manifest said is lost;
the fields that locate the audio (``offset``, ``duration``, ``start``, ``channel``,
``sampling_rate``) are not repeated there.

Both files are gzip'd JSON lines with a fixed gzip time stamp (the same rows give the same bytes).
"""

from __future__ import annotations

import contextlib
import gzip
import json
from typing import Any

from ...storage import is_remote
from .fields import (
    GENDER_COLUMNS,
    LANGUAGE_COLUMNS,
    RECORDING_ID_COLUMNS,
    SPEAKER_COLUMNS,
    TEXT_COLUMNS,
    UTTERANCE_ID_COLUMNS,
    first_present,
)
from .files import Destination
from .rows import ExportRows, Recording, Row

__all__ = ["FILES", "recording", "supervision", "write"]

FILES = ("recordings.jsonl.gz", "supervisions.jsonl.gz")
_NOT_CUSTOM = frozenset(("custom", "offset", "duration", "start", "channel", "sampling_rate", *RECORDING_ID_COLUMNS))


def recording(rec: Recording) -> dict[str, Any]:
    kind = "url" if is_remote(rec.uri) else "file"
    channels = list(range(rec.channels))
    return {"id": rec.id, "sources": [{"type": kind, "channels": channels, "source": rec.uri}],
            "sampling_rate": rec.sample_rate, "num_samples": rec.num_samples, "duration": rec.duration,
            "channel_ids": channels}


def supervision(row: Row) -> dict[str, Any]:
    channel: int | list[int] = 0 if row.channels == 1 else list(range(row.channels))
    obj: dict[str, Any] = {"id": row.utterance_id, "recording_id": row.recording_id, "start": row.start,
                           "duration": row.duration, "channel": channel}
    for key, value in (("text", row.text), ("language", row.language), ("speaker", row.speaker),
                       ("gender", row.gender), ("custom", _custom(row))):
        if value is not None:
            obj[key] = value
    return obj


def _custom(row: Row) -> dict[str, Any] | None:
    custom = row.carried.get("custom")
    if isinstance(custom, str):
        with contextlib.suppress(json.JSONDecodeError):  # not JSON: kept as text under "custom"
            custom = json.loads(custom)
    out = dict(custom) if isinstance(custom, dict) else ({} if custom is None else {"custom": custom})
    taken = {first_present(row.carried, names) for names in (TEXT_COLUMNS, SPEAKER_COLUMNS, LANGUAGE_COLUMNS,
                                                   GENDER_COLUMNS, UTTERANCE_ID_COLUMNS)}
    for key, value in row.carried.items():
        if key not in _NOT_CUSTOM and key not in taken and value is not None:
            out.setdefault(key, value)
    return out or None


def _jsonl_gz(objects) -> bytes:
    text = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def write(rows: ExportRows, dest: Destination) -> None:
    dest.write(FILES[0], _jsonl_gz(recording(r) for r in rows.recordings.values()))
    dest.write(FILES[1], _jsonl_gz(supervision(row) for row in rows))
