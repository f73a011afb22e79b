"""`digitnet tour`: docs/walkthrough.md in the terminal, from the shopping graph to a trained net.

Each step is a function that prints its results with a line or two of explanation, so a reader can
run one at a time (--step N). Everything uses the bundled offline sample: no download, a few seconds.
"""
import functools
import sys

import click
import numpy as np

from .main import friendly_errors

SEED = 0  # the seed the walkthrough uses: its initial weights are far from ReLU's kink (step 4)


def say(text=""):
    click.echo(text)


def show(label, array):
    """label, then the array on the lines below it, indented."""
    with np.printoptions(precision=4, suppress=True):
        body = np.array2string(np.asarray(array))
    say(f"  {label}")
    for line in body.splitlines():
        say(f"      {line}")


@functools.lru_cache(maxsize=1)
def sample():
    """The bundled sample in float64, which the gradient check needs; loaded once for all steps."""
    from ..data import load_sample

    return load_sample(dtype=np.float64)


def step_shopping_graph():
    from ..layer_naive import buy_apple_orange

    say("2 apples at 100 and 3 oranges at 150, plus 10% tax. Forward: multiply, add, multiply.")
    bill = buy_apple_orange()
    say(f"  price                  {bill.price:g}")
    say("Backward from d price = 1: a multiplication swaps its inputs, an addition passes dout on.")
    say(f"  d price / d apple_num    {bill.apple_num:g}   (one more apple costs 100 x 1.1)")
    say(f"  d price / d apple_price  {bill.apple_price:g}   (2 apples, taxed)")
    say(f"  d price / d orange_num   {bill.orange_num:g}")
    say(f"  d price / d orange_price {bill.orange_price:g}")
    say(f"  d price / d tax          {bill.tax:g}   (the whole pre-tax bill)")
    return True


def step_layers():
    from .. import Affine, Relu, Sigmoid, SoftmaxWithLoss, numerical_gradient

    x = np.array([[1.0, -0.5], [-2.0, 3.0]])
    relu = Relu()
    say("Relu: the slope is 1 where the input was positive and 0 elsewhere, so backward blocks dout there.")
    show("forward(x)", relu.forward(x))
    show("backward(ones)", relu.backward(np.ones_like(x)))

    sigmoid = Sigmoid()
    say("Sigmoid: dy/dx = y (1 - y), so backward needs only the forward output.")
    show("forward([-2, 0, 2])", sigmoid.forward(np.array([-2.0, 0.0, 2.0])))
    show("backward(ones)", sigmoid.backward(np.ones(3)))

    X = np.arange(1.0, 7.0).reshape(2, 3)
    affine = Affine(np.full((3, 2), 0.1), np.zeros(2))
    affine.forward(X)
    dX = affine.backward(np.ones((2, 2)))
    say("Affine, Y = X W + b: dX = dY W^T, dW = X^T dY, db = dY summed over the batch;")
    say(f"  every gradient has its variable's shape: X {X.shape} -> dX {dX.shape}, "
        f"W {affine.W.shape} -> dW {affine.dW.shape}, b {affine.b.shape} -> db {affine.db.shape}")

    scores = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0]])
    labels = np.array([0, 2])
    last = SoftmaxWithLoss()
    loss = last.forward(scores, labels)
    dscores = last.backward()
    numerical = numerical_gradient(lambda _: SoftmaxWithLoss().forward(scores, labels), scores)
    say(f"SoftmaxWithLoss: backward is (y - t) / N, prediction minus truth. Loss {loss:.4f}, and")
    show("backward()", dscores)
    agree = bool(np.allclose(dscores, numerical))
    say(f"  agrees with the numerical gradient: {'yes' if agree else 'NO'}")
    return agree


def step_network():
    from .. import TwoLayerNet

    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(SEED))
    say("TwoLayerNet keeps its layers in an OrderedDict: predict runs them in order, gradient in reverse.")
    say(f"  layers     {', '.join(net.layers)}, then {type(net.lastLayer).__name__}")
    say(f"  params     {', '.join(f'{k} {v.shape}' for k, v in net.params.items())}")
    ds = sample()
    x3, t3 = ds.x_train[:3], ds.t_train[:3]
    say(f"  the first 3 training digits are {', '.join(map(str, t3))}; the untrained net's loss on them is "
        f"{net.loss(x3, t3):.2f},")
    say("  about log 10: ten equally likely guesses")
    return True


