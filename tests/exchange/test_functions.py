"""Wrapped functions: values and gradients against the same function written natively."""
import numpy as np
import pytest

from tests.exchange.cases import torch

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from puffer_backend.exchange import jax_fn_for_torch, torch_fn_for_jax  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


def jax_policy(params, obs, scale):
    """A small MLP head in JAX: logits, value and the greedy action."""
    hidden = jnp.tanh(obs @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"]
    value = (hidden * scale).sum(-1)
    return {"logits": logits, "value": value, "action": jnp.argmax(logits, -1).astype(jnp.int32)}


def torch_policy(params, obs, scale):
    hidden = torch.tanh(obs @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"]
    value = (hidden * scale).sum(-1)
    return {"logits": logits, "value": value, "action": torch.argmax(logits, -1).int()}


def make_params(seed=0, requires_grad=False):
    gen = torch.Generator().manual_seed(seed)
    shapes = {"w1": (5, 8), "b1": (8,), "w2": (8, 3)}
    return {k: torch.randn(s, generator=gen).requires_grad_(requires_grad) for k, s in shapes.items()}


def loss_of(out):
    return (out["logits"].log_softmax(-1)[:, 0]).sum() + (out["value"] ** 2).mean()


def test_jax_fn_for_torch_values_and_gradients_match_torch():
    wrapped = jax_fn_for_torch(jax.jit(jax_policy))
    obs = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    params, reference = make_params(requires_grad=True), make_params(requires_grad=True)
    obs_a, obs_b = obs.clone().requires_grad_(), obs.clone().requires_grad_()

    out = wrapped(params, obs_a, 0.5)
    want = torch_policy(reference, obs_b, 0.5)
    assert set(out) == {"logits", "value", "action"}
    for key in ("logits", "value"):
        torch.testing.assert_close(out[key], want[key], rtol=RTOL, atol=ATOL)
    assert out["action"].dtype == torch.int32 and not out["action"].requires_grad
    torch.testing.assert_close(out["action"], want["action"])

    loss_of(out).backward()
    loss_of(want).backward()
    for key in params:
        torch.testing.assert_close(params[key].grad, reference[key].grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(obs_a.grad, obs_b.grad, rtol=1e-4, atol=1e-5)


def test_jax_fn_for_torch_partial_grads_and_unused_outputs():
    wrapped = jax_fn_for_torch(jax.jit(lambda x, y: (jnp.sin(x) * y, jnp.cos(y))))
    x = torch.linspace(-2, 2, 7, requires_grad=True)
    y = torch.linspace(0.5, 1.5, 7)  # no grad wanted for y
    first, _ = wrapped(x, y)  # the second output takes no part in the loss
    first.sum().backward()
    torch.testing.assert_close(x.grad, torch.cos(x.detach()) * y, rtol=RTOL, atol=ATOL)
    assert y.grad is None


def test_jax_fn_for_torch_without_grad_records_nothing():
    wrapped = jax_fn_for_torch(jax.jit(lambda x: x * 2))
    x = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        out = wrapped(x)
    assert out.grad_fn is None
    out = wrapped(torch.arange(4, dtype=torch.float32))
    assert out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), np.arange(4) * 2)


def test_jax_fn_for_torch_composes_with_torch_layers():
    # torch layer -> JAX function -> torch loss: gradients reach the torch layer.
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 4)
    jax_square = jax_fn_for_torch(jax.jit(lambda h: jnp.square(h)))
    x = torch.randn(8, 4)
    jax_square(layer(x)).sum().backward()
    got = layer.weight.grad.clone()
    layer.zero_grad()
    layer(x).square().sum().backward()
    torch.testing.assert_close(got, layer.weight.grad, rtol=RTOL, atol=1e-5)


def jax_loss(params, obs):
    out = jax_policy(params, obs, 0.5)
    return jax.nn.log_softmax(out["logits"])[:, 0].sum() + (out["value"] ** 2).mean()


def test_torch_fn_for_jax_values_and_gradients_match_jax():
    params = {k: jnp.asarray(v.numpy()) for k, v in make_params(seed=2).items()}
    obs = jax.random.normal(jax.random.key(3), (16, 5))
    wrapped = torch_fn_for_jax(torch_policy)

    out, want = wrapped(params, obs, 0.5), jax_policy(params, obs, 0.5)
    for key in ("logits", "value"):
        np.testing.assert_allclose(out[key], want[key], rtol=RTOL, atol=ATOL)
    assert out["action"].dtype == jnp.int32
    np.testing.assert_array_equal(out["action"], want["action"])

    def wrapped_loss(params, obs):
        out = wrapped(params, obs, 0.5)
        return jax.nn.log_softmax(out["logits"])[:, 0].sum() + (out["value"] ** 2).mean()

    value, grads = jax.value_and_grad(wrapped_loss, argnums=(0, 1))(params, obs)
    want_value, want_grads = jax.value_and_grad(jax_loss, argnums=(0, 1))(params, obs)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    for got, expected in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want_grads)):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_torch_fn_for_jax_integer_inputs_and_unused_inputs():
    wrapped = torch_fn_for_jax(lambda x, index, unused: x[index] * 3)
    x, index, unused = jnp.arange(5.0), jnp.array([4, 0], jnp.int32), jnp.ones(2)
    gx, gu = jax.grad(lambda x, u: wrapped(x, index, u).sum(), argnums=(0, 1))(x, unused)
    np.testing.assert_allclose(gx, [3, 0, 0, 0, 3])
    np.testing.assert_allclose(gu, [0, 0])


