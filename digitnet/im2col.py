"""im2col and col2im: image patches as matrix rows, so a convolution or a pooling is one matrix operation.

The layout is the book's (common/util.py): for input (N, C, H, W) and a filter_h x filter_w window,
col has shape (N*out_h*out_w, C*filter_h*filter_w), one row per output pixel in (n, i, j) order, and each
row holds the window's pixels in (c, y, x) order. out_h = (H + 2*pad - filter_h) // stride + 1, likewise out_w.

im2col_nhwc and col2im_nhwc are the same for channels-last images (N, H, W, C), with each row's pixels in
(y, x, c) order: channels innermost, so every copy runs over contiguous runs of whole pixels instead of
the few floats of one filter row. layers.Convolution uses these; the book's layout stays for book_layers.

im2col_reference and col2im_reference are the definitions, one output pixel at a time: slow and plain,
the yardstick the tests hold the fast versions to.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view


def check_window(stride, pad):
    """A window's stride (a whole number >= 1) and padding (a whole number >= 0), else ValueError: a stride of 0
    was a ZeroDivisionError, a pad of -1 a broadcasting error."""
    for name, value, least in (("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be a whole number >= {least}, not {value!r}")


def check_images(x, channels, layer, window=None):
    """x as (N, C, H, W) images (with C = channels, unless None), else a ValueError naming the shape: a wrong
    channel count was a reshape or matmul error from deep inside, 3-d input "axes don't match array".
    window: (filter_h, filter_w, stride, pad), which must fit the unpadded images (conv_output_size's
    ValueError, naming the layer's own pad and the input's own size, not the padded one's)."""
    if np.ndim(x) != 4 or (channels is not None and x.shape[1] != channels):
        want = "(N, C, H, W)" if channels is None else f"(N, {channels}, H, W)"
        raise ValueError(f"{layer} takes images shaped {want}, not {np.shape(x)}")
    if window is not None:
        filter_h, filter_w, stride, pad = window
        conv_output_size(x.shape[2], filter_h, stride, pad)
        conv_output_size(x.shape[3], filter_w, stride, pad)


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """How many positions a filter_size window takes along an input_size axis: (input + 2 pad - filter) // stride + 1.

    The book's common/util.py conv_output_size, with a ValueError when the window does not fit.

    Args:
        input_size: the input's height or width.
        filter_size: the window's height or width.
        stride: the step between positions.
        pad: padding on each side.

    Returns:
        The output's height or width, an int >= 1.

    Examples:
        >>> from digitnet.book import conv_output_size
        >>> conv_output_size(28, 5), conv_output_size(28, 3, pad=1), conv_output_size(28, 2, stride=2)
        (24, 28, 14)
    """
    out = (input_size + 2 * pad - filter_size) // stride + 1
    if out < 1:
        raise ValueError(f"a {filter_size}-wide window with pad {pad} does not fit an input of size {input_size}")
    return out


def _pad(x, pad):
    return np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else x


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unroll every filter window of a batch of images into one row: (N, C, H, W) -> (N*out_h*out_w, C*FH*FW).

    With it a convolution is one matrix product (the book's common/util.py im2col). Made from a strided view
    of every window, copied once.

    Args:
        input_data: images (N, C, H, W).
        filter_h: the window's height.
        filter_w: the window's width.
        stride: the step between windows.
        pad: zeros added around each image.

    Returns:
        A 2-d array, one row per window position (image by image, row by row), one column per pixel of the
        window (channel by channel).

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import im2col
        >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
        >>> im2col(x, 2, 2)
        array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]])
    """
    N, C, H, W = input_data.shape
    out_h, out_w = conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)
    img = _pad(input_data, pad)
    windows = sliding_window_view(img, (filter_h, filter_w), axis=(2, 3))  # (N, C, H', W', fh, fw), no copy
    windows = windows[:, :, :stride * (out_h - 1) + 1:stride, :stride * (out_w - 1) + 1:stride]
    col = np.empty((N, out_h, out_w, C, filter_h, filter_w), dtype=input_data.dtype)
    col[...] = windows.transpose(0, 2, 3, 1, 4, 5)  # the one copy
    return col.reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col: each row's values added back at the pixels its window covered (overlaps sum).

    As the book: one strided-slice addition per window offset (filter_h * filter_w of them), over the whole
    batch; but summed in (N, H, W, C) order, where each addition runs over long contiguous rows instead of the
    book's rows of W. The result is an (N, C, H, W) view of that buffer, so not C-contiguous.

    Args:
        col: rows as im2col makes them.
        input_shape: the images' shape (N, C, H, W).
        filter_h: the window's height.
        filter_w: the window's width.
        stride: the step between windows.
        pad: the padding im2col added (cut off again).

    Returns:
        An array of input_shape.

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import col2im
        >>> col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)[0, 0]  # how many windows cover each pixel
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    N, C, H, W = input_shape
    out_h, out_w = conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w)
    img = np.zeros((N, H + 2 * pad, W + 2 * pad, C), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * (out_h - 1) + 1
        for x in range(filter_w):
            x_max = x + stride * (out_w - 1) + 1
            img[:, y:y_max:stride, x:x_max:stride, :] += col[:, :, :, :, y, x]
    return img[:, pad:H + pad, pad:W + pad, :].transpose(0, 3, 1, 2)


def pad_nhwc(x, pad):
    """x (N, H, W, C) with pad zero pixels around each image (x itself when pad is 0).

    Not np.pad, whose general case costs a third more here: the border is zeroed, the inside copied once."""
    if not pad:
        return x
    N, H, W, C = x.shape
    out = np.empty((N, H + 2 * pad, W + 2 * pad, C), dtype=x.dtype)
    out[:, :pad] = out[:, H + pad:] = 0
    out[:, pad:H + pad, :pad] = out[:, pad:H + pad, W + pad:] = 0
    out[:, pad:H + pad, pad:W + pad] = x
    return out


def im2col_nhwc(x, filter_h, filter_w, stride=1, pad=0):
    """(N, H, W, C) -> (N*out_h*out_w, filter_h*filter_w*C), rows in (n, i, j) order, columns in (y, x, c) order.

    The windows are one strided view, already in row order: output pixel (i, j) starts stride * (i, j) pixels
    in, and its offset (y, x) one pixel step per unit. A convolution calls this once per batch chunk, so the
    view is built with as_strided directly: sliding_window_view's checks and the reordering cost 16-31 µs a call.
    """
    x = pad_nhwc(x, pad)
    return next(im2col_chunks(x, filter_h, filter_w, stride, [slice(0, x.shape[0])]))[1]


def _windows(x, filter_h, filter_w, stride):
    """Every window of x (N, H, W, C) as one strided view (N, out_h, out_w, filter_h, filter_w, C), no copy."""
    N, H, W, C = x.shape
    out_h, out_w = conv_output_size(H, filter_h, stride), conv_output_size(W, filter_w, stride)
    step_n, step_h, step_w, step_c = x.strides
    return as_strided(x, (N, out_h, out_w, filter_h, filter_w, C),
                      (step_n, step_h * stride, step_w * stride, step_h, step_w, step_c),
                      writeable=False)  # in bounds: conv_output_size counted only windows that fit


def im2col_chunks(x, filter_h, filter_w, stride, chunks):
    """(chunk, im2col_nhwc(x[chunk], ...)) for each batch slice in chunks (of the already padded x), in order.

    One strided view of the whole batch and one buffer serve every chunk: as_strided costs tens of µs a call
    and a DeepConvNet step makes hundreds of chunks. The buffer is reused, so each chunk's matrix is valid
    only until the next one is asked for.
    """
    N, H, W, C = x.shape
    out_h, out_w = conv_output_size(H, filter_h, stride), conv_output_size(W, filter_w, stride)
    if C == 1:  # a grayscale input: see _im2col_one_channel
        for s in chunks:
            yield s, _im2col_one_channel(x[s, ..., 0], filter_h, filter_w, stride, out_h, out_w)
        return
    windows = _windows(x, filter_h, filter_w, stride)
    buffer = np.empty((max(s.stop - s.start for s in chunks), *windows.shape[1:]), dtype=x.dtype)
    for s in chunks:
        col = buffer[:s.stop - s.start]
        np.copyto(col, windows[s])
        yield s, col.reshape(col.shape[0] * out_h * out_w, -1)


def _im2col_one_channel(img, filter_h, filter_w, stride, out_h, out_w):
    """im2col_nhwc of (N, H, W) single-channel images: the same matrix, stored column by column.

    With one channel a window's rows are filter_w floats long, too short for the strided copy to run
    well. Column (y, x) of the matrix is the image shifted by (y, x), so each column is one copy of whole
    image rows instead (with its product, 2.7x faster for a 3x3 filter, 1.7x for 5x5). Matrix products take
    either layout, and give the same floats.
    """
    N = img.shape[0]
    col = np.empty((filter_h, filter_w, N, out_h, out_w), dtype=img.dtype)
    for y in range(filter_h):
        for x in range(filter_w):
            col[y, x] = img[:, y:y + stride * (out_h - 1) + 1:stride, x:x + stride * (out_w - 1) + 1:stride]
    return col.reshape(filter_h * filter_w, N * out_h * out_w).T


def col2im_nhwc(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col_nhwc: (N*out_h*out_w, filter_h*filter_w*C) -> (N, H, W, C), overlaps summed."""
    N, H, W, C = input_shape
    out_h, out_w = conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)
    col = col.reshape(N, out_h, out_w, filter_h, filter_w, C)
    img = np.zeros((N, H + 2 * pad, W + 2 * pad, C), dtype=col.dtype)
    for y in range(filter_h):
        for x in range(filter_w):
            img[:, y:y + stride * (out_h - 1) + 1:stride, x:x + stride * (out_w - 1) + 1:stride] += col[:, :, :, y, x]
    return img[:, pad:H + pad, pad:W + pad]


