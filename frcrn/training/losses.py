"""FRCRN's published training loss: cIRM mask MSE plus negative SI-SNR, on the second stage.

As in the reference `FRCRN.loss(mode='Mix')`: the target complex ideal ratio mask S/Y is computed
from the clean (S) and noisy (Y) spectra, values above 2 are set to 1 and below -2 to -1 (that odd
clamp is what was published, and is kept), and the real/imaginary MSEs are scaled by the number of
spectral rows (2F = 642).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..model.network import FRCRN, FRCRNOutput


class LossParts(NamedTuple):
    total: torch.Tensor
    amp: torch.Tensor
    phase: torch.Tensor
    si_snr: torch.Tensor


def si_snr(estimate: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean scale-invariant SNR in dB over the batch (no mean removal, as the reference)."""
    dot = (estimate * target).sum(-1, keepdim=True)
    target_energy = (target * target).sum(-1, keepdim=True)
    projection = dot / (target_energy + eps) * target
    noise = estimate - projection
    ratio = (projection * projection).sum(-1) / ((noise * noise).sum(-1) + eps)
    return (10 * torch.log10(ratio + eps)).mean()


def cirm_target(model: FRCRN, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """[B, 2F, T] target mask S/Y (real rows, then imaginary rows), clamped as published."""
    bins = model.config.freq_bins
    s, y = model.stft(clean), model.stft(noisy)
    s_r, s_i, y_r, y_i = s[:, :bins], s[:, bins:], y[:, :bins], y[:, bins:]
    power = y_r * y_r + y_i * y_i + 1e-8
    mask = torch.cat([(s_r * y_r + s_i * y_i) / power, (s_i * y_r - s_r * y_i) / power], 1)
    return torch.where(mask > 2, torch.ones_like(mask), torch.where(mask < -2, -torch.ones_like(mask), mask))


def frcrn_loss(model: FRCRN, noisy: torch.Tensor, clean: torch.Tensor, out: FRCRNOutput) -> LossParts:
    target_len = out.wav.shape[-1]
    clean = clean[..., :target_len]
    with torch.no_grad():
        target = cirm_target(model, noisy[..., :target_len], clean)
    bins, rows = model.config.freq_bins, out.mask.shape[1]
    amp = F.mse_loss(out.mask[:, :bins], target[:, :bins]) * rows
    phase = F.mse_loss(out.mask[:, bins:], target[:, bins:]) * rows
    snr = si_snr(out.wav, clean)
    return LossParts(amp + phase - snr, amp, phase, snr)