def test_torch_fn_for_jax_vjp_with_two_outputs():
    wrapped = torch_fn_for_jax(lambda x: (x.exp(), x.sum()))
    x = jnp.linspace(-1, 1, 4)
    (a, b), vjp = jax.vjp(wrapped, x)
    (grad,) = vjp((jnp.ones(4), jnp.float32(2.0)))
    np.testing.assert_allclose(grad, np.exp(np.asarray(x)) + 2.0, rtol=1e-6)


def test_torch_fn_for_jax_inside_jit_is_a_clear_type_error():
    wrapped = torch_fn_for_jax(lambda x: x * 2)
    with pytest.raises(TypeError, match="not inside jax.jit"):
        jax.jit(wrapped)(jnp.ones(3))
    with pytest.raises(TypeError, match="not inside jax.jit"):
        jax.vmap(wrapped)(jnp.ones((2, 3)))


@pytest.mark.parametrize("wrap", [jax_fn_for_torch, torch_fn_for_jax])
def test_non_callable_is_a_type_error(wrap):
    with pytest.raises(TypeError, match="fn: expected a callable"):
        wrap(3)


def test_non_array_outputs_are_type_errors():
    with pytest.raises(TypeError, match="output leaf 0 of fn: expected a jax.Array"):
        jax_fn_for_torch(lambda x: "text")(torch.ones(1))
    with pytest.raises(TypeError, match="output leaf 0 of fn: expected a torch.Tensor"):
        torch_fn_for_jax(lambda x: 3.0)(jnp.ones(1))


def test_torch_fn_for_jax_64_bit_output_names_x64():
    with pytest.raises(ValueError, match="jax_enable_x64"):
        torch_fn_for_jax(lambda x: x.argmax())(jnp.ones(3))


