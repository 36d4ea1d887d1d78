"""Frames of gymnax envs, which do not render `rgb_array` themselves.

- Classic control (CartPole-v1, Pendulum-v1, Acrobot-v1, MountainCar-v0,
  MountainCarContinuous-v0): the gymnasium env of the same id draws the gymnax state (its
  `unwrapped.state` is set from the gymnax state's fields; gymnasium's renderer needs pygame).
- MinAtar (10 x 10 grids of object channels): each cell takes the colour of its highest
  channel that is set, black where none is, scaled up to 160 x 160.
Any other gymnax env (or a user's factory) is refused with a ValueError naming env_id.
"""
from __future__ import annotations

import numpy as np

from ...spec.errors import bad_value, one_line

__all__ = ["RENDERED_GYMNAX_IDS", "GymnaxFrames", "gymnax_frames"]

# gymnax id -> (the gymnasium state vector from the gymnax state, extra attributes to set)
_CLASSIC = {
    "CartPole-v1": lambda s: ([s.x, s.x_dot, s.theta, s.theta_dot], {}),
    "Pendulum-v1": lambda s: ([s.theta, s.theta_dot], {"last_u": float(np.asarray(s.last_u).reshape(-1)[0])}),
    "Acrobot-v1": lambda s: ([s.joint_angle1, s.joint_angle2, s.velocity_1, s.velocity_2], {}),
    "MountainCar-v0": lambda s: ([s.position, s.velocity], {}),
    "MountainCarContinuous-v0": lambda s: ([s.position, s.velocity], {}),
}
_MINATAR_CELL = 16
RENDERED_GYMNAX_IDS = tuple(_CLASSIC) + ("Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar",
                                         "SpaceInvaders-MinAtar")


class GymnaxFrames:
    """`frames(state, obs) -> (height, width, 3) uint8`: one frame of a gymnax env's state and
    observation; `fps` the rate to play them at (gymnasium's `render_fps`, 15 for MinAtar)."""

    def __init__(self, draw, fps: float):
        self._draw = draw
        self.fps = float(fps)

    def __call__(self, state, obs) -> np.ndarray:
        return self._draw(state, obs)


def gymnax_frames(gymnax_env) -> GymnaxFrames:
    """The frames of the env of `gymnax_env` (envs.gymnax_vec.GymnaxEnv); ValueError naming env_id
    when there is no renderer for it, or `video` when gymnasium's renderer cannot start
    (pygame missing)."""
    if gymnax_env.env_id in _CLASSIC:
        return _classic_frames(gymnax_env.env_id)
    if gymnax_env.env_id.endswith("-MinAtar"):
        return GymnaxFrames(_minatar_frame, 15)
    raise bad_value("env_id", f"a gymnax env with frames for a video ({', '.join(RENDERED_GYMNAX_IDS)})",
                    repr(gymnax_env.env_id))


def _classic_frames(env_id: str) -> GymnaxFrames:
    import gymnasium as gym

    try:
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
    except (ImportError, gym.error.Error) as error:  # pygame missing: DependencyNotInstalled
        raise bad_value("video", f"gymnasium's renderer for {env_id}", f"an error ({one_line(str(error))})") from None
    convert = _CLASSIC[env_id]

    def draw(state, obs):
        values, attributes = convert(state)
        env.unwrapped.state = np.array([float(np.asarray(v).reshape(-1)[0]) for v in values], np.float64)
        for name, value in attributes.items():
            setattr(env.unwrapped, name, value)
        return env.render()
    return GymnaxFrames(draw, env.metadata.get("render_fps") or 30)


def _minatar_frame(state, obs):
    grid = np.asarray(obs).astype(bool)  # (10, 10, channels)
    channels = grid.shape[-1]
    palette = (np.array([[0, 0, 0]] + [_hue(i / channels) for i in range(channels)]) * 255).astype(np.uint8)
    top = np.where(grid.any(-1), channels - np.argmax(grid[..., ::-1], axis=-1), 0)  # highest set channel + 1
    image = palette[top]
    return np.repeat(np.repeat(image, _MINATAR_CELL, axis=0), _MINATAR_CELL, axis=1)


def _hue(h: float):
    """A saturated colour of hue h in [0, 1)."""
    import colorsys

    return colorsys.hsv_to_rgb(h, 0.8, 1.0)
