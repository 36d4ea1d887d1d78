"""The mixed PPO pipeline."""