def test_torch_fn_for_jax_numpy_inputs_are_never_narrowed():
    wrapped = torch_fn_for_jax(lambda x: x * 2)
    np.testing.assert_array_equal(wrapped(np.arange(3, dtype=np.float32)), [0.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="argument leaf 0.*jax_enable_x64"):
        wrapped(np.array([2**40 + 5]))  # int64 with x64 off: refused, not wrapped to 5


def test_jax_fn_for_torch_gradient_path_traces_once_per_structure():
    traces = []

    def scaled(x, scale, name):
        traces.append(name)
        return jnp.sin(x) * scale

    wrapped = jax_fn_for_torch(scaled)
    for step, scale in enumerate([0.5, 2.0, -1.0]):  # Python numbers stay dynamic
        x = torch.linspace(-1, 1, 5, requires_grad=True)
        wrapped(x, scale, "policy").sum().backward()
        torch.testing.assert_close(x.grad, torch.cos(x.detach()) * scale, rtol=RTOL, atol=ATOL)
    assert len(traces) == 1
    x = torch.linspace(-1, 1, 5, requires_grad=True)
    wrapped(x, 1.0, "other").sum().backward()  # a different static leaf: a new structure
    assert traces == ["policy", "other"]


def test_jax_fn_for_torch_backward_twice_with_retain_graph():
    wrapped = jax_fn_for_torch(jax.jit(lambda x: jnp.exp(x)))
    x = torch.zeros(3, requires_grad=True)
    y = wrapped(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    torch.testing.assert_close(x.grad, torch.full((3,), 2.0))


def test_torch_fn_for_jax_vjp_called_twice():
    wrapped = torch_fn_for_jax(lambda x: x ** 3)
    x = jnp.array([1.0, 2.0])
    _, vjp = jax.vjp(wrapped, x)
    first, second = vjp(jnp.ones(2))[0], vjp(jnp.full(2, 2.0))[0]
    np.testing.assert_allclose(first, [3.0, 12.0])
    np.testing.assert_allclose(second, [6.0, 24.0])


# -- Python numbers reach fn as Python values on the gradient path too ------------------------

@pytest.mark.parametrize("by_keyword", [True, False], ids=["static_argnames", "static_argnums"])
def test_static_arguments_work_with_and_without_gradients(by_keyword):
    def scaled_sin(x, scale):
        return jnp.sin(x) * scale

    fn = jax.jit(scaled_sin, static_argnames="scale") if by_keyword else jax.jit(scaled_sin, static_argnums=1)
    wrapped = jax_fn_for_torch(fn)

    def call(x, scale):
        return wrapped(x, scale=scale) if by_keyword else wrapped(x, scale)

    for scale in (3.0, -0.5, 3.0):
        x = torch.linspace(-1, 1, 5)
        torch.testing.assert_close(call(x, scale), torch.sin(x) * scale, rtol=RTOL, atol=ATOL)
        x.requires_grad_(True)
        out = call(x, scale)  # was: "Non-hashable static arguments are not supported"
        torch.testing.assert_close(out, torch.sin(x.detach()) * scale, rtol=RTOL, atol=ATOL)
        out.sum().backward()
        torch.testing.assert_close(x.grad, torch.cos(x.detach()) * scale, rtol=RTOL, atol=ATOL)


def test_python_control_flow_on_a_number_gets_its_value():
    def repeated_sin(x, times):
        for _ in range(times):  # needs a Python int: a traced one would fail here
            x = jnp.sin(x)
        return x

    wrapped = jax_fn_for_torch(repeated_sin)
    for times in (1, 3, 2):
        x = torch.linspace(-1, 1, 7, requires_grad=True)
        reference = x.detach().clone().requires_grad_(True)
        want = reference
        for _ in range(times):
            want = torch.sin(want)
        got = wrapped(x, times)
        torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL)
        got.sum().backward()
        want.sum().backward()
        torch.testing.assert_close(x.grad, reference.grad, rtol=RTOL, atol=ATOL)


def test_a_real_error_in_fn_is_raised_not_hidden_by_the_number_retry():
    wrapped = jax_fn_for_torch(lambda x, s: x @ jnp.ones((4, 4)) * s)  # (3,) @ (4, 4): a shape error
    with pytest.raises(TypeError, match="dot_general"):
        wrapped(torch.ones(3, requires_grad=True), 2.0)


# -- what torch cannot do through the wrapper is a clear error -------------------------------

def _sin_wrapped():
    return jax_fn_for_torch(jax.jit(jnp.sin))


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
@pytest.mark.parametrize("second_order", ["backward", "autograd.grad"])
def test_second_order_gradients_are_refused(second_order):
    wrapped = _sin_wrapped()
    x = torch.linspace(-1, 1, 4, requires_grad=True)
    with pytest.raises(NotImplementedError) as info:
        if second_order == "backward":
            wrapped(x).sum().backward(create_graph=True)
        else:
            torch.autograd.grad(wrapped(x).sum(), x, create_graph=True)
    message = str(info.value)
    assert message.startswith("jax_fn_for_torch(sin): expected first-order gradients") and "create_graph" in message
    wrapped(x).sum().backward()  # first order still works
    torch.testing.assert_close(x.grad, torch.cos(x.detach()), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("transform", ["grad", "vmap", "jacrev"])
def test_torch_func_transforms_are_refused(transform):
    wrapped = _sin_wrapped()
    x = torch.linspace(-1, 1, 4)
    call = {"grad": lambda: torch.func.grad(lambda t: wrapped(t).sum())(x),
            "vmap": lambda: torch.func.vmap(wrapped)(x.reshape(2, 2)),
            "jacrev": lambda: torch.func.jacrev(wrapped)(x)}[transform]
    with pytest.raises(NotImplementedError, match=r"^jax_fn_for_torch\(sin\): expected a call outside torch.func"):
        call()


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated")
def test_torch_jit_trace_is_refused():
    wrapped = _sin_wrapped()
    with pytest.raises(NotImplementedError, match="torch.jit.trace"):
        torch.jit.trace(lambda t: wrapped(t) + 1, (torch.ones(3),))


def test_torch_compile_sees_a_graph_break_and_fullgraph_names_it():
    wrapped = _sin_wrapped()

    def step(x):
        return wrapped(x * 2) + 1

    x = torch.linspace(-1, 1, 5, requires_grad=True)
    out = torch.compile(step, backend="eager")(x)
    torch.testing.assert_close(out, torch.sin(x.detach() * 2) + 1, rtol=RTOL, atol=ATOL)
    out.sum().backward()
    torch.testing.assert_close(x.grad, 2 * torch.cos(x.detach() * 2), rtol=RTOL, atol=ATOL)
    torch._dynamo.reset()
    with pytest.raises(Exception, match="jax_fn_for_torch.*graph break") as info:
        torch.compile(step, backend="eager", fullgraph=True)(torch.ones(3))
    assert type(info.value).__name__ == "Unsupported"
