"""Small envs for the tests, built through `package.module:function` factories as users build theirs.

An episode terminates with probability 1/20 per step, whatever the agent does, and is
truncated after `LENGTH` steps, so a few updates see both kinds of end. Rewards follow
simple rules of the observation and the action, so a policy can learn them.
"""
import numpy as np

import gymnasium as gym
from gymnasium import spaces

LENGTH = 20


class _Toy(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, observation_space, action_space, render_mode=None):
        self.observation_space, self.action_space = observation_space, action_space
        self.render_mode = render_mode
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        assert self.action_space.contains(action), (action, self.action_space)  # shape, dtype and range
        self.t += 1
        reward = self._reward(action)
        terminated = self.np_random.random() < 0.05
        truncated = self.t >= LENGTH and not terminated
        return self._observe(), float(reward), bool(terminated), bool(truncated), {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        frame = np.zeros((32, 48, 3), np.uint8)
        frame[:, : 2 * self.t] = 200
        return frame


class DictEnv(_Toy):
    """Dict(Box, Discrete, MultiBinary) observations, MultiDiscrete actions with a start
    offset: reward 1 when the first head matches the Discrete part (shifted by 1)."""

    def __init__(self, render_mode=None):
        obs = spaces.Dict({"position": spaces.Box(-1.0, 1.0, (2,), np.float32), "goal": spaces.Discrete(3),
                           "flags": spaces.MultiBinary(3)})
        super().__init__(obs, spaces.MultiDiscrete([3, 2], start=[1, 0]), render_mode)

    def _observe(self):
        self._goal = int(self.np_random.integers(3))
        return {"position": self.np_random.uniform(-1, 1, 2).astype(np.float32), "goal": self._goal,
                "flags": self.np_random.integers(0, 2, 3).astype(np.int8)}

    def _reward(self, action):
        return 1.0 if int(action[0]) == self._goal + 1 else 0.0


class ImageEnv(_Toy):
    """8 x 8 x 3 uint8 images, Discrete(3) actions starting at 1: reward 1 for the action
    (shifted) that names the brightest channel."""

    def __init__(self, render_mode=None):
        super().__init__(spaces.Box(0, 255, (8, 8, 3), np.uint8), spaces.Discrete(3, start=1), render_mode)

    def _observe(self):
        self._image = self.np_random.integers(0, 256, (8, 8, 3)).astype(np.uint8)
        return self._image

    def _reward(self, action):
        return 1.0 if action - 1 == int(self._image.reshape(-1, 3).sum(0).argmax()) else 0.0


class MatrixActionEnv(_Toy):
    """float64 Box observations and a (2, 2) float64 Box action in [-1, 2]: reward 1 - the
    distance of the action from 0.5 (the bounds and the shape must reach the env as is)."""

    def __init__(self, render_mode=None):
        super().__init__(spaces.Box(-5.0, 5.0, (3,), np.float64), spaces.Box(-1.0, 2.0, (2, 2), np.float64),
                         render_mode)

    def _observe(self):
        return self.np_random.normal(size=3)

    def _reward(self, action):
        return float(1.0 - np.abs(action - 0.5).mean())


class TextEnv(_Toy):
    """A Text observation: refused (the spec layer does not pack text)."""

    def __init__(self, render_mode=None):
        super().__init__(spaces.Text(5), spaces.Discrete(2), render_mode)

    def _observe(self):
        return "abc"

    def _reward(self, action):
        return 0.0


class TupleActionEnv(_Toy):
    """A Tuple action space: refused."""

    def __init__(self, render_mode=None):
        super().__init__(spaces.Box(-1.0, 1.0, (2,), np.float32), spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2))),
                         render_mode)

    def _observe(self):
        return np.zeros(2, np.float32)

    def _reward(self, action):
        return 0.0


def make_dict_env(render_mode=None):
    return DictEnv(render_mode)


def make_image_env(render_mode=None):
    return ImageEnv(render_mode)


def make_matrix_action_env(render_mode=None):
    return MatrixActionEnv(render_mode)


def make_text_env():
    return TextEnv()


def make_tuple_action_env():
    return TupleActionEnv()


