"""digitnet: neural networks for handwritten digits, built from scratch in NumPy the way
"Deep Learning from Scratch" (ch. 5) builds them: layers with forward and backward passes."""
from .errors import DataError, DigitnetError, DownloadError, ModelFileError
from .functions import cross_entropy_error, relu, sigmoid, softmax
from .gradient import gradient_check, numerical_gradient
from .layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, Softmax, SoftmaxWithLoss
from .model_io import load_model, save_model
from .nets import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .pretrained import pretrained  # the bundled trained models; binds the function, not the module
from .reader import read  # read the numbers in a picture; binds the function, not the module
from .train import evaluate, train
from .version import __version__  # noqa: F401  (re-exported: digitnet.__version__)

__all__ = [
    "Affine", "Relu", "Sigmoid", "Softmax", "SoftmaxWithLoss",
    "Dropout", "BatchNormalization", "Convolution", "Pooling",
    "softmax", "sigmoid", "relu", "cross_entropy_error", "numerical_gradient", "gradient_check",
    "TwoLayerNet", "MultiLayerNet", "SimpleConvNet", "DeepConvNet",
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
    "train", "evaluate", "save_model", "load_model", "pretrained", "read",
    "DigitnetError", "DataError", "DownloadError", "ModelFileError",
]
