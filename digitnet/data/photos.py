"""Pictures as a camera takes them, for measuring and testing how reading copes with the light on the paper
(ink.ink_map): the paper and the ink reflect the light that falls on them, the sensor adds noise, and
the photo is saved as a JPEG.

    jpeg = photographed(picture, shadow(picture.shape, angle=2.2, offset=20))  # picture: dark ink on paper

Lights (h x w arrays, 1 = full light): shadow(), a straight shadow's edge across the picture, as a hand or a phone
casts; dappled(), patches of light and shade all over it. on_a_desk() lays the picture on a dark desk. lit()
photographs a picture as a kind in PHOTOS says. NumPy; Pillow and scipy are imported inside the functions.
"""
import io

import numpy as np

__all__ = ["PHOTOS", "photographed", "shadow", "dappled", "enlarged", "on_a_desk", "lit"]

PHOTOS = ("even", "shadowed", "dappled", "desk")
PAPER, INK = 0.9, 0.12  # how much of the light white paper and black ink reflect


def photographed(picture, light, noise=3.0, seed=0, quality=85):
    """JPEG bytes of a photo of `picture` (dark ink on light paper: uint8, or a PIL L image) under `light`
    (its shape; 1 = full light), with sensor noise of `noise` grey levels."""
    from PIL import Image

    a = np.asarray(picture, dtype=np.float64) / 255
    page = 255 * light * (INK + (PAPER - INK) * a) + np.random.default_rng(seed).normal(0, noise, a.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def shadow(shape, angle, offset=0.0, depth=0.45, soft=6.0):
    """Light with a shadow's edge across it: a straight edge at `angle` (radians), `offset` pixels from the
    middle, `soft` pixels wide; on its far side the light is `depth` less."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    d = (xx - w / 2) * np.cos(angle) + (yy - h / 2) * np.sin(angle) - offset
    return 1 - depth / (1 + np.exp(-d / soft))


def dappled(shape, rng, size=0.25, least=0.6):
    """Light in patches about `size` of the shorter side across, from full light down to `least` of it."""
    from scipy import ndimage

    patches = ndimage.gaussian_filter(rng.normal(size=shape), size * min(shape))
    return least + (1 - least) * (patches - patches.min()) / max(float(np.ptp(patches)), 1e-12)


def enlarged(picture, scale=3):
    """The picture (uint8) `scale` times as large (bicubic), as a camera close to the paper sees it."""
    from PIL import Image

    return np.asarray(Image.fromarray(picture).resize((picture.shape[1] * scale, picture.shape[0] * scale),
                                                      Image.BICUBIC))


def on_a_desk(picture, margin, desk=50):
    """The picture (uint8, or a PIL L image) as a sheet of paper lying on a desk of tone `desk` that shows
    `margin` pixels round it."""
    a = np.asarray(picture)
    out = np.full((a.shape[0] + 2 * margin, a.shape[1] + 2 * margin), desk, np.uint8)
    out[margin:margin + a.shape[0], margin:margin + a.shape[1]] = a  # (margin:-margin was empty for margin 0)
    return out


def lit(picture, kind, rng, scale=3):
    """JPEG bytes of `picture` (dark on light, uint8) enlarged `scale` times and photographed as `kind` says:
    "even" (full light all over), "shadowed" (an edge at any angle, up to 0.3 of the shorter side from the
    middle, the light 0.45 less beyond it), "dappled" (patches a quarter of the shorter side across, 0.6-1 of
    the light) or "desk" (in full light, on a desk of tone 30-90 that shows 0.1-0.3 of the sheet's height round
    it). It draws one number from `rng` whatever the kind, so the same rng goes on to the same next number
    under each light."""
    if kind not in PHOTOS:
        raise ValueError(f"{kind!r}: a photo of {', '.join(PHOTOS)}")
    rng = np.random.default_rng(int(rng.integers(2 ** 31)))
    a = enlarged(picture, scale)
    if kind == "desk":
        a = on_a_desk(a, int(rng.uniform(0.1, 0.3) * a.shape[0]), int(rng.integers(30, 91)))
    if kind == "shadowed":
        light = shadow(a.shape, rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3) * min(a.shape))
    elif kind == "dappled":
        light = dappled(a.shape, rng)
    else:
        light = np.ones(a.shape)
    return photographed(a, light, seed=int(rng.integers(2 ** 31)))
