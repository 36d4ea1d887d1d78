"""Observations of the JAX simulator families, as the built-in policies' tests use them: the
leaves (`GymnaxEnv.obs_leaves`), the torch layout of their float32 rows, a GymnaxEnv with
no env behind it, and the MLP input width each should get, counted by hand from
pipelines.networks' rule."""
import math

import numpy as np

# name: (obs_leaves, MLP input width)
CASES = {
    # MinAtar (10, 10, 4): one 3x3/1 conv of 16 channels -> 8 x 8 x 16
    "minatar": ((("", (10, 10, 4)),), 8 * 8 * 16),
    # navix's (5, 5, 3) grid -> 3 x 3 x 16
    "navix": ((("", (5, 5, 3)),), 3 * 3 * 16),
    # craftax pixels (63, 63, 3): NatureCNN to 4 x 4 x 64, then the dense 512
    "pixels": ((("", (63, 63, 3)),), 512),
    # jumanji Snake: the grid's 10 x 10 x 16, then step_count and action_mask as they are
    "snake": ((("grid", (12, 12, 5)), ("step_count", ()), ("action_mask", (4,))), 10 * 10 * 16 + 1 + 4),
}


def structured_dtype(obs_leaves) -> np.dtype:
    """The float32 dtype of a row: a sub-array for one unnamed leaf, else fields named by the
    leaves ("/" nests)."""
    if len(obs_leaves) == 1 and obs_leaves[0][0] == "":
        return np.dtype((np.float32, tuple(obs_leaves[0][1])))
    tree = {}
    for name, shape in obs_leaves:
        *parents, last = name.split("/")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = tuple(shape)

    def build(node):
        return np.dtype([(key, build(sub)) if isinstance(sub, dict) else (key, np.float32, sub)
                         for key, sub in node.items()])
    return build(tree)


def torch_layout(obs_leaves):
    from puffer_backend import torch_impl
    return torch_impl.nativize_dtype({"observation_dtype": np.dtype(np.float32),
                                      "emulated_observation_dtype": structured_dtype(obs_leaves)})


def obs_dim(obs_leaves) -> int:
    return sum(math.prod(shape) for _, shape in obs_leaves)


def gymnax_env(obs_leaves, num_actions: int = 4):
    from puffer_backend.pipelines.envs.gymnax_vec import GymnaxEnv
    mask = None
    start = 0
    for name, shape in obs_leaves:
        if name == "action_mask":
            mask = (start, start + math.prod(shape))
        start += math.prod(shape)
    return GymnaxEnv("case", None, None, obs_dim(obs_leaves), True, num_actions=num_actions,
                     obs_shape=(obs_dim(obs_leaves),), obs_leaves=tuple(obs_leaves), mask_slice=mask)
