"""`frcrn eval [CONFIG] [key.sub=value ...]`: measure a checkpoint on noisy speech, before and after.

Three kinds of evaluation set, any combination of them in one run:

* ``synthetic``: mixtures made exactly like the training run's validation set (by default the very
  same set: the speech files' validation split and ``make_validation_set`` with the same seed and
  mixture settings as ``configs/train_default.yaml``), with the clean speech as reference;
* ``paired``: real (noisy, clean) files, from a table with ``noisy`` and ``clean`` columns or from
  two globs / path lists matched by relative path, file name or DNS-style ``fileid_N``;
* ``unpaired``: noisy files without a reference, scored with DNSMOS only (default: the two example
  clips of the official model card in ``../shared/examples/``).

Every item is enhanced with :class:`frcrn.enhance.Enhancer` (the same code path as ``frcrn
enhance`` and the bulk job) and scored before (``*_noisy``) and after (``*_enhanced``) with
PESQ-WB, PESQ-NB, STOI, ESTOI and SI-SDR when a reference exists (:mod:`frcrn.quality.metrics`)
and DNSMOS P.835 SIG/BAK/OVRL (:mod:`frcrn.quality.dnsmos`). Per-item rows go to a Parquet file;
the summary (mean noisy, mean enhanced, mean improvement per metric, over the items where both are
defined) is printed and returned.

Relative paths in the config are relative to the working directory (run from the project root).

Modules: `config` (EvalConfig and its sets), `sets` (listing, pairing and loading the items),
`scoring` (per-item scores and the summaries) and `run` (evaluate, run_eval). The command line,
`frcrn eval`, is :mod:`frcrn.cli.eval`.
"""

from .config import INTRUSIVE, METRICS, NON_INTRUSIVE, SETS, EvalConfig, PairedSet, SyntheticSet, load_config
from .run import evaluate, run_eval
from .scoring import SUMMARY_COLUMNS, family_summary, format_family_summary, format_summary, room_summaries, summarize

__all__ = [
    "INTRUSIVE",
    "METRICS",
    "NON_INTRUSIVE",
    "SETS",
    "SUMMARY_COLUMNS",
    "EvalConfig",
    "PairedSet",
    "SyntheticSet",
    "evaluate",
    "family_summary",
    "format_family_summary",
    "format_summary",
    "load_config",
    "room_summaries",
    "run_eval",
    "summarize",
]
