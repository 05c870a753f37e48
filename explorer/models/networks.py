"""Encoder and decoder bodies, sized from the input shape [C, H, W]."""
from __future__ import annotations

import math

import torch
from torch import nn


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with GELU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], hidden: list[int], out_dim: int):
        super().__init__()
        self.net = mlp([math.prod(input_shape), *hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], hidden: list[int], latent_dim: int):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.net = mlp([latent_dim, *reversed(hidden), math.prod(input_shape)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.input_shape)


def conv_stage_sizes(height: int, width: int, n_channels: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 stage: halve while the smaller side is at least 8."""
    sizes = [(height, width)]
    while len(sizes) <= n_channels and min(sizes[-1]) >= 8:
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 convolutions (kernel 4) down to a small feature map, then a linear head."""

    def __init__(self, input_shape: tuple[int, int, int], channels: list[int], hidden: int, out_dim: int):
        super().__init__()
        c, h, w = input_shape
        self.sizes = conv_stage_sizes(h, w, len(channels))
        layers: list[nn.Module] = []
        prev = c
        for ch in channels[: len(self.sizes) - 1]:
            layers += [nn.Conv2d(prev, ch, 4, stride=2, padding=1), nn.GELU()]
            prev = ch
        if len(self.sizes) == 1:  # too small to downsample: one same-size convolution
            layers += [nn.Conv2d(prev, channels[0], 3, padding=1), nn.GELU()]
            prev = channels[0]
        self.features = nn.Sequential(*layers)
        fh, fw = self.sizes[-1]
        self.head = mlp([prev * fh * fw, *([hidden] if hidden else []), out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder; output_padding restores odd sizes exactly."""

    def __init__(self, input_shape: tuple[int, int, int], channels: list[int], hidden: int, latent_dim: int):
        super().__init__()
        c, h, w = input_shape
        sizes = conv_stage_sizes(h, w, len(channels))
        used = list(channels[: len(sizes) - 1]) or [channels[0]]
        fh, fw = sizes[-1]
        self.feature_shape = (used[-1], fh, fw)
        self.head = nn.Sequential(mlp([latent_dim, *([hidden] if hidden else []), used[-1] * fh * fw]), nn.GELU())
        layers: list[nn.Module] = []
        if len(sizes) == 1:
            layers.append(nn.Conv2d(used[0], c, 3, padding=1))
        else:
            outs = list(reversed(used[:-1])) + [c]
            prev = used[-1]
            for i, ch in enumerate(outs):
                (ih, iw), (oh, ow) = sizes[-1 - i], sizes[-2 - i]
                pad = (oh - 2 * ih, ow - 2 * iw)
                layers.append(nn.ConvTranspose2d(prev, ch, 4, stride=2, padding=1, output_padding=pad))
                if i < len(outs) - 1:
                    layers.append(nn.GELU())
                prev = ch
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.head(z).view(-1, *self.feature_shape))