def step_gradient_check():
    from .. import TwoLayerNet, gradient_check
    from ..gradient import DEFAULT_TOLERANCE, report_table

    ds = sample()
    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(SEED))
    say(f"Backprop against numerical gradients on the first 3 training digits (seed {SEED}, float64):")
    say("79,520 forward passes for the numerical side, a few seconds...")
    report = gradient_check(net, ds.x_train[:3], ds.t_train[:3])
    for line in report_table(report, digits=1):
        say(f"  {line}")
    ok = all(r["ok"] for r in report.values())
    if ok:
        say(f"gradient check passed: every relative error is below {DEFAULT_TOLERANCE:g}; "
            "a backprop bug gives 1e-1 or more.")
    else:
        say("gradient check FAILED")
    say("The book prints bigger differences (1e-10 to 1e-7): its loss, log(y + 1e-7), is not quite")
    say("the function backprop differentiates. See them with `digitnet gradcheck --book-loss`.")
    return ok


def step_training():
    from .. import SGD, TwoLayerNet, train

    ds = sample()
    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(SEED))
    say(f"SGD (lr 0.1), batches of 100, 5 epochs of {ds.n_train // 100} steps, on {ds.n_train:,} digits; "
        f"tested on {ds.n_test:,} others.")
    say(f"  {'epoch':>5} {'step':>5} {'train loss':>11} {'train acc':>10} {'test acc':>9}")

    def on_epoch(r):
        say(f"  {r['epoch']:5d} {r['iteration']:5d} {r['train_loss']:11.3f} {r['train_acc']:10.3f} "
            f"{r['test_acc']:9.3f}")

    history = train(net, ds.x_train, ds.t_train, ds.x_test, ds.t_test, epochs=5, batch_size=100,
                    optimizer=SGD(lr=0.1), rng=np.random.default_rng(SEED), on_epoch=on_epoch)
    say(f"Test accuracy {history[-1]['test_acc']:.1%} after {history[-1]['train_time_s']:.1f}s of training; "
        "the loss fell from about log 10 = 2.3.")
    say("Train and test accuracy rising together: it learns digits, not the training set.")
    say("`digitnet train` runs the book's full recipe, 10,000 steps: about 97% on the full MNIST (60,000")
    say("digits, downloaded once), about 93% on this offline sample (`--offline`).")
    return True


def interactive():
    """Whether a person can press Enter: a script or pipe running `digitnet tour --pause` is never held up."""
    return sys.stdin.isatty()


STEPS = [
    ("A computational graph: buying apples and oranges", step_shopping_graph),
    ("The layers and their backward passes", step_layers),
    ("Assembling the network", step_network),
    ("The gradient check", step_gradient_check),
    ("Training on real digits", step_training),
]


@click.command("tour")
@click.option("--step", "only", type=click.IntRange(1, len(STEPS)), metavar="N",
              help=f"Run only step N (1-{len(STEPS)}).")
@click.option("--pause", is_flag=True, help="Wait for Enter between steps (when run in a terminal).")
@friendly_errors
def tour(only, pause):
    """A guided tour of backpropagation, step by step.

    From the book's shopping graph to a trained digit recogniser: the steps of the walkthrough (docs/walkthrough.md
    in digitnet's source), run in the terminal on the bundled offline sample in well under a minute.
    """
    chosen = [only] if only else range(1, len(STEPS) + 1)
    failed = []
    for n, i in enumerate(chosen):
        title, run_step = STEPS[i - 1]
        if n and pause and interactive():
            try:
                click.prompt("press Enter for the next step", default="", show_default=False, prompt_suffix=" ")
            except click.Abort:  # Ctrl-C or Ctrl-D at the prompt: "interrupted", 130, as everywhere else
                raise KeyboardInterrupt from None
        say(("" if n == 0 else "\n") + click.style(f"Step {i} of {len(STEPS)}: {title}", bold=True))
        if not run_step():
            failed.append(i)
    if failed:
        raise click.ClickException(f"step {', '.join(map(str, failed))} found a problem (see above)")


command = tour
