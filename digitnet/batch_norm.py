"""Batch normalisation as layers: the book's BatchNormalization (one mean and variance per feature), and
ChannelBatchNorm for convolutions (one per channel, as PyTorch's BatchNorm2d). layers.py re-exports both."""
import numpy as np


class BatchNormalization:
    """Batch normalisation (Ioffe & Szegedy), as the book's common/layers.py has it.

    Training mode (`forward(x, train_flg=True)`) normalises each feature with the batch's mean and (biased)
    variance, then scales by gamma and shifts by beta, and moves the running statistics toward the batch's:
    running = momentum * running + (1 - momentum) * batch (PyTorch's momentum=0.1 is this momentum=0.9).
    Inference mode uses the running statistics. A 4-d input (N, C, H, W) is reshaped to (N, C*H*W), as in the
    book: each pixel of each channel is its own feature, not PyTorch's per-channel BatchNorm2d.

    Args:
        gamma: the learned scale, shape (features,); kept as the network's own array.
        beta: the learned shift, shape (features,).
        momentum: how much of the running statistics each training batch keeps.
        running_mean: the starting running mean (default: zeros).
        running_var: the starting running variance (default: ones).
        eps: added to the variance before the square root (the book's 10e-7).

    Examples:
        >>> import numpy as np
        >>> from digitnet import BatchNormalization
        >>> bn = BatchNormalization(gamma=np.ones(2), beta=np.zeros(2))
        >>> y = bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]]), train_flg=True)
        >>> y.round(3)
        array([[-1., -1.],
               [ 1.,  1.]])
        >>> bn.running_mean
        array([0.2, 2. ])
    """

    train_flg_aware = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None, eps=10e-7):
        self.gamma = gamma  # the network's own arrays: optimizers update them in place
        self.beta = beta
        self.momentum = momentum
        self.eps = eps
        self.running_mean = running_mean  # replaced, never written into, by training passes
        self.running_var = running_var
        self.train_flg = None
        self.input_shape = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1], dtype=x.dtype)
            self.running_var = np.ones(x.shape[1], dtype=x.dtype)
        if train_flg:
            one_value(x.shape[0])
            mu = x.mean(axis=0)
            var = np.mean((x - mu) ** 2, axis=0)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            mu = self.running_mean.astype(x.dtype, copy=False)
            var = self.running_var.astype(x.dtype, copy=False)
        self.train_flg = train_flg
        self.std = np.sqrt(var + self.eps)
        self.xn = (x - mu) / self.std
        return (self.gamma * self.xn + self.beta).reshape(self.input_shape)

    def infer(self, x):
        """forward(x, train_flg=False), the same floats, keeping nothing for backward."""
        if self.running_mean is None:
            return self.forward(x, train_flg=False)
        mu = self.running_mean.astype(x.dtype, copy=False)
        std = np.sqrt(self.running_var.astype(x.dtype, copy=False) + self.eps)
        return (self.gamma * ((x.reshape(x.shape[0], -1) - mu) / std) + self.beta).reshape(x.shape)

    def backward(self, dout):
        dout = dout.reshape(dout.shape[0], -1)
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        if self.train_flg:
            # The book's chain (dxc, dstd, dvar, dmu) collapsed: the batch mean and variance depend on x too.
            dxn = dxn - dxn.mean(axis=0) - self.xn * np.mean(dxn * self.xn, axis=0)
        return (dxn / self.std).reshape(self.input_shape)


def one_value(m):
    """ValueError for training on one value per feature, as PyTorch refuses it: its variance is 0, the output 0
    and the gradient below 0, and the running variance fell towards 0, so that inference blew up (a review)."""
    if m < 2:
        raise ValueError("batch normalization needs more than one value per feature to train on: a batch of 1")


def channel_sums(x, y=None):
    """Per-channel sums of a contiguous channels-last x (N, ..., C), or of x * y with no product in memory: over
    the batch, then the pixels. Far faster than x.sum(axis=(0, 1, 2)) for few channels, and closer to exact."""
    rows = x.reshape(x.shape[0], -1)
    per_pixel = rows.sum(axis=0) if y is None else np.einsum("nk,nk->k", rows, y.reshape(rows.shape))
    return per_pixel.reshape(-1, x.shape[-1]).sum(axis=0)


