"""Real recorded sound effects from Debian packages, usable as extra training noise.

Nothing here is shipped with the project: the sounds live in Debian packages that a machine may
install (``apt-get install -y openttd-opensfx bucklespring-data minetest-data
colobot-common-sounds extremetuxracer-data``). :func:`list_recorded_sounds` finds whatever of them
is installed and reports each sound's licence as given in the package's
``/usr/share/doc/<package>/copyright`` (or, for OpenSFX, in the sound bank's own per-sound credit
line); :func:`load_recorded_sound` reads one as mono float32 at the wanted rate. Never copy these
files into the repository.

Packages known here (Debian 12 "bookworm", all in ``main``; measured on the project machine):

============================  ============================================  ========  ===========
package                       licence (from the copyright file)             sounds    minutes
============================  ============================================  ========  ===========
openttd-opensfx 1.0.3         CC-BY-SA-3.0 as a collection; each sound      71        2.5
                              CC-BY-3.0 / CC0-1.0 / CC-BY-SA-3.0 (credited
                              in the bank: vehicles, horns, jackhammer,
                              sawmill, chainsaw, wind, applause, animals)
minetest-data 5.6.1           CC-BY-SA-3.0; doors: CC-BY-3.0 (glass door    108       2.2
                              CC0-1.0); tnt: CC0-1.0 (footsteps, digging,
                              water, lava, fire, doors, explosions)
bucklespring-data 1.4.0       GPL-2+ (recorded IBM Model M key presses      171       0.9
                              and releases)
colobot-common-sounds 0.2.0   GPL-3+ (game effects, 83 files)               83        1.7
                              + music (21 tracks), ``include_music=True``   21        65.9
extremetuxracer-data 0.8.2    GPL-2+ (slides on snow/ice/grass, hits)       10        0.4
============================  ============================================  ========  ===========

All of these licences allow redistribution (of the sounds and of mixtures made from them) under
their terms: CC-BY needs attribution (the ``description`` field holds OpenSFX's credit line),
CC-BY-SA and GPL additionally need derived *audio* to carry the same licence. Whether model weights
trained on such audio are a derived work is not settled; prefer the CC0/CC-BY subset
(``licence in PERMISSIVE_LICENCES``) for weights that must be free of share-alike terms.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "KNOWN_PACKAGES",
    "PERMISSIVE_LICENCES",
    "RecordedSound",
    "list_recorded_sounds",
    "load_recorded_sound",
    "read_opensfx_bank",
    "summarize",
]

#: Licences with no share-alike or copyleft terms.
PERMISSIVE_LICENCES = frozenset({"CC0-1.0", "CC-BY-3.0"})

OPENSFX_BANK = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"

#: package -> (glob patterns relative to the root, kind, ordered (fnmatch pattern, licence) rules;
#: the first matching rule wins).
KNOWN_PACKAGES: dict[str, tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]] = {
    "openttd-opensfx": ((OPENSFX_BANK,), "effect", (("*", "CC-BY-SA-3.0"),)),
    "minetest-data": (
        ("usr/share/games/minetest/games/minetest_game/mods/*/sounds/*.ogg",),
        "effect",
        (
            ("*/mods/doors/sounds/doors_glass_door_*", "CC0-1.0"),
            ("*/mods/doors/sounds/*", "CC-BY-3.0"),
            ("*/mods/tnt/sounds/*", "CC0-1.0"),
            ("*", "CC-BY-SA-3.0"),
        ),
    ),
    "bucklespring-data": (("usr/share/buckle/wav/*.wav",), "keyboard", (("*", "GPL-2+"),)),
    "colobot-common-sounds": (
        ("usr/share/games/colobot/sounds/*.wav", "usr/share/games/colobot/music/*.ogg"),
        "effect",
        (("*", "GPL-3+"),),
    ),
    "extremetuxracer-data": (("usr/share/games/etr/sounds/*.wav",), "effect", (("*", "GPL-2+"),)),
}

_OPENSFX_LICENCES = (
    ("Creative Commons Zero 1.0", "CC0-1.0"),
    ("Attribution-ShareAlike 3.0", "CC-BY-SA-3.0"),
    ("Attribution 3.0", "CC-BY-3.0"),
)


@dataclass(frozen=True)
class RecordedSound:
    """One recorded sound from an installed package."""

    package: str
    path: str  #: file on disk
    member: int | None  #: index in an OpenTTD ``.cat`` sound bank, else None
    licence: str  #: SPDX-style licence identifier
    kind: str  #: "effect", "keyboard" or "music"
    description: str  #: credit line (OpenSFX) or file name
    duration: float  #: seconds
    sample_rate: int


def read_opensfx_bank(path: str) -> list[tuple[str, bytes]]:
    """Entries of an OpenTTD ``.cat`` sound bank as (credit line, RIFF/WAVE bytes).

    Layout: a table of (uint32 offset, uint32 size) pairs, little endian, whose first offset (top
    bit = "new format" flag) also gives the table size; each entry is a length-prefixed
    NUL-terminated name followed by a complete WAV file. Empty placeholder entries are skipped.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF
    out = []
    for i in range(first // 8):
        off, size = struct.unpack_from("<II", data, 8 * i)
        off &= 0x7FFFFFFF
        name_len = data[off]
        name = data[off + 1 : off + 1 + name_len].rstrip(b"\x00").decode("utf-8", "replace")
        wav = data[off + 1 + name_len : off + size]
        if wav[:4] == b"RIFF":
            out.append((name, wav))
    return out


def _opensfx_licence(credit: str) -> str:
    m = re.search(r"License:\s*(.*)$", credit)
    text = m.group(1) if m else ""
    for needle, spdx in _OPENSFX_LICENCES:
        if needle in text:
            return spdx
    return "CC-BY-SA-3.0"  # the collection licence covers every sound


def _licence_for(rel_path: str, rules: Iterable[tuple[str, str]]) -> str:
    for pattern, licence in rules:
        if fnmatch.fnmatch(rel_path, pattern):
            return licence
    raise AssertionError("every package has a catch-all rule")


def list_recorded_sounds(
    root: str = "/",
    *,
    packages: Sequence[str] | None = None,
    include_music: bool = False,
    licences: Iterable[str] | None = None,
) -> list[RecordedSound]:
    """Installed recorded sounds under ``root`` with their licences, sorted by path and member.

    ``packages`` limits the search (default: all of :data:`KNOWN_PACKAGES`); ``include_music``
    adds music tracks (colobot); ``licences`` keeps only sounds whose licence is in it (e.g.
    :data:`PERMISSIVE_LICENCES`). Unreadable files are skipped. Returns [] when none is installed.
    """
    from ..audio.codec import AudioError, probe_audio

    wanted = set(licences) if licences is not None else None
    out: list[RecordedSound] = []
    for pkg in packages if packages is not None else KNOWN_PACKAGES:
        patterns, kind, rules = KNOWN_PACKAGES[pkg]
        for pattern in patterns:
            for path in sorted(glob.glob(os.path.join(root, pattern))):
                rel = os.path.relpath(path, root)
                if pkg == "openttd-opensfx":
                    try:
                        entries = read_opensfx_bank(path)
                    except (OSError, struct.error, IndexError):
                        continue
                    for idx, (credit, wav) in enumerate(entries):
                        try:
                            info = probe_audio(wav)
                        except AudioError:
                            continue
                        out.append(RecordedSound(pkg, path, idx, _opensfx_licence(credit), kind,
                                                 credit, float(info.duration_seconds), int(info.sample_rate)))
                    continue
                this_kind = "music" if "/music/" in rel else kind
                if this_kind == "music" and not include_music:
                    continue
                try:
                    with open(path, "rb") as f:
                        info = probe_audio(f.read())
                except (OSError, AudioError):
                    continue
                out.append(RecordedSound(pkg, path, None, _licence_for(rel, rules), this_kind,
                                         os.path.basename(path), float(info.duration_seconds),
                                         int(info.sample_rate)))
    if wanted is not None:
        out = [s for s in out if s.licence in wanted]
    return out


def load_recorded_sound(sound: RecordedSound, sample_rate: int = 16000) -> np.ndarray:
    """The sound as mono float32 at ``sample_rate`` (channels averaged, resampled with soxr),
    decoded by :func:`frcrn.audio.codec.decode_audio` with its checks (AudioError names the sound)."""
    from ..audio.codec import AudioError, decode_audio

    if sound.member is not None:
        data = read_opensfx_bank(sound.path)[sound.member][1]
    else:
        with open(sound.path, "rb") as f:
            data = f.read()
    try:
        return decode_audio(data, target_rate=sample_rate).samples
    except AudioError as err:
        where = f"{sound.path}#{sound.member}" if sound.member is not None else sound.path
        raise AudioError(err.kind, f"{where}: {err.message}") from None


def summarize(sounds: Sequence[RecordedSound]) -> dict[str, dict[str, object]]:
    """Per package: number of sounds, total minutes and the licences seen."""
    out: dict[str, dict[str, object]] = {}
    for s in sounds:
        d = out.setdefault(s.package, {"sounds": 0, "minutes": 0.0, "licences": set()})
        d["sounds"] = int(d["sounds"]) + 1
        d["minutes"] = float(d["minutes"]) + s.duration / 60.0
        d["licences"].add(s.licence)  # type: ignore[union-attr]
    for d in out.values():
        d["licences"] = sorted(d["licences"])  # type: ignore[arg-type]
        d["minutes"] = round(float(d["minutes"]), 2)
    return out


if __name__ == "__main__":  # pragma: no cover
    found = list_recorded_sounds(include_music=True)
    for pkg, d in summarize(found).items():
        print(f"{pkg:24s} {d['sounds']:4d} sounds {d['minutes']:7.2f} min  {', '.join(d['licences'])}")
    if not found:
        print("none of", ", ".join(KNOWN_PACKAGES), "is installed")
