"""Layers with forward and backward passes, as in the book's common/layers.py.

forward() caches what backward() needs; backward(dout) returns the gradient with respect to the
layer's input and stores the gradients of its parameters (dW, db). No layer writes into an array
its caller passed in.
"""
import numpy as np

from .batch_norm import BatchNormalization, ChannelBatchNorm, channel_sums  # noqa: F401  (re-exported: layers.py has every layer)
from .functions import check_labels, row_max, sigmoid, softmax
from .im2col import check_images, check_window, col2im_nhwc, conv_chunks, conv_output_size, filter_gradient, pad_nhwc


def relu(x):
    """max(x, 0), a new array (the book's x[mask] = 0 on a copy; np.where is ten times slower: it branches).

    Against a row of zeros, not the scalar 0: NumPy's maximum with a scalar runs 2-3x slower than with an array.
    The rows are x's memory, C order or channels last (an (N, C, H, W) view of (N, H, W, C) memory)."""
    layout = x.transpose(0, 2, 3, 1) if x.ndim == 4 and not x.flags.c_contiguous else x
    if x.ndim < 2 or not layout.flags.c_contiguous:
        return np.maximum(x, 0)
    rows = layout.reshape(layout.shape[0], -1)
    out = np.maximum(rows, np.zeros(rows.shape[1], dtype=rows.dtype)).reshape(layout.shape)
    return out.transpose(0, 3, 1, 2) if layout is not x else out


class Relu:
    """The rectified linear unit, max(x, 0), as a layer.

    forward keeps where the input was > 0 (keep; the book's mask of inputs <= 0 is its negation, made on
    request); backward lets the gradient through there and blocks it elsewhere, multiplying by keep directly
    (negating the book's mask was one more pass over the batch). Neither writes into the array it is given
    (the book's backward edits `dout` in place).

    Examples:
        >>> import numpy as np
        >>> from digitnet import Relu
        >>> relu = Relu()
        >>> relu.forward(np.array([[1.0, -0.5], [-2.0, 3.0]]))
        array([[1., 0.],
               [0., 3.]])
        >>> relu.backward(np.ones((2, 2)))
        array([[1., 0.],
               [0., 1.]])
    """

    def __init__(self):
        self.keep = None

    @property
    def mask(self):
        return None if self.keep is None else ~self.keep

    def forward(self, x):
        self.keep = x > 0
        return relu(x)

    def infer(self, x):
        return relu(x)

    def backward(self, dout):
        return dout * self.keep  # a new array: the book's dout[mask] = 0 would edit the caller's


class Sigmoid:
    """The logistic function 1 / (1 + exp(-x)) as a layer.

    forward keeps its output y, because the derivative is y (1 - y); backward returns dout * y * (1 - y).

    Examples:
        >>> import numpy as np
        >>> from digitnet import Sigmoid
        >>> layer = Sigmoid()
        >>> layer.forward(np.array([0.0, 2.0]))
        array([0.5       , 0.88079708])
        >>> layer.backward(np.ones(2))
        array([0.25      , 0.10499359])
    """
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def infer(self, x):
        return sigmoid(x)

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    """The fully connected layer: out = x W + b.

    Accepts N-d input (images, feature maps) and flattens each sample to a row. backward stores dW = x.T dout
    and db = the sum of dout over the batch, and returns dx = dout W.T in x's original shape.

    Args:
        W: the weights, shape (inputs, outputs). The layer keeps the array itself, not a copy, so an update
            to the network's params is an update to the layer.
        b: the bias, shape (outputs,); kept the same way.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Affine
        >>> layer = Affine(np.ones((3, 2)), np.zeros(2))
        >>> layer.forward(np.array([[1.0, 2.0, 3.0]]))
        array([[6., 6.]])
        >>> layer.backward(np.array([[1.0, -1.0]])).shape, layer.dW.shape, layer.db.shape
        ((1, 3), (3, 2), (2,))
    """

    has_optional_input_grad = True  # LayeredNet skips dx for the first layer: it is a product as large as dW

    def __init__(self, W, b):
        self.W = W  # the network's own arrays, not copies: updating params in place updates the layer
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.infer(self.x)

    def infer(self, x):
        out = x.reshape(x.shape[0], -1) @ self.W
        out += self.b
        return out

    def backward(self, dout, need_dx=True):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.original_x_shape) if need_dx else None


