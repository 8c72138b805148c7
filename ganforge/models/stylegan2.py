"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
written from the paper in plain PyTorch: no custom C++/CUDA ops, so the same code runs on CPU,
CUDA and MPS.

- Equalized learning rate: weights drawn from N(0, 1) and scaled at run time by He's constant,
  so Adam moves every layer at the same pace (the mapping network at ``lr_mul`` 0.01 of it).
- The mapping network turns z into w; the synthesis network starts from a learned 4x4 constant
  and at each layer *modulates* its 3x3 convolution weights by a per-sample style (an affine
  map of w), then *demodulates* them (each output channel back to unit expected variance). Per
  sample weights run as one grouped convolution (``fused``); ``use_fused_modconv(False)`` switches
  to the paper's equivalent unfused form (scale the inputs, convolve with the shared weight,
  scale the outputs), whose graph does not fix the batch size: what ONNX export uses.
- Per-pixel noise inputs, each with a learned strength; in eval mode a fixed noise image per
  layer (a buffer), so a seed always gives the same image.
- Skip generator: each resolution adds its RGB image to the upsampled sum of the lower ones.
  Residual discriminator with a minibatch standard-deviation map before its last convolution.
- Up- and down-sampling with the binomial [1, 3, 3, 1] low-pass filter as plain (transposed)
  depthwise convolutions.
- Truncation: the generator tracks the average w in a buffer; ``psi`` < 1 pulls w towards it.

