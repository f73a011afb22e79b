"""The book's first layers (ch05/layer_naive.py): a multiplication node and an addition node.

Each node is a layer with forward and backward, like the network layers in layers.py, but small
enough to follow by hand. They take Python numbers or NumPy arrays of one shape (elementwise)
and never write into what they are given.
"""
from dataclasses import dataclass

__all__ = ["MulLayer", "AddLayer", "ShoppingGraph", "buy_apple_orange"]


class MulLayer:
    """A multiplication node, out = x * y: the book's ch05/layer_naive.py MulLayer.

    backward swaps the inputs: d(xy)/dx = y and d(xy)/dy = x, so forward keeps x and y. Takes Python numbers
    or NumPy arrays of one shape (elementwise) and never writes into what it is given.

    Examples:
        >>> from digitnet.layer_naive import MulLayer
        >>> mul = MulLayer()
        >>> mul.forward(100, 2)
        200
        >>> mul.backward(1)
        (2, 100)
    """

    def __init__(self):
        self.x = None  # forward's inputs, kept because backward needs them
        self.y = None

    def forward(self, x, y):
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout):
        dx = dout * self.y  # swapped: x's gradient is scaled by the *other* input
        dy = dout * self.x
        return dx, dy


class AddLayer:
    """An addition node, out = x + y: the book's ch05/layer_naive.py AddLayer.

    backward passes dout on unchanged to both inputs (d(x+y)/dx = d(x+y)/dy = 1); it remembers nothing.

    Examples:
        >>> from digitnet.layer_naive import AddLayer
        >>> add = AddLayer()
        >>> add.forward(200, 450)
        650
        >>> add.backward(1.1)
        (1.1, 1.1)
    """

    def __init__(self):
        pass  # nothing to remember: the gradient of a sum does not depend on the inputs

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1  # copies for arrays, so the two branches never share one array


@dataclass
class ShoppingGraph:
    """The forward result and the gradient of the price with respect to every input."""
    price: float  # what the customer pays, tax included
    apple_num: float  # d price / d (number of apples), and so on for each input
    apple_price: float
    orange_num: float
    orange_price: float
    tax: float


def buy_apple_orange(apple_price=100, apple_num=2, orange_price=150, orange_num=3, tax=1.1):
    """The book's shopping graph (fig. 5-17), forward and backward.

    price = (apple_price * apple_num + orange_price * orange_num) * tax, run forward with MulLayer and AddLayer,
    then backward from d price = 1.

    Args:
        apple_price: the price of one apple.
        apple_num: the number of apples.
        orange_price: the price of one orange.
        orange_num: the number of oranges.
        tax: the tax factor.

    Returns:
        A ShoppingGraph: the price and the gradient of the price with respect to every input.

    Examples:
        >>> from digitnet.layer_naive import buy_apple_orange
        >>> g = buy_apple_orange()
        >>> round(g.price), round(g.apple_num), round(g.orange_price, 1), round(g.tax)
        (715, 110, 3.3, 650)
    """
    mul_apple_layer = MulLayer()
    mul_orange_layer = MulLayer()
    add_apple_orange_layer = AddLayer()
    mul_tax_layer = MulLayer()

    # forward: left to right through the graph
    apple_total = mul_apple_layer.forward(apple_price, apple_num)
    orange_total = mul_orange_layer.forward(orange_price, orange_num)
    all_price = add_apple_orange_layer.forward(apple_total, orange_total)
    price = mul_tax_layer.forward(all_price, tax)

    # backward: right to left, each layer in the reverse order of forward
    dprice = 1
    dall_price, dtax = mul_tax_layer.backward(dprice)
    dapple_total, dorange_total = add_apple_orange_layer.backward(dall_price)
    dorange_price, dorange_num = mul_orange_layer.backward(dorange_total)
    dapple_price, dapple_num = mul_apple_layer.backward(dapple_total)

    return ShoppingGraph(price=price, apple_num=dapple_num, apple_price=dapple_price,
                         orange_num=dorange_num, orange_price=dorange_price, tax=dtax)