class Softmax:
    """Softmax as a layer of its own: scores to probabilities, row by row.

    backward multiplies dout by softmax's Jacobian without building it: y * (dout - sum(dout * y)). For
    training a classifier use SoftmaxWithLoss, whose gradient is simpler and exact.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Softmax
        >>> layer = Softmax()
        >>> layer.forward(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]))
        array([[0.5 , 0.5 ],
               [0.25, 0.75]])
    """
    def __init__(self):
        self.y = None

    def forward(self, x):
        self.y = softmax(x)
        return self.y

    def backward(self, dout):
        # Jacobian of softmax times dout, without building the Jacobian: y * (dout - <dout, y>).
        return self.y * (dout - (dout * self.y).sum(axis=-1, keepdims=True))


class SoftmaxWithLoss:
    """The last layer of a classifier: softmax followed by the cross-entropy, averaged over the batch.

    `forward(x, t)`: scores x (N, C) and targets t, labels (N,) or rows of class probabilities (N, C): one-hot,
    or soft (label smoothing, mixup), for which the loss is -sum(t * log y) / N over the whole row (the book
    takes it from the row's argmax). Returns the loss (a float) and keeps `loss`, the probabilities `y` and
    `t`. The loss comes from log-softmax, so it is exact even for scores of +-1000 (the book's log(y + 1e-7)
    caps it at about 16.1). label_smoothing eps (PyTorch's cross_entropy(label_smoothing=eps)) trains toward
    (1 - eps) * t + eps / classes instead.

    `backward(dout=1)`: (y - t) * dout / N, shape (N, C).

    Args:
        label_smoothing: eps in [0, 1): train toward (1 - eps) * t + eps / classes (0: the plain targets).

    Examples:
        >>> import numpy as np
        >>> from digitnet import SoftmaxWithLoss
        >>> layer = SoftmaxWithLoss()
        >>> round(float(layer.forward(np.array([[2.0, 1.0, 0.1]]), np.array([0]))), 4)
        0.417
        >>> layer.backward().round(4)
        array([[-0.341 ,  0.2424,  0.0986]])
    """

    def __init__(self, label_smoothing=0.0):
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), not {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.loss = None
        self.y = None  # softmax output
        self.t = None  # targets as given

    def forward(self, x, t):
        if np.ndim(t) == 2 and t.shape[1] == 1 < x.shape[1]:  # a column of labels, not rows of one class
            t = t[:, 0]
        if np.ndim(t) == x.ndim and np.shape(t) != x.shape:
            raise ValueError(f"targets of shape {np.shape(t)} for scores of shape {x.shape}: give labels (N,) or "
                             f"rows of {x.shape[1]} class probabilities")
        self.t = t
        shifted = x - row_max(x)
        self.y = np.exp(shifted)
        total = self.y.sum(axis=1, keepdims=True)
        self.y /= total
        # from log-softmax, never log(y): exact for logits of +-1000, where y underflows to 0
        n = x.shape[0]
        log_total = np.log(total[:, 0])
        if np.ndim(t) == x.ndim:  # probability rows: -sum(t * (shifted - log total)), without an (N, C) temporary
            loss = (log_total @ t.sum(axis=1) - np.vdot(t, shifted)) / n
        else:
            loss = (log_total - shifted[np.arange(n), check_labels(t, x.shape[1])]).sum() / n
        eps = self.label_smoothing
        if eps:  # the uniform part of the target: its loss is the mean over classes of -log y
            loss = (1 - eps) * loss + eps * (log_total.sum() - shifted.sum() / x.shape[1]) / n
        self.loss = loss
        return self.loss

    def backward(self, dout=1):
        batch_size, classes = self.y.shape
        eps = self.label_smoothing
        dx = self.y.copy()
        if np.ndim(self.t) == dx.ndim:  # one-hot
            dx -= (1 - eps) * self.t if eps else self.t
        else:
            dx[np.arange(batch_size), self.t] -= 1 - eps
        if eps:
            dx -= eps / classes
        dx *= dout / batch_size
        return dx


class Dropout:
    """Inverted dropout: in training, keep each unit with probability 1 - ratio and scale it by 1 / (1 - ratio).

    Inference (`forward(x, train_flg=False)`) is then the identity. The book's Dropout scales by 1 - ratio at
    inference instead; the predictions differ by a constant factor per layer, so accuracies match.

    Args:
        dropout_ratio: the share of units switched off, in [0, 1).
        rng: a NumPy Generator for the masks (default: a fresh `np.random.default_rng()`); each training
            forward draws a new mask.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Dropout
        >>> layer = Dropout(0.5, rng=np.random.default_rng(0))
        >>> layer.forward(np.ones((1, 6)))
        array([[2., 0., 0., 0., 2., 2.]])
        >>> layer.forward(np.ones((1, 6)), train_flg=False)
        array([[1., 1., 1., 1., 1., 1.]])
    """

    train_flg_aware = True  # LayeredNet.predict passes train_flg to layers that have this

    def __init__(self, dropout_ratio=0.5, rng=None):
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"dropout_ratio must be in [0, 1), not {dropout_ratio}")
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.default_rng() if rng is None else rng
        self.mask = None  # kept units scaled by 1/(1 - ratio), in x's dtype; None after an inference pass

    def forward(self, x, train_flg=True):
        if not train_flg:
            self.mask = None
            return x
        keep = self.rng.random(x.shape) >= self.dropout_ratio
        self.mask = keep.astype(x.dtype) / np.asarray(1.0 - self.dropout_ratio, dtype=x.dtype)
        return x * self.mask

    def infer(self, x):
        return x

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


