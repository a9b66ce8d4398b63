"""Hugging Face datasets: Parquet shards with the audio inside (``hf``), or an audiofolder's
``metadata.csv`` beside the audio files (``hf-audiofolder``).

``hf`` writes ``data/train-00000-of-0000N.parquet``, the layout the Hub and
``load_dataset("parquet", data_files=...)`` read. Each row is ``audio``, a
``struct<bytes: binary, path: string>`` (the exported file's bytes as they are: the enhanced
output, or a selection's original recording, read from its shard row when it was itself embedded
in a Parquet shard; a segment row holds its slice ``[start, start + duration)`` of that file, cut
at ``round(seconds x rate)`` samples and encoded in the file's own format and subtype, so PCM
stays bit-exact; ``path`` is the file's name, ``<stem>-<start ms>-<end ms>.<ext>`` for a
segment; an embedded original is named after its output, with its own format's extension), then
every carried column with its type. The schema metadata ``huggingface`` declares the features as ``datasets``
itself writes them (``{"info": {"features": {"audio": {"_type": "Audio"}, "text": {"dtype":
"string", "_type": "Value"}, ...}}}``), so ``datasets`` sees an ``Audio`` column, not a struct.

Shards are planned before any audio is read (so each name knows N) from each row's expected
size: the ``output_bytes`` the job recorded (a segment: its share of them), else (and for an
original) 16-bit samples at the file's rate and channels. A shard closes at ``shard_bytes``
(default 500 MB, the Hub's own shard size) or ``shard_rows`` rows, whichever comes first; one
shard at a time is in memory, its row groups at most 100 rows (what ``datasets`` uses for audio)
or 100 MB of audio. Shards an earlier, larger export left in ``data/`` are removed after the new
ones are written, as ``data/*.parquet`` would load them too.

``hf-audiofolder`` writes ``metadata.csv`` into ``dest``, which must be a folder every output
file lies below: ``file_name`` (the output's path relative to it) then the carried columns
(lists and mappings as JSON text). ``load_dataset("audiofolder", data_dir=dest)`` then pairs
each file with its row. An audiofolder row is a whole file, so segment rows are refused; an
original recording can be named only when ``dest`` is a folder above it too (``-o``), and an
original embedded in a Parquet shard not at all.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import posixpath
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from .fields import ExportError, is_missing, plain
from .files import AudioReader, Destination
from .rows import ExportRows, Row, embedded, relative

__all__ = ["AUDIO_TYPE", "SHARD_BYTES", "SHARD_ROWS", "features", "write", "write_audiofolder"]

log = logging.getLogger(__name__)

AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SHARD_BYTES = 500 * 1024**2
SHARD_ROWS = 100_000
GROUP_ROWS = 100
GROUP_BYTES = 100 * 1024**2
SHARD_NAME = "data/train-{:05d}-of-{:05d}.parquet"


# --------------------------------------------------------------------------- features


_DTYPES = {pa.float16(): "float16", pa.float32(): "float32", pa.float64(): "float64",
           pa.date32(): "date32", pa.date64(): "date64"}


def feature(t: pa.DataType) -> Any:
    """The ``datasets`` feature (as ``Features.to_dict`` writes it) of an Arrow type; None for a
    type this does not describe (``datasets`` then infers that column itself)."""
    if pa.types.is_struct(t):
        fields = {t.field(i).name: feature(t.field(i).type) for i in range(t.num_fields)}
        return None if any(v is None for v in fields.values()) else fields
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = feature(t.value_type)
        if inner is None:
            return None
        if pa.types.is_fixed_size_list(t):
            return {"feature": inner, "length": t.list_size, "_type": "List"}
        return {"feature": inner, "_type": "LargeList" if pa.types.is_large_list(t) else "List"}
    if pa.types.is_dictionary(t):
        return feature(t.value_type)
    if pa.types.is_nested(t) or isinstance(t, pa.ExtensionType):
        return None
    return {"dtype": _DTYPES.get(t, str(t)), "_type": "Value"}


def features(schema: pa.Schema) -> dict[str, Any]:
    """The ``huggingface`` schema metadata value: ``audio`` is Audio, the rest by type."""
    out: dict[str, Any] = {"audio": {"_type": "Audio"}}
    for field in schema:
        if field.name != "audio" and (f := feature(field.type)) is not None:
            out[field.name] = f
    return {"info": {"features": out}}


def carried_table(rows: ExportRows) -> pa.Table:
    """The carried columns as Arrow, types kept; a column of mixed values becomes JSON text."""
    arrays, names = [], []
    for name in rows.carried:
        series = rows.frame[name]
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            log.warning("column %r has mixed types; it is exported as text", name)
            array = pa.array([_text(v) for v in series], type=pa.string())
        if pa.types.is_large_string(array.type) and array.nbytes < 2**31:  # pandas' text: as datasets has it
            array = array.cast(pa.string())
        arrays.append(array)
        names.append(str(name))
    return pa.Table.from_arrays(arrays, names=names) if names else pa.table({})


def _text(value: Any) -> str | None:
    value = plain(value)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- audio


_READ_AS = {"PCM_S8": "int16", "PCM_U8": "int16", "PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32",
            "DOUBLE": "float64"}


def segment_bytes(data: bytes, start: float, duration: float) -> bytes:
    """The slice ``[start, start + duration)`` seconds of an encoded file, encoded the same way."""
    with sf.SoundFile(io.BytesIO(data)) as f:
        first = min(f.frames, round(start * f.samplerate))
        last = min(f.frames, round((start + duration) * f.samplerate))
        f.seek(first)
        samples = f.read(last - first, dtype=_READ_AS.get(f.subtype, "float32"), always_2d=True)
        out = io.BytesIO()
        sf.write(out, samples, f.samplerate, format=f.format, subtype=f.subtype)
    return out.getvalue()


def audio_path(row: Row, data: bytes = b"") -> str:
    """The ``path`` of a row's embedded audio: its file's name (an original embedded in a shard:
    the output's stem, with the extension of the format ``data`` is in)."""
    name = posixpath.basename(row.audio_uri)
    if row.original and embedded(row.audio_uri):
        stem = posixpath.basename(row.output_uri).rsplit(".", 1)[0]
        name = f"{stem}.{_format(data).lower()}"
    if not row.is_segment:
        return name
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if dot else (name, "")
    return f"{stem}-{round(row.start * 1000):08d}-{round((row.start + row.duration) * 1000):08d}{ext}"


def _format(data: bytes) -> str:
    try:
        return sf.info(io.BytesIO(data)).format
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return "wav"


class _Audio:
    """Embedded audio of rows in order, reading each exported file once per run of its rows."""

    def __init__(self, reader: AudioReader):
        self.reader = reader
        self.uri: str | None = None
        self.data = b""

    def __call__(self, row: Row) -> dict[str, Any]:
        if row.audio_uri != self.uri:
            self.uri, self.data = row.audio_uri, self.reader.read(row.audio_uri, original=row.original)
        data = segment_bytes(self.data, row.start, row.duration) if row.is_segment else self.data
        return {"bytes": data, "path": audio_path(row, self.data)}


# --------------------------------------------------------------------------- shards


def _expected_bytes(rows: ExportRows) -> list[float]:
    recorded = rows.frame["output_bytes"].tolist() if "output_bytes" in rows.frame else [None] * len(rows)
    out = []
    for uri, duration, size, original in zip(rows.uris, rows.durations, recorded, rows.original):
        rec = rows.recordings[uri]
        known = not original and not is_missing(size) and size
        whole = float(size) if known else rec.duration * rec.sample_rate * rec.channels * 2 + 44
        out.append(whole * min(1.0, duration / rec.duration))
    return out


def plan(sizes: list[float], shard_bytes: float, shard_rows: int) -> list[int]:
    """Row counts of consecutive shards: each closes before it would pass either bound (a
    single row larger than ``shard_bytes`` is a shard of its own)."""
    counts, n, total = [], 0, 0.0
    for size in sizes:
        if n and (n >= shard_rows or total + size > shard_bytes):
            counts.append(n)
            n, total = 0, 0.0
        n, total = n + 1, total + size
    return counts + [n] if n else counts


def _groups(rows: Iterator[Row], count: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in itertools.islice(rows, count):
        batch.append(row)
        if len(batch) == GROUP_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _shard(rows: Iterator[Row], count: int, carried: pa.Table, schema: pa.Schema, audio: _Audio) -> bytes:
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema) as writer:
        done = 0
        for group in _groups(rows, count):
            items, size = [], 0
            for row in group:
                items.append(audio(row))
                size += len(items[-1]["bytes"])
                if size >= GROUP_BYTES:
                    writer.write_table(_table(items, carried.slice(done, len(items)), schema))
                    done, items, size = done + len(items), [], 0
            if items:
                writer.write_table(_table(items, carried.slice(done, len(items)), schema))
                done += len(items)
    return buf.getvalue()


def _table(items: list[dict[str, Any]], carried: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [pa.array(items, type=AUDIO_TYPE), *carried.columns]
    return pa.Table.from_arrays(columns, schema=schema)


def write(rows: ExportRows, dest: Destination, reader: AudioReader, *, shard_bytes: float = SHARD_BYTES,
          shard_rows: int = SHARD_ROWS) -> None:
    if "audio" in rows.carried:
        raise ExportError("a carried column is named 'audio', the column the hf export embeds the audio in; "
                          "drop or rename it in the manifest")
    carried = carried_table(rows)
    schema = pa.schema([pa.field("audio", AUDIO_TYPE), *carried.schema])
    schema = schema.with_metadata({"huggingface": json.dumps(features(schema))})
    counts = plan(_expected_bytes(rows), shard_bytes, shard_rows)
    names = [SHARD_NAME.format(i, len(counts)) for i in range(len(counts))]
    stream, audio, done = iter(rows), _Audio(reader), 0
    for name, count in zip(names, counts):
        dest.write(name, _shard(stream, count, carried.slice(done, count), schema, audio))
        done += count
    dest.remove_stale("data/train-*-of-*.parquet", keep=set(names))


# --------------------------------------------------------------------------- audiofolder


def write_audiofolder(rows: ExportRows, dest: Destination) -> None:
    if rows.any_segment:
        n = sum(rows.segment)
        raise ExportError(f"{n} of the {len(rows)} rows are segments of a file; an audiofolder pairs whole files "
                          "with rows, so it cannot describe them: export with --to hf, which embeds each "
                          "segment's audio")
    if "file_name" in rows.carried:
        raise ExportError("a carried column is named 'file_name', the audiofolder's own; drop or rename it")
    names = []
    for uri, original in zip(rows.uris, rows.original):
        rel = relative(uri, dest.url)
        if rel is None and original:
            raise ExportError(f"{rows.originals} row(s) choose the original recording, and {uri} is not below "
                              f"{dest.url}: an audiofolder's metadata.csv must sit in a folder above every file it "
                              "names; give -o a folder above the inputs and the outputs, or export with --to hf")
        if rel is None:
            raise ExportError(f"output {uri} is not below {dest.url}: an audiofolder's metadata.csv must sit in "
                              "a folder above every file it names")
        names.append(rel)
    frame = rows.frame[rows.carried].copy()
    for name in rows.carried:
        if frame[name].dtype == object:
            frame[name] = [_text(v) if isinstance(v, (list, dict, tuple, np.ndarray)) else v for v in frame[name]]
    frame.insert(0, "file_name", names)
    dest.write("metadata.csv", frame.to_csv(index=False).encode("utf-8"))
