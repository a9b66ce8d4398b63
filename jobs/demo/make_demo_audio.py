"""Make the project's demo corpus: short synthetic noisy English sentences.

Six sentences are spoken by Debian's ``espeak-ng`` (different voices and speeds), resampled to
16 kHz, padded with 0.4 s of silence at each end, mixed with a different family of
:mod:`frcrn.training.noise` at 0-10 dB SNR (mixture RMS -26 dBFS) and written to
``jobs/demo/audio/`` in a mix of formats and rates so that the demo exercises the loader's
resampling and down-mixing: 16 kHz WAV, 44.1 kHz stereo WAV, 8 kHz WAV, 16 kHz FLAC, 22.05 kHz WAV
and 48 kHz FLAC. A ``manifest.csv`` (columns ``audio_uri`` — path relative to the manifest's
folder — ``speaker``, ``text``) lists them.

Deterministic: a fixed seed drives every random choice and the noise; the speech itself is only
as reproducible as the installed espeak-ng (1.51 on Debian 12 when these files were made).

Usage (from the project root; needs ``apt-get install -y espeak-ng``)::

    python jobs/demo/make_demo_audio.py [--out jobs/demo/audio]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf
import soxr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:  # run as a script from a source checkout
    sys.path.insert(0, ROOT)

from frcrn.training.mixtures import mix_at_snr  # noqa: E402 - after the sys.path entry above
from frcrn.training.noise import make_noise  # noqa: E402 - after the sys.path entry above

SEED = 20240601
SR = 16000
PAD_SECONDS = 0.4
LEVEL_DBFS = -26.0

# (file name, espeak voice, words per minute, text, noise family, output rate, channels, subtype)
CLIPS = [
    ("demo_01.wav", "en-us", 165, "The quick brown fox jumps over the lazy dog.",
     "machine", 16000, 1, "PCM_16"),
    ("demo_02_44k1_stereo.wav", "en-gb+f3", 175, "She sells sea shells by the sea shore.",
     "babble", 44100, 2, "PCM_16"),
    ("demo_03_8k.wav", "en-gb-scotland+m3", 150,
     "Please call Stella and ask her to bring these things with her from the store.",
     "hum", 8000, 1, "PCM_16"),
    ("demo_04.flac", "en-us+f2", 160, "Open the window, it is getting warm in here.",
     "crackle", 16000, 1, "PCM_16"),
    ("demo_05_22k05.wav", "en-029+m2", 145,
     "Turn left at the next corner and keep going for two blocks.",
     "bursts", 22050, 1, "PCM_16"),
    ("demo_06_48k.flac", "en-gb-x-rp+f4", 170,
     "A rainbow is a division of white light into many beautiful colours.",
     "pink_am", 48000, 1, "PCM_16"),
]


def speak(text: str, voice: str, wpm: int) -> np.ndarray:
    """espeak-ng speech as mono float32 at 16 kHz."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng not found: apt-get install -y espeak-ng")
    wav = subprocess.run([exe, "-v", voice, "-s", str(wpm), "--stdout", text],
                         check=True, capture_output=True).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return soxr.resample(mono, sr, SR, quality="HQ").astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "audio"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(SEED)
    pad = np.zeros(int(PAD_SECONDS * SR), dtype=np.float32)
    speech = [np.concatenate([pad, speak(text, voice, wpm), pad])
              for _, voice, wpm, text, *_ in CLIPS]

    rows = []
    for i, (name, voice, _wpm, text, family, rate, channels, subtype) in enumerate(CLIPS):
        clean = speech[i]
        others = speech[:i] + speech[i + 1:]  # babble from the other sentences only
        noise = make_noise(family, clean.size, rng, sample_rate=SR, babble_sources=others)
        snr = float(rng.uniform(0.0, 10.0))
        noisy = mix_at_snr(clean, noise, snr, LEVEL_DBFS)
        out = noisy if rate == SR else soxr.resample(noisy, SR, rate, quality="HQ")
        if channels == 2:  # same signal, right channel 2 dB quieter
            out = np.stack([out, out * 10.0 ** (-2.0 / 20.0)], axis=1)
        out = np.clip(out, -0.999, 0.999)
        sf.write(os.path.join(args.out, name), out, rate, subtype=subtype)
        rows.append({"audio_uri": name, "speaker": f"espeak-ng:{voice}", "text": text})
        print(f"{name:26s} {rate:6d} Hz x{channels} {clean.size / SR:5.2f} s  {family:8s} "
              f"SNR {snr:4.1f} dB  {voice}")

    with open(os.path.join(args.out, "manifest.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["audio_uri", "speaker", "text"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
