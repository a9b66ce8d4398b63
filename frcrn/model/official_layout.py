"""Mapping between the official FRCRN state_dict layout and this project's native layout.

The official checkpoint (ModelScope `speech_frcrn_ans_cirm_16k`, pytorch_model.bin) is a plain
state_dict with 1,692 keys: every UNet layer is registered twice (`unet.encoder3.*` and
`unet.encoders.3.*`), so 824 groups of keys alias one tensor. Real and imaginary parts live in
separate layers (`conv_re`/`conv_im`, `bn_re`/`bn_im`, `fsmn_re_L1`/`fsmn_im_L1`); the native layout
stacks them ([2, ...] = re, im). This module is pure data plumbing: it verifies aliases agree,
consumes every key, and reports the first offending keys when something does not fit.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

import torch

from .config import ModelConfig

UNET_PREFIXES = {"unet": "unet1", "unet2": "unet2"}

# `unet.encoder3.x` -> `unet.encoders.3.x` etc.: the reference's second registration of each layer.
_ALIASES = [
    (re.compile(r"\.encoder(\d+)\."), r".encoders.\1."),
    (re.compile(r"\.decoder(\d+)\."), r".decoders.\1."),
    (re.compile(r"\.fsmn_enc(\d+)\."), r".fsmn_enc.\1."),
    (re.compile(r"\.fsmn_dec(\d+)\."), r".fsmn_dec.\1."),
    (re.compile(r"\.se_layer_enc(\d+)\."), r".se_layers_enc.\1."),
    (re.compile(r"\.se_layer_dec(\d+)\."), r".se_layers_dec.\1."),
]

_FSMN_PARAMS = {"linear.weight": "linear_weight", "linear.bias": "linear_bias",
                "project.weight": "project_weight", "conv1.weight": "memory_weight"}

_U = r"(?P<u>unet2?)"
# Each rule: official canonical key pattern -> native key template; `part` (re/im) is stacked in that order.
_RULES = [
    (re.compile(_U + r"\.(?P<kind>encoders|decoders)\.(?P<i>\d+)\.(?:conv\.conv|transconv\.tconv)"
                     r"_(?P<part>re|im)\.(?P<p>weight|bias)$"),
     "{u}.{kind}.{i}.{p}"),
    (re.compile(_U + r"\.(?P<kind>encoders|decoders)\.(?P<i>\d+)\.bn\.bn_(?P<part>re|im)\.(?P<p>\w+)$"),
     "{u}.{kind}.{i}.bn.{p}"),
    (re.compile(_U + r"\.linear\.conv_(?P<part>re|im)\.(?P<p>weight|bias)$"), "{u}.linear.{p}"),
    (re.compile(_U + r"\.(?P<kind>fsmn_enc|fsmn_dec)\.(?P<i>\d+)\.fsmn_(?P<part>re|im)_L1\."
                     r"(?P<p>linear\.weight|linear\.bias|project\.weight|conv1\.weight)$"),
     "{u}.{kind}.{i}.layers.0.{p}"),
    (re.compile(_U + r"\.fsmn\.fsmn_(?P<part>re|im)_L(?P<layer>[12])\."
                     r"(?P<p>linear\.weight|linear\.bias|project\.weight|conv1\.weight)$"),
     "{u}.fsmn.layers.{layer}.{p}"),
    (re.compile(_U + r"\.(?P<kind>se_layers_enc|se_layers_dec)\.(?P<i>\d+)\.(?P<p>fc_[ri]\.[02]\.(?:weight|bias))$"),
     "{u}.{kind}.{i}.{p}"),
]
_STFT_KEYS = {"stft.weight": "stft.analysis", "istft.weight": "stft.synthesis", "istft.window": "stft.window"}


class LayoutError(ValueError):
    """A state_dict that does not fit the network; the message names the first offending keys."""


def _first(keys, n: int = 5) -> str:
    keys = sorted(keys)
    more = f" (and {len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(repr(k) for k in keys[:n]) + more


def canonical_key(key: str) -> str:
    for pattern, replacement in _ALIASES:
        key = pattern.sub(replacement, key)
    return key


def looks_official(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("unet.") for k in state) and "stft.weight" in state


def dealias(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collapse alias groups to their canonical key, refusing groups whose tensors differ."""
    groups: dict[str, list[str]] = defaultdict(list)
    for key in state:
        groups[canonical_key(key)].append(key)
    out = {}
    for canonical, keys in groups.items():
        first = state[keys[0]]
        for other in keys[1:]:
            if state[other].shape != first.shape or not torch.equal(state[other], first):
                raise LayoutError(f"aliased keys {keys[0]!r} and {other!r} hold different tensors; "
                                  "the official layout registers each layer twice with the same weights")
        out[canonical] = first
    return out


