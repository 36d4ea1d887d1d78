"""A slow env for `--vec` comparisons: gymnasium's CartPole-v1 that sleeps 1 ms per step, as
an env whose step waits on a simulator or a device would (no CPU used while it waits).

    puffer-backend train --backend torch --env slow_env:make_env --vec async --num-envs 8 ...
(run from this folder, or with it on PYTHONPATH: `--env package.module:function` imports it).
"""
import time

import gymnasium as gym

STEP_SECONDS = 0.001


class SleepPerStep(gym.Wrapper):
    def step(self, action):
        time.sleep(STEP_SECONDS)
        return self.env.step(action)


def make_env(render_mode=None):
    return SleepPerStep(gym.make("CartPole-v1", render_mode=render_mode))
