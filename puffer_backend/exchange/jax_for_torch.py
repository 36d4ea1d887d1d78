"""`jax_fn_for_torch`: call a JAX function on torch tensors, with torch autograd through it.

The forward pass converts tensors zero-copy, runs the function (jitted together with its
vjp when a gradient is wanted) and hands the outputs back as tensors; a
`torch.autograd.Function` runs the vjp in backward. What torch cannot do through it
(second-order gradients, torch.func transforms, torch.jit.trace) raises a
NotImplementedError that says so instead of giving a wrong result; torch.compile sees the
call as a graph break.
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
_NUMBERS_AS_VALUES = object()  # plan marker: fn needs its Python numbers as values, not tracers


class _JaxCall:
    """What one call needs besides the tensors: the function and the argument structure."""

    def __init__(self, fn, leaves, treedef, positions, plans, name):
        self.fn, self.leaves, self.treedef, self.positions = fn, leaves, treedef, positions
        self.name = name  # `jax_fn_for_torch(<fn>)`, for error messages
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
        numbers among the arguments are first traced as dynamic values, so changing them
        (an annealed coefficient) reuses the plan. When fn needs them as Python values, as
        the no-grad path passes them (a static argument of an inner jit, Python control
        flow on one), that first trace fails and the structure switches for good to plans
        keyed by the numbers' values, which get exactly the Python values. Other non-array
        leaves are part of the structure; unhashable ones fall back to eager `jax.vjp`.
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
        values = [self.leaves[i] for i in scalars]
        if plan is _NUMBERS_AS_VALUES:
            return self._value_plan(key, wanted, values)(arrays, [])
        if plan is not None:
            return plan(arrays, values)
        plan = self._make_plan(wanted, scalars)
        if not scalars:
            self._remember(key, plan)
            return plan(arrays, values)
        try:
            result = plan(arrays, values)
        except Exception:  # noqa: BLE001 - fn needs concrete numbers; a real error repeats below
            result = self._value_plan(key, wanted, values)(arrays, [])
            self._remember(key, _NUMBERS_AS_VALUES)
            return result
        self._remember(key, plan)
        return result

    def _value_plan(self, key, wanted, values):
        """The plan for these exact Python numbers (they are part of its template)."""
        value_key = (key, tuple((type(v), v) for v in values))
        plan = self.plans.get(value_key)
        if plan is None:
            plan = self._remember(value_key, self._make_plan(wanted, []))
        return plan

    def _remember(self, key, plan):
        if len(self.plans) >= _MAX_PLANS:
            self.plans.clear()
        self.plans[key] = plan
        return plan

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
    def backward(ctx, *grads):
        call = ctx.call
        if torch.is_grad_enabled():  # backward(create_graph=True): a graph of the vjp is wanted
            raise _unsupported(call.name, "first-order gradients (backward without create_graph=True)",
                               "a backward with create_graph=True: second-order gradients through a "
                               "JAX function are not supported (torch cannot record jax.vjp), and "
                               "treating the gradient as a constant would be silently wrong")
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
        for i, grad in zip(ctx.wanted, input_grads):  # grad mode is off here: no graph recorded
            result[i] = array_to_torch(grad, None, f"gradient of argument {i}")
        return (None, *result)


def _unsupported(name: str, expected: str, received: str) -> NotImplementedError:
    return NotImplementedError(f"{name}: expected {expected}, received {received}")


def _functorch_level():
    """The active torch.func transform level, or None (private API: None when it is absent)."""
    level = getattr(torch._C._functorch, "maybe_current_level", None)
    return level() if level is not None else None


def _refuse_untraceable_context(name: str) -> None:
    if _functorch_level() is not None:
        raise _unsupported(name, "a call outside torch.func transforms (grad, vmap, jacrev, ...): JAX "
                                 "reads the tensors' buffers, which functorch's wrapped tensors do not "
                                 "expose; differentiate with backward() and batch inside the JAX "
                                 "function (jax.vmap)", "a call inside a torch.func transform")
    if torch.jit.is_tracing():
        raise _unsupported(name, "a call outside torch.jit.trace (the trace would record the JAX "
                                 "outputs as constants)", "a call while torch.jit.trace records")


def jax_fn_for_torch(fn):
    """Wrap a JAX function so torch code can call it on torch tensors.

    fn: a JAX function (jit it first for speed) taking arrays or pytrees of arrays and
    returning an array or a pytree of arrays. The wrapper takes the same arguments with
    torch tensors in place of arrays (other leaves reach fn as they are), converts them
    zero-copy where possible, and returns the outputs as torch tensors with the same
    structure. When an input requires grad, the call is recorded in torch autograd and
    backward runs `jax.vjp` (integer outputs are non-differentiable). Python numbers work
    on both paths: on the gradient path they are traced as dynamic values where fn accepts
    that (one compiled plan for every value) and passed as the Python values themselves
    where fn needs them (a static argument, Python control flow; one plan per value).
    Not supported, each a NotImplementedError saying so: second-order gradients
    (`backward(create_graph=True)`, `torch.autograd.grad(..., create_graph=True)`),
    `torch.func` transforms through the wrapper (`grad`, `vmap`, `jacrev`, ...) and
    `torch.jit.trace`. Under `torch.compile` the call is a graph break (dynamo never traces
    into it); with `fullgraph=True` dynamo refuses it, giving this reason.
    Errors: TypeError when fn is not callable or returns a non-array leaf; ValueError for
    tensors JAX cannot take (64-bit with `jax_enable_x64` off, devices JAX cannot see).
    """
    check_callable(fn)
    plans: dict = {}
    name = f"jax_fn_for_torch({getattr(fn, '__name__', type(fn).__name__)})"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        leaves, treedef = tree_flatten((args, kwargs))
        positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
        call = _JaxCall(fn, leaves, treedef, positions, plans, name)
        tensors = [leaves[i] for i in positions]
        _refuse_untraceable_context(name)
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            results = _JaxFunction.apply(call, *tensors)
        else:  # nothing to record: skip autograd's bookkeeping (rollouts under no_grad)
            results = call.to_torch(call.call(call.to_jax(tensors)))
        return jax.tree_util.tree_unflatten(call.out_treedef, list(results))

    # dynamo cannot trace DLPack or JAX: make the call a graph break, with the reason shown
    # when fullgraph=True refuses it.
    return torch.compiler.disable(wrapper, reason=(
        f"{name} runs JAX on the tensors' buffers through DLPack, which torch.compile cannot "
        "trace: the call is a graph break (compile the JAX side with jax.jit instead)"))
