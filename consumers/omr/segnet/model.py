"""A small U-Net with two heads, one per oemer network it replaces.

Grey input (scans carry no useful colour), 4 down-samplings so the receptive field (~200 px at
oemer's 3.7 MP page size, several staff heights) can tell a clef from a notehead, and thin
channels so the weights stay at a couple of MB and a page runs in seconds on a CPU.
"""

from __future__ import annotations

from typing import Final

import torch
from torch import Tensor, nn
from torch.nn import functional as nnf

CHANNELS: Final = (12, 24, 48, 96, 128)
STAFF_CLASSES: Final = 3  # background, staff lines, other symbols (oemer's unet_big)
SEG_CLASSES: Final = 4  # background, stems/rests/barlines, noteheads, clefs/keys (seg_net)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


# The network sees the page at half oemer's size: a staff line stays >= 1 px there, and the
# page costs a quarter of the compute (CPU-only training and a 20 CPU-s page budget). Its
# probabilities are up-sampled back before argmax.
FACTOR: Final = 2


class SegNet(nn.Module):
    def __init__(self, channels: tuple[int, ...] = CHANNELS, factor: int = FACTOR) -> None:
        super().__init__()
        self.channels = channels
        self.factor = factor
        self.down = nn.ModuleList()
        cin = 1
        for c in channels:
            self.down.append(_block(cin, c))
            cin = c
        self.up = nn.ModuleList()
        for c_skip, c_low in zip(reversed(channels[:-1]), reversed(channels[1:]), strict=True):
            self.up.append(_block(c_low + c_skip, c_skip))
        self.staff_head = nn.Conv2d(channels[0], STAFF_CLASSES, 1)
        self.seg_head = nn.Conv2d(channels[0], SEG_CLASSES, 1)

    @staticmethod
    def normalize(gray_u8: Tensor) -> Tensor:
        """uint8 grey (N,1,H,W), ink dark → float with ink positive and paper near zero."""
        return (255.0 - gray_u8.float()) / 255.0

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        skips: list[Tensor] = []
        for i, block in enumerate(self.down):
            if i:
                x = nnf.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = nnf.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.staff_head(x), self.seg_head(x)


MULTIPLE: Final = 2 ** (len(CHANNELS) - 1)  # input sides must divide by this
