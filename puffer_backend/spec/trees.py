"""Walking nested containers, and naming a place inside one in error messages.

One walker for the trees that the spec and both backends walk: a NativeDType (dicts of
Leafs, `spec.layout`), gymnasium Dict/Tuple spaces and structured numpy dtypes
(`spec.spaces`), and the nativize files' mapping of a layout to arrays. Plain recursion, no
generators, so torch.compile traces it without a graph break.
"""
from __future__ import annotations

__all__ = ["path_name", "leaves", "map_dict_leaves"]


def path_name(argument: str, path) -> str:
    """`argument` followed by one `[key!r]` per key of `path`: `native_dtype['a']['b']`,
    `samples['pos']`, `sample[0]`: how an error names a place inside an argument."""
    return argument + "".join(f"[{key!r}]" for key in path)


def leaves(tree, children, path: tuple = ()) -> list[tuple[tuple, object]]:
    """`[(path, leaf)]` in order. `children(node)` returns None for a leaf, else the node's
    `(key, child)` pairs; a path is the tuple of keys from the root (prefixed by `path`)."""
    out: list = []
    _collect(tree, children, path, out)
    return out


def _collect(node, children, path: tuple, out: list) -> None:
    pairs = children(node)
    if pairs is None:
        out.append((path, node))
        return
    for key, child in pairs:
        _collect(child, children, (*path, key), out)


def map_dict_leaves(tree, fn, *args):
    """`tree` with each leaf (anything but a dict) replaced by `fn(leaf, *args)`; the dicts'
    nesting and key order are kept (as plain dicts)."""
    if isinstance(tree, dict):
        return _map_dict(tree, fn, args)
    return fn(tree, *args)


def _map_dict(tree: dict, fn, args: tuple) -> dict:
    # Leaves are mapped right here, one call each: this runs on every nativize_tensor call.
    return {key: _map_dict(sub, fn, args) if isinstance(sub, dict) else fn(sub, *args) for key, sub in tree.items()}
