"""What every network shares: layers in an OrderedDict run forward by predict and backward by gradient.

A subclass sets self.input_dim (the shape of one sample: (784,) for rows of pixels, (1, 28, 28) for
images) and builds self.params, self.layers (an OrderedDict) and self.lastLayer, the layers holding
the very arrays in params. Which layer holds which parameter (param_owner: {"W1": ("Affine1", "W"),
...}) is found from that; a layer's backward pass stores the gradient as "d" + the attribute (dW, db,
dgamma, dbeta). The class also declares its family's facts (the command line's defaults and the options
it takes), so no other module needs to recognise a model by its name.
"""
import functools
import hashlib
import math

import numpy as np

from ..functions import labels_of
from ..gradient import numerical_gradient
from ..layers import Convolution, Pooling, Relu

BUFFER_PREFIX = "buffer."  # batch norm's running statistics, saved beside the params


def params_digest(params):
    """SHA-256 over each array's name, dtype, shape and bytes, in name order: a model file's checksum of
    state_arrays(), and how a calibration knows the weights it was fitted for."""
    h = hashlib.sha256()
    for name in sorted(params):
        a = np.ascontiguousarray(params[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


PARAM_ATTRS = ("W", "b", "gamma", "beta")  # the attributes a layer keeps its parameters in


def _defines_infer(layer):
    """Whether layer's infer() belongs with its forward(): a subclass that changes forward alone would not get it."""
    owner = {name: next((k for k in type(layer).__mro__ if name in vars(k)), None) for name in ("infer", "forward")}
    return owner["infer"] is not None and owner["infer"] is owner["forward"]


def infer(net, x):
    """net's scores for x, by the cache-free inference pass where the net has one (LayeredNet.infer), else predict."""
    return net.infer(x) if hasattr(net, "infer") else net.predict(x)


class LayeredNet:
    architecture = None  # the name model files and --model use for this class
    weight_decay_lambda = 0.0
    input_dim = None  # one sample's shape, set by each net
    # The family's facts, read by nets.factory and the training run (class attributes, not string tests):
    convolutional = False  # takes images (N, C, H, W); rows of pixels are reshaped to input_dim
    default_hidden = None  # hidden sizes when --hidden is not given
    hidden_layers = 1  # how many sizes --hidden takes (None: any number)
    default_init = "he"  # weight scale when --init is not given
    default_optimizer = "adam"
    default_dropout = 0.0
    options = frozenset()  # the optional settings it takes, of: init, activation, weight_decay, dropout, batch_norm
    recipe = {}  # training settings (RunSettings fields) it trains with when the command line leaves them out
    train_eval_size = None  # training accuracy each epoch on the first n samples only (None: all of them)

    @property
    def input_size(self):
        """How many numbers one sample is: 784 for MNIST."""
        return int(np.prod(self.input_dim))

    def as_input(self, x):
        """x as the first layer takes it: rows of input_size numbers, or images of input_dim for a conv net.

        Takes samples of any shape that holds input_size numbers ((N, 784) rows or (N, 1, 28, 28) images), or
        one sample of input_size numbers; a conv net only rows, images of input_dim, or (N, H, W) for one channel.
        ValueError for anything else, which a reshape would cut up silently."""
        x = np.asarray(x)
        if x.shape[1:] == tuple(self.input_dim):
            return x
        if x.ndim == 1 and x.size == self.input_size:  # one sample
            return x.reshape(1, *self.input_dim)
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.input_size or not self._laid_out(x):
            shapes = {f"(N, {self.input_size})", f"(N, {', '.join(map(str, self.input_dim))})"}
            if len(self.input_dim) == 3 and self.input_dim[0] == 1:
                height, width = self.input_dim[1:]
                shapes |= {f"(N, {height}, {width})", f"(N, {height}, {width}, 1)"}
            raise ValueError(f"input of shape {x.shape}: the network takes samples of {self.input_size} numbers, "
                             f"shaped {' or '.join(sorted(shapes))}")
        return x.reshape(-1, *self.input_dim)

    def _laid_out(self, x):
        """Whether x's samples reshape to input_dim without mixing its channels up: for a conv net, rows, or for one
        channel (N, H, W) and channels-last (N, H, W, 1) too; a reshape of (N, H, W, 3) or (N, 12, 3, 3) scrambled
        them without a word."""
        if len(self.input_dim) != 3 or x.ndim == 2:
            return True
        channels, height, width = self.input_dim
        return channels == 1 and x.shape[1:] in ((height, width), (height, width, 1))

    def predict(self, x, train_flg=False):
        out = x
        for _, out in self.forward_layers(x, train_flg):  # noqa: B007  (the last layer's output is the answer)
            pass
        return out

    def infer(self, x):
        """predict(x) in inference mode, keeping nothing for a backward pass (no masks, inputs or maxima):
        what evaluation, prediction and serving need. The same scores as predict(x), float for float.

        Layers with an infer() of their own use it (one that only overrides forward gets forward); a
        Convolution takes the Relu and the Pooling after it into one pass (Convolution.infer)."""
        x = self.as_input(x)
        layers = list(self.layers.values())
        i = 0
        while i < len(layers):
            layer, i = layers[i], i + 1
            if type(layer) is Convolution:
                relu = i < len(layers) and type(layers[i]) is Relu
                i += relu
                pool = layers[i] if i < len(layers) and type(layers[i]) is Pooling and not layers[i].pad else None
                i += pool is not None
                x = layer.infer(x, relu, pool)
            elif _defines_infer(layer):
                x = layer.infer(x)
            else:
                x = layer.forward(x, False) if getattr(layer, "train_flg_aware", False) else layer.forward(x)
        return x

    def forward_layers(self, x, train_flg=False):
        """Yield (layer name, its output) as the forward pass goes: predict, one layer at a time."""
        x = self.as_input(x)
        for name, layer in self.layers.items():
            # Dropout and BatchNormalization act differently in training; the others take no flag.
            x = layer.forward(x, train_flg) if getattr(layer, "train_flg_aware", False) else layer.forward(x)
            yield name, x

    def loss(self, x, t, train_flg=False):
        return self.loss_of_scores(self.predict(x, train_flg), t)

    def loss_of_scores(self, scores, t):
        """The last layer's loss of the scores against t, plus the weight decay: loss() after its forward pass."""
        loss = self.lastLayer.forward(scores, t)
        if self.weight_decay_lambda:
            loss += 0.5 * self.weight_decay_lambda * sum(np.sum(W * W) for W in self.decayed_weights())
        return loss

    def decayed_weights(self):
        """The weights L2 decay applies to: every weight matrix and filter, no biases, no BN scales."""
        return [self.params[k] for k in self.params if k.startswith("W")]

    def accuracy(self, x, t, batch_size=250):
        """Fraction classified right; t one-hot or labels. Runs in batches so memory stays flat."""
        return self.evaluate(x, t, batch_size)[1]

    def evaluate(self, x, t, batch_size=250):
        """(mean loss, accuracy) over a whole set, without dropout or weight decay, in batches so memory stays flat."""
        labels = labels_of(t)
        total_loss, correct = 0.0, 0
        for i in range(0, x.shape[0], batch_size):
            xb, tb = x[i:i + batch_size], labels[i:i + batch_size]
            scores = infer(self, xb)  # the function: book-style nets borrow evaluate without an infer
            total_loss += float(self.lastLayer.forward(scores, tb)) * xb.shape[0]
            correct += int(np.sum(scores.argmax(axis=1) == tb))
        return total_loss / x.shape[0], correct / x.shape[0]

    def numerical_gradient(self, x, t):
        # train_flg=True so dropout and batch norm behave as in the backprop pass they check;
        # a dropout layer must draw the same mask on every call for this to mean anything.
        loss_W = lambda W: self.loss(x, t, train_flg=True)
        return {key: numerical_gradient(loss_W, self.params[key]) for key in self.params}

    def training_layers(self):
        """self.layers' values in the order loss_and_gradient runs them: as listed, except that a Relu right
        before a Pooling without padding runs after it. Max commutes with the ReLU, ties included: the pooled
        values are the same floats, and the gradient goes to the same pixel (or, where the window's maximum is
        <= 0, nowhere), so the ReLU and its backward pass run on a quarter of the pixels of a 2x2 pool. The
        book's names and order stay in self.layers for a reader, and predict keeps them (a backward pass after
        predict, as in explain.input_gradient, follows self.layers)."""
        layers = list(self.layers.values())
        for i in range(len(layers) - 1):
            if type(layers[i]) is Relu and type(layers[i + 1]) is Pooling and not layers[i + 1].pad:
                layers[i], layers[i + 1] = layers[i + 1], layers[i]
        return layers

    def loss_and_gradient(self, x, t):
        """One forward pass and one backward pass: the loss and the gradient of every parameter."""
        layers = self.training_layers()
        scores = self.as_input(x)
        for layer in layers:
            scores = layer.forward(scores, True) if getattr(layer, "train_flg_aware", False) else layer.forward(scores)
        loss = self.loss_of_scores(scores, t)
        dout = self.lastLayer.backward(1)
        first, *rest = layers
        for layer in reversed(rest):
            dout = layer.backward(dout)
        if getattr(first, "has_optional_input_grad", False):
            first.backward(dout, need_dx=False)  # nothing needs the gradient of the input images
        else:
            first.backward(dout)
        grads = {key: getattr(self.layers[layer], "d" + attr) for key, (layer, attr) in self.param_owner.items()}
        if self.weight_decay_lambda:
            for key in self.params:
                if key.startswith("W"):
                    grads[key] = grads[key] + self.weight_decay_lambda * self.params[key]
        return loss, grads

    def gradient(self, x, t):
        return self.loss_and_gradient(x, t)[1]

    @functools.cached_property
    def param_owner(self):
        """{param name: (layer name, attribute)}: which layer holds each array of params (found once)."""
        owners = {}
        for name, layer in self.layers.items():
            for attr in PARAM_ATTRS:
                held = getattr(layer, attr, None)
                owners.update({key: (name, attr) for key, value in self.params.items() if value is held})
        return owners

    def reestimate_batch_norm(self, x, batch_size=500):
        """Batch norm's running statistics again, from x: the mean of its batches' statistics, in order.
        After training on augmented batches (elastic distortions most of all) the running averages describe
        the distorted digits; re-estimated on the plain training images they fit the plain ones tested."""
        norms = [layer for layer in self.layers.values() if getattr(layer, "running_mean", None) is not None]
        totals, count = [[0.0, 0.0] for _ in norms], 0
        kept = [layer.momentum for layer in norms]
        try:
            for i in range(0, x.shape[0], batch_size):
                for layer in norms:
                    layer.momentum = 0.0  # the running statistics become this batch's
                self.predict(x[i:i + batch_size], train_flg=True)
                for total, layer in zip(totals, norms):
                    total[0], total[1] = total[0] + layer.running_mean, total[1] + layer.running_var
                count += 1
        finally:
            for layer, momentum in zip(norms, kept):
                layer.momentum = momentum
        for (mean, var), layer in zip(totals, norms):
            layer.running_mean, layer.running_var = mean / count, var / count

    def buffers(self):
        """State that is saved with the model but not trained by gradients: batch norm's running statistics."""
        out = {}
        for name, layer in self.layers.items():
            for attr in ("running_mean", "running_var"):
                if getattr(layer, attr, None) is not None:
                    out[f"{name}.{attr}"] = getattr(layer, attr)
        return out

    def load_buffers(self, buffers):
        for key, value in buffers.items():
            name, attr = key.split(".", 1)
            setattr(self.layers[name], attr, value.copy())

    def state_arrays(self):
        """Every array a saved net consists of: the params by name, the buffers as "buffer." + name.
        The one layout model files, checkpoints and best-epoch snapshots share (the arrays, not copies)."""
        return {**self.params, **{BUFFER_PREFIX + k: v for k, v in self.buffers().items()}}

    def load_state(self, arrays):
        """Put back what state_arrays() gave: params in place (the layers hold these very arrays), buffers copied."""
        for key, value in self.params.items():
            value[...] = arrays[key]
        self.load_buffers({k[len(BUFFER_PREFIX):]: v for k, v in arrays.items() if k.startswith(BUFFER_PREFIX)})
