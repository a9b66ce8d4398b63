"""What training's evaluations measure: SI-SNR of fixed validation mixtures, noisy and enhanced,
and with a DNSMOS scorer what a listener would hear of them and of real recordings.
`frcrn eval`'s model path reproduces these numbers (``frcrn.evaluation``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..model.network import FRCRN
from ..quality.dnsmos import Dnsmos
from .losses import si_snr

__all__ = ["validate"]


@torch.inference_mode()
def validate(model: FRCRN, items: Sequence[tuple[np.ndarray, np.ndarray, dict]],
             dnsmos: Dnsmos | None = None, unpaired: Sequence[np.ndarray] = ()) -> dict[str, float]:
    """Mean SI-SNR of noisy and enhanced validation mixtures (dB), one item at a time, on the
    model's device; with a ``dnsmos`` scorer also the enhanced items' mean DNSMOS SIG/BAK/OVRL
    (``dnsmos_{sig,bak,ovrl}_enhanced``) and that of the enhanced ``unpaired`` recordings
    (``unpaired_dnsmos_{sig,bak,ovrl}``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    noisy_scores, enhanced_scores, enhanced = [], [], []
    for noisy, clean, meta in items:
        if meta.get("noise_only"):
            continue
        x, s = torch.from_numpy(noisy)[None].to(device), torch.from_numpy(clean)[None].to(device)
        wav = model(x).wav
        n = wav.shape[-1]
        noisy_scores.append(float(si_snr(x[..., :n], s[..., :n])))
        enhanced_scores.append(float(si_snr(wav, s[..., :n])))
        if dnsmos is not None:
            enhanced.append(wav[0].float().cpu().numpy())
    real = ([model(torch.from_numpy(x)[None].to(device)).wav[0].float().cpu().numpy() for x in unpaired]
            if dnsmos is not None else [])
    model.train(was_training)
    noisy_mean, enhanced_mean = float(np.mean(noisy_scores)), float(np.mean(enhanced_scores))
    metrics = {"si_snr_noisy": noisy_mean, "si_snr_enhanced": enhanced_mean,
               "si_snr_improvement": enhanced_mean - noisy_mean}
    for prefix, signals in (("dnsmos_{}_enhanced", enhanced), ("unpaired_dnsmos_{}", real)):
        if dnsmos is not None and signals:
            scores = dnsmos.score_many(signals)
            for key in ("sig", "bak", "ovrl"):
                metrics[prefix.format(key)] = float(np.mean([sc[key] for sc in scores]))
    return metrics
