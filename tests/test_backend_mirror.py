"""The backends mirror each other where their docstrings say so: the sampling helpers named as
mirrored take the same arguments (the randomness last: a generator or a key), and the
validation modules define the same shared checks that spec.sampling_inputs calls."""
import inspect

import pytest

torch_sampling = pytest.importorskip("puffer_backend.torch_impl.sampling")
jax_sampling = pytest.importorskip("puffer_backend.jax_impl.sampling")
from puffer_backend.jax_impl import validation as jax_validation  # noqa: E402
from puffer_backend.torch_impl import validation as torch_validation  # noqa: E402

SAME_ARGUMENTS = ("_threshold", "_normal_parts", "_normal_from_uniforms", "_batch_of_rows", "_first_row")
SAME_JOB = ("_weights", "_inverse_cdf", "_log_prob", "_entropy", "_categorical")
# what spec.sampling_inputs asks of a backend's validation module
CHECKS = ("is_normal", "check_normal_parts", "check_normal_scale", "check_sample_logits", "check_heads",
          "check_deterministic", "check_mask", "check_head_masks", "check_action", "check_normal_action",
          "check_uniforms", "check_logits", "check_integer_action", "check_action_range", "check_float")


def _parameters(fn):
    return list(inspect.signature(fn).parameters)


@pytest.mark.parametrize("name", SAME_ARGUMENTS)
def test_helpers_said_to_mirror_take_the_same_arguments(name):
    assert _parameters(getattr(torch_sampling, name)) == _parameters(getattr(jax_sampling, name))


def test_the_normal_takes_its_randomness_last():
    torch_names, jax_names = _parameters(torch_sampling._normal), _parameters(jax_sampling._normal)
    assert torch_names[:-1] == jax_names[:-1] and (torch_names[-1], jax_names[-1]) == ("generator", "key")


@pytest.mark.parametrize("name", SAME_JOB)
def test_the_categorical_core_has_the_same_names(name):
    assert callable(getattr(torch_sampling, name)) and callable(getattr(jax_sampling, name))


@pytest.mark.parametrize("name", CHECKS)
def test_both_validation_modules_answer_what_spec_asks(name):
    assert name in torch_validation.__all__ and name in jax_validation.__all__
    assert _parameters(getattr(torch_validation, name)) == _parameters(getattr(jax_validation, name))
