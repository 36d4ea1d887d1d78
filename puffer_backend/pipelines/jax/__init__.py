"""The jax PPO pipeline."""
