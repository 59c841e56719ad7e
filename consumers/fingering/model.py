"""A small network over relative features that scores fingers, trained as a linear-chain CRF.

For each event (see ``features.py``) the network gives a unary score per finger (5) and a
transition score from the previous event's finger to this one's (5x5), both conditioned on the
local context through a stack of dilated 1-D convolutions (receptive field +-61 events). A
convolution rather than a GRU: it runs in parallel over a whole piece, which is what makes
>= 50k notes/s on two CPU cores possible.

Training maximises the likelihood of the labelled fingers with the unlabelled ones summed out
(a CRF with partial labels): printed editions finger only a few notes, and the CRF lets those
few constrain their neighbours. The chord rule (fingers rise with pitch inside a chord, after
mirroring the LH) is part of the CRF, so training and decoding see the same constraints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from consumers.fingering.features import N_FEATURES

NEG = -1e4  # "impossible" in log space; finite so that gradients stay finite


@dataclass(frozen=True)
class NetConfig:
    n_features: int = N_FEATURES
    channels: int = 48
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4)
    dropout: float = 0.2
    # Biomechanical prior: the baseline's transition costs (hmm.pair_costs) enter as 25 extra
    # inputs and, scaled by a learned weight, are added to the transition scores. It gives the
    # network Parncutt's hand model for free, which matters with only ~45k labelled notes.
    prior: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        d = dict(d)
        d["dilations"] = tuple(d.get("dilations", cls.dilations))
        return cls(**d)


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.drop(self.mix(self.act(self.conv(x))))
        return out


@dataclass
class Scores:
    unary: torch.Tensor  # (B, T, 5)
    pair: torch.Tensor  # (B, T, 5, 5): from finger of event t-1 (dim 2) to event t (dim 3)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


class FingeringNet(nn.Module):
    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetConfig()
        c = self.config.channels
        n_in = self.config.n_features + (25 if self.config.prior else 0)
        self.inp = nn.Sequential(nn.Linear(n_in, c), nn.GELU(), nn.Linear(c, c))
        if self.config.prior:
            self.prior_scale = nn.Parameter(torch.tensor(0.5))
        self.blocks = nn.Sequential(
            *(_Block(c, d, self.config.dropout) for d in self.config.dilations)
        )
        self.norm = nn.LayerNorm(c)
        self.unary = nn.Linear(c, 5)
        self.pair = nn.Linear(c, 25)

    def forward(self, x: torch.Tensor, prior: torch.Tensor | None = None) -> Scores:
        """x: (B, T, F) features, prior: (B, T, 5, 5) transition costs (when configured)."""
        if self.config.prior:
            if prior is None:
                raise ValueError("this network needs the biomechanical prior costs")
            scaled = -(prior / 10.0).clamp(max=3.0)
            x = torch.cat([x, scaled.flatten(2)], dim=2)
        h = self.inp(x).transpose(1, 2)
        h = self.blocks(h).transpose(1, 2)
        h = self.norm(h)
        b, t, _ = h.shape
        pair = self.pair(h).view(b, t, 5, 5)
        if self.config.prior and prior is not None:
            pair = pair - self.prior_scale * prior
        return Scores(self.unary(h), pair)


def chord_mask(same_group: torch.Tensor) -> torch.Tensor:
    """(B, T) bool -> (B, T, 5, 5) additive mask: inside a group the next finger must be higher."""
    up = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    allowed = torch.where(same_group[..., None, None], up, torch.ones_like(up))
    return torch.where(allowed, 0.0, NEG)


def _log_partition(
    unary: torch.Tensor, trans: torch.Tensor, lengths_mask: torch.Tensor
) -> torch.Tensor:
    """Forward algorithm. unary (B,T,5), trans (B,T,5,5), lengths_mask (B,T) -> (B,)."""
    alpha = unary[:, 0]
    for t in range(1, unary.shape[1]):
        step = torch.logsumexp(alpha[:, :, None] + trans[:, t], dim=1) + unary[:, t]
        alpha = torch.where(lengths_mask[:, t, None], step, alpha)
    return torch.logsumexp(alpha, dim=1)


def crf_partial_nll(
    scores: Scores, same_group: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Mean over sequences of -log P(labelled fingers), unlabelled ones summed out.

    labels (B,T) int in 0..5 (0 = unknown); valid (B,T) bool (padding = False)."""
    trans = scores.pair + chord_mask(same_group)
    unary = scores.unary
    log_z = _log_partition(unary, trans, valid)
    onehot = torch.nn.functional.one_hot((labels - 1).clamp(min=0), 5).bool()
    clamp = torch.where((labels > 0)[..., None] & ~onehot, NEG, 0.0)
    log_z_clamped = _log_partition(unary + clamp, trans, valid)
    return (log_z - log_z_clamped).mean()


def save_checkpoint(
    path: str,
    net: FingeringNet | Sequence[FingeringNet],
    *,
    name: str,
    version: str,
    record: dict[str, Any],
) -> None:
    """One file for one network or an ensemble of networks of the same configuration."""
    nets = [net] if isinstance(net, FingeringNet) else list(net)
    payload: dict[str, Any] = {
        "name": name,
        "version": version,
        "config": nets[0].config.to_dict(),
        "record": record,
    }
    if len(nets) == 1:
        payload["state_dict"] = nets[0].state_dict()
    else:
        payload["state_dicts"] = [n.state_dict() for n in nets]
    torch.save(payload, path)
