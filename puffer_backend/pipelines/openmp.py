"""OpenMP's wait policy for the torch learner's multi-threaded update, set before torch loads.

Torch's CPU kernels run on an OpenMP thread pool whose idle threads spin by default. With one
thread per process (the rollout, small minibatches) nothing spins; an update on several
threads does, and on a loaded 2-core machine it then ran 10x slower than on one thread
(docs/benchmarks.md), while with passive waiting it kept its speed. OpenMP reads the policy
once, when torch's library loads, so `prefer_passive_waiting()` runs on import of the
pipelines package, before any pipeline imports torch; a policy the user set is kept.
`parallel_update_allowed()` says whether the pool of this process waits passively: only then
does the learner spread a large update over several threads (pipelines.torch.runtime).
"""
from __future__ import annotations

import os
import sys

__all__ = ["prefer_passive_waiting", "parallel_update_allowed"]

_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_waiting(environ=None, modules=None) -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE in `environ` (default os.environ) unless it is set or
    torch is already loaded (`modules`, default sys.modules: too late to take effect).
    Returns whether it set it."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if _POLICY in environ or "torch" in modules:
        return False
    environ[_POLICY] = "PASSIVE"
    return True


def parallel_update_allowed(environ=None) -> bool:
    """Whether this process's OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE)."""
    environ = os.environ if environ is None else environ
    return environ.get(_POLICY, "").strip().upper() == "PASSIVE"
