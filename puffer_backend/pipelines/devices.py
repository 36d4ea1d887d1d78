"""Where the torch and mixed pipelines run: config.device resolved to one torch device.

`config.device` is "auto", "cpu", "cuda" or "cuda:N" (checked for its form by
TrainConfig.validate). `resolve_device` decides what it means on this machine: "auto" is
the current CUDA GPU when torch sees one (for mixed: and JAX sees a GPU too, since its env
runs there), else the CPU; "cuda" and "cuda:N" must exist, else a ValueError naming
config.device, which the command reports as `--device: ...` before it creates a run folder.
The jax pipeline takes "auto" only and runs on JAX's default backend. Torch and JAX are
imported only here, when a pipeline asks.
"""
from __future__ import annotations

from ..spec.errors import bad_value
from .config import check_device_name

__all__ = ["resolve_device", "jax_gpu_count"]


def jax_gpu_count() -> int:
    """GPUs that JAX sees (0 when its installation has no GPU backend)."""
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:  # "Unknown backend gpu" / no GPU found
        return 0


def resolve_device(device: str, backend: str = "torch", argument: str = "config.device") -> str:
    """The torch device that `device` (a config.device value) names for `backend` ("torch" or
    "mixed"), as a string: "cpu" or "cuda:N".

    "auto": cuda on torch's current GPU when torch sees one (mixed: and JAX sees at least as
    many GPUs), else cpu. "cuda": the current GPU, "cuda:N": GPU N; ValueError naming
    `argument` when torch sees no such GPU, or (mixed) JAX does not. ValueError for a value
    that is not a device name, or a backend other than torch and mixed.
    """
    check_device_name(argument, device)
    if backend not in ("torch", "mixed"):
        raise bad_value("backend", "'torch' or 'mixed' (the jax pipeline runs on JAX's default backend)",
                        repr(backend))
    if device == "cpu":
        return "cpu"
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto":
        if not gpus:
            return "cpu"
        index = torch.cuda.current_device()
        return f"cuda:{index}" if backend == "torch" or jax_gpu_count() > index else "cpu"
    if not gpus:
        raise bad_value(argument, "'cpu' or 'auto' on this machine (torch sees no CUDA GPU: "
                        f"torch {torch.__version__}, torch.cuda.is_available() is False)", repr(device))
    index = torch.cuda.current_device() if device == "cuda" else int(device.partition(":")[2])
    if index >= gpus:
        raise bad_value(argument, f"a GPU torch sees: cuda:0 to cuda:{gpus - 1}", repr(device))
    if backend == "mixed":
        seen = jax_gpu_count()
        if index >= seen:
            found = "no GPU (a CPU-only jax; pip install 'jax[cuda12]')" if not seen else f"{seen} GPUs"
            raise bad_value(argument, f"a GPU that JAX sees too (the mixed pipeline's env runs on it); "
                            f"JAX sees {found}", repr(device))
    return f"cuda:{index}"