Class-conditional (StyleGAN2-ADA's conditional configuration): with ``num_classes`` > 0 the
class is embedded (an equalized linear map of its one-hot vector to w's size), normalised like z
and concatenated to the normalised z at the mapping network's input; the discriminator ends in
``cmap`` features instead of one logit, and its score is their dot product with an embedding of
the class, over sqrt(cmap) (the projection discriminator, Miyato & Koyama 2018).

Channels per resolution follow the paper's configuration: ``width`` (the most any layer has) up
to 32 px, then halving as resolution doubles (``32 * width / res``), so ``width`` alone sets the
size of the networks (512: the paper's; 16-64: CPU and tests).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from .layers import MinibatchStd

SQRT2 = math.sqrt(2.0)


def channels_at(res: int, width: int) -> int:
    """Feature maps at resolution ``res``: ``width`` up to 32 px, then ``32 * width / res``."""
    return max(1, min(width, 32 * width // res))


def _lowpass() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = f[:, None] * f[None, :]
    return f / f.sum()


def upsample2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x upsampling: zeros between pixels, then the low-pass filter (gain 4 keeps the mean)."""
    c = x.shape[1]
    k = (kernel * 4).to(x.dtype)[None, None].expand(c, 1, 4, 4)
    return F.conv_transpose2d(x, k, stride=2, padding=1, groups=c)


def downsample2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x downsampling: the low-pass filter, then every other pixel."""
    c = x.shape[1]
    k = kernel.to(x.dtype)[None, None].expand(c, 1, 4, 4)
    return F.conv2d(x, k, stride=2, padding=1, groups=c)


class EqualLinear(nn.Module):
    """A linear layer with equalized learning rate (weights scaled by lr_mul / sqrt(fan_in) at
    run time); ``act``: leaky ReLU 0.2 times sqrt(2) (the gain that keeps the variance)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0,
                 lr_mul: float = 1.0, act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(in_features), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.act else out


class EqualConv2d(nn.Module):
    """A convolution with equalized learning rate; optional 2x downsampling before it."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, act: bool = True,
                 down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1 / math.sqrt(in_ch * kernel * kernel)
        self.act, self.down, self.pad = act, down, kernel // 2
        self.register_buffer("kernel", _lowpass(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = downsample2d(x, self.kernel)
        out = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.act else out


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     demodulate: bool = True, eps: float = 1e-8, fused: bool = True) -> torch.Tensor:
    """Convolve each sample of ``x`` (N, I, H, W) with ``weight`` (O, I, k, k) scaled per input
    channel by its ``styles`` (N, I), each output channel then divided by its weights' norm
    (demodulation): one grouped convolution over the batch.

    ``fused=False``: the same numbers as x * style -> conv with the shared weight -> * the
    demodulation coefficients (Karras et al. 2020, sec. 2.2). Its group count is not the batch
    size, so an exported graph keeps a dynamic batch axis."""
    n, i, h, w = x.shape
    o, _, k, _ = weight.shape
    if not fused:
        out = F.conv2d(x * styles[:, :, None, None], weight, padding=k // 2)
        if demodulate:  # sum over (I, k, k) of (w * s)^2 = (w^2 summed over k, k) @ s^2
            d = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps)  # (N, O)
            out = out * d[:, :, None, None]
        return out
    wts = weight[None] * styles[:, None, :, None, None]  # (N, O, I, k, k)
    if demodulate:
        wts = wts * torch.rsqrt(wts.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    out = F.conv2d(x.reshape(1, n * i, h, w), wts.reshape(n * o, i, k, k), padding=k // 2, groups=n)
    return out.reshape(n, o, h, w)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution (optionally after 2x upsampling), noise, bias, leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))
        self.register_buffer("kernel", _lowpass(), persistent=False)
        self.scale, self.up = 1 / math.sqrt(in_ch * 9), up
        self.fused = True  # one grouped conv per batch; False: the unfused form (see modulated_conv2d)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = upsample2d(x, self.kernel)
        x = modulated_conv2d(x, self.weight * self.scale, self.affine(w), fused=self.fused)
        noise = (torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
                 if self.training else self.noise_const.to(x.dtype))
        x = x + noise * self.noise_strength + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * SQRT2


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to RGB, without demodulation (its output is an image)."""

    def __init__(self, in_ch: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.scale = 1 / math.sqrt(in_ch)
        self.fused = True

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = modulated_conv2d(x, self.weight * self.scale, self.affine(w), demodulate=False,
                               fused=self.fused)
        return out + self.bias[None, :, None, None]


def _unit_rms(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


def _one_hot(labels: torch.Tensor | None, num_classes: int, net: nn.Module,
             like: torch.Tensor) -> torch.Tensor:
    """The one-hot rows of ``labels``; a one-line error when a conditional net gets none."""
    if labels is None:
        raise GanforgeError(f"{type(net).__name__} is class-conditional: pass class labels")
    return F.one_hot(labels.long(), num_classes).to(like.dtype)


class MappingNetwork(nn.Module):
    """z (and a class) -> w: normalised z (beside the normalised class embedding) through
    ``layers`` equalized linear layers at ``lr_mul`` of the learning rate (the paper's 0.01: the
    mapping moves slowly), and the tracked average w (over every class)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 8, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        if num_classes:  # StyleGAN2-ADA: the class embedded to w's size, at the full learning rate
            self.embed = EqualLinear(num_classes, w_dim)
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, act=True)
                                   for a, b in zip(dims[:-1], dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                track: bool = False) -> torch.Tensor:
        z = _unit_rms(z)
        if self.num_classes:
            z = torch.cat([z, _unit_rms(self.embed(_one_hot(labels, self.num_classes, self, z)))], 1)
        w = self.net(z)
        if track:  # during training: the average w that truncation pulls towards
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))  # bf16: fp32
        return w


class StyleGAN2Generator(nn.Module):
    """Mapping + skip synthesis network: ``forward(z, labels=None, psi=1.0)`` -> images in
    [-1, 1] (``labels``: class indices, for a generator built with ``num_classes``).

    ``synthesis(ws)`` takes one w per layer (N, num_ws, w_dim): what style mixing and
    projection use.
    """

    def __init__(self, z_dim: int, size: int, channels: int, width: int = 512, map_layers: int = 8,
                 mapping_lr: float = 0.01, num_classes: int = 0) -> None:
        super().__init__()
        log = int(math.log2(size))
        if size < 4 or 2**log != size:
            raise ValueError(f"StyleGAN2 makes 2^k px images (4, 8, ..., 1024), not {size}px")
        self.z_dim = self.w_dim = z_dim
        self.size, self.channels, self.num_classes = size, channels, num_classes
        self.mapping = MappingNetwork(z_dim, z_dim, map_layers, mapping_lr, num_classes=num_classes)
        self.const = nn.Parameter(torch.randn(1, channels_at(4, width), 4, 4))
        self.convs = nn.ModuleList([StyledConv(channels_at(4, width), channels_at(4, width), z_dim, 4)])
        self.to_rgbs = nn.ModuleList([ToRGB(channels_at(4, width), channels, z_dim)])
        for r in range(3, log + 1):
            res, c_in, c_out = 2**r, channels_at(2 ** (r - 1), width), channels_at(2**r, width)
            self.convs.append(StyledConv(c_in, c_out, z_dim, res, up=True))
            self.convs.append(StyledConv(c_out, c_out, z_dim, res))
            self.to_rgbs.append(ToRGB(c_out, channels, z_dim))
        self.num_ws = len(self.convs) + 1
        self.register_buffer("kernel", _lowpass(), persistent=False)

    def use_fused_modconv(self, fused: bool) -> StyleGAN2Generator:
        """Run every modulated conv as one grouped conv (True, the default: fastest in PyTorch)
        or in the unfused form (False: the same images within float rounding, and a graph whose
        batch size is free, for ONNX export). Not saved: a loaded generator is fused."""
        for m in self.modules():
            if isinstance(m, (StyledConv, ToRGB)):
                m.fused = fused
        return self

    def ws(self, z: torch.Tensor, psi: float = 1.0, track: bool = False,
           labels: torch.Tensor | None = None) -> torch.Tensor:
        """One w per layer (N, num_ws, w_dim), truncated towards the average w by ``psi``."""
        w = self.mapping(z, labels, track=track)
        if psi != 1.0:
            w = self.mapping.w_avg.to(w.dtype).lerp(w, psi)
        return w[:, None].expand(-1, self.num_ws, -1)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.convs[0](x, ws[:, 0])
        img = self.to_rgbs[0](x, ws[:, 1])
        for i, rgb in enumerate(self.to_rgbs[1:]):
            x = self.convs[1 + 2 * i](x, ws[:, 1 + 2 * i])
            x = self.convs[2 + 2 * i](x, ws[:, 2 + 2 * i])
            img = upsample2d(img, self.kernel) + rgb(x, ws[:, 3 + 2 * i])
        return img

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
                mix_z: torch.Tensor | None = None, cutoff: int | None = None, track: bool = False,
                return_ws: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Images for latents ``z`` (of classes ``labels``); ``psi`` < 1 truncates. Training:
        style mixing (layers from ``cutoff`` on take ``mix_z``'s w, of the same classes),
        ``track`` updates the average w, ``return_ws`` also returns the per-layer ws the images
        were made from (for the path-length penalty)."""
        ws = self.ws(z, psi, track, labels)
        if mix_z is not None and cutoff is not None and cutoff < self.num_ws:
            ws = torch.cat([ws[:, :cutoff], self.ws(mix_z, psi, labels=labels)[:, cutoff:]], 1)
        img = self.synthesis(ws)
        return (img, ws) if return_ws else img


class ResBlock(nn.Module):
    """D's residual block: two 3x3 convs (the second downsamples) beside a downsampled 1x1
    skip, summed and scaled by 1/sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_ch, in_ch, 3)
        self.conv2 = EqualConv2d(in_ch, out_ch, 3, down=True)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, act=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class StyleGAN2Discriminator(nn.Module):
    """Residual discriminator: fromRGB, a residual block per halving down to 4x4, minibatch
    std, a 3x3 conv and two dense layers -> one logit per image. Conditional (``num_classes``):
    the last layer gives ``cmap`` features, projected on the class's embedding."""

    def __init__(self, size: int, channels: int, width: int = 512, mbstd: int = 4,
                 num_classes: int = 0) -> None:
        super().__init__()
        log = int(math.log2(size))
        if size < 4 or 2**log != size:
            raise ValueError(f"StyleGAN2 scores 2^k px images (4, 8, ..., 1024), not {size}px")
        self.from_rgb = EqualConv2d(channels, channels_at(size, width), 1)
        self.blocks = nn.Sequential(*[ResBlock(channels_at(2**r, width), channels_at(2 ** (r - 1), width))
                                      for r in range(log, 2, -1)])
        c4 = channels_at(4, width)
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        self.conv = EqualConv2d(c4 + (1 if mbstd else 0), c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, act=True)
        self.num_classes = num_classes
        self.cmap = c4 if num_classes else 1  # StyleGAN2-ADA: the class map as wide as the features
        self.out = EqualLinear(c4, self.cmap)
        if num_classes:
            self.embed = EqualLinear(num_classes, self.cmap)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.blocks(self.from_rgb(x))
        if self.mbstd is not None:
            x = self.mbstd(x)
        out = self.out(self.fc(self.conv(x).flatten(1)))
        if not self.num_classes:
            return out.squeeze(1)
        cmap = self.embed(_one_hot(labels, self.num_classes, self, out))
        return (out * cmap).sum(1) / math.sqrt(self.cmap)
