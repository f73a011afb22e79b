"""The book's Convolution and Pooling as it writes them (common/layers.py): NCHW images, im2col, one matrix
product, col2im.

layers.Convolution and layers.Pooling compute the same things faster (channels last, in cache-sized
chunks, no im2col for pooling); these plain versions are what the tests hold them to.
"""
import numpy as np

from ..im2col import col2im, conv_output_size, im2col


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

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
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