def batch_chunks(n, bytes_per_sample, budget=1 << 19):
    """Slices of range(n), each as many samples as fit in `budget` bytes (at least one).

    A convolution's im2col matrix is filter_h*filter_w times its input; built chunk by chunk it stays in the
    CPU's cache between being written and being multiplied, instead of going out to memory and back.
    """
    step = max(1, budget // max(1, bytes_per_sample))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def im2col_reference(input_data, filter_h, filter_w, stride=1, pad=0):
    """im2col by definition: row (n, i, j) is the window at output pixel (i, j) of image n, flattened."""
    N, C, H, W = input_data.shape
    out_h, out_w = conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)
    img = _pad(input_data, pad)
    rows = []
    for n in range(N):
        for i in range(out_h):
            for j in range(out_w):
                top, left = i * stride, j * stride
                rows.append(img[n, :, top:top + filter_h, left:left + filter_w].ravel())
    return np.array(rows, dtype=input_data.dtype)


def col2im_reference(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """col2im by definition: add each row back onto the window it came from, then drop the padding."""
    N, C, H, W = input_shape
    out_h, out_w = conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=col.dtype)
    row = 0
    for n in range(N):
        for i in range(out_h):
            for j in range(out_w):
                top, left = i * stride, j * stride
                img[n, :, top:top + filter_h, left:left + filter_w] += col[row].reshape(C, filter_h, filter_w)
                row += 1
    return img[:, :, pad:H + pad, pad:W + pad]


