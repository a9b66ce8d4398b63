"""FRCRN's complex building blocks, laid out for speed.

Every complex tensor is a real tensor [B, 2C, F, T]: real parts in channels [0, C), imaginary parts in
[C, 2C). A complex convolution is then ONE real convolution with block weight [[Wr, -Wi], [Wi, Wr]]
instead of the reference's four convolutions plus stack/copy per layer.

Parameters keep the complex parts stacked ([2, ...] = re, im) so they train like the reference's
separate real/imaginary layers. In eval mode the block weights are built once (with batch norm
folded into the convolution) and cached until the module trains, moves or loads new weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

CHANNELS_LAST = torch.channels_last
FSMN_CHUNK_ROWS = 8192
"""Rows ([position, part] pairs) per FSMN chunk on CPU: the chunk's hidden and projected activations
then stay in L2 cache (measured best of 2k/8k/32k/whole tensor). On CUDA the whole tensor is one chunk."""


def _uniform_(tensor: torch.Tensor, fan_in: int) -> None:
    """PyTorch's default conv/linear initialisation (kaiming_uniform with a=sqrt(5)): U(±1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    nn.init.uniform_(tensor, -bound, bound)


class FusedCacheMixin(nn.Module):
    """Caches derived inference weights; anything that can change the parameters clears the cache."""

    def _cached(self, build: Callable[[], tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        cache = self.__dict__.get("_fused")
        if cache is None:
            with torch.inference_mode(False), torch.no_grad():
                cache = tuple(t.detach() for t in build())
            self.__dict__["_fused"] = cache
        return cache

    def clear_fused(self) -> None:
        self.__dict__.pop("_fused", None)

    def train(self, mode: bool = True):
        self.clear_fused()
        return super().train(mode)

    def _apply(self, fn, recurse: bool = True):
        self.clear_fused()
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args, **kwargs):
        self.clear_fused()
        return super()._load_from_state_dict(*args, **kwargs)


def complex_block_weight(w: torch.Tensor, transposed: bool, input_groups: int) -> torch.Tensor:
    """Real weight of a complex (transposed) convolution for the stacked-channel layout.

    `w` is [2, O, I, ...] (conv) or [2, I, O, ...] (transposed conv). With `input_groups` > 1 the input
    is a concatenation of that many complex tensors, each laid out [re, im], so the block weight is
    assembled per group; this lets decoders take torch.cat([x, skip]) without reordering channels.
    """
    wr, wi = w[0], w[1]
    in_dim = 0 if transposed else 1
    blocks = []
    for gr, gi in zip(wr.chunk(input_groups, in_dim), wi.chunk(input_groups, in_dim)):
        if transposed:  # rows are inputs: re_in -> (re_out: Wr, im_out: Wi); im_in -> (-Wi, Wr)
            blocks.append(torch.cat([torch.cat([gr, gi], 1), torch.cat([-gi, gr], 1)], 0))
        else:  # rows are outputs: re_out <- (re_in: Wr, im_in: -Wi); im_out <- (Wi, Wr)
            blocks.append(torch.cat([torch.cat([gr, -gi], 1), torch.cat([gi, gr], 1)], 0))
    return torch.cat(blocks, in_dim)


def complex_block_bias(b: torch.Tensor) -> torch.Tensor:
    """re = conv_re(x_r) - conv_im(x_i) and im = conv_re(x_i) + conv_im(x_r) carry biases b_r - b_i, b_r + b_i."""
    return torch.cat([b[0] - b[1], b[0] + b[1]])


class ComplexConv(FusedCacheMixin):
    """Complex conv or transposed conv, optionally followed by complex batch norm and LeakyReLU(0.01).

    The reference's complex batch norm is two independent BatchNorm2d (real, imaginary); in the
    stacked layout that is exactly one BatchNorm2d over 2*out channels.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], stride=(1, 1),
                 padding=(0, 0), transposed: bool = False, norm_act: bool = True, input_groups: int = 1):
        super().__init__()
        self.transposed, self.stride, self.padding = transposed, tuple(stride), tuple(padding)
        self.input_groups = input_groups
        shape = (in_channels, out_channels) if transposed else (out_channels, in_channels)
        self.weight = nn.Parameter(torch.empty(2, *shape, *kernel))
        self.bias = nn.Parameter(torch.empty(2, out_channels))
        fan_in = shape[1] * kernel[0] * kernel[1]  # as torch computes it, also for transposed convs
        _uniform_(self.weight, fan_in)
        _uniform_(self.bias, fan_in)
        self.bn = nn.BatchNorm2d(2 * out_channels) if norm_act else None

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose2d(x, weight, bias, self.stride, self.padding)
        return F.conv2d(x, weight, bias, self.stride, self.padding)

    def _fused_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        weight = complex_block_weight(self.weight, self.transposed, self.input_groups)
        bias = complex_block_bias(self.bias)
        if self.bn is not None:
            scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            shape = (1, -1, 1, 1) if self.transposed else (-1, 1, 1, 1)
            weight = weight * scale.reshape(shape)
            bias = (bias - self.bn.running_mean) * scale + self.bn.bias
        return weight.contiguous(), bias.contiguous(), weight.contiguous(memory_format=CHANNELS_LAST)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            weight = complex_block_weight(self.weight, self.transposed, self.input_groups)
            x = self._conv(x, weight, complex_block_bias(self.bias))
            if self.bn is not None:
                x = self.bn(x)
            return F.leaky_relu(x, 0.01) if self.bn is not None else x
        weight, bias, weight_cl = self._cached(self._fused_weights)
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=CHANNELS_LAST):
            weight = weight_cl  # oneDNN's channels-last kernels; no layout reorders per call
        x = self._conv(x, weight.to(x.dtype) if weight.dtype != x.dtype else weight, bias)
        return F.leaky_relu_(x, 0.01) if self.bn is not None else x


class ComplexFsmnLayer(FusedCacheMixin):
    """One complex UniDeepFsmn: re = f_re(x_r) - f_im(x_i), im = f_re(x_i) + f_im(x_r),
    with f(x) = x + p + memory(p), p = project(relu(linear(x))), memory = causal depthwise conv.

    `axis` is the sequence the memory runs along: 2 (frequency, inside the UNets) or 3 (time, the
    middle block). Linear layers are 1x1 grouped convolutions over the channel axis, so the layout
    never changes; the identity term is folded into the memory's current tap.
    """

    def __init__(self, channels: int, hidden: int, order: int, axis: int):
        super().__init__()
        self.channels, self.hidden, self.order, self.axis = channels, hidden, order, axis
        self.linear_weight = nn.Parameter(torch.empty(2, hidden, channels))
        self.linear_bias = nn.Parameter(torch.empty(2, hidden))
        self.project_weight = nn.Parameter(torch.empty(2, channels, hidden))
        self.memory_weight = nn.Parameter(torch.empty(2, channels, order))
        _uniform_(self.linear_weight, channels)
        _uniform_(self.linear_bias, channels)
        _uniform_(self.project_weight, hidden)
        _uniform_(self.memory_weight, order)

    def _weights(self) -> tuple[torch.Tensor, ...]:
        c, h, k = self.channels, self.hidden, self.order
        lin_w, lin_b, proj_w, mem_w = self.linear_weight, self.linear_bias, self.project_weight, self.memory_weight
        # hidden channels: [h_re(x_r), h_im(x_r), h_re(x_i), h_im(x_i)] from groups (x_r, x_i)
        linear = torch.cat([lin_w[0], lin_w[1], lin_w[0], lin_w[1]]).reshape(4 * h, c, 1, 1)
        bias = torch.cat([lin_b[0], lin_b[1], lin_b[0], lin_b[1]])
        # projected: [p_rr, p_ir, p_ri, p_ii] with p_ab = P_a h_a(x_b)
        project = torch.cat([proj_w[0], proj_w[1], proj_w[0], proj_w[1]]).reshape(4 * c, h, 1, 1)
        eye = torch.zeros(k, dtype=mem_w.dtype, device=mem_w.device)
        eye[-1] = 1.0
        memory = torch.cat([mem_w[0], mem_w[1], mem_w[0], mem_w[1]]) + eye
        memory = memory.reshape(4 * c, 1, k, 1) if self.axis == 2 else memory.reshape(4 * c, 1, 1, k)
        return linear.contiguous(), bias, project.contiguous(), memory.contiguous()

    def _eval_weights(self) -> tuple[torch.Tensor, ...]:
        """The 1x1-conv weights of `_weights` plus the matmul/channels-last forms of `_forward_cl`."""
        c, h, k = self.channels, self.hidden, self.order
        eye = torch.zeros(k, dtype=self.memory_weight.dtype, device=self.memory_weight.device)
        eye[-1] = 1.0
        linear_t = self.linear_weight.reshape(2 * h, c).t().contiguous()  # [C, (w, h)], w = re/im weights
        bias = self.linear_bias.reshape(2 * h).contiguous()
        project_t = self.project_weight.transpose(1, 2).contiguous()  # [w, h, C]
        memory = [(self.memory_weight[w] + eye).repeat(2, 1).reshape(2 * c, 1, k, 1)  # channels (part, C)
                  .contiguous(memory_format=CHANNELS_LAST) for w in range(2)]
        return (*self._weights(), linear_t, bias, project_t, *memory)

    def _forward_cl(self, x: torch.Tensor, weights: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Inference on a channels-last [B, 2C, F, T] tensor, chunk by chunk so activations stay in cache.

        Physically x is [B, F, T, 2C]: every (position, real/imag part) is a row of C features, so the
        linear and projection layers are plain matrix products on row blocks; the memory runs along L
        (F for axis 2, T for axis 3) and positions along the other axis S are independent, so chunks
        take all of L and a range of S. p and the memory conv are computed per chunk and never exist
        for the whole tensor.
        """
        linear_t, bias, project_t, mem_re, mem_im = weights
        c, h, k = self.channels, self.hidden, self.order
        if linear_t.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type):
            linear_t, bias, project_t, mem_re, mem_im = (t.to(x.dtype) for t in weights)  # autocast casts itself
        out = torch.empty_like(x, memory_format=CHANNELS_LAST)
        perm = (0, 2, 3, 1) if self.axis == 2 else (0, 3, 2, 1)  # -> [B, L, S, 2C]
        xs, outs = x.permute(perm), out.permute(perm)
        batch, length, positions, _ = xs.shape
        whole = x.is_cuda or torch.compiler.is_compiling()  # chunks only pay off for eager CPU
        step = positions if whole else max(1, min(positions, FSMN_CHUNK_ROWS // (2 * length)))
        for b in range(batch):
            for s0 in range(0, positions, step):
                xc = xs[b, :, s0:s0 + step]  # [L, n, 2C]
                n = xc.shape[1]
                rows = length * n * 2
                hidden = torch.addmm(bias, xc.reshape(rows, c), linear_t).relu_()  # [rows, (w, h)]
                p = torch.bmm(hidden.view(rows, 2, h).transpose(0, 1), project_t)  # [w, rows, C]
                q = []
                for w, mem in enumerate((mem_re, mem_im)):
                    pw = p[w].view(1, length, n, 2 * c).permute(0, 3, 1, 2)  # channels-last [1, 2C, L, n]
                    qw = F.conv2d(pw, mem, padding=(k - 1, 0), groups=2 * c)[:, :, :length]
                    q.append(qw.permute(0, 2, 3, 1).reshape(length, n, 2, c))
                x_r, x_i = xc[..., :c], xc[..., c:]
                o = outs[b, :, s0:s0 + step]
                o_r, o_i = o[..., :c], o[..., c:]
                torch.sub(x_r, x_i, out=o_r).add_(q[0][:, :, 0]).sub_(q[1][:, :, 1])  # + q_rr - q_ii
                torch.add(x_r, x_i, out=o_i).add_(q[0][:, :, 1]).add_(q[1][:, :, 0])  # + q_ri + q_ir
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            linear, bias, project, memory = self._weights()
        else:
            weights = self._cached(self._eval_weights)
            if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=CHANNELS_LAST):
                return self._forward_cl(x, weights[4:])
            linear, bias, project, memory = weights[:4]
        if linear.dtype != x.dtype:
            linear, bias, project, memory = (t.to(x.dtype) for t in (linear, bias, project, memory))
        c = self.channels
        hidden = F.relu(F.conv2d(x, linear, bias, groups=2))
        p = F.conv2d(hidden, project, groups=4)
        pad = (0, 0, self.order - 1, 0) if self.axis == 2 else (self.order - 1, 0)
        q = F.conv2d(F.pad(p, pad), memory, groups=4 * c)
        x_r, x_i = x[:, :c], x[:, c:]
        q_rr, q_ir, q_ri, q_ii = q[:, :c], q[:, c:2 * c], q[:, 2 * c:3 * c], q[:, 3 * c:]
        return torch.cat([x_r - x_i + q_rr - q_ii, x_r + x_i + q_ri + q_ir], 1)


class ComplexFsmn(nn.Module):
    """A stack of complex FSMN layers (1 inside the UNets, 2 in the middle block)."""

    def __init__(self, channels: int, hidden: int, order: int, axis: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(ComplexFsmnLayer(channels, hidden, order, axis) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class ComplexSE(nn.Module):
    """The reference's complex squeeze-and-excitation.

    Pools real and imaginary parts over (freq, time) separately, then scales the real part by
    y_r = fc_r(m_r) - fc_i(m_i) and the imaginary part by y_i = fc_r(m_i) + fc_i(m_r), elementwise
    (not a complex product), as the reference does.
    """

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        squeeze = channels // reduction
        self.channels = channels
        self.fc_r = nn.Sequential(nn.Linear(channels, squeeze), nn.ReLU(), nn.Linear(squeeze, channels), nn.Sigmoid())
        self.fc_i = nn.Sequential(nn.Linear(channels, squeeze), nn.ReLU(), nn.Linear(squeeze, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], self.channels
        pooled = F.adaptive_avg_pool2d(x, 1).reshape(b, 2, c).transpose(0, 1).reshape(2 * b, c)  # [m_r; m_i]
        r, i = self.fc_r(pooled), self.fc_i(pooled)
        scale = torch.cat([r[:b] - i[b:], r[b:] + i[:b]], 1)  # [y_r, y_i]
        return x * scale.reshape(b, 2 * c, 1, 1)
