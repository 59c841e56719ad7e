"""The shipped network reads a page at any of its scales, maps coming back at the page's size."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from consumers.omr import recognize as rec
from consumers.omr.segnet.infer import load_weights, predict
from consumers.omr.segnet.model import SegNet
from consumers.omr.synth import render
from tests.unit.test_omr_barlines import _grand_staff


@pytest.fixture(scope="module")
def model() -> SegNet:
    return load_weights()


@pytest.fixture(scope="module")
def page() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The top of a clean engraved page (the systems; the rest is blank paper) and its
    true notehead mask."""
    svg = render.engrave(_grand_staff(), render.EngraveOptions(font="Leipzig", scale=90))[0]
    image, label = render.render_page(svg)
    rows = np.flatnonzero((image < 128).any(axis=1))
    bottom = min(image.shape[0], int(rows.max()) + 40)
    heads = rec.label_maps(label).notehead
    return image[:bottom, :-7], heads[:bottom, :-7]  # an odd width on purpose


def _iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize("scales", [(1.0,), (1.3,), (1.0, 1.3)])
def test_each_scale_gives_page_sized_maps_that_find_the_noteheads(
    model: SegNet, page: tuple[NDArray[np.uint8], NDArray[np.uint8]], scales: tuple[float, ...]
) -> None:
    gray, heads = page
    staff, seg, head_prob = predict(model, gray, scales=scales)
    assert staff.shape == seg.shape == head_prob.shape == gray.shape
    assert staff.max() <= 2 and seg.max() <= 3
    assert float(head_prob.min()) >= 0.0 and float(head_prob.max()) <= 1.0
    assert _iou(seg == 2, heads == 1) > 0.6


def test_a_scale_read_twice_is_that_scale_read_once(
    model: SegNet, page: tuple[NDArray[np.uint8], NDArray[np.uint8]]
) -> None:
    gray, _ = page
    once = predict(model, gray, scales=(1.3,))
    twice = predict(model, gray, scales=(1.3, 1.3))
    np.testing.assert_array_equal(once[0], twice[0])
    np.testing.assert_array_equal(once[1], twice[1])
    np.testing.assert_allclose(once[2], twice[2], atol=1e-6)


def test_scales_change_the_reading(
    model: SegNet, page: tuple[NDArray[np.uint8], NDArray[np.uint8]]
) -> None:
    gray, _ = page
    base = predict(model, gray, scales=(1.0,))[2]
    larger = predict(model, gray, scales=(1.3,))[2]
    assert float(np.abs(base - larger).mean()) > 1e-4