def make_not_an_env():
    return "not an env"


def make_gymnax_cartpole():
    """A gymnax factory: (env, env_params)."""
    import gymnax

    return gymnax.make("CartPole-v1")


class ClockEnv(gym.Env):
    """Episodes of exactly `CLOCK_LENGTH` steps; frame t is black with t + 1 white columns
    (so a video's frames can be checked one by one)."""
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.render_mode = render_mode
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(1, self.t / CLOCK_LENGTH, np.float32), 1.0, self.t >= CLOCK_LENGTH, False, {}

    def render(self):
        return clock_frame(self.t)


CLOCK_LENGTH = 7


def clock_frame(t):
    frame = np.zeros((16, 32, 3), np.uint8)
    frame[:, : t + 1] = 255
    return frame


def make_clock_env(render_mode=None):
    return ClockEnv(render_mode)


def make_unrendered_env():
    """A gymnasium env whose factory takes no render_mode: refused for videos."""
    return gym.make("CartPole-v1")


POISON_STEP = 100  # the step from which the poisoned envs observe NaN


class PoisonedEnv(gym.Env):
    """A never-ending episode whose observation is the step count, then NaN from POISON_STEP
    on: training on it goes non-finite at a known update."""

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def _observe(self):
        return np.full(2, np.nan if self.t >= POISON_STEP else self.t / POISON_STEP, np.float32)

    def step(self, action):
        self.t += 1
        return self._observe(), 1.0, False, False, {}


def make_poisoned_env(render_mode=None):
    return PoisonedEnv(render_mode)


def _toy_gymnax_base():
    """(the base gymnax Environment of the toy gymnax envs, the struct module): observations of
    2 floats, Discrete(2) actions, no time limit, nothing terminal unless step_env says so."""
    import jax.numpy as jnp
    from flax import struct
    from gymnax.environments import environment, spaces as gymnax_spaces

    @struct.dataclass
    class Params(environment.EnvParams):
        max_steps_in_episode: int = 10**9

    class Toy(environment.Environment):
        @property
        def default_params(self):
            return Params()

        def is_terminal(self, state, params):
            return jnp.bool_(False)

        def observation_space(self, params):
            return gymnax_spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)

        def action_space(self, params):
            return gymnax_spaces.Discrete(2)

    return Toy, struct


def make_poisoned_gymnax_env():
    """The gymnax twin of PoisonedEnv: (env, env_params)."""
    import jax.numpy as jnp
    from gymnax.environments import environment

    Toy, struct = _toy_gymnax_base()

    @struct.dataclass
    class State(environment.EnvState):
        time: int

    class Poisoned(Toy):
        def get_obs(self, state, params=None, key=None):
            value = jnp.where(state.time >= POISON_STEP, jnp.nan, state.time / POISON_STEP)
            return jnp.full((2,), value, jnp.float32)

        def step_env(self, key, state, action, params):
            state = State(time=state.time + 1)
            return self.get_obs(state), state, jnp.float32(1.0), jnp.bool_(False), {}

        def reset_env(self, key, params):
            state = State(time=0)
            return self.get_obs(state), state

    env = Poisoned()
    return env, env.default_params


def make_ends_on_action_gymnax_env():
    """A gymnax env whose episode ends when the action is 1, so a test chooses how many envs
    end at each step; its observation is the start value its reset drew and the time:
    (env, env_params)."""
    import jax
    import jax.numpy as jnp
    from gymnax.environments import environment

    Toy, struct = _toy_gymnax_base()

    @struct.dataclass
    class State(environment.EnvState):
        start: float
        time: int

    class EndsOnAction(Toy):
        def get_obs(self, state, params=None, key=None):
            return jnp.stack([jnp.asarray(state.start, jnp.float32), jnp.asarray(state.time, jnp.float32)])

        def step_env(self, key, state, action, params):
            state = state.replace(time=state.time + 1)
            return self.get_obs(state), state, jnp.float32(1.0), action == 1, {}

        def reset_env(self, key, params):
            state = State(start=jax.random.uniform(key), time=jnp.int32(0))
            return self.get_obs(state), state

    env = EndsOnAction()
    return env, env.default_params
