"""Corpus writers: a job's results table back into the speech ecosystems' own manifest formats.

    write_corpus(results, "lhotse", "/data/clean/_manifest/export/lhotse")

``results`` is a results table (``<output.uri>/_manifest/results.parquet`` as a DataFrame, or a
subset of its rows, all ``ok``), or with ``selected=True`` rows of a selection
(``_manifest/selected.parquet``, none ``dropped``); ``dest`` a folder (local path or fsspec URL) each format
writes its fixed file names into:

==================  ======================================================================
``nemo``            ``manifest.jsonl``
``lhotse``          ``recordings.jsonl.gz``, ``supervisions.jsonl.gz``
``kaldi``           ``wav.scp``, ``segments`` (when needed), ``text``, ``utt2spk``,
                    ``spk2utt``, ``reco2dur``
``hf``              ``data/train-00000-of-0000N.parquet`` (audio embedded)
``hf-audiofolder``  ``metadata.csv``; ``dest`` must be a folder above every output file
==================  ======================================================================

The manifests point at the enhanced files (``output_uri``), or for a selection's ``original``
rows at the input recordings (``chosen_uri``, at their own rate and duration), and describe each
row's segment of them; only ``hf`` copies audio, so only ``hf`` can export an original that was
itself embedded in a Parquet shard (``<shard>#row=N``). Which file a row exports, and the
recording ids (an original is ``<recording id>-original``), are decided once, in ``rows``. Which
carried column is the text, speaker, language or an id is decided in ``fields`` for every format
alike. Torch-free and Ray-free: pandas, pyarrow, fsspec and soundfile only; the formats are
written from their documented on-disk schemas (the tests load them with lhotse and datasets
themselves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import hf, kaldi, lhotse, nemo
from .fields import ExportError
from .files import AudioReader, Destination
from .rows import ExportRows

__all__ = ["EXPORT_FORMATS", "ExportError", "ExportSummary", "write_corpus"]

EXPORT_FORMATS = ("nemo", "lhotse", "kaldi", "hf", "hf-audiofolder")


@dataclass(frozen=True)
class ExportSummary:
    to: str
    dest: str                 # the destination folder, normalised (absolute path or URL)
    rows: int                 # rows (utterances) written
    recordings: int           # distinct files they describe (outputs; originals of a selection)
    hours: float              # audio the rows describe (a segment row counts its own length)
    files: tuple[str, ...]    # every file written, in order


def write_corpus(results: pd.DataFrame, to: str, dest: str, *, storage_options: Mapping[str, Any] | None = None,
                 root: str | None = None, selected: bool = False,
                 input_storage_options: Mapping[str, Any] | None = None, shard_bytes: float = hf.SHARD_BYTES,
                 shard_rows: int = hf.SHARD_ROWS) -> ExportSummary:
    """Write ``results`` (every row ``ok``) as the corpus format ``to`` into the folder ``dest``.

    ``storage_options`` are fsspec's, for ``dest`` and for reading output files (``hf``) when
    they are URLs. ``root`` is the folder derived recording ids are relative to (the job's
    output location; default the outputs' common folder). ``selected``: ``results`` are rows of
    a selection; each exports the file its ``choice`` names. ``input_storage_options`` are for
    reading original recordings (``hf``; default ``storage_options``). ``shard_bytes`` and
    ``shard_rows`` bound ``hf`` shards. Raises :class:`ExportError` (one line) when the rows cannot
    be written as ``to``; storage errors propagate as they are.
    """
    if to not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {to!r}; one of {', '.join(EXPORT_FORMATS)}")
    rows = ExportRows(results, root=root, selected=selected)
    if rows.embedded and to != "hf":
        raise ExportError(f"{len(rows.embedded)} original recording(s) are audio embedded in a Parquet shard, not "
                          f"files (e.g. {rows.embedded[0]}), and {to} can only name files: export with --to hf, "
                          "which embeds the original audio")
    target = Destination(dest, storage_options)
    if to == "nemo":
        nemo.write(rows, target)
    elif to == "lhotse":
        lhotse.write(rows, target)
    elif to == "kaldi":
        kaldi.write(rows, target)
    elif to == "hf":
        hf.write(rows, target, AudioReader(storage_options, input_storage_options), shard_bytes=shard_bytes,
                 shard_rows=shard_rows)
    else:
        hf.write_audiofolder(rows, target)
    return ExportSummary(to=to, dest=target.url, rows=len(rows), recordings=len(rows.recordings),
                         hours=rows.hours, files=tuple(target.written))
