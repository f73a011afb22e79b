"""Data augmentation for training: a random affine transform per image (shift, rotation, scale), whole batch at once.

Every image of a batch gets its own small affine transform about the image centre, as a training loop
wants it: `Augmenter(max_shift=2, max_rotation=10, scale_range=(0.9, 1.1))` is a callable
`transform(x_batch, rng) -> x_batch` for `train(..., augment=...)`.

How it works, in NumPy only and without a per-image loop:
1. `inverse_affine_matrices` turns each image's parameters into one 2x3 matrix that maps an *output* pixel
   to the *source* position it samples; the batch is an (N, 2, 3) stack.
2. `affine_transform_batch` applies the stack: the source coordinates of every pixel of every image come
   from one matmul, and bilinear interpolation gathers the 2x2 neighbourhood of each with four vectorised
   `take`s from a zero-padded copy of the batch, so points outside the image read zeros.
Float32 batches are computed in float32 (source coordinates good to about 1e-5 pixel), wider ones in float64.

Conventions. Pixel (row y, column x) has its centre at integer coordinates (x, y); x grows to the right,
y grows downwards. A matrix M maps output (x, y) to source (sx, sy):
    sx = M[0, 0] * x + M[0, 1] * y + M[0, 2]
    sy = M[1, 0] * x + M[1, 1] * y + M[1, 2]
so the identity is [[1, 0, 0], [0, 1, 0]], and [[1, 0, -dx], [0, 1, -dy]] moves the content dx pixels to the
right and dy pixels down. A positive rotation angle turns the content counter-clockwise as displayed
(row 0 at the top), the way np.rot90 does.

Run `python -m digitnet.augment` for a timing of a batch of 100 MNIST-sized images.
"""
import threading

import numpy as np

from .data.images import SIDE, as_images

__all__ = ["add_share", "affine_transform_batch", "inverse_affine_matrices", "random_affine_matrices", "augment_batch",
           "elastic_displacements", "Augmenter", "NONE"]

_GRIDS = {}  # (H, W, dtype) -> (3, H*W) read-only array of rows x, y, 1: every pixel in homogeneous coordinates


def _grid(H, W, dtype):
    grid = _GRIDS.get((H, W, dtype))
    if grid is None:
        ys, xs = np.divmod(np.arange(H * W), W)
        grid = np.stack([xs, ys, np.ones(H * W)]).astype(dtype)
        grid.flags.writeable = False
        _GRIDS[(H, W, dtype)] = grid
    return grid


def _as_images(x, image_shape):
    """data.images.as_images, for floating-point images only (the warp interpolates)."""
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"images must be floating point (float16, float32 or float64), not {x.dtype}")
    return as_images(x, image_shape)


def inverse_affine_matrices(rotation=0.0, scale=1.0, shift=(0.0, 0.0), image_shape=(SIDE, SIDE)):
    """The (N, 2, 3) output-to-source matrices of transforms about the image centre.

    Each image's forward transform is: scale by `scale`, rotate by `rotation` degrees (counter-clockwise
    as displayed), both about the centre ((W-1)/2, (H-1)/2), then move by `shift` = (dx, dy) pixels
    (right, down). rotation and scale are scalars or (N,) arrays; shift is (2,) or (N, 2). N is their
    broadcast length (1 for all scalars).
    """
    H, W = (int(s) for s in image_shape)
    rotation = np.atleast_1d(np.asarray(rotation, dtype=np.float64))
    scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    shift = np.atleast_2d(np.asarray(shift, dtype=np.float64))
    if rotation.ndim != 1 or scale.ndim != 1 or shift.ndim != 2 or shift.shape[1] != 2:
        raise ValueError("rotation and scale must be scalars or (N,) arrays and shift (2,) or (N, 2)")
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise ValueError("scale must be positive and finite")
    n = np.broadcast_shapes(rotation.shape, scale.shape, shift.shape[:1])[0]
    theta = np.deg2rad(rotation)
    c, s = np.cos(theta) / scale, np.sin(theta) / scale
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    # source = centre + R(-theta) / scale @ (output - centre - shift); with y pointing down,
    # R(-theta) in (x, y) pixel coordinates is [[cos, -sin], [sin, cos]].
    m = np.empty((n, 2, 3))
    m[:, 0, 0], m[:, 0, 1] = c, -s
    m[:, 1, 0], m[:, 1, 1] = s, c
    ox, oy = cx + shift[:, 0], cy + shift[:, 1]  # where the centre goes
    m[:, 0, 2] = cx - (m[:, 0, 0] * ox + m[:, 0, 1] * oy)
    m[:, 1, 2] = cy - (m[:, 1, 0] * ox + m[:, 1, 1] * oy)
    return m


