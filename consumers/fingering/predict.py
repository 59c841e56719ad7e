"""Inference: hand sequences -> fingers with the trained network and the constrained decoder.

Pure functions (no file access): the model is passed in. ``FingeringModel`` bundles the network
with its name and version as shipped in ``weights/*.pt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from consumers.fingering.decode import DecodeInput, DecodeMethod, DecodeResult, decode_batch
from consumers.fingering.features import Events, features, prepare
from consumers.fingering.hmm import pair_costs
from consumers.fingering.model import FingeringNet


@dataclass
class FingeringModel:
    """The network (or an ensemble: ``net`` plus ``extra_nets``, same configuration, whose
    potentials are averaged) with the name and version recorded in IR v2."""

    net: FingeringNet
    name: str
    version: str
    extra_nets: tuple[FingeringNet, ...] = ()
    # Weight of the baseline's biomechanical transition costs added at decoding time on top of
    # the networks' own (learned) use of them; chosen on the validation works, 0 = off.
    prior_weight: float = 0.0

    @property
    def nets(self) -> tuple[FingeringNet, ...]:
        return (self.net, *self.extra_nets)

    def eval(self) -> FingeringModel:
        for net in self.nets:
            net.eval()
        return self


@dataclass(slots=True)
class HandInput:
    """One hand's notes (any order). ``anchors``: 1..5 fixed finger, 0 free."""

    midi: npt.NDArray[np.int64]
    onset: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]
    is_left: bool
    anchors: npt.NDArray[np.int64]
    chord_eps: float = 1e-6


@dataclass(slots=True)
class HandOutput:
    """Per input note: finger 1..5, posterior of each finger (5), and the events used."""

    fingers: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float32]
    events: Events


def network_scores(
    net: FingeringNet,
    feats: Sequence[npt.NDArray[np.float32]],
    priors: Sequence[npt.NDArray[np.floating[Any]]] | None = None,
) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """Unary (T,5) and pair (T,5,5) scores per sequence. Sequences are concatenated with a gap of
    zero rows wider than the receptive field, so one forward pass serves them all."""
    if not feats:
        return []
    gap = 2 * sum(net.config.dilations) + 2
    parts: list[npt.NDArray[np.float32]] = []
    prior_parts: list[npt.NDArray[np.float32]] = []
    starts: list[int] = []
    pos = 0
    for k, f in enumerate(feats):
        starts.append(pos)
        parts.append(f)
        parts.append(np.zeros((gap, f.shape[1]), dtype=np.float32))
        if net.config.prior:
            if priors is None:
                raise ValueError("this network needs the biomechanical prior costs")
            prior_parts.append(priors[k].astype(np.float32))
            prior_parts.append(np.zeros((gap, 5, 5), dtype=np.float32))
        pos += f.shape[0] + gap
    x = torch.from_numpy(np.concatenate(parts))[None]
    prior_t = torch.from_numpy(np.concatenate(prior_parts))[None] if prior_parts else None
    with torch.inference_mode():
        s = net(x, prior_t)
    unary = s.unary[0].numpy()
    pair = s.pair[0].numpy()
    return [
        (unary[st : st + f.shape[0]], pair[st : st + f.shape[0]])
        for st, f in zip(starts, feats, strict=True)
    ]


def predict_hands(
    model: FingeringModel,
    hands: Sequence[HandInput],
    *,
    hand_size: str = "M",
    method: DecodeMethod = "posterior",
) -> list[HandOutput]:
    events = [
        prepare(h.midi, h.onset, h.duration, is_left=h.is_left, chord_eps=h.chord_eps)
        for h in hands
    ]
    feats = [features(e) for e in events]
    need_costs = model.net.config.prior or model.prior_weight > 0
    priors = [pair_costs(e) for e in events] if need_costs else None
    scores = network_scores(model.net, feats, priors)
    if model.extra_nets:
        # ensemble: average the CRF potentials (a product of experts), then decode once
        members = [scores] + [network_scores(net, feats, priors) for net in model.extra_nets]
        scores = [
            (
                np.mean([m[k][0] for m in members], axis=0).astype(np.float32),
                np.mean([m[k][1] for m in members], axis=0).astype(np.float32),
            )
            for k in range(len(feats))
        ]
    if model.prior_weight > 0 and priors is not None:
        scores = [
            (u, (p - model.prior_weight * c).astype(np.float32))
            for (u, p), c in zip(scores, priors, strict=True)
        ]
    inputs: list[DecodeInput] = []
    for h, ev, (unary, pair) in zip(hands, events, scores, strict=True):
        anchors = np.zeros(len(ev), dtype=np.int64)
        fixed = np.flatnonzero(h.anchors > 0)
        anchors[ev.note_event[fixed]] = h.anchors[fixed]
        inputs.append(DecodeInput(unary, pair, ev.same_group, ev.d_prev, ev.d_low, anchors))
    decoded: list[DecodeResult] = decode_batch(inputs, hand_size=hand_size, method=method)
    out: list[HandOutput] = []
    for ev, res in zip(events, decoded, strict=True):
        out.append(HandOutput(res.fingers[ev.note_event], res.marginals[ev.note_event], ev))
    return out
