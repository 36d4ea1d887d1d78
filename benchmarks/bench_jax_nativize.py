"""Jitted `jax_impl.nativize_tensor` against the same slicing in numpy.

numpy's version slices each leaf out of the rows and reinterprets it (`.view(dtype)`): a view
where the layout allows, then `np.ascontiguousarray` to materialize it, which is what the
JAX result is (JAX arrays never alias a slice of another buffer). The numpy views alone are
shown too: free, but strided. The last two columns put nativize where it lives in a
policy, inside the jitted consumer (every leaf cast to float32 and concatenated into one
feature matrix), against numpy doing the same. Medians over many calls; the ratio is measured in the same run.

    python benchmarks/bench_jax_nativize.py [--batch 4096] [--reps 200]
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from timing import medians_us  # benchmarks/timing.py: round-robin medians

from puffer_backend import jax_impl, spec

LAYOUTS = {
    "small dict (5 leaves, 44 B)": np.dtype([("pos", np.float32, (3,)), ("vel", np.float32, (3,)),
                                              ("hp", np.int16, (2,)), ("flag", np.uint8),
                                              ("grid", np.int8, (4, 4))], align=True),
    "packed dict (unaligned)": np.dtype([("flag", np.uint8), ("pos", np.float32, (3,)), ("id", np.int32)],
                                        align=False),
    "frame + state (7 kB)": np.dtype([("frame", np.uint8, (84, 84)), ("state", np.float32, (16,))], align=True),
}


def numpy_nativize(rows, native, copy: bool):
    def leaf(item):
        part = rows[:, item.offset:item.offset + item.delta]
        if np.dtype(item.dtype) != rows.dtype:
            part = part.view(item.dtype)
        part = part.reshape(rows.shape[0], *item.shape)
        return np.ascontiguousarray(part) if copy else part
    return {"/".join(path): leaf(item) for path, item in spec.leaves(native)}


def numpy_features(rows, native):
    leaves = numpy_nativize(rows, native, copy=False)
    return np.concatenate([v.reshape(rows.shape[0], -1).astype(np.float32) for v in leaves.values()], axis=1)


def jax_features(rows, native):
    tree = jax_impl.nativize_tensor(rows, native)
    leaves = []
    for path, _ in spec.leaves(native):  # field order, as numpy_features
        value = tree
        for key in path:
            value = value[key]
        leaves.append(value)
    return jnp.concatenate([v.reshape(rows.shape[0], -1).astype(jnp.float32) for v in leaves], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, batch {args.batch}, median of {args.reps} calls")
    print(f"{'layout':<30} {'numpy copy us':>14} {'jax jit us':>11} {'numpy/jax':>10} {'numpy views us':>15}"
          f" {'numpy features us':>18} {'jax features us':>16} {'numpy/jax':>10}")
    for name, dtype in LAYOUTS.items():
        native = jax_impl.nativize_dtype({"observation_dtype": np.uint8, "emulated_observation_dtype": dtype})
        rows = np.random.default_rng(0).integers(0, 256, size=(args.batch, dtype.itemsize), dtype=np.uint8)
        device_rows = jnp.asarray(rows)
        jitted = jax.jit(lambda o, native=native: jax_impl.nativize_tensor(o, native))
        got, want = jitted(device_rows), numpy_nativize(rows, native, copy=True)
        for path, item in spec.leaves(native):  # same bits, or the timing means nothing
            value = got
            for key in path:
                value = value[key]
            assert np.array_equal(np.asarray(value).view(np.uint8), want["/".join(path)].view(np.uint8))
        features = jax.jit(lambda o, native=native: jax_features(o, native))
        np.testing.assert_array_equal(np.asarray(features(device_rows)), numpy_features(rows, native))
        t = medians_us({"copy": lambda: numpy_nativize(rows, native, True),
                        "jax": lambda: jax.block_until_ready(jitted(device_rows)),
                        "view": lambda: numpy_nativize(rows, native, False),
                        "np_feat": lambda: numpy_features(rows, native),
                        "jax_feat": lambda: jax.block_until_ready(features(device_rows))}, args.reps)
        c, j, v, nf, jf = (t[k] for k in ("copy", "jax", "view", "np_feat", "jax_feat"))
        print(f"{name:<30} {c:>14.1f} {j:>11.1f} {c / j:>9.2f}x {v:>15.1f} {nf:>18.1f} {jf:>16.1f} {nf / jf:>9.2f}x")


if __name__ == "__main__":
    main()