def random_affine_matrices(n, rng, *, max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1),
                           image_shape=(SIDE, SIDE)):
    """n random output-to-source matrices: shifts uniform in ±max_shift (x and y independently), rotation
    uniform in ±max_rotation degrees, scale uniform in scale_range. Draws from rng in a fixed order."""
    lo, hi = (float(v) for v in scale_range)
    if max_shift < 0 or max_rotation < 0:
        raise ValueError("max_shift and max_rotation must be non-negative")
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, not {scale_range}")
    shift = rng.uniform(-max_shift, max_shift, size=(n, 2))
    rotation = rng.uniform(-max_rotation, max_rotation, size=n)
    scale = rng.uniform(lo, hi, size=n)
    return inverse_affine_matrices(rotation, scale, shift, image_shape)


_MAX_PAD = 10  # pad by up to this many zero pixels a side; source points further out are clipped instead
_CHUNK_PIXELS = 1 << 17  # output pixels warped per pass: bounds the scratch memory a thread keeps
_scratch = threading.local()


def _work(name, size, dtype):
    """A reusable scratch array of `size` elements. Fresh large arrays cost page faults on every call
    (in a small VM as much as all the arithmetic), so each thread keeps its buffers: about 50 bytes per
    pixel of _CHUNK_PIXELS in float32 (6 MB), 90 in float64 (12 MB)."""
    bufs = _scratch.__dict__.setdefault("bufs", {})
    key = (name, np.dtype(dtype))
    buf = bufs.get(key)
    if buf is None or buf.size < size:
        buf = bufs[key] = np.empty(size, dtype=dtype)
    return buf[:size]


