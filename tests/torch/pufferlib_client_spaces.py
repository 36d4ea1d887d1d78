"""The spaces and sizes of the PufferLib client run (`pufferlib_client.py`), shared with its test."""
import gymnasium as gym
import numpy as np

S = gym.spaces

OBSERVATION_SPACES = {
    # mixed leaves: uint8 rows
    "flat": S.Dict({"pos": S.Box(-2, 2, (3,), np.float32), "id": S.Discrete(5),
                    "cells": S.MultiDiscrete([3, 4]), "img": S.Box(0, 255, (2, 2), np.uint8)}),
    # a nested Dict with padding between fields, read through PufferLib 2's attribute object
    "nested": S.Dict({"agent": S.Dict({"hp": S.Box(-500, 500, (2,), np.int16), "team": S.Discrete(3)}),
                      "pos": S.Box(-1, 1, (2,), np.float64), "seen": S.MultiBinary(5)}),
    # one leaf dtype: float32 rows, offsets and deltas count floats
    "floats": S.Dict({"pos": S.Box(-1, 1, (3,), np.float32), "vel": S.Box(-3, 3, (2,), np.float32)}),
}
ATTRIBUTE_EMULATED = {"nested"}
ACTION_SPACES = {
    "discrete": S.Discrete(6),
    "multidiscrete": S.MultiDiscrete([3, 5, 2]),
    "continuous": S.Box(-1, 1, (2,), np.float32),
}
SCENARIOS = [f"{obs}-{atn}" for obs in OBSERVATION_SPACES for atn in ACTION_SPACES]
AGENTS, HORIZON, MINIBATCH_SEGMENTS = 4, 8, 2  # segments = AGENTS: one segment per agent per epoch
