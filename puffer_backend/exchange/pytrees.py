"""`to_jax` / `to_torch`: arrays and any nesting of dicts, lists, tuples and namedtuples of them."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from ..spec.errors import bad_type, bad_value
from ._frameworks import jax, torch
from .arrays import array_to_torch, narrowed_numpy, narrowed_tensor, numpy_to_jax, numpy_to_torch, tensor_to_jax

__all__ = ["to_jax", "to_torch", "map_arrays"]

_ARRAY_TYPES = (torch.Tensor, jax.Array, np.ndarray)
_PLAIN_LEAVES = (str, bytes, int, float, complex, type(None))  # never containers


def _rebuild_mapping(x: Mapping, items: list):
    kind = type(x)
    if kind is dict:
        return dict(items)
    if isinstance(x, defaultdict):
        return kind(x.default_factory, items)
    return kind(items)


def map_arrays(convert, x, where: str):
    """Apply `convert(leaf, where)` to every array leaf; containers keep their exact type.

    Non-array leaves (ints, strings, None, ...) come back unchanged. `where` is the
    argument's name, extended with the path (`x['obs'][0]`) for error messages.
    """
    if isinstance(x, _ARRAY_TYPES):
        return convert(x, where)
    kind = type(x)
    if kind is dict or isinstance(x, Mapping):
        items = [(k, map_arrays(convert, v, f"{where}[{k!r}]")) for k, v in x.items()]
        return _rebuild_mapping(x, items)
    if kind is list:
        return [map_arrays(convert, v, f"{where}[{i}]") for i, v in enumerate(x)]
    if kind is tuple:
        return tuple(map_arrays(convert, v, f"{where}[{i}]") for i, v in enumerate(x))
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return kind(*(map_arrays(convert, v, f"{where}.{name}") for name, v in zip(x._fields, x)))
    if isinstance(x, (list, tuple)):  # subclasses that take one iterable
        return kind(map_arrays(convert, v, f"{where}[{i}]") for i, v in enumerate(x))
    return _map_registered_pytree(convert, x, where)


def _map_registered_pytree(convert, x, where: str):
    """Containers registered with `jax.tree_util` (flax/chex dataclasses, gymnax states)."""
    if isinstance(x, _PLAIN_LEAVES):
        return x
    flat, treedef = jax.tree_util.tree_flatten_with_path(x)
    if len(flat) == 1 and flat[0][1] is x:  # not a container: a leaf of some other kind
        return x
    return jax.tree_util.tree_unflatten(treedef, [
        map_arrays(convert, leaf, where + jax.tree_util.keystr(path)) for path, leaf in flat])


def _is_registered_pytree(x) -> bool:
    if isinstance(x, _PLAIN_LEAVES):
        return False
    leaves = jax.tree_util.tree_leaves(x)
    return not (len(leaves) == 1 and leaves[0] is x)


def _check_top(x, expected: str):
    if not (isinstance(x, (*_ARRAY_TYPES, Mapping, list, tuple)) or _is_registered_pytree(x)):
        raise bad_type("x", expected, x)


def _check_copy(copy):
    if not (copy is None or copy is True or copy is False):  # identity: 0 == False
        raise bad_value("copy", "None, True or False", copy)


def _check_narrow_ints(narrow_ints):
    if not (narrow_ints is True or narrow_ints is False):
        raise bad_value("narrow_ints", "True or False", narrow_ints)


def _narrowing_refused(copy, narrowed, original, where: str) -> None:
    if copy is False and narrowed is not original:
        raise bad_value(where, "a tensor JAX can alias without a copy (copy=False)",
                        f"an int64 {type(original).__name__} that narrow_ints=True narrows into a new int32 buffer")


def _leaf_to_jax(copy, narrow_ints: bool = False):
    def convert(leaf, where):
        if isinstance(leaf, torch.Tensor):
            if narrow_ints:
                narrowed = narrowed_tensor(leaf, where)
                _narrowing_refused(copy, narrowed, leaf, where)
                leaf = narrowed
            return tensor_to_jax(leaf, copy, where)
        if isinstance(leaf, np.ndarray):
            if narrow_ints:
                narrowed = narrowed_numpy(leaf, where)
                _narrowing_refused(copy, narrowed, leaf, where)
                leaf = narrowed
            return numpy_to_jax(leaf, copy, where)
        if isinstance(leaf, jax.core.Tracer):
            return leaf
        return leaf.copy() if copy is True else leaf  # already a jax.Array
    return convert


def _leaf_to_torch(copy):
    def convert(leaf, where):
        if isinstance(leaf, jax.Array):
            return array_to_torch(leaf, copy, where)
        if isinstance(leaf, np.ndarray):
            return numpy_to_torch(leaf, copy, where)
        return leaf.clone() if copy is True else leaf  # already a torch.Tensor
    return convert


def to_jax(x, *, copy: bool | None = None, narrow_ints: bool = False):
    """torch tensors (or a pytree of them) as `jax.Array`s on the same device.

    x: a torch.Tensor, or any nesting of dict/list/tuple/namedtuple (or other container
    registered with `jax.tree_util`) holding tensors; numpy arrays are converted too,
    jax.Arrays pass through (copied when `copy=True`), other leaves come back unchanged
    and containers keep their type.
    copy: None = alias the buffer where XLA can, else copy; False = alias or ValueError
    saying why; True = always an independent copy.
    Aliasing means the JAX array *is* the tensor's memory: a later in-place write to the
    tensor (`t[0] = 1`, `t.add_(1)`, `out=t`, an optimizer step) changes the JAX array too,
    and a JAX computation dispatched before the write may still read the new values (JAX
    runs asynchronously: `block_until_ready()` its results before writing). Pass
    `copy=True` for a buffer that will be written again (a rollout buffer filled step by
    step, a tensor reused across iterations).
    Dtypes and shapes are kept exactly (bool, bf16, fp16 and every integer width).
    narrow_ints: with `jax_enable_x64` off, int64 tensors and numpy arrays (torch's sampled
    actions, numpy's default integers) become int32 when every value fits in int32, in a new
    buffer; a value outside int32's range is a ValueError naming its path in `x`. Nothing
    else changes (float64 and uint64 are still refused), and with x64 on int64 stays int64.
    The check reads the values (a sync on CUDA).
    Raises ValueError for tensors with `requires_grad` (call `.detach()`), for 64-bit
    dtypes while `jax_enable_x64` is off (unless narrowed), and for devices JAX cannot see;
    TypeError when x is neither an array nor a container.
    """
    if type(x) is torch.Tensor and copy is None:  # the per-step hot path: one plain tensor
        if narrow_ints is True:
            x = narrowed_tensor(x, "x")
        elif narrow_ints is not False:
            _check_narrow_ints(narrow_ints)
        return tensor_to_jax(x, None, "x")
    _check_copy(copy)
    _check_narrow_ints(narrow_ints)
    _check_top(x, "a torch.Tensor or a dict/list/tuple/namedtuple of tensors")
    return map_arrays(_leaf_to_jax(copy, narrow_ints), x, "x")


def to_torch(x, *, copy: bool | None = None):
    """`jax.Array`s (or a pytree of them) as torch tensors on the same device.

    x: a jax.Array, or any nesting of dict/list/tuple/namedtuple (or other container
    registered with `jax.tree_util`, such as a gymnax env state) holding them; numpy
    arrays are converted too, torch tensors pass through (cloned when `copy=True`), other
    leaves come back unchanged and containers keep their type.
    copy: None/False = alias the JAX buffer (always possible: JAX buffers are dense);
    True = an independent copy. Do not write into an aliased tensor: JAX assumes its
    arrays never change.
    Raises TypeError for traced values (inside jit) and when x is neither an array nor a
    container; ValueError for arrays sharded over several devices, deleted arrays and
    devices torch cannot see.
    """
    if copy is None and isinstance(x, jax.Array):  # the per-step hot path: one array
        return array_to_torch(x, None, "x")
    _check_copy(copy)
    _check_top(x, "a jax.Array or a dict/list/tuple/namedtuple of arrays")
    return map_arrays(_leaf_to_torch(copy), x, "x")