def elastic_displacements(n, rng, alpha=34.0, sigma=4.0, image_shape=(SIDE, SIDE)):
    """n random elastic distortions (Simard et al. 2003): (n, 2, H, W) offsets (dx, dy) in pixels of the point
    each output pixel samples. Each is a field of uniform draws in [-1, 1] per pixel, smoothed by a Gaussian
    of sigma pixels (zeros beyond the edges) and scaled by alpha: small sigma is noise, large sigma a near-affine
    warp; MNIST's classic values are alpha 34, sigma 4. The smoothing is separable: a Gaussian matrix on
    each side, G_H @ field @ G_W.T, two matrix products for the whole batch."""
    H, W = (int(v) for v in image_shape)
    if not (alpha >= 0 and sigma > 0):
        raise ValueError(f"elastic alpha must be >= 0 and sigma > 0, not {alpha} and {sigma}")
    field = rng.uniform(-1.0, 1.0, size=(n, 2, H, W))

    def gaussian(size):  # the kernel in every row, each normalised as the whole kernel would be
        offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
        return np.exp(-0.5 * (offsets / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    return alpha * (gaussian(H) @ field @ gaussian(W).T)


def affine_transform_batch(x, matrices, *, image_shape=(SIDE, SIDE), displacement=None):
    """Warp each image of x by its own output-to-source matrix, with bilinear interpolation and zeros outside.

    x: a floating-point batch shaped (N, H*W) with (H, W) = image_shape, or (N, H, W), or (N, C, H, W)
    (image_shape is then ignored; all channels of an image share its matrix). matrices: (N, 2, 3), or
    (2, 3) or (1, 2, 3) for all images alike; see the module docstring for the convention. Returns a new
    array of x's shape and dtype (float16 and float32 are computed in float32, anything wider in float64); x is not
    modified. displacement: (N, 2, H, W) offsets (dx, dy) added to each output pixel's source point after the
    affine map (elastic_displacements), or None.
    Output values stay within the range spanned by the input values and 0.
    """
    x = np.asarray(x)
    imgs = _as_images(x, image_shape)
    N, C, H, W = imgs.shape
    m = np.asarray(matrices, dtype=np.float64)
    if m.shape in ((2, 3), (1, 2, 3)):
        m = np.broadcast_to(m, (N, 2, 3))
    if m.shape != (N, 2, 3):
        raise ValueError(f"expected matrices of shape ({N}, 2, 3) for {N} images, not {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("the affine matrices must be finite")
    if x.size == 0:
        return np.empty_like(x)
    if displacement is not None:
        displacement = np.asarray(displacement, dtype=np.float64)
        if displacement.shape != (N, 2, H, W) or not np.all(np.isfinite(displacement)):
            raise ValueError(f"expected finite displacements of shape ({N}, 2, {H}, {W}), not {displacement.shape}")
    if C > 1:  # every channel is an image of its own, warped by its image's matrix
        m = np.repeat(m, C, axis=0)
        displacement = None if displacement is None else np.repeat(displacement, C, axis=0)
    B = N * C
    imgs = imgs.reshape(B, H, W)
    dt = np.dtype(np.float32 if x.dtype.itemsize <= 4 else np.float64)  # coordinates and arithmetic
    out = np.empty((B, H * W), dtype=dt)
    # Rounding in a lerp can overshoot its end points by an ulp; the result is held to the input's range
    # (and the zeros outside).
    bounds = min(float(imgs.min()), 0.0), max(float(imgs.max()), 0.0)
    step = max(1, _CHUNK_PIXELS // (H * W))
    for start in range(0, B, step):  # one pass for a training batch; big batches in a few slices
        _warp(imgs[start:start + step], m[start:start + step], out[start:start + step], bounds,
              None if displacement is None else displacement[start:start + step])
    return out.astype(x.dtype, copy=False).reshape(x.shape)


def _warp(imgs, m, out, bounds, displacement=None):
    """affine_transform_batch for (B, H, W) images and (B, 2, 3) matrices (and (B, 2, H, W) displacements), into
    out (B, H*W) of the working dtype."""
    B, H, W = imgs.shape
    dt = out.dtype
    M = B * H * W
    # Pad the batch with P zero pixels a side, P enough for the farthest source point (an affine map
    # takes its extremes at the corners), so no per-pixel bounds work is needed; beyond _MAX_PAD,
    # clip the source points instead (a point clipped to just outside the image reads only zeros).
    corners = m[:, :, :2] @ np.array([[0, W - 1, 0, W - 1], [0, 0, H - 1, H - 1]], dtype=np.float64) + m[:, :, 2:]
    reach = max(0.0, -corners.min(), corners[:, 0].max() - (W - 1), corners[:, 1].max() - (H - 1))
    if displacement is not None:
        reach += float(np.abs(displacement).max(initial=0.0))
    clip = reach >= _MAX_PAD
    P = 2 if clip else int(np.ceil(reach)) + 1
    Hp, Wp = H + 2 * P, W + 2 * P
    mp = np.empty((2, B, 3), dtype=dt)  # the matrices in padded coordinates, as two (B, 3) stacks
    mp[...] = m.transpose(1, 0, 2)
    mp[:, :, 2] += P

    # Source coordinates of every pixel of every image, one matmul: (2, B, 3) @ (3, H*W) -> (2, B, H*W).
    src = _work("src", 2 * M, dt).reshape(2, B, H * W)
    np.matmul(mp, _grid(H, W, dt), out=src)
    if displacement is not None:
        src += displacement.transpose(1, 0, 2, 3).reshape(2, B, H * W)
    if clip:
        np.clip(src[0], P - 1, W + P, out=src[0])
        np.clip(src[1], P - 1, H + P, out=src[1])
    whole = np.floor(src, out=_work("whole", 2 * M, dt).reshape(2, B, H * W))
    src -= whole  # now the fractional parts: the interpolation weights
    # Flat index of each point's top-left neighbour in the padded batch (exact integers in dt).
    flat_idx = whole[1]
    flat_idx *= Wp
    flat_idx += whole[0]
    idx = _work("idx", M, np.intp).reshape(B, H * W)
    image_start = np.arange(B) * (Hp * Wp)
    if dt == np.float64 or B * Hp * Wp < 2 ** 24:
        flat_idx += image_start.astype(dt)[:, None]
        idx[...] = flat_idx
    else:
        idx[...] = flat_idx
        idx += image_start[:, None]
    idx = idx.reshape(M)

    padded = _work("padded", B * Hp * Wp + Wp + 2, dt)  # the tail keeps the +Wp+1 neighbour in bounds
    padded.fill(0)
    padded[:B * Hp * Wp].reshape(B, Hp, Wp)[:, P:P + H, P:P + W] = imgs
    _bilinear(padded, idx, src, Wp, out.reshape(M), bounds)


def _bilinear(padded, idx, frac, Wp, out, bounds):
    """out[i] = the bilinear mix of padded's four pixels at idx[i], idx[i] + 1, + Wp, + Wp + 1, weighted by
    the fractional source coordinates frac (2, ...), clipped to bounds; all in place in scratch arrays."""
    M, dt = idx.size, out.dtype
    # The four neighbours: the same indices into views shifted by 1, Wp and Wp + 1 elements.
    # (mode="clip" only because mode="raise" would buffer `out`; every index is in bounds.)
    v00, v01, v10, v11 = _work("v00", M, dt), _work("v01", M, dt), _work("v10", M, dt), out
    padded.take(idx, out=v00, mode="clip")
    padded[1:].take(idx, out=v01, mode="clip")
    padded[Wp:].take(idx, out=v10, mode="clip")
    padded[Wp + 1:].take(idx, out=v11, mode="clip")
    fx, fy = frac[0].reshape(M), frac[1].reshape(M)

    # top = v00 + fx (v01 - v00), bottom = v10 + fx (v11 - v10), result = top + fy (bottom - top), in place;
    # exact at whole-pixel source points (fx = fy = 0 returns v00 bit for bit).
    v01 -= v00
    v01 *= fx
    v01 += v00
    v11 -= v10
    v11 *= fx
    v11 += v10
    v11 -= v01
    v11 *= fy
    v11 += v01
    np.maximum(v11, bounds[0], out=v11)
    np.minimum(v11, bounds[1], out=v11)


def _check_affine(max_shift, max_rotation, scale_range):
    """scale_range as (low, high) floats; ValueError for settings no transform has."""
    lo, hi = (float(v) for v in scale_range)
    if not (np.isfinite(max_shift) and max_shift >= 0 and np.isfinite(max_rotation) and max_rotation >= 0):
        raise ValueError("max_shift and max_rotation must be finite and non-negative")
    if not (np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, not {scale_range}")
    return lo, hi


def augment_batch(x, rng, *, max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1), image_shape=(SIDE, SIDE)):
    """A new batch in which each image of x got its own random affine transform about the image centre:
    shift up to ±max_shift pixels in x and in y, rotation up to ±max_rotation degrees, isotropic scale in
    scale_range (all uniform). x: (N, H*W) or (N, C, H, W), float; rng: a numpy Generator.
    Returns a new array of x's shape and dtype; x is not modified."""
    _check_affine(max_shift, max_rotation, scale_range)  # before: max_rotation=nan gave an OverflowError
    x = np.asarray(x)
    imgs = _as_images(x, image_shape)
    m = random_affine_matrices(imgs.shape[0], rng, max_shift=max_shift, max_rotation=max_rotation,
                               scale_range=scale_range, image_shape=imgs.shape[2:])
    return affine_transform_batch(x, m, image_shape=image_shape)


class Augmenter:
    """augment_batch with its settings bound: `Augmenter(max_shift=2, max_rotation=10, scale_range=(0.9, 1.1))`
    is a callable transform(x_batch, rng) -> x_batch for the training loop.

    With no shift, no rotation and scale_range (1, 1) (`Augmenter.none()`, or `NONE`) it is the identity:
    it returns x itself, with no copy and no draws from rng.
    """

    def __init__(self, max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1), image_shape=(SIDE, SIDE),
                 elastic_alpha=0.0, elastic_sigma=4.0):
        lo, hi = _check_affine(max_shift, max_rotation, scale_range)
        self.max_shift = float(max_shift)
        self.max_rotation = float(max_rotation)
        self.scale_range = (lo, hi)
        self.image_shape = tuple(int(s) for s in image_shape)
        if not (np.isfinite(elastic_alpha) and elastic_alpha >= 0 and np.isfinite(elastic_sigma) and elastic_sigma > 0):
            raise ValueError("elastic_alpha must be finite and non-negative, elastic_sigma finite and positive")
        self.elastic_alpha, self.elastic_sigma = float(elastic_alpha), float(elastic_sigma)

    @classmethod
    def none(cls, image_shape=(SIDE, SIDE)):
        """The identity augmenter."""
        return cls(0.0, 0.0, (1.0, 1.0), image_shape)

    @property
    def is_identity(self):
        return (self.max_shift == 0 and self.max_rotation == 0 and self.scale_range == (1.0, 1.0)
                and self.elastic_alpha == 0)

    def __call__(self, x, rng):
        if self.is_identity:
            return x
        if self.elastic_alpha:  # the affine draws as augment_batch makes them, then the distortions
            n = _as_images(np.asarray(x), self.image_shape).shape[0]
            m = random_affine_matrices(n, rng, max_shift=self.max_shift, max_rotation=self.max_rotation,
                                       scale_range=self.scale_range, image_shape=self.image_shape)
            d = elastic_displacements(n, rng, self.elastic_alpha, self.elastic_sigma, self.image_shape)
            return affine_transform_batch(x, m, image_shape=self.image_shape, displacement=d)
        return augment_batch(x, rng, max_shift=self.max_shift, max_rotation=self.max_rotation,
                             scale_range=self.scale_range, image_shape=self.image_shape)

    def __repr__(self):
        elastic = f", elastic_alpha={self.elastic_alpha:g}, elastic_sigma={self.elastic_sigma:g}" \
            if self.elastic_alpha else ""
        return (f"Augmenter(max_shift={self.max_shift:g}, max_rotation={self.max_rotation:g}, "
                f"scale_range=({self.scale_range[0]:g}, {self.scale_range[1]:g}){elastic})")

    def __eq__(self, other):
        if not isinstance(other, Augmenter):
            return NotImplemented
        return (self.max_shift, self.max_rotation, self.scale_range, self.image_shape, self.elastic_alpha,
                self.elastic_sigma) == (other.max_shift, other.max_rotation, other.scale_range, other.image_shape,
                                        other.elastic_alpha, other.elastic_sigma)

    __hash__ = None


NONE = Augmenter.none()


def add_share(x, t, share, rng, transform):
    """x and t with round(share x N) of their digits (picked at random, no repeats) added again, transformed.

    The one home of `--pen-digits` and `--cut-digits` (pen_digits.redraw_share, cut_digits.cut_share).

    Args:
        x: (N, ...) training digits; t: their N labels (or one-hot rows).
        share: how many to add, as a share of N; 0 (or less than one digit) returns x and t themselves.
        rng: a numpy Generator: the pick, then whatever transform draws.
        transform: (the picked digits, rng) -> the same number of new digits, of x's shape and dtype.

    Returns:
        (x, t) with the new digits and the labels of the digits they came from after the originals.
    """
    n = int(round(share * x.shape[0]))
    if n <= 0:
        return x, t
    pick = rng.choice(x.shape[0], min(n, x.shape[0]), replace=False)
    return np.concatenate([x, transform(x[pick], rng)]), np.concatenate([t, t[pick]])


def benchmark(batch_size=100, repeats=300, dtype=np.float32, seed=0, **settings):
    """Seconds per augment_batch call on batch_size random 28x28 images (flattened), the median over
    repeats calls: the median, unlike a mean, ignores the calls another process's work interrupts."""
    import time
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, 784)).astype(dtype)
    for _ in range(3):  # warm-up: the pixel grid and the scratch buffers
        augment_batch(x, rng, **settings)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        augment_batch(x, rng, **settings)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


if __name__ == "__main__":
    for dt in (np.float32, np.float64):
        t = benchmark(dtype=dt)
        print(f"augment_batch, 100 images of 28x28, {np.dtype(dt).name}: "
              f"{t * 1e6:.0f} µs per batch, {t * 1e6 / 100:.1f} µs per image (median of 300 calls)")
