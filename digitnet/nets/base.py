"""What every network shares: layers in an OrderedDict run forward by predict and backward by gradient.

A subclass builds self.params, self.layers (an OrderedDict), self.lastLayer and self.param_owner,
which says which layer holds each parameter: {"W1": ("Affine1", "W"), ...}. Its backward pass then
stores the gradient as the layer's "d" + attribute (dW, db, dgamma, dbeta).
"""
import numpy as np

from ..functions import labels_of
from ..gradient import numerical_gradient

BUFFER_PREFIX = "buffer."  # batch norm's running statistics, saved beside the params


class LayeredNet:
    architecture = None  # the name model files use for this class
    weight_decay_lambda = 0.0

    def predict(self, x, train_flg=False):
        for _, x in self.forward_layers(x, train_flg):
            pass
        return x

    def forward_layers(self, x, train_flg=False):
        """Yield (layer name, its output) as the forward pass goes: predict, one layer at a time."""
        for name, layer in self.layers.items():
            # Dropout and BatchNormalization act differently in training; the others take no flag.
            x = layer.forward(x, train_flg) if getattr(layer, "train_flg_aware", False) else layer.forward(x)
            yield name, x

    def loss(self, x, t, train_flg=False):
        loss = self.lastLayer.forward(self.predict(x, train_flg), t)
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
            scores = self.predict(xb)
            total_loss += float(self.lastLayer.forward(scores, tb)) * xb.shape[0]
            correct += int(np.sum(scores.argmax(axis=1) == tb))
        return total_loss / x.shape[0], correct / x.shape[0]

    def numerical_gradient(self, x, t):
        # train_flg=True so dropout and batch norm behave as in the backprop pass they check;
        # a dropout layer must draw the same mask on every call for this to mean anything.
        loss_W = lambda W: self.loss(x, t, train_flg=True)  # noqa: E731
        return {key: numerical_gradient(loss_W, self.params[key]) for key in self.params}

    def loss_and_gradient(self, x, t):
        """One forward pass and one backward pass: the loss and the gradient of every parameter."""
        loss = self.loss(x, t, train_flg=True)
        dout = self.lastLayer.backward(1)
        first, *rest = self.layers.values()
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