def per_pixel_rows(x, *vectors):
    """x (N, ..., C), contiguous channels last, as rows (N, pixels * C), and each per-channel vector (C,) tiled to
    one row's length: vector arithmetic on them gives x * v's floats, 2-3x faster, for NumPy runs a broadcast
    (C,) vector's inner loop C floats at a time, a row's the whole row."""
    rows = x.reshape(x.shape[0], -1)
    return (rows, *(np.tile(v, rows.shape[1] // v.size) for v in vectors))


class ChannelBatchNorm:
    """Batch normalization over channels, as PyTorch's BatchNorm2d: for (N, C, H, W) feature maps one mean and one
    variance per channel, over the batch and every pixel, and gamma and beta shaped (C,). Otherwise as the book's
    BatchNormalization above (momentum, running statistics); as PyTorch, eps is 1e-5 and the running variance
    takes the unbiased batch variance. Channels last, in few passes: gamma * (x - mu) / std + beta is a scale
    and a shift per channel of x, and backward's sums of dout * xn come from dout and x, so forward caches x,
    not xn. The output is an (N, C, H, W) view of channels-last memory, as a Convolution's."""

    train_flg_aware = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None, eps=1e-5):
        self.gamma = gamma  # the network's own arrays: optimizers update them in place
        self.beta = beta
        self.momentum = momentum
        self.eps = eps
        self.running_mean, self.running_var = running_mean, running_var  # replaced, never written into
        self.train_flg = self.x = None  # x: the input, channels last
        self.mu = self.inv_std = None  # the mean and 1 / std it was normalized with
        self.dgamma = self.dbeta = None

    def forward(self, x, train_flg=True):
        C = x.shape[1]
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # no copy for a convolution's output
        if self.running_mean is None:
            self.running_mean, self.running_var = np.zeros(C, dtype=x.dtype), np.ones(C, dtype=x.dtype)
        if train_flg:
            m = x.size // C  # values per channel
            one_value(m)
            mu = channel_sums(x) / m
            # E[x^2] - mu^2 in double: one pass, and no cancellation worth the name for a conv's outputs
            var = np.maximum(channel_sums(x, x).astype(np.float64) / m - mu.astype(np.float64) ** 2, 0)
            center = mu
            if np.any(mu.astype(np.float64) ** 2 * np.finfo(x.dtype).eps > 1e-5 * var):
                # a mean far larger than the spread: E[x^2] - mu^2 lost the variance to rounding (in float32
                # from mean / std > 9). Then x - mu is kept instead of x, and its variance taken directly.
                x = x - mu
                center = channel_sums(x) / m  # what rounding left of the mean
                var = np.maximum(channel_sums(x, x).astype(np.float64) / m - center.astype(np.float64) ** 2, 0)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = (self.momentum * self.running_var
                                + (1 - self.momentum) * var * (m / max(m - 1, 1))).astype(x.dtype)  # kept in x's dtype
        else:
            center, var = self.running_mean, self.running_var
        self.x, self.train_flg = x, train_flg
        self.mu = center.astype(x.dtype, copy=False)  # the mean of self.x
        self.inv_std = (1 / np.sqrt(var + self.eps)).astype(x.dtype)
        scale = self.gamma * self.inv_std  # gamma * (x - mu) / std + beta = x * scale + (beta - mu * scale)
        rows, scale, shift = per_pixel_rows(x, scale, self.beta - self.mu * scale)
        out = rows * scale
        out += shift
        return out.reshape(x.shape).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = np.ascontiguousarray(dout.transpose(0, 2, 3, 1))
        self.dbeta = channel_sums(dout)
        # sum(dout * xn) = (sum(dout * x) - mu * sum(dout)) / std
        self.dgamma = (channel_sums(dout, self.x) - self.mu * self.dbeta) * self.inv_std
        scale = self.gamma * self.inv_std
        if not self.train_flg:
            rows, scale_row = per_pixel_rows(dout, scale)
            return (rows * scale_row).reshape(dout.shape).transpose(0, 3, 1, 2)
        # the batch statistics depend on x too (BatchNormalization's chain, collapsed):
        # dx = gamma / std * (dout - dbeta / m - xn * dgamma / m), a scale of dout, one of x and a shift
        m = dout.size // dout.shape[-1]
        x_scale = scale * self.inv_std * self.dgamma / m
        rows, scale, x_scale, shift = per_pixel_rows(dout, scale, x_scale, x_scale * self.mu - scale * self.dbeta / m)
        dx = rows * scale
        dx -= self.x.reshape(rows.shape) * x_scale
        dx += shift
        return dx.reshape(dout.shape).transpose(0, 3, 1, 2)
