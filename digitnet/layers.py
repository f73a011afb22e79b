"""Layers with forward and backward passes, as in the book's common/layers.py.

forward() caches what backward() needs; backward(dout) returns the gradient with respect to the
layer's input and stores the gradients of its parameters (dW, db). No layer writes into an array
its caller passed in.
"""
import numpy as np

from .functions import labels_of, log_softmax, sigmoid, softmax
from .im2col import col2im, conv_output_size, im2col


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, 0, x)

    def backward(self, dout):
        return np.where(self.mask, 0, dout)  # a new array: the book's dout[mask] = 0 would edit the caller's


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    """out = x W + b. Accepts N-d input (images, feature maps): flattens each sample to a row."""

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
        return self.x @ self.W + self.b

    def backward(self, dout):
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dx.reshape(self.original_x_shape)


class Softmax:
    def __init__(self):
        self.y = None

    def forward(self, x):
        self.y = softmax(x)
        return self.y

    def backward(self, dout):
        # Jacobian of softmax times dout, without building the Jacobian: y * (dout - <dout, y>).
        return self.y * (dout - (dout * self.y).sum(axis=-1, keepdims=True))


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy; targets are one-hot rows or integer labels."""

    def __init__(self):
        self.loss = None
        self.y = None  # softmax output
        self.t = None  # targets as given

    def forward(self, x, t):
        self.t = t
        logp = log_softmax(x)  # exact for logits of +-1000, where log(softmax) would give log(0)
        self.y = np.exp(logp)
        self.loss = -logp[np.arange(x.shape[0]), labels_of(t)].mean()
        return self.loss

    def backward(self, dout=1):
        batch_size = self.y.shape[0]
        dx = self.y.copy()
        if np.ndim(self.t) == dx.ndim:  # one-hot
            dx -= self.t
        else:
            dx[np.arange(batch_size), self.t] -= 1
        return dx * (dout / batch_size)


class Dropout:
    """Inverted dropout: in training keep each unit with probability 1 - ratio and scale it by 1/(1 - ratio),
    so inference is the identity. (The book's Dropout scales by 1 - ratio at inference instead.)

    rng: a NumPy Generator (default np.random.default_rng()); each training forward draws a new mask.
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

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


class BatchNormalization:
    """Batch normalization (Ioffe & Szegedy), as the book's common/layers.py has it.

    Training mode normalizes with the batch's mean and (biased) variance and moves the running
    statistics toward them: running = momentum * running + (1 - momentum) * batch (the book's momentum;
    PyTorch's momentum=0.1 is this momentum=0.9). Inference mode uses the running statistics.
    eps is the book's 10e-7, i.e. 1e-6. A 4-d input (N, C, H, W) is reshaped to (N, C*H*W), as in
    the book: each pixel of each channel is its own feature (gamma, beta shaped (C*H*W,)), not
    PyTorch's per-channel BatchNorm2d. Running statistics start at mean 0 and variance 1 when not given.
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

    def backward(self, dout):
        dout = dout.reshape(dout.shape[0], -1)
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        if self.train_flg:
            # The book's chain (dxc, dstd, dvar, dmu) collapsed: the batch mean and variance depend on x too.
            dxn = dxn - dxn.mean(axis=0) - self.xn * np.mean(dxn * self.xn, axis=0)
        return (dxn / self.std).reshape(self.input_shape)


class Convolution:
    """2-d convolution (cross-correlation, as every framework): x (N, C, H, W), W (FN, C, FH, FW), b (FN,);
    output (N, FN, out_h, out_w). Forward is im2col and one matrix product; backward goes back by col2im."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W  # the network's own arrays
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x_shape = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        self.x_shape = x.shape
        self.col = im2col(x, FH, FW, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW)
        self.col_W = self.W.reshape(FN, -1).T  # (C*FH*FW, FN)
        out = self.col @ self.col_W + self.b
        return out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)

    def backward(self, dout):
        FN, _, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = dout.sum(axis=0)
        self.dW = (dout.T @ self.col).reshape(self.W.shape)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max pooling over pool_h x pool_w windows, by im2col. backward routes each gradient to its window's
    maximum (the first one on a tie, as the book). Padding counts as -inf, as in PyTorch's max_pool2d
    (the book pads with 0, which matters only with pad > 0 and all-negative windows)."""

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        if pad >= pool_h or pad >= pool_w:
            raise ValueError(f"pad {pad} must be smaller than the {pool_h}x{pool_w} pool: "
                             "a window could otherwise hold only padding")
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x_shape = None
        self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        p = self.pad
        out_h = conv_output_size(H, self.pool_h, self.stride, p)
        out_w = conv_output_size(W, self.pool_w, self.stride, p)
        self.x_shape = x.shape
        if p:
            x = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], constant_values=-np.inf)
        col = im2col(x, self.pool_h, self.pool_w, self.stride).reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = col.argmax(axis=1)  # rows ordered (n, i, j, c)
        out = np.take_along_axis(col, self.arg_max[:, None], axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, 1)
        dmax = np.zeros((dout.shape[0], self.pool_h * self.pool_w), dtype=dout.dtype)
        np.put_along_axis(dmax, self.arg_max[:, None], dout, axis=1)
        dcol = dmax.reshape(-1, self.x_shape[1] * self.pool_h * self.pool_w)  # back to im2col's rows
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)