def filter_biases(b, filter_num):
    """b as one bias per filter, shape (filter_num,): the book also takes a number (ch07/apply_filter.py's b = 0),
    added to every filter's output."""
    b = np.asarray(b)
    if b.shape not in ((), (1,), (filter_num,)):
        raise ValueError(f"the bias has shape {b.shape}: give one per filter, ({filter_num},), or one number")
    return np.broadcast_to(b, (filter_num,))


class Convolution:
    """2-d convolution (cross-correlation, as in every framework) as a layer.

    x (N, C, H, W) and filters W (FN, C, FH, FW) give (N, FN, out_h, out_w), with
    out_h = (H + 2 pad - FH) // stride + 1. It is the book's im2col and one matrix product
    (digitnet.book.layers.Convolution is that plain version, which the tests hold this one to), arranged for
    speed: the work is done channels last, so im2col copies whole pixels at a time, in batch chunks whose
    im2col matrix fits in the cache. The output is an (N, FN, out_h, out_w) view of channels-last memory, which
    the next convolution takes without a copy. backward stores dW and db and returns dx; it recomputes each
    chunk's im2col rather than keep the whole matrix (FH*FW times the input) in memory.

    Args:
        W: the filters, shape (FN, C, FH, FW); kept as the network's own array.
        b: one bias per filter, shape (FN,), or one number for all of them (the book's apply_filter.py).
        stride: the step between filter positions.
        pad: zeros added around each image.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Convolution
        >>> edge = np.array([[[[1.0, -1.0]]]])  # one 1x2 filter: left pixel minus right pixel
        >>> conv = Convolution(edge, np.zeros(1))
        >>> conv.forward(np.array([[[[0.0, 0.0, 1.0, 1.0]]]]))
        array([[[[ 0., -1.,  0.]]]])
    """

    has_optional_input_grad = True  # LayeredNet skips dx for the first layer

    def __init__(self, W, b, stride=1, pad=0):
        check_window(stride, pad)
        self.W = W  # the network's own arrays
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None  # the padded input, channels last
        self.dW = None
        self.db = None

    def forward(self, x):
        check_images(x, self.W.shape[1], "Convolution", (*self.W.shape[2:], self.stride, self.pad))
        self.x = pad_nhwc(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), self.pad)
        return self._convolve(self.x)

    def infer(self, x, relu=False, pool=None):
        """forward(x) keeping nothing for backward. relu: also apply the ReLU after it; pool: also the Pooling
        (without padding) after that. Each batch chunk is pooled as soon as it is computed, while it is in the
        cache, and the bias and ReLU go on the pooled maxima, a quarter of the pixels for a 2x2 pool: max
        commutes with adding a per-channel constant and with the ReLU, float for float."""
        check_images(x, self.W.shape[1], "Convolution", (*self.W.shape[2:], self.stride, self.pad))
        return self._convolve(pad_nhwc(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), self.pad), relu, pool)

    def _convolve(self, xp, relu=False, pool=None):
        """The convolution of the padded channels-last xp, as (N, FN, out_h, out_w) over channels-last memory."""
        FN, C, FH, FW = self.W.shape
        N, Hp, Wp, _ = xp.shape
        out_h, out_w = conv_output_size(Hp, FH, self.stride), conv_output_size(Wp, FW, self.stride)
        col_W = self.W.transpose(2, 3, 1, 0).reshape(-1, FN)  # rows in im2col_nhwc's (y, x, c) order
        dtype = np.result_type(xp, self.W)
        if pool is None:
            out = np.empty((N, out_h, out_w, FN), dtype=dtype)
            target = out.__getitem__
        else:
            out = np.empty((N, *pool.output_size(out_h, out_w), FN), dtype=dtype)
            scratch = []  # one buffer for every chunk's product, as large as the first (the largest) chunk

            def target(s):
                if not scratch:
                    scratch.append(np.empty((s.stop - s.start, out_h, out_w, FN), dtype=dtype))
                return scratch[0][:s.stop - s.start]
        # the bias as one image row's worth (a broadcast (FN,) vector runs FN floats at a time); none if all zero
        b = filter_biases(self.b, FN)
        bias = np.tile(b, out.shape[2]).astype(dtype, copy=False) if b.any() else None
        zeros = np.zeros(out.shape[2] * FN, dtype=dtype) if relu else None  # relu(): scalars run slower
        for s in conv_chunks(xp, col_W, FH, FW, self.stride, target):
            if pool is not None:
                pool.maxima(target(s), out=out[s])
            chunk = out[s].reshape(-1, out.shape[2] * FN)  # bias (and ReLU) while the chunk is in the cache
            if bias is not None:
                chunk += bias
            if relu:
                np.maximum(chunk, zeros, out=chunk)
        return out.transpose(0, 3, 1, 2)

    def backward(self, dout, need_dx=True):
        FN, C, FH, FW = self.W.shape
        N, _, out_h, out_w = dout.shape
        dout = np.ascontiguousarray(dout.transpose(0, 2, 3, 1))  # (N, out_h, out_w, FN)
        # a product with ones, not sum(axis=...): NumPy reduces the outer axes FN floats at a time, 9x slower
        self.db = np.ones(N * out_h * out_w, dtype=dout.dtype) @ dout.reshape(-1, FN)
        dcol_W = filter_gradient(self.x, dout, FH, FW, self.stride)
        self.dW = np.ascontiguousarray(dcol_W.reshape(FH, FW, C, FN).transpose(3, 2, 0, 1))
        if not need_dx:
            return None
        H, W = self.x.shape[1] - 2 * self.pad, self.x.shape[2] - 2 * self.pad
        back_pad = FH - 1 - self.pad
        if self.stride == 1 and FH == FW and back_pad >= 0:
            # dx is itself a convolution: of dout padded by FH-1-pad, with the filters turned 180 degrees and
            # in and out channels swapped. One more im2col and product, far cheaper than col2im's scattered adds.
            dout = pad_nhwc(dout, back_pad)
            flipped_W = self.W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, C)
            dx = np.empty((N, H, W, C), dtype=dout.dtype)
            for _ in conv_chunks(dout, flipped_W, FH, FW, 1, dx.__getitem__):
                pass
        else:
            col_W = self.W.transpose(2, 3, 1, 0).reshape(-1, FN)
            dx = col2im_nhwc(dout.reshape(-1, FN) @ col_W.T, (N, H, W, C), FH, FW, self.stride, self.pad)
        return dx.transpose(0, 3, 1, 2)


