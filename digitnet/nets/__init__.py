from .conv_nets import DeepConvNet, SimpleConvNet
from .fast_cnn import FastConvNet
from .multi_layer_net import MultiLayerNet
from .two_layer_net import TwoLayerNet

# Model files name their architecture; this maps the name back to the class that rebuilds it.
ARCHITECTURES = {cls.architecture: cls for cls in (TwoLayerNet, MultiLayerNet, SimpleConvNet, DeepConvNet,
                                                  FastConvNet)}

__all__ = ["TwoLayerNet", "MultiLayerNet", "SimpleConvNet", "DeepConvNet", "FastConvNet", "ARCHITECTURES"]
