"""The built-in policies' network choice: which observation leaves get a convolutional encoder, and its layers.

Decided once here, framework-free (the config and the command import it before torch or
JAX), so that the torch Agent (torch/policy.py) and the JAX actor-critic (jax/policy.py)
build the same network from the same observation.

The rule (`config.network`):
  "auto"  an image leaf gets a CNN encoder, every other leaf is flattened into the MLP.
          An image leaf is a 3-D leaf `(height, width, channels)`, channels last, with
          height and width >= MIN_IMAGE_SIZE (5): MinAtar's (10, 10, C), navix's (5, 5, 3),
          jumanji's grids, pixels. An observation without one trains the plain MLP.
  "mlp"   every leaf flattened into the MLP (CleanRL's agent; rows as they come).
  "cnn"   as "auto", and an observation without an image leaf is refused.
The encoder of an image leaf depends on its smaller spatial size:
  >= NATURE_MIN_SIZE (36): CleanRL's NatureCNN (conv 32 8x8/4, 64 4x4/2, 64 3x3/1, then a
          dense 512), all ReLU: Atari's 84x84, craftax's 63x63 pixels (to 4x4x64);
  smaller: the MinAtar paper's network (one conv 16 3x3/1, ReLU): a 3x3/1 conv keeps a
          small grid's cells, which NatureCNN's 8x8/4 would skip.
Convolutions are unpadded ("VALID"); features are flattened in (height, width, channel)
order in both frameworks, so weights convert by transposes alone.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..spec.errors import bad_value

__all__ = ["NETWORKS", "MIN_IMAGE_SIZE", "NATURE_MIN_SIZE", "Encoder", "encoder_for", "choose_encoders"]

NETWORKS = ("auto", "mlp", "cnn")
MIN_IMAGE_SIZE = 5
# The smallest input NatureCNN's three convolutions reduce to at least 1x1.
NATURE_MIN_SIZE = 36
_SMALL_CONVS = ((16, 3, 1),)  # (out channels, kernel, stride)
_NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
_NATURE_DENSE = 512


class Encoder(NamedTuple):
    """The CNN encoder of one image leaf: `convs` as (out channels, kernel, stride), each
    followed by a ReLU, then a dense layer of `dense` units and a ReLU when `dense` is set."""
    shape: tuple
    """The leaf's (height, width, channels)."""
    convs: tuple
    dense: int | None

    def conv_shapes(self) -> list[tuple[int, int, int]]:
        """(height, width, channels) after each convolution."""
        height, width, _ = self.shape
        shapes = []
        for channels, kernel, stride in self.convs:
            height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
            shapes.append((height, width, channels))
        return shapes

    @property
    def flat_size(self) -> int:
        """Features after the last convolution, flattened."""
        return math.prod(self.conv_shapes()[-1])

    @property
    def out_size(self) -> int:
        """Features the encoder gives the MLP."""
        return self.dense if self.dense is not None else self.flat_size


def encoder_for(shape) -> Encoder | None:
    """The encoder of a leaf of `shape` (channels last), or None when it is not an image leaf."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape[:2]) < MIN_IMAGE_SIZE:
        return None
    if min(shape[:2]) >= NATURE_MIN_SIZE:
        return Encoder(shape, _NATURE_CONVS, _NATURE_DENSE)
    return Encoder(shape, _SMALL_CONVS, None)


def choose_encoders(shapes, network: str, argument: str = "network") -> tuple:
    """One entry per leaf shape (in row order): its Encoder, or None for a leaf the MLP takes
    flattened. ValueError naming `argument` for a `network` not in NETWORKS, and for "cnn"
    when no leaf is an image."""
    if network not in NETWORKS:
        raise bad_value(argument, f"one of {list(NETWORKS)}", repr(network))
    shapes = [tuple(int(n) for n in shape) for shape in shapes]
    if network == "mlp":
        return (None,) * len(shapes)
    encoders = tuple(encoder_for(shape) for shape in shapes)
    if network == "cnn" and not any(encoders):
        raise bad_value(argument, f"'auto' or 'mlp' for an observation without an image leaf ('cnn' needs a "
                        f"(height, width, channels) leaf, both sizes >= {MIN_IMAGE_SIZE})",
                        f"'cnn' for leaves of shapes {', '.join(map(str, shapes))}")
    return encoders