# Row windows (conv_chunks, filter_gradient): im2col's copy runs a window row at a time, filter_w * C floats (48
# for 3x3 and 16 channels), few floats a step for few channels. Copying each image's filter_w neighbouring pixels
# side by side once (rows[n, r, j] = x[n, r, j:j + filter_w], for every padded row r) copies filter_h times less,
# and for each filter row y the image's (out_h * out_w, filter_w * C) matrix is rows[n, y:y + out_h] itself, no
# copy: the product is filter_h products of it, with the filter's rows for y. The products are smaller, which
# OpenBLAS's AVX-512 kernels take better than its AVX2 (Haswell) ones. CPU time at batch 100, each against im2col
# (the AVX-512 kernels OpenBLAS picks on the machine of docs/performance.md; forced Haswell kernels):
# - forward, and dx (a convolution too): 16 -> 16 channels at 28x28 0.74 (0.92), 16 -> 32 at 14x14 0.84 (1.10),
#   32 -> 32 at 16x16 0.79 (1.02), 32 -> 64 at 8x8 0.88 (1.18), 64 -> 64 at 8x8 0.86 (1.19); DeepConvNet's step
#   0.93 (1.00) and inference 0.85 (0.96) against the Conv2 alone: taken wherever C > 1 and stride is 1;
# - filter gradient, one image's products at a time (rows x dout over a whole chunk was slower): 28x28 0.63
#   (0.83), 16x16 0.80 (0.98), 14x14 1.00 (1.19), 8x8 1.02-1.19 (1.12-1.25): taken from 16x16 up.
# One channel has its own im2col (_im2col_one_channel's copies of whole image rows), twice as fast.
ROW_WINDOW_GRADIENT_MIN_PIXELS = 16 * 16  # out_h * out_w
# False: im2col everywhere. The row windows' sums come out within float32 round-off of im2col's, not bit for bit;
# scripts/make_pretrained.py turns them off, so that it makes the bundled models' weights again to the bit.
ROW_WINDOWS = True