class Pooling:
    """Max pooling over pool_h x pool_w windows, stride 2 unless given (the book's default).

    backward routes each gradient to its window's maximum (the first one in reading order on a tie, as the
    book). Padding counts as -inf, as in PyTorch's max_pool2d (the book pads with 0, which matters only with
    pad > 0 and all-negative windows). No im2col (digitnet.book.layers.Pooling has it): one pass per position in
    the window, each over a strided view of the whole batch, channels last; backward finds the maximum's
    position again by comparison.

    Args:
        pool_h: the window's height.
        pool_w: the window's width.
        stride: the step between windows.
        pad: padding around each map; must be smaller than the window.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Pooling
        >>> pool = Pooling(2, 2, stride=2)
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> pool.forward(x)
        array([[[[ 5.,  7.],
                 [13., 15.]]]])
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        check_window(stride, pad)
        if pad >= pool_h or pad >= pool_w:
            raise ValueError(f"pad {pad} must be smaller than the {pool_h}x{pool_w} pool: "
                             "a window could otherwise hold only padding")
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None  # the padded input, channels last
        self.out = None  # the maxima, channels last

    def _window_positions(self, out_h, out_w):
        """For each position (y, x) in the window, the slices that pick it out of every window at once."""
        s = self.stride
        return [(slice(y, y + s * (out_h - 1) + 1, s), slice(x, x + s * (out_w - 1) + 1, s))
                for y in range(self.pool_h) for x in range(self.pool_w)]

    def output_size(self, height, width):
        """(out_h, out_w) for an already padded height x width input."""
        return conv_output_size(height, self.pool_h, self.stride), conv_output_size(width, self.pool_w, self.stride)

    def maxima(self, x, out=None):
        """The window maxima of the padded channels-last x (N, H, W, C): one pass per window position."""
        out_h, out_w = self.output_size(*x.shape[1:3])
        if out is None:
            out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
        if self.pool_h == self.pool_w == self.stride == 2:  # rows first: whole image rows at a time, then pairs
            x = x[:, :2 * out_h, :2 * out_w]
            pairs = np.maximum(x[:, 0::2], x[:, 1::2])
            return np.maximum(pairs[:, :, 0::2], pairs[:, :, 1::2], out=out)
        views = [x[:, rows, cols] for rows, cols in self._window_positions(out_h, out_w)]
        if len(views) == 1:
            np.copyto(out, views[0])
        else:
            np.maximum(views[0], views[1], out=out)
        for view in views[2:]:
            np.maximum(out, view, out=out)
        return out

    def _padded(self, x):
        check_images(x, None, "Pooling", (self.pool_h, self.pool_w, self.stride, self.pad))
        x, p = x.transpose(0, 2, 3, 1), self.pad
        return np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)], constant_values=-np.inf) if p else x

    def forward(self, x):
        self.x = self._padded(x)
        self.out = self.maxima(self.x)
        return self.out.transpose(0, 3, 1, 2)

    def infer(self, x):
        return self.maxima(self._padded(x)).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = np.ascontiguousarray(dout.transpose(0, 2, 3, 1))  # read once per window position: lay it out once
        overlapping = self.stride < self.pool_h or self.stride < self.pool_w
        out_h, out_w = self.out.shape[1:3]
        # windows that tile the input exactly (no gap between them, none left over) write every pixel of dx
        tiled = (self.stride == self.pool_h == self.pool_w
                 and (self.stride * out_h, self.stride * out_w) == self.x.shape[1:3])
        dx = (np.empty if tiled else np.zeros)(self.x.shape, dtype=dout.dtype)
        positions = self._window_positions(out_h, out_w)
        for i, (rows, cols) in enumerate(positions):
            first_max = self.x[:, rows, cols] == self.out
            if i == 0:
                unclaimed = ~first_max  # windows whose maximum is still to be found
            else:
                first_max &= unclaimed  # on a tie, the first position only
                if i < len(positions) - 1:
                    unclaimed ^= first_max
            if overlapping:
                dx[:, rows, cols] += dout * first_max
            else:  # each input pixel is in one window at most: write, no need to add
                np.multiply(dout, first_max, out=dx[:, rows, cols])
        p = self.pad
        return dx[:, p:dx.shape[1] - p, p:dx.shape[2] - p].transpose(0, 3, 1, 2)
