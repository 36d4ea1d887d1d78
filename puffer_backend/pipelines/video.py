"""Videos of a trained policy: frames to an .mp4 (imageio with imageio-ffmpeg) or a .gif (Pillow).

`play_gymnasium(env, act, episodes, seed, writer)` plays episodes one after another in one
gymnasium env made with `render_mode="rgb_array"`; `play_gymnax(gymnax_env, act, ...)` does the
same with a gymnax env, whose frames come from `envs.render`. Each writes one frame per
observation (the reset's, then one per step), so a video of episodes of lengths l_i has
sum(l_i + 1) frames, and returns the episodes' returns (the env's own rewards).
The pipelines' `record_video(run_dir, path, ...)` wrap these with their greedy policy.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from ..spec.errors import bad_value
from .episodes import EVAL_HORIZON

__all__ = ["VIDEO_SUFFIXES", "check_video_path", "check_video_config", "VideoWriter", "play_gymnasium", "play_gymnax"]

VIDEO_SUFFIXES = (".mp4", ".gif")
_MACRO_BLOCK = 16  # H.264 encoders want sides divisible by 16; frames are padded to that


def check_video_path(path) -> Path:
    """`path` as a Path ending in .mp4 or .gif in an existing folder, its writer installed;
    ValueError naming `video` otherwise (before any episode is played)."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise bad_value("video", "a file name ending in .mp4 or .gif", repr(str(path)))
    if not path.parent.is_dir():
        raise bad_value("video", "a path in an existing folder", repr(str(path)))
    import importlib.util

    needs = ("imageio", "imageio_ffmpeg") if path.suffix.lower() == ".mp4" else ("PIL",)
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        raise bad_value("video", f"a format whose writer is installed ({', '.join(missing)} is not: pip install "
                        "imageio imageio-ffmpeg, or write a .gif)", repr(str(path)))
    return path


class VideoWriter:
    """Frames `(height, width, 3)` uint8 in, one video file out; `frames` counts them.
    mp4: streamed to ffmpeg (imageio-ffmpeg's binary, no system package). gif: kept as
    palette images (about a third of the memory of RGB) and written on close; Pillow merges
    identical consecutive frames into one of their summed duration."""

    def __init__(self, path, fps: float = 30):
        self.path = Path(path)
        self.fps = float(fps)
        self.frames = 0
        self._gif = self.path.suffix.lower() == ".gif"
        self._images = []
        self._writer = None
        if not self._gif:
            import imageio.v2 as imageio

            self._writer = imageio.get_writer(self.path, fps=self.fps, macro_block_size=_MACRO_BLOCK)

    def append(self, frame) -> None:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise bad_value("frame", "an rgb_array frame (height, width, 3) uint8",
                            f"shape {frame.shape} {frame.dtype}")
        if self._gif:
            from PIL import Image

            self._images.append(Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE))
        else:
            pad = [(0, -n % _MACRO_BLOCK) for n in frame.shape[:2]] + [(0, 0)]
            with _ffmpeg_starts_quietly():
                self._writer.append_data(np.pad(frame, pad, mode="edge"))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._gif and self._images:
            first, *rest = self._images
            # GIF stores durations in units of 10 ms.
            first.save(self.path, save_all=True, append_images=rest, duration=10 * max(1, round(100 / self.fps)),
                       loop=0)
            self._images = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def check_video_config(config) -> None:
    """A run whose policy a video can play: not a recurrent one (the players call a stateless
    `act(observation)`); ValueError naming config.recurrent."""
    if config.recurrent:
        raise bad_value("config.recurrent", "False for record_video (videos of recurrent policies are not "
                        "supported yet; evaluate carries their state)", "True")


@contextlib.contextmanager
def _ffmpeg_starts_quietly():
    """imageio-ffmpeg starts ffmpeg with subprocess at the first frame; with JAX loaded, Python
    warns about the fork, which is followed at once by exec (no JAX state is used in it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        yield


def quiet_pygame() -> None:
    """No audio or window for pygame, which gymnasium's classic-control renderers start:
    without these, a machine without a sound card prints ALSA errors on stderr."""
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def _render(env):
    frame = env.render()
    if frame is None:
        raise bad_value("env", "an env that renders rgb_array frames (made with render_mode='rgb_array')",
                        f"{type(env.unwrapped).__name__} whose render() returned None")
    return frame


def play_gymnasium(env, act, episodes: int, seed: int, writer: VideoWriter, max_steps: int = EVAL_HORIZON) -> list[float]:
    """`episodes` episodes of `env` (render_mode "rgb_array"), seeds seed, seed+1, ...;
    act(observation) -> the env's action. Returns each episode's return; `max_steps` bounds
    an episode that would not end."""
    quiet_pygame()
    if getattr(env, "render_mode", None) != "rgb_array":
        raise bad_value("env", "an env made with render_mode='rgb_array' (a factory that takes render_mode)",
                        f"{type(env.unwrapped).__name__} with render_mode {getattr(env, 'render_mode', None)!r}")
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        writer.append(_render(env))
        total = 0.0
        for _ in range(max_steps):
            observation, reward, terminated, truncated, _ = env.step(act(observation))
            writer.append(_render(env))
            total += float(reward)
            if terminated or truncated:
                break
        returns.append(total)
    return returns


def play_gymnax(gymnax_env, act, episodes: int, seed: int, writer: VideoWriter, frames,
                max_steps: int = EVAL_HORIZON) -> list[float]:
    """`episodes` episodes of the gymnax env of `gymnax_env` (envs.gymnax_vec.GymnaxEnv), from keys
    split off PRNGKey(seed); act(obs `(1, obs_dim)` float32 JAX array) -> the action of that
    one env (JAX or numpy); frames: `envs.render.gymnax_frames(gymnax_env)`. An episode ends at a
    termination (gymnax's `step_env` done) or at the time limit (`is_truncated`: gymnax's
    step_env no longer reports it); `max_steps` bounds one that has neither."""
    import jax
    import jax.numpy as jnp

    quiet_pygame()
    env, params = gymnax_env.env, gymnax_env.params
    reset = jax.jit(lambda key: env.reset_env(key, params))
    def step_fn(key, state, action):
        obs, state, reward, terminated, info = env.step_env(key, state, action, params)
        return obs, state, reward, terminated | env.is_truncated(state, params), info

    step = jax.jit(step_fn)
    flat = lambda obs: jnp.asarray(obs, jnp.float32).reshape(1, -1)  # noqa: E731
    returns = []
    key = jax.random.PRNGKey(seed)
    for _ in range(episodes):
        key, k_reset = jax.random.split(key)
        obs, state = reset(k_reset)
        writer.append(frames(state, obs))
        total = 0.0
        for _ in range(max_steps):
            key, k_step = jax.random.split(key)
            action = jnp.asarray(act(flat(obs)))
            obs, state, reward, done, _ = step(k_step, state, action.reshape(action.shape[1:]))
            writer.append(frames(state, obs))
            total += float(reward)
            if bool(done):
                break
        returns.append(total)
    return returns
