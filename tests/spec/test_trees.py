"""`spec.trees`: the one walker (layouts, spaces, dtypes) and the one way errors name a place."""
import numpy as np
import pytest
from numpy.lib import recfunctions

from puffer_backend import spec
from puffer_backend.spec import trees

INNER = np.dtype([("x", np.int16), ("y", np.float32, (2, 2))], align=True)
STRUCTURED = np.dtype([("a", np.float32, (3,)), ("b", INNER), ("c", np.uint8)], align=True)


def test_layout_leaves_are_numpys_fields_in_order():
    native = spec.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": STRUCTURED})
    found = spec.leaves(native)
    # numpy's own flattening of the structured dtype is the truth for which leaves exist, in order
    assert [path[-1] for path, _ in found] == [name for name, _ in recfunctions.flatten_descr(STRUCTURED)]
    row = np.zeros(1, STRUCTURED)
    for path, leaf in found:
        field = row
        for key in path:
            field = field[key]
        assert (np.dtype(leaf.dtype), leaf.shape) == (field.dtype, field.shape[1:] or (1,)), path


def test_path_name():
    assert trees.path_name("native_dtype", ("b", "y")) == "native_dtype['b']['y']"
    assert trees.path_name("sample", (0, "pos")) == "sample[0]['pos']"
    assert trees.path_name("x", ()) == "x"


def test_errors_inside_a_layout_name_the_leaf_by_its_path():
    native = {"b": {"y": spec.Leaf(np.dtype(np.float32), (2, 2), 0, 3)}}  # 16 bytes, not 3 bytes
    with pytest.raises(ValueError, match=r"^native_dtype\['b'\]\['y'\]: expected delta 16"):
        spec.layout.check_leaf_extents(native, lambda dtype: np.dtype(dtype).itemsize, np.dtype(np.uint8))


def test_leaves_with_a_children_function():
    tree = {"a": [1, 2], "b": 3}

    def children(node):
        if isinstance(node, dict):
            return node.items()
        return enumerate(node) if isinstance(node, list) else None

    assert trees.leaves(tree, children) == [(("a", 0), 1), (("a", 1), 2), (("b",), 3)]
    assert trees.leaves(7, children) == [((), 7)]


def test_map_dict_leaves_keeps_nesting_and_order():
    tree = {"z": 1, "a": {"m": 2, "b": 3}}
    out = trees.map_dict_leaves(tree, lambda leaf, scale: leaf * scale, 10)
    assert out == {"z": 10, "a": {"m": 20, "b": 30}}
    assert list(out) == ["z", "a"] and list(out["a"]) == ["m", "b"]
    assert trees.map_dict_leaves(4, lambda leaf: -leaf) == -4
