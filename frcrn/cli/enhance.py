"""`frcrn enhance IN... -o OUTDIR`: enhance audio files and folders (recursively), local or URLs."""

from __future__ import annotations

import argparse
import posixpath
import sys
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")


@dataclass(frozen=True)
class EnhanceTask:
    source: str
    relative: str
    """Path of the input below the argument it came from; the output mirrors it."""


def find_inputs(arguments: Sequence[str]) -> Iterator[EnhanceTask]:
    """Files as given; folders (local or URL) searched recursively for audio files, sorted."""
    import fsspec

    for argument in arguments:
        fs, path = fsspec.core.url_to_fs(argument)
        if not fs.exists(path):
            raise FileNotFoundError(f"input not found: {argument}")
        if not fs.isdir(path):
            yield EnhanceTask(argument, posixpath.basename(path.rstrip("/")))
            continue
        root = path.rstrip("/")
        for found in sorted(fs.find(root)):
            if found.lower().endswith(AUDIO_EXTENSIONS):
                relative = posixpath.relpath(found, root)
                yield EnhanceTask(fs.unstrip_protocol(found) if "://" in argument else found, relative)


def output_location(out_dir: str, relative: str, extension: str) -> str:
    stem, _ = posixpath.splitext(relative)
    return out_dir.rstrip("/") + "/" + stem + "." + extension


def _enhance(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..audio.codec import AudioError
    from ..audio.files import read_audio, write_audio
    from ..enhance import EnhanceConfig, Enhancer
    from ..model.checkpoint import CheckpointError

    try:
        tasks = list(find_inputs(args.inputs))
    except FileNotFoundError as error:
        print(f"frcrn: {error}", file=sys.stderr)
        return 2
    if not tasks:
        print(f"frcrn: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {' '.join(args.inputs)}", file=sys.stderr)
        return 2
    config = EnhanceConfig(device=args.device, precision=args.precision, window_seconds=args.window_seconds,
                           batch_size=args.batch_size, restore_gain=not args.keep_normalised_level,
                           num_threads=args.threads)
    try:
        enhancer = Enhancer.from_checkpoint(args.checkpoint, config)
    except (CheckpointError, RuntimeError) as error:
        print(f"frcrn: {error}", file=sys.stderr)
        return 2
    failures = 0
    for task in tqdm(tasks, unit="file", desc="enhancing", disable=args.quiet):
        destination = output_location(args.output, task.relative, args.format)
        try:
            audio = read_audio(task.source)
            write_audio(destination, enhancer.enhance(audio.samples), enhancer.sample_rate, format=args.format)
        except (AudioError, OSError, ValueError) as error:
            failures += 1
            tqdm.write(f"frcrn: {task.source}: {error}", file=sys.stderr)
    done = len(tasks) - failures
    print(f"enhanced {done} of {len(tasks)} files into {args.output} "
          f"(model {enhancer.model_id}, sha256 {enhancer.checkpoint_sha256[:12]})", file=sys.stderr)
    return 1 if failures else 0


def add_parser(sub: Any) -> None:
    enhance = sub.add_parser("enhance", help="enhance audio files and folders (recursively)")
    enhance.add_argument("inputs", nargs="+", help="files or folders: local paths or fsspec URLs")
    enhance.add_argument("-o", "--output", required=True, help="output folder (local path or URL)")
    enhance.add_argument("--checkpoint", help="weights: path or URL (default: the shipped default model)")
    enhance.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    enhance.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    enhance.add_argument("--format", default="wav", choices=["wav", "flac"], help="16-bit output format")
    enhance.add_argument("--window-seconds", type=float, default=10.0, help="model window for long files")
    enhance.add_argument("--batch-size", type=int, default=1, help="windows per model call (GPUs: 8-32; 0 = auto from free GPU memory)")
    enhance.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    enhance.add_argument("--keep-normalised-level", action="store_true",
                         help="write at the model's -25 dBFS working level instead of the input's level")
    enhance.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    enhance.set_defaults(run=_enhance)
