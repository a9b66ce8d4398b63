"""Grow a trained FRCRN into a wider one that computes the same function.

Why: a wider network can learn more, but training one from scratch on 2 CPU cores costs days. Starting
it from a trained narrower network keeps everything already learned: the wide network's output is the
narrow one's (up to float summation order) on its first step, and the new channels start learning
from there.

How: every old weight keeps its place; the new channels (and FSMN hidden units, and squeeze units of
the SE layers) get the wide network's ordinary random initialisation for what flows INTO them, and
zeros for every weight that carries them OUT into an old unit. Old units therefore see exactly their
old inputs. The zeros get gradients at once (the new channels' activations are not zero), so the new
capacity is used from the first step. Batch norm is per channel, so its statistics for old channels are
unchanged in training and in inference.

Two layouts need care: batch norm runs over [real channels, imaginary channels] and the decoders take
[decoder output, skip] concatenated; both are two blocks of `width`, so an old index j >= width moves to
j - width + new_width.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .config import ModelConfig
from .layers import ComplexConv, ComplexFsmnLayer, ComplexSE
from .network import FRCRN

WIDENABLE = ("width", "fsmn_hidden")
"""The shape fields `widen` may grow; every other field must match."""


class CannotWiden(ValueError):
    """The target shape is not a widening of the source (narrower, or another field differs)."""


def check_widening(source: ModelConfig, target: ModelConfig) -> None:
    """Raise `CannotWiden` unless `target` only grows `width` and/or `fsmn_hidden` of `source`."""
    fixed = {f.name for f in dataclasses.fields(ModelConfig)} - set(WIDENABLE)

    def changes(names: list[str], sep: str) -> str:
        return ", ".join(f"{name}{sep}{getattr(source, name)} -> {getattr(target, name)}" for name in names)

    differ = sorted(name for name in fixed if getattr(source, name) != getattr(target, name))
    if differ:
        raise CannotWiden(f"only {' and '.join(WIDENABLE)} can grow; {', '.join(differ)} differ "
                          f"({changes(differ, ': ')})")
    narrower = [name for name in WIDENABLE if getattr(target, name) < getattr(source, name)]
    if narrower:
        raise CannotWiden(f"cannot narrow a network: {changes(narrower, ' ')}")


def _layout(module: nn.Module, name: str) -> tuple[int | None, tuple[int, ...]]:
    """(output dim or None, dims laid out as two blocks) of parameter/buffer `name` of `module`.

    The output dim says which index is the unit the tensor feeds: for an old unit, inputs from new
    units are zeroed. None: a scalar counter, copied as is.
    """
    if isinstance(module, ComplexConv):
        if name.startswith("bn."):
            return (None, ()) if name == "bn.num_batches_tracked" else (0, (0,))
        if name == "weight":  # [2, O, I, kh, kw]; transposed [2, I, O, kh, kw]
            in_dim = 1 if module.transposed else 2
            return (2 if module.transposed else 1), ((in_dim,) if module.input_groups == 2 else ())
        return 1, ()  # bias [2, O]
    if isinstance(module, ComplexFsmnLayer):
        # linear_weight [2, H, C], linear_bias [2, H], project_weight [2, C, H], memory_weight [2, C, K]
        return 1, ()
    if isinstance(module, ComplexSE):
        return 0, ()  # nn.Linear weight [out, in], bias [out]
    raise CannotWiden(f"no widening rule for {type(module).__name__}.{name}")


def _index_map(old: int, new: int, two_blocks: bool) -> torch.Tensor:
    """New positions of the `old` indices of a dimension that grows to `new`."""
    if not two_blocks or old == new:
        return torch.arange(old)
    half, new_half = old // 2, new // 2
    return torch.cat([torch.arange(half), torch.arange(half) + new_half])


def _embed(old: torch.Tensor, new: torch.Tensor, out_dim: int | None, pair_dims: tuple[int, ...]) -> torch.Tensor:
    """`new` with `old` placed at its mapped indices and old units' inputs from new units zeroed."""
    if out_dim is None or old.shape == new.shape:
        return old.clone()
    maps = [_index_map(o, n, d in pair_dims) for d, (o, n) in enumerate(zip(old.shape, new.shape))]
    result = new.clone()
    # old units: every input zero (new ones stay so), then the old weights at their places
    result.index_fill_(out_dim, maps[out_dim], 0.0)
    result[torch.meshgrid(*maps, indexing="ij")] = old
    return result


def widen(model: FRCRN, target: ModelConfig, *, seed: int = 0) -> FRCRN:
    """A `target`-shaped FRCRN whose output equals `model`'s (see the module docstring).

    `seed` fixes the random initialisation of the new channels' inputs, so a widening is reproducible.
    The result is in the mode (train/eval) of `model` and on the CPU.
    """
    check_widening(model.config, target)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wide = FRCRN(target)
    old_modules = dict(model.named_modules())
    state = {}
    for module_name, module in wide.named_modules():
        own = {**dict(module.named_parameters(recurse=False)), **dict(module.named_buffers(recurse=False))}
        if isinstance(module, ComplexConv) and module.bn is not None:
            own.update({f"bn.{k}": v for k, v in module.bn.state_dict().items()})
        if not own or isinstance(module, nn.BatchNorm2d) or module_name.startswith("stft"):
            continue
        owner = module
        if isinstance(module, nn.Linear):  # the SE layers' fc_r / fc_i: rules live with the SE
            owner = wide.get_submodule(module_name.rsplit(".", 2)[0])
        old_module = old_modules[module_name]
        old_own = old_module.state_dict()
        for name, tensor in own.items():
            key = f"{module_name}.{name}"
            out_dim, pair_dims = _layout(owner, name)
            state[key] = _embed(old_own[name].detach().cpu(), tensor.detach(), out_dim, pair_dims)
    old_state = model.state_dict()  # the fixed STFT kernels: the same for every width
    state.update({key: old_state[key] for key in set(wide.state_dict()) - set(state) if key.startswith("stft.")})
    wide.load_state_dict(state)
    return wide.train(model.training)
