"""`frcrn enhance IN... -o OUT`: enhance audio files in this process, with the bulk job's rules.

Each IN is an audio file, a folder (searched recursively), a glob of audio files or a manifest,
local or an fsspec URL. Inputs are resolved and outputs named by the job's own code
(``jobs.inputs``, ``jobs.paths``): an output mirrors its input's path below the IN it came from
(``in/a/b.flac`` -> ``OUT/a/b.wav``); an output location that is an input folder is refused, an
output folder inside an input folder is left out of the listing, and two inputs that would
write the same output are a clash (the later one is an error, never a silent overwrite). Each
file then goes through the job's per-file steps (``jobs.stages``: read and decode with the
codec's checks, enhance, encode, atomic write), one file at a time, without Ray.

Outputs that already exist are skipped (``--overwrite`` redoes them): writes are atomic, so an
existing output is a complete one. No results manifest is written: this command reports on the
console (one line per failed file, the outcome last), and its skip rule needs no record; a
corpus that needs a manifest, resume by checkpoint and an audit trail is the bulk job's work
(``frcrn job run``).

The enhancer's settings are flags derived from ``frcrn.enhance_config.EnhanceConfig`` (one flag
per field, its default and its docstring as help) and checked by it: a bad value is one line
naming the flag, exit status 2. Exit status follows the job's table: 0 every input ok or
skipped, 2 bad flag or input spec, 3 some files failed, 4 none could be processed, 5 storage
unreachable, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import json
import re
import sys
import typing
from collections import Counter
from typing import Any

from ..enhance_config import EnhanceConfig

PROG = "frcrn enhance"
ALIASES = {"num_threads": ["--threads"]}
"""Older spellings kept working."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (read from its source)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):  # pragma: no cover - no source (frozen build)
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _add_enhance_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per EnhanceConfig field; values stay text until the typed loader checks them."""
    group = parser.add_argument_group("enhancer settings (frcrn.enhance_config.EnhanceConfig)")
    docs = _field_docs(EnhanceConfig)
    hints = typing.get_type_hints(EnhanceConfig)
    for f in dataclasses.fields(EnhanceConfig):
        help_ = f"{docs.get(f.name, '')} (default: {f.default})".replace("%", "%%").strip()
        dest = f"enhance__{f.name}"
        if hints[f.name] is bool:
            group.add_argument(_flag(f.name), dest=dest, action="store_const", const="true", default=None, help=help_)
            group.add_argument("--no-" + f.name.replace("_", "-"), dest=dest, action="store_const", const="false",
                               help=argparse.SUPPRESS)
            continue
        group.add_argument(_flag(f.name), *ALIASES.get(f.name, []), dest=dest, default=None,
                           metavar=f.name.upper(), help=help_)
    group.add_argument("--keep-normalised-level", dest="enhance__restore_gain", action="store_const", const="false",
                       help="same as --no-restore-gain: write at the model's -25 dBFS working level")


def enhance_config(args: argparse.Namespace) -> EnhanceConfig:
    """The EnhanceConfig the flags give, checked by the typed loader; ConfigError names the flag."""
    import yaml

    from ..config import ConfigError, from_dict

    given = {}
    for f in dataclasses.fields(EnhanceConfig):
        raw = getattr(args, f"enhance__{f.name}")
        if raw is not None:
            try:
                given[f.name] = yaml.safe_load(raw)
            except yaml.YAMLError:
                given[f.name] = raw
    try:
        return from_dict(EnhanceConfig, given)
    except ConfigError as err:  # "window_seconds: ..." -> "--window-seconds: ..."
        names = {f.name for f in dataclasses.fields(EnhanceConfig)}
        text = re.sub(r"(^|; )(\w+):", lambda m: m.group(1) + (_flag(m.group(2)) if m.group(2) in names
                                                                else m.group(2)) + ":", str(err))
        raise ConfigError(text) from None


def _storage_options(args: argparse.Namespace) -> dict[str, Any]:
    from jobs.config import ConfigError, env_storage_options

    options = env_storage_options()
    if args.storage_options:
        try:
            given = json.loads(args.storage_options)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--storage-options must be a JSON object: {err.msg}") from None
        if not isinstance(given, dict):
            raise ConfigError("--storage-options must be a JSON object")
        options = given
    return options


def _say(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _enhance(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:
        _say("interrupted (SIGINT); the outputs written so far are complete: run the same command again "
             "to do the rest (existing outputs are skipped)")
        return 130


def _run(args: argparse.Namespace) -> int:
    from jobs.config import ConfigError, InputConfig, OutputConfig
    from jobs.errors import EXIT_CONFIG, JobFailed

    try:
        config = enhance_config(args)
        options = _storage_options(args)
        output = OutputConfig(uri=args.output, format=_choice("--format", args.format, ("wav", "flac")),
                              storage_options=options)
        spec = InputConfig(uri=args.inputs[0], storage_options=options)
    except ConfigError as err:
        _say(str(err))
        return EXIT_CONFIG
    try:
        return _process(args, config, spec, output)
    except JobFailed as err:
        _say(str(err))
        return err.exit_code


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    from jobs.config import ConfigError

    if value not in allowed:
        raise ConfigError(f"{flag}: must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _process(args: argparse.Namespace, config: EnhanceConfig, spec: Any, output: Any) -> int:
    from jobs.errors import EXIT_ERROR_ROWS, EXIT_NOTHING_PROCESSED, EXIT_OK, storage_step
    from jobs.inputs import resolve_inputs
    from jobs.paths import parse_location
    from jobs.storage import check_output_bucket, filesystem

    options = spec.storage_options
    out_loc = parse_location(output.uri)
    out_fs = filesystem(out_loc.protocol, options)
    check_output_bucket(out_loc, out_fs, options, key="-o")
    with storage_step("input", " ".join(args.inputs), options, "listing the inputs"):
        inputs = resolve_inputs(spec, output, uris=args.inputs)
    table = inputs.table
    errors: Counter[str] = Counter()
    for kind, message in zip(table["error_type"], table["error_message"]):
        if kind:
            errors[kind] += 1
            _say(f"error ({kind}): {message}")
    recordings = inputs.recordings
    with storage_step("-o", out_loc.uri, options, "listing the existing outputs"):
        existing = set() if args.overwrite else _existing(out_fs, out_loc.path)
    todo = recordings[[parse_location(o).path not in existing for o in recordings["output_uri"]]].reset_index(drop=True)
    skipped = len(recordings) - len(todo)
    if skipped:
        _say(f"skipped {skipped} input(s) whose output exists in {out_loc.uri} (--overwrite redoes them)")
    done, model = 0, None
    if len(todo):
        model = _load_model(args, config, options)
        done = _enhance_files(todo, model, output, options, errors, quiet=args.quiet)
    n_errors = sum(errors.values())
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
    made = f" (model {model.model_id}, sha256 {model.checkpoint_sha256[:12]})" if model is not None else ""
    if n_errors and not done and not skipped:
        _say(f"no input could be processed: all {len(table)} inputs failed ({by_type})")
        return EXIT_NOTHING_PROCESSED
    summary = f"enhanced {done} of {len(table)} inputs into {out_loc.uri}{made}" + (
        f", {skipped} skipped (output exists)" if skipped else "")
    if n_errors:
        _say(f"{summary}; {n_errors} failed ({by_type})")
        return EXIT_ERROR_ROWS
    _say(summary)
    return EXIT_OK


def _existing(fs: Any, root: str) -> set[str]:
    """Paths of the files under the output location (a missing location has none)."""
    fs.invalidate_cache()
    if not fs.exists(root):
        return set()
    return {p for p in fs.find(root) if not p.rsplit("/", 1)[-1].startswith(".")}


def _load_model(args: argparse.Namespace, config: EnhanceConfig, options: dict[str, Any]) -> Any:
    """The job's model stage (``jobs.stages.Enhance``) with these settings; an unusable
    checkpoint or device is a SpecError (exit 2), unreachable storage a StorageFailure (exit 5)."""
    from jobs.errors import SpecError, storage_step
    from jobs.stages import Enhance, ModelSettings

    from ..model.checkpoint import CheckpointError

    with storage_step("--checkpoint", args.checkpoint or "", options, "reading the checkpoint"):
        try:
            return Enhance(ModelSettings(checkpoint=args.checkpoint, enhance=config, storage_options=options))
        except CheckpointError as err:
            raise SpecError(f"--checkpoint is unusable: {err}") from None
        except (RuntimeError, ValueError) as err:
            raise SpecError(f"cannot set up the model ({type(err).__name__}: {err})") from None


def _enhance_files(todo: Any, model: Any, output: Any, options: dict[str, Any],
                   errors: Counter, *, quiet: bool) -> int:
    """The job's per-file steps, one recording at a time (``todo``: ``InputSet.recordings``);
    returns how many outputs were written."""
    import pyarrow as pa
    from tqdm import tqdm

    from jobs.execution import segments_array
    from jobs.paths import parse_location
    from jobs.stages import StageSettings, read_decode, write_outputs

    base = StageSettings(job_id="frcrn-enhance", input_protocol="file",
                         output_protocol=parse_location(output.uri).protocol,
                         output_parts_dir="", input_storage_options=options, output_storage_options=options,
                         output_format=output.format, measures=False)  # no manifest to hold them
    done = 0
    for i in tqdm(range(len(todo)), unit="file", desc="enhancing", disable=quiet, file=sys.stderr):
        rec = todo.iloc[i]
        settings = dataclasses.replace(base, input_protocol=parse_location(rec["input_uri"]).protocol)
        batch = pa.table({"input_uri": [rec["input_uri"]], "output_uri": [rec["output_uri"]],
                          "member": [rec["member"]]})
        batch = batch.append_column("segments", segments_array(todo["segments"].iloc[i:i + 1]))
        rows = write_outputs(model(read_decode(batch, settings)), settings)
        done += any(r["status"] == "ok" for r in rows)
        for row in rows:
            if row["status"] != "ok":
                errors[row["error_type"]] += 1
                tqdm.write(f"{PROG}: error ({row['error_type']}): {row['error_message']}", file=sys.stderr)
    return done


def add_parser(sub: Any) -> None:
    enhance = sub.add_parser(
        "enhance", help="enhance audio files, folders, globs or manifests (in this process, the job's rules)",
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    enhance.add_argument("inputs", nargs="+", metavar="IN",
                         help="audio file, folder, glob of audio files or manifest: local path or fsspec URL")
    enhance.add_argument("-o", "--output", required=True, help="output folder (local path or URL)")
    enhance.add_argument("--checkpoint", help="weights: path or URL (default: the shipped default model)")
    enhance.add_argument("--format", default="wav", help="output format, 16-bit: wav or flac (default: wav)")
    enhance.add_argument("--overwrite", action="store_true",
                         help="redo outputs that already exist (default: skip them)")
    enhance.add_argument("--storage-options", metavar="JSON",
                         help="fsspec storage options as a JSON object (default: $FRCRN_STORAGE_OPTIONS)")
    enhance.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_enhance_flags(enhance)
    enhance.set_defaults(run=_enhance)
