"""FRCRN's published training loss: cIRM mask MSE plus negative SI-SNR, on the second stage.

As in the reference `FRCRN.loss(mode='Mix')`: the target complex ideal ratio mask S/Y is computed
from the clean (S) and noisy (Y) spectra, values above 2 are set to 1 and below -2 to -1 (that odd
clamp is what was published, and is kept), and the real/imaginary MSEs are scaled by the number of
spectral rows (2F = 642).

Opt-in (`loss.compressed_weight` > 0): a power-law compressed spectral distance between the output
and the clean speech (Braun & Tashev, "A consolidated view of loss functions for supervised deep
learning-based speech enhancement", 2021). SI-SNR and the mask MSE weigh errors by energy, so a
quiet residual background, which is what a listener (and DNSMOS BAK) hears between words, costs
almost nothing; compressing magnitudes to the power 0.3 makes those quiet errors count.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..model.network import FRCRN, FRCRNOutput
from .config import LossConfig


class LossParts(NamedTuple):
    total: torch.Tensor
    amp: torch.Tensor
    phase: torch.Tensor
    si_snr: torch.Tensor
    compressed: torch.Tensor | None = None
    """The compressed spectral distance, when its weight is above 0 (already in `total`)."""


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


def compressed_spectral_distance(model: FRCRN, estimate: torch.Tensor, target: torch.Tensor,
                                 settings: LossConfig) -> torch.Tensor:
    """Mean squared distance of the power-compressed spectra |S|^p (weight 1 - complex_share) and of
    the compressed complex spectra S |S|^(p-1) (weight complex_share), over bins and frames.

    With `over_suppression_weight` w > 0, magnitude errors where the output is quieter than the
    clean speech count 1 + w times (an asymmetric loss, Eskimez et al. 2021): removing speech then
    costs more than leaving noise of the same size, which is what keeps a voice's weak, noisy
    high band from being cut away with the noise over it."""
    bins, power = model.config.freq_bins, settings.compressed_power

    def compressed(spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        real, imag = spec[:, :bins], spec[:, bins:]
        magnitude = torch.sqrt(real * real + imag * imag + 1e-12)
        scale = magnitude ** (power - 1)
        return magnitude ** power, real * scale, imag * scale

    e_mag, e_real, e_imag = compressed(model.stft(estimate))
    t_mag, t_real, t_imag = compressed(model.stft(target))
    magnitude_term = F.mse_loss(e_mag, t_mag)
    if settings.over_suppression_weight > 0:
        magnitude_term = magnitude_term + settings.over_suppression_weight * torch.relu(t_mag - e_mag).pow(2).mean()
    complex_term = F.mse_loss(e_real, t_real) + F.mse_loss(e_imag, t_imag)
    share = settings.complex_share
    return (1 - share) * magnitude_term + share * complex_term


def frcrn_loss(model: FRCRN, noisy: torch.Tensor, clean: torch.Tensor, out: FRCRNOutput,
               settings: LossConfig | None = None) -> LossParts:
    """The published loss (mask MSE - SI-SNR), plus `settings.compressed_weight` x the compressed
    spectral distance when that weight is above 0 (None: the published loss)."""
    settings = settings or LossConfig()
    target_len = out.wav.shape[-1]
    clean = clean[..., :target_len]
    with torch.no_grad():
        target = cirm_target(model, noisy[..., :target_len], clean)
    bins, rows = model.config.freq_bins, out.mask.shape[1]
    amp = F.mse_loss(out.mask[:, :bins], target[:, :bins]) * rows
    phase = F.mse_loss(out.mask[:, bins:], target[:, bins:]) * rows
    snr = si_snr(out.wav, clean)
    if settings.compressed_weight <= 0:
        return LossParts(amp + phase - snr, amp, phase, snr)
    spectral = compressed_spectral_distance(model, out.wav, clean, settings)
    return LossParts(amp + phase - snr + settings.compressed_weight * spectral, amp, phase, snr, spectral)
