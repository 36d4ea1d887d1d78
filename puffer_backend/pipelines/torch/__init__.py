"""The torch PPO pipeline."""
