"""Curation of a cleaned corpus: which rows of a job's results to keep and in which version
(selection).

Torch-free: it reads the job's Parquet manifests through fsspec.

    from frcrn.curation import load_policy, select_output

    policy = load_policy("configs/select_default.yaml", ["drop.min_duration_s=2"])
    selection = select_output("s3://bucket/clean", policy)   # writes _manifest/selected.parquet
    print(selection.text)                                     # counts and hours per choice and rule

Modules: ``manifest`` (where the manifests live, measurement columns, row lengths), ``policy``
(the policy and its rule order), ``select`` (the rules applied to a frame), ``tally`` (counts and
hours), ``selection`` (read, select, write).
"""

from .manifest import METRICS, CurationError, Metric, ResultsMissing, manifest_uri, row_seconds
from .policy import DropRules, Policy, load_policy
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
    "ResultsMissing",
    "Selection",
    "format_tally",
    "load_policy",
    "manifest_uri",
    "row_seconds",
    "select",
    "select_output",
    "tally",
]