def infer_config(canonical: Mapping[str, torch.Tensor]) -> ModelConfig:
    """Read the network's shape from an official-layout state_dict."""
    try:
        width = canonical["unet.encoders.0.conv.conv_re.weight"].shape[0]
        hidden, _ = canonical["unet.fsmn.fsmn_re_L1.linear.weight"].shape
        order = canonical["unet.fsmn.fsmn_re_L1.conv1.weight"].shape[2]
        squeeze = canonical["unet.se_layers_enc.0.fc_r.0.weight"].shape[0]
    except KeyError as missing:
        raise LayoutError(f"not an FRCRN checkpoint in the official layout: key {missing} is missing") from None
    # Depth stays 14, the released network's: a file in the official layout with a layer missing is
    # reported as missing keys, never re-read as a shallower net.
    return ModelConfig(width=width, fsmn_hidden=hidden, fsmn_order=order, se_reduction=width // squeeze)


def _is_unused(native_key: str, config: ModelConfig) -> bool:
    """Layers the reference builds but never runs; they exist in official files and are dropped."""
    n = config.depth // 2  # layers per UNet side
    unused = (".fsmn_enc.0.", f".fsmn_dec.{n - 1}.", f".se_layers_enc.{n - 1}.", f".se_layers_dec.{n - 2}.")
    return any(u in native_key for u in unused)


def _fits(stacked: torch.Size, native: torch.Size) -> bool:
    """Whether stacked [re, im] parts are the native tensor up to a reshape that keeps element order:
    equal but for size-1 axes (FSMN memory kernels are [C, 1, k, 1] officially, [C, k] natively), or
    batch-norm vectors [2, C] -> [2C]. Equal element counts alone are not enough: a [5, 2] kernel
    stored as [2, 5] has the same count but would load scrambled."""
    def squeeze(shape: torch.Size) -> tuple[int, ...]:
        return tuple(d for d in shape if d != 1)
    if squeeze(stacked) == squeeze(native):
        return True
    return len(native) == 1 and len(stacked) == 2 and stacked[0] * stacked[1] == native[0]


def official_to_native(canonical: Mapping[str, torch.Tensor], config: ModelConfig,
                       native_shapes: Mapping[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Official state_dict, already collapsed by `dealias` (split re/im) -> native state_dict with
    exactly `native_shapes` keys. The caller de-aliases once and infers `config` from the result."""
    canonical = dict(canonical)
    parts: dict[str, dict[int, torch.Tensor]] = defaultdict(dict)
    sources: dict[str, dict[int, str]] = defaultdict(dict)  # the official keys behind each part, for messages
    native: dict[str, torch.Tensor] = {}
    unexpected = []
    enframe = canonical.pop("istft.enframe", None)
    if enframe is not None and not torch.equal(enframe.reshape(enframe.shape[0], -1), torch.eye(enframe.shape[0])):
        raise LayoutError("'istft.enframe' is not the identity framing kernel the reference uses")
    for key, tensor in canonical.items():
        if key in _STFT_KEYS:
            native[_STFT_KEYS[key]] = tensor
            continue
        for pattern, template in _RULES:
            m = pattern.match(key)
            if m is None:
                continue
            fields = m.groupdict()
            fields["u"] = UNET_PREFIXES[fields["u"]]
            if "layer" in fields:
                fields["layer"] = str(int(fields["layer"]) - 1)
            if fields["p"] in _FSMN_PARAMS:
                fields["p"] = _FSMN_PARAMS[fields["p"]]
            target = template.format(**fields)
            if target not in native_shapes:  # a layer the reference never runs, or not FRCRN's at all
                if not _is_unused(target, config):
                    unexpected.append(key)
                break
            if "part" in fields:
                parts[target][0 if fields["part"] == "re" else 1] = tensor
                sources[target][0 if fields["part"] == "re" else 1] = key
            else:
                native[target] = tensor
            break
        else:
            unexpected.append(key)
    if unexpected:
        raise LayoutError(f"unexpected keys for the official FRCRN layout: {_first(unexpected)}")
    for target, pair in parts.items():
        if len(pair) != 2:
            missing = "imaginary" if 1 not in pair else "real"
            raise LayoutError(
                f"{target!r}: the {missing} part is missing (found {_first(sources[target].values())} only)")
        if pair[0].shape != pair[1].shape:
            raise LayoutError(f"{target!r}: real and imaginary parts differ in shape: {sources[target][0]!r} is "
                              f"{tuple(pair[0].shape)}, {sources[target][1]!r} is {tuple(pair[1].shape)}")
        if target.endswith("num_batches_tracked"):
            native[target] = torch.maximum(pair[0], pair[1])
        else:  # every target here is in native_shapes: others were reported as unexpected above
            stacked = torch.stack([pair[0], pair[1]])
            if not _fits(stacked.shape, native_shapes[target]):
                raise LayoutError(f"{target!r}: official parts {_first(sources[target].values())} have shape "
                                  f"{tuple(pair[0].shape)}, which does not fit {tuple(native_shapes[target])}")
            native[target] = stacked.reshape(native_shapes[target])
    return native
