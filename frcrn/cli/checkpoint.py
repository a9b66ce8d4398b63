"""`frcrn info CHECKPOINT` and `frcrn convert OFFICIAL.bin OUT.safetensors`: inspect a checkpoint,
convert one to the project format."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _load_or_report(location: str) -> tuple[Any, Any] | None:
    """(model, info) of a checkpoint, or None after telling the user why it cannot be used."""
    from ..model.checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(location)
    except CheckpointError as error:
        print(f"frcrn: {error}", file=sys.stderr)
        return None


def _info(args: argparse.Namespace) -> int:
    loaded = _load_or_report(args.checkpoint)
    if loaded is None:
        return 2
    model, info = loaded
    description = info.describe()
    description["parameters"] = sum(p.numel() for p in model.parameters())
    print(json.dumps(description, indent=2))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ..model.checkpoint import save_checkpoint

    loaded = _load_or_report(args.source)
    if loaded is None:
        return 2
    model, info = loaded
    provenance = {**info.provenance, "converted_from": {"file": os.path.basename(info.source), "sha256": info.sha256,
                                                         "format": info.format}}
    saved = save_checkpoint(model, args.destination, model_id=info.model_id, provenance=provenance)
    print(json.dumps(saved.describe(), indent=2))
    return 0


def add_parsers(sub: Any) -> None:
    info = sub.add_parser("info", help="print a checkpoint's config, key count, sha256 and provenance")
    info.add_argument("checkpoint")
    info.set_defaults(run=_info)

    convert = sub.add_parser("convert", help="convert an official/trainer checkpoint to the project format")
    convert.add_argument("source")
    convert.add_argument("destination", help="output .safetensors (a .json with the same name is written beside it)")
    convert.set_defaults(run=_convert)
