"""`jax_fn_for_torch`: call a JAX function on torch tensors, with torch autograd through it.

The forward pass converts tensors zero-copy, runs the function (jitted together with its
vjp when a gradient is wanted) and hands the outputs back as tensors; a
`torch.autograd.Function` runs the vjp in backward.
"""
from __future__ import annotations

import functools

import numpy as np

from ..spec.errors import bad_type
from ._frameworks import jax, jnp, torch
from ._wrapping import check_callable, is_float_jax, tree_flatten
from .arrays import array_to_torch, tensor_to_jax

__all__ = ["jax_fn_for_torch"]

_SCALARS = (bool, int, float, complex)
_MAX_PLANS = 64  # call structures remembered per wrapped function


class _JaxCall:
    """What one call needs besides the tensors: the function and the argument structure."""

    def __init__(self, fn, leaves, treedef, positions, plans):
        self.fn, self.leaves, self.treedef, self.positions = fn, leaves, treedef, positions
        self.plans = plans  # the wrapper's cache of jitted forward+vjp functions
        self.out_treedef = None
        self.out_meta = None  # (shape, dtype, differentiable) per output leaf
        self.vjp = None

    def to_jax(self, tensors):
        return [tensor_to_jax(t.detach(), None, f"argument {i}") for i, t in enumerate(tensors)]

    def to_torch(self, out):
        """Outputs as torch tensors; records their structure, dtypes and differentiability."""
        out_leaves, self.out_treedef = tree_flatten(out)
        for i, leaf in enumerate(out_leaves):
            if not isinstance(leaf, jax.Array):
                raise bad_type(f"output leaf {i} of fn", "a jax.Array", leaf)
        self.out_meta = [(a.shape, a.dtype, is_float_jax(a)) for a in out_leaves]
        return tuple(array_to_torch(a, None, f"output leaf {i} of fn")
                     for i, a in enumerate(out_leaves))

    def call(self, jax_arrays):
        leaves = list(self.leaves)
        for position, array in zip(self.positions, jax_arrays):
            leaves[position] = array
        args, kwargs = jax.tree_util.tree_unflatten(self.treedef, leaves)
        return self.fn(*args, **kwargs)

    def forward_with_vjp(self, arrays, wanted):
        """`(outputs, vjp)` from one jitted function per call structure.

        Eager `jax.vjp` re-linearizes on every call (~0.5 ms even for a jitted fn); jitting
        the forward together with the vjp and reusing it per structure costs ~10 us. Python
        numbers among the arguments stay dynamic (as they would under jit); other non-array
        leaves are part of the structure. Unhashable ones fall back to eager `jax.vjp`.
        """
        positions = set(self.positions)
        scalars = [i for i, leaf in enumerate(self.leaves)
                   if i not in positions and isinstance(leaf, _SCALARS)]
        statics = tuple((i, type(leaf)) if i in scalars else (i, leaf)
                        for i, leaf in enumerate(self.leaves) if i not in positions)
        key = (self.treedef, tuple(self.positions), tuple(wanted), statics)
        try:
            plan = self.plans.get(key)
        except TypeError:  # an unhashable leaf: no reuse possible
            return self._eager_vjp(arrays, wanted)
        if plan is None:
            if len(self.plans) >= _MAX_PLANS:
                self.plans.clear()
            plan = self.plans[key] = self._make_plan(wanted, scalars)
        return plan(arrays, [self.leaves[i] for i in scalars])

    def _eager_vjp(self, arrays, wanted):
        def primal(*diff):
            full = list(arrays)
            for i, array in zip(wanted, diff):
                full[i] = array
            return self.call(full)
        return jax.vjp(primal, *(arrays[i] for i in wanted))

    def _make_plan(self, wanted, scalars):
        fn, treedef, positions = self.fn, self.treedef, self.positions
        # The template keeps the static leaves only: no tensor of this call stays alive.
        template = [None if i in positions or i in scalars else leaf
                    for i, leaf in enumerate(self.leaves)]

        def forward(arrays, scalar_values):
            def primal(*diff):
                full = list(arrays)
                for i, array in zip(wanted, diff):
                    full[i] = array
                leaves = list(template)
                for position, value in zip(positions, full):
                    leaves[position] = value
                for position, value in zip(scalars, scalar_values):
                    leaves[position] = value
                args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
                return fn(*args, **kwargs)
            return jax.vjp(primal, *(arrays[i] for i in wanted))

        return jax.jit(forward)


_apply_vjp = None


def _call_vjp(vjp, cotangents):
    """Apply a vjp under one shared jit (its cache is keyed on the vjp's structure)."""
    global _apply_vjp
    if _apply_vjp is None:
        _apply_vjp = jax.jit(lambda vjp, cotangents: vjp(cotangents))
    try:
        return _apply_vjp(vjp, cotangents)
    except TypeError:  # a vjp that is not a pytree (older JAX): call it eagerly
        return vjp(cotangents)


class _JaxFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, call: _JaxCall, *tensors):
        arrays = call.to_jax(tensors)
        wanted = [i for i, need in enumerate(ctx.needs_input_grad[1:]) if need]
        if wanted:
            out, call.vjp = call.forward_with_vjp(arrays, wanted)
        else:
            out = call.call(arrays)
        results = call.to_torch(out)
        ctx.call, ctx.wanted, ctx.n_inputs = call, wanted, len(tensors)
        ctx.mark_non_differentiable(*(r for r, m in zip(results, call.out_meta) if not m[2]))
        return results

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        call = ctx.call
        cotangents = []
        for i, (grad, (shape, dtype, differentiable)) in enumerate(zip(grads, call.out_meta)):
            if not differentiable:
                cotangents.append(np.zeros(shape, dtype=jax.dtypes.float0))
            elif grad is None:
                cotangents.append(jnp.zeros(shape, dtype))
            else:
                cotangents.append(tensor_to_jax(grad.detach(), None, f"gradient of output {i}"))
        input_grads = _call_vjp(call.vjp, jax.tree_util.tree_unflatten(call.out_treedef, cotangents))
        result = [None] * ctx.n_inputs
        for i, grad in zip(ctx.wanted, input_grads):
            result[i] = array_to_torch(grad, None, f"gradient of argument {i}")
        return (None, *result)


def jax_fn_for_torch(fn):
    """Wrap a JAX function so torch code can call it on torch tensors.

    fn: a JAX function (jit it first for speed) taking arrays or pytrees of arrays and
    returning an array or a pytree of arrays. The wrapper takes the same arguments with
    torch tensors in place of arrays (other leaves are passed through), converts them
    zero-copy where possible, and returns the outputs as torch tensors with the same
    structure. When an input requires grad, the call is recorded in torch autograd and
    backward runs `jax.vjp` (integer outputs are non-differentiable).
    Errors: TypeError when fn is not callable or returns a non-array leaf; ValueError for
    tensors JAX cannot take (64-bit with `jax_enable_x64` off, devices JAX cannot see).
    """
    check_callable(fn)
    plans: dict = {}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        leaves, treedef = tree_flatten((args, kwargs))
        positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
        call = _JaxCall(fn, leaves, treedef, positions, plans)
        tensors = [leaves[i] for i in positions]
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            results = _JaxFunction.apply(call, *tensors)
        else:  # nothing to record: skip autograd's bookkeeping (rollouts under no_grad)
            results = call.to_torch(call.call(call.to_jax(tensors)))
        return jax.tree_util.tree_unflatten(call.out_treedef, list(results))

    return wrapper