def uses_row_windows(x_shape, filter_h, filter_w, stride, gradient=False):
    """Whether conv_chunks (or, with gradient, filter_gradient) takes the row windows for the padded x (N, H, W, C)."""
    N, H, W, C = x_shape
    if not ROW_WINDOWS or stride != 1 or C == 1:
        return False
    return not gradient or (H - filter_h + 1) * (W - filter_w + 1) >= ROW_WINDOW_GRADIENT_MIN_PIXELS


def _row_window_chunks(x, filter_w, chunks):
    """(chunk, rows) for each batch slice: rows (n, H, out_w, filter_w * C) holds x[chunk]'s filter_w pixels side by
    side at each position of every row. One buffer serves every chunk (valid until the next is asked for)."""
    N, H, W, C = x.shape
    out_w = W - filter_w + 1
    step_n, step_h, step_w, step_c = x.strides
    side_by_side = as_strided(x, (N, H, out_w, filter_w * C), (step_n, step_h, step_w, step_c), writeable=False)
    buffer = np.empty((max(s.stop - s.start for s in chunks), H, out_w, filter_w * C), dtype=x.dtype)
    for s in chunks:
        rows = buffer[:s.stop - s.start]
        np.copyto(rows, side_by_side[s])
        yield s, rows


def conv_chunks(x, col_W, filter_h, filter_w, stride, target):
    """The convolution of the padded channels-last x (N, H, W, C) with filters col_W (filter_h * filter_w * C, FN),
    rows in im2col_nhwc's (y, x, c) order, chunk by chunk: for each batch slice s, writes im2col_nhwc(x[s]) @ col_W
    into target(s) (an (n, out_h, out_w, FN) array, C-contiguous) and yields s. Row windows where they pay."""
    N, H, W, C = x.shape
    FN = col_W.shape[1]
    out_h, out_w = conv_output_size(H, filter_h, stride), conv_output_size(W, filter_w, stride)
    if not uses_row_windows(x.shape, filter_h, filter_w, stride):
        chunks = batch_chunks(N, out_h * out_w * filter_h * filter_w * C * x.itemsize)
        for s, col in im2col_chunks(x, filter_h, filter_w, stride, chunks):
            np.matmul(col, col_W, out=target(s).reshape(-1, FN))
            yield s
        return
    W_rows = col_W.reshape(filter_h, filter_w * C, FN)
    chunks = batch_chunks(N, H * out_w * filter_w * C * x.itemsize)
    partial = np.empty((chunks[0].stop, out_h * out_w, FN), dtype=np.result_type(x, col_W))
    for s, rows in _row_window_chunks(x, filter_w, chunks):
        out = target(s).reshape(rows.shape[0], out_h * out_w, FN)
        for y in range(filter_h):
            window_rows = rows[:, y:y + out_h].reshape(rows.shape[0], out_h * out_w, -1)  # no copy
            np.matmul(window_rows, W_rows[y], out=out if y == 0 else partial[:rows.shape[0]])
            if y:
                out += partial[:rows.shape[0]]
        yield s


def filter_gradient(x, dout, filter_h, filter_w, stride):
    """im2col_nhwc(x).T @ dout for the padded channels-last x and dout (N, out_h, out_w, FN): a convolution's
    filter gradient, (filter_h * filter_w * C, FN), summed chunk by chunk. Row windows where they pay."""
    N, H, W, C = x.shape
    FN = dout.shape[-1]
    out_h, out_w = dout.shape[1:3]
    grad = np.zeros((filter_h * filter_w * C, FN), dtype=dout.dtype)
    if not uses_row_windows(x.shape, filter_h, filter_w, stride, gradient=True):
        chunks = batch_chunks(N, out_h * out_w * filter_h * filter_w * C * x.itemsize)
        for s, col in im2col_chunks(x, filter_h, filter_w, stride, chunks):
            grad += col.T @ dout[s].reshape(-1, FN)
        return grad
    per_row = grad.reshape(filter_h, filter_w * C, FN)
    for s, rows in _row_window_chunks(x, filter_w, batch_chunks(N, H * out_w * filter_w * C * x.itemsize)):
        for n, image_rows in enumerate(rows):
            image_dout = dout[s.start + n].reshape(-1, FN)
            for y in range(filter_h):
                per_row[y] += image_rows[y:y + out_h].reshape(out_h * out_w, -1).T @ image_dout
    return grad
