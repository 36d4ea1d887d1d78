"""nativize_tensor per call against slicing a numpy structured array, on CPU.

Run: python benchmarks/bench_torch_nativize.py [--batch 4096] [--repeats 500]
Both sides produce every leaf of the same observation without copying (numpy: field views
of `rows.view(structured)`; torch: nativize_tensor's views). The packed layout has
misaligned wide leaves, which nativize_tensor copies (documented); numpy's field views stay
unaligned views, so that row compares a copy with a view.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from timing import medians_us  # benchmarks/timing.py (scripts run from this folder's path)

from puffer_backend import torch_impl

LAYOUTS = {
    "flat Box (84,84) u8": np.dtype((np.uint8, (84, 84))),
    "dict, 4 leaves": np.dtype([("image", np.uint8, (3, 16, 16)), ("pos", np.float32, (3,)),
                                ("mask", np.uint8, (9,)), ("id", np.int64)], align=True),
    "nested, 8 leaves": np.dtype([("a", np.float32, (4,)), ("b", np.int32, (2,)),
                                  ("c", np.dtype([("d", np.float64), ("e", np.int16, (3,)), ("f", np.uint8)],
                                                 align=True)),
                                  ("g", np.uint16, (5,)), ("h", np.float32), ("i", np.int8, (7,)),
                                  ("j", np.uint32)], align=True),
    "packed (copies)": np.dtype([("flag", np.uint8), ("value", np.float32, (4,)), ("id", np.int64)], align=False),
}


def numpy_fields(rows: np.ndarray, dtype: np.dtype):
    """Every leaf of the structured view, as numpy does it (the baseline)."""
    if dtype.fields is None:
        return rows.view(dtype.subdtype[0]).reshape(rows.shape[0], *dtype.subdtype[1])
    view = rows.view(dtype)[:, 0]

    def walk(value, dt):
        if dt.fields is None:
            return value
        return {name: walk(value[name], dt.fields[name][0]) for name in dt.names}
    return walk(view, dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, batch {args.batch}, "
          f"median of {args.repeats} calls, microseconds")
    header = f"{'layout':<22}{'numpy fields':>13}{'nativize_tensor':>17}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, dtype in LAYOUTS.items():
        rows = np.random.default_rng(0).integers(0, 256, (args.batch, dtype.itemsize), dtype=np.uint8)
        native = torch_impl.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": dtype})
        obs = torch.from_numpy(rows)
        t = medians_us({"numpy": lambda: numpy_fields(rows, dtype),
                        "torch": lambda: torch_impl.nativize_tensor(obs, native)}, args.repeats)
        print(f"{name:<22}{t['numpy']:>13.1f}{t['torch']:>17.1f}{t['torch'] / t['numpy']:>7.1f}x")


if __name__ == "__main__":
    main()
