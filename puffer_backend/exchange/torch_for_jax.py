"""`torch_fn_for_jax`: call a torch function on JAX arrays, with `jax.grad` through it.

Eager only (outside `jax.jit`/`vmap`/`scan`), because torch runs in Python: the forward pass
records torch's graph, a `jax.custom_vjp` backward runs `torch.autograd.grad` on it.
"""
from __future__ import annotations

import functools

import numpy as np

from ..spec.errors import bad_type
from ._frameworks import jax, jnp, torch
from ._wrapping import check_callable, is_float_torch, jax_dtype, tree_flatten
from .arrays import array_to_torch, numpy_to_jax, tensor_to_jax

__all__ = ["torch_fn_for_jax"]


@jax.tree_util.register_static
class _TorchGraph:
    """Residual of one forward pass: keeps torch's graph alive until JAX asks for the vjp.

    Registered as a static pytree node so JAX carries it without looking inside.
    """

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs


def _refuse_tracers(arrays):
    for i, array in enumerate(arrays):
        if isinstance(array, jax.core.Tracer):
            raise bad_type(f"argument {i}", "a concrete jax.Array: torch_fn_for_jax runs torch "
                           "eagerly, so it works under jax.grad/vjp but not inside jax.jit, vmap "
                           "or scan (call it outside the transformation)", array)


def torch_fn_for_jax(fn):
    """Wrap a torch function so JAX code (outside `jax.jit`) can call it on JAX arrays.

    fn: a torch function taking tensors or pytrees of tensors and returning a tensor or a
    pytree of tensors. The wrapper takes JAX (or numpy) arrays in their place (other leaves
    pass through) and returns JAX arrays with the same structure, zero-copy where possible.
    `jax.grad`, `jax.vjp` and `jax.value_and_grad` work: the forward pass records torch's
    graph and the backward pass calls `torch.autograd.grad` on it. fn must not modify its
    inputs in place: they are views of JAX's (immutable) buffers.
    Errors: TypeError when called on traced values (inside jit/vmap/scan), when fn is not
    callable or returns a non-tensor leaf; ValueError for outputs JAX cannot hold
    (64-bit with `jax_enable_x64` off).
    """
    check_callable(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        leaves, treedef = tree_flatten((args, kwargs))
        # numpy leaves are arrays too (JAX functions accept them; jax.test_util sends them);
        # they take to_jax's path, so 64-bit data with x64 off is refused, not narrowed.
        leaves = [numpy_to_jax(leaf, None, f"argument leaf {i}") if isinstance(leaf, np.ndarray) else leaf
                  for i, leaf in enumerate(leaves)]
        positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]

        def run(arrays, record: bool):
            _refuse_tracers(arrays)
            full = list(leaves)
            tensors = []
            for i, (position, array) in enumerate(zip(positions, arrays)):
                tensor = array_to_torch(array, None, f"argument {i}")
                if record and is_float_torch(tensor):
                    tensor = tensor.detach().requires_grad_(True)
                full[position] = tensor
                tensors.append(tensor)
            call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, full)
            with torch.enable_grad() if record else torch.no_grad():
                out = fn(*call_args, **call_kwargs)
            out_leaves, out_treedef = tree_flatten(out)
            for i, leaf in enumerate(out_leaves):
                if not isinstance(leaf, torch.Tensor):
                    raise bad_type(f"output leaf {i} of fn", "a torch.Tensor", leaf)
            result = jax.tree_util.tree_unflatten(out_treedef, [
                tensor_to_jax(t.detach(), None, f"output leaf {i} of fn")
                for i, t in enumerate(out_leaves)])
            return result, _TorchGraph(tensors, out_leaves)

        @jax.custom_vjp
        def call(*arrays):
            return run(arrays, record=False)[0]

        def call_fwd(*arrays):
            return run(arrays, record=True)

        def call_bwd(graph, cotangent):
            ct_leaves = jax.tree_util.tree_leaves(cotangent)
            outputs, grad_outputs = [], []
            for i, (out, ct) in enumerate(zip(graph.outputs, ct_leaves)):
                if out.requires_grad and ct.dtype != jax.dtypes.float0:
                    ct = jnp.asarray(ct)  # callers such as jax.test_util send numpy
                    outputs.append(out)
                    grad_outputs.append(array_to_torch(ct, None, f"cotangent {i}"))
            diff = [t for t in graph.inputs if t.requires_grad]
            # retain_graph: JAX may call one vjp several times; the graph goes with `graph`.
            grads = iter(torch.autograd.grad(outputs, diff, grad_outputs, allow_unused=True,
                                             retain_graph=True)
                         if outputs and diff else [None] * len(diff))
            result = []
            for i, tensor in enumerate(graph.inputs):
                if not tensor.requires_grad:
                    result.append(None)
                    continue
                grad = next(grads)
                result.append(jnp.zeros(tensor.shape, jax_dtype(tensor)) if grad is None
                              else tensor_to_jax(grad.detach(), None, f"gradient of argument {i}"))
            return tuple(result)

        call.defvjp(call_fwd, call_bwd)
        return call(*(leaves[i] for i in positions))

    return wrapper
