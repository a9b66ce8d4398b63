"""Curation of a cleaned corpus: which rows of a job's results to keep and in which version
(selection), and a self-contained HTML page to judge the run and the policy by (report).

Torch-free: it reads the job's Parquet manifests and audio through fsspec. The report's plots
need matplotlib (``pip install 'frcrn[report]'``), imported only when a report is drawn.

    from frcrn.curation import load_policy, select_output, build_report, write_report

    policy = load_policy("configs/select_default.yaml", ["drop.min_duration_s=2"])
    selection = select_output("s3://bucket/clean", policy)   # writes _manifest/selected.parquet
    print(selection.text)                                     # counts and hours per choice and rule
    write_report(build_report("s3://bucket/clean"), "report.html", png_dir="plots")

The curated corpus is then exported with ``frcrn job export s3://bucket/clean --to lhotse
--selection`` (``jobs.export``): the rows not dropped, an ``original`` row pointing at its input
recording, as long as the selection was made from the current results (else: select again).

Modules: ``manifest`` (where the manifests live, measurement columns, row lengths), ``policy``
(the policy and its rule order), ``select`` (the rules applied to a frame), ``tally`` (counts and
hours), ``selection`` (read, select, write), ``report`` with ``sections``, ``listening``,
``clips``, ``figures`` and ``page``.
"""

from .manifest import METRICS, CurationError, Metric, ResultsMissing, manifest_uri, row_seconds
from .policy import DropRules, Policy, load_policy
from .report import Report, build_report, write_report
from .select import CHOICES, PolicyNotApplicable, select
from .selection import Selection, select_output
from .tally import format_tally, tally

__all__ = [
    "CHOICES",
    "METRICS",
    "CurationError",
    "DropRules",
    "Metric",
    "Policy",
    "PolicyNotApplicable",
    "Report",
    "ResultsMissing",
    "Selection",
    "build_report",
    "format_tally",
    "load_policy",
    "manifest_uri",
    "row_seconds",
    "select",
    "select_output",
    "tally",
    "write_report",
]
