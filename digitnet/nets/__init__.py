from .two_layer_net import TwoLayerNet

# Model files name their architecture; this maps the name back to the class that rebuilds it.
ARCHITECTURES = {TwoLayerNet.architecture: TwoLayerNet}

__all__ = ["TwoLayerNet", "ARCHITECTURES"]
