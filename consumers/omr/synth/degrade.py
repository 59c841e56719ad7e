"""Make a clean engraving look scanned, keeping image and labels aligned.

Geometry (rotation, scale, shift) is one affine transform applied to both: bilinear for the
image, nearest-neighbour for the label so classes never blend. Photometric damage (blur,
uneven light, noise, JPEG, binarisation) touches the image only: it moves no ink.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image


@dataclass(frozen=True)
class Degradation:
    angle: float = 0.0  # degrees
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # pixels
    blur: float = 0.0  # gaussian sigma, pixels
    light: float = 0.0  # depth of the uneven-light gradient, 0..1
    noise: float = 0.0  # gaussian noise std, grey levels
    jpeg: int | None = None  # quality
    binarize: bool = False
    contrast: float = 1.0  # ink darkness: <1 grey, washed-out ink


def random_degradation(rng: random.Random) -> Degradation:
    return Degradation(
        angle=rng.uniform(-2.0, 2.0),
        scale=rng.uniform(0.95, 1.05),
        shift=(rng.uniform(-20, 20), rng.uniform(-20, 20)),
        blur=rng.choice([0.0, rng.uniform(0.3, 1.3)]),
        light=rng.uniform(0.0, 0.35),
        noise=rng.uniform(0.0, 14.0),
        jpeg=rng.choice([None, rng.randint(25, 90)]),
        binarize=rng.random() < 0.1,
        contrast=rng.uniform(0.65, 1.0),
    )


def warp(
    image: NDArray[np.uint8], label: NDArray[np.uint8] | None, d: Degradation
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), d.angle, d.scale)
    m[:, 2] += np.asarray(d.shift)
    img = cv2.warpAffine(
        image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255
    )
    lab = None
    if label is not None:
        lab = cv2.warpAffine(
            label,
            m,
            (w, h),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return np.asarray(img, dtype=np.uint8), None if lab is None else np.asarray(lab, np.uint8)


def photometric(image: NDArray[np.uint8], d: Degradation, seed: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    img = image.astype(np.float32)
    # Washed-out ink: pull dark pixels towards paper.
    img = 255.0 - (255.0 - img) * d.contrast
    if d.blur > 0:
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), d.blur), dtype=np.float32)
    if d.light > 0:
        # A low-frequency field: a random linear ramp plus a broad blob, like a lamp or a curl.
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a, b = rng.uniform(-1, 1, size=2)
        ramp = (a * xx / w + b * yy / h) / 2 + 0.5
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        blob = np.exp(-(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2) * 4)
        field = 1.0 - d.light * np.clip(0.6 * ramp + 0.4 * blob, 0, 1)
        img = (img * field).astype(np.float32)
    if d.noise > 0:
        img = img + rng.normal(0, d.noise, size=img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if d.binarize:
        _, out = cv2.threshold(out, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out = np.asarray(out, dtype=np.uint8)
    if d.jpeg is not None:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=d.jpeg)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            out = np.asarray(im.convert("L"), dtype=np.uint8)
    return out


def degrade(
    image: NDArray[np.uint8], label: NDArray[np.uint8] | None, d: Degradation, seed: int = 0
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    img, lab = warp(image, label, d)
    return photometric(img, d, seed), lab
