"""JAX's persistent compilation cache for the jax and mixed pipelines: no compile wait the second time.

`jax_compile_cache(enabled)` is entered around a run's compiles. When on, and the user has
not chosen a cache folder of their own (`jax.config.jax_compilation_cache_dir`, or the
`JAX_COMPILATION_CACHE_DIR` environment variable, which JAX reads into it), it points JAX at
`cache_dir()` and lowers JAX's thresholds so that our programs are kept (by default JAX keeps
only those that took over a second to compile); on exit it puts the previous settings back,
so nothing outside the run caches on our behalf. A folder the user chose is used as JAX's
settings say and never changed. Off: JAX's settings are left as they are.

Cache hits are counted with JAX's public event listeners (`jax.monitoring`); if JAX stops
emitting the event, the count stays 0 and the run goes on (only the start line says less).
The cache folder holds compiled programs: remove it at any time to clear it.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_dir", "CacheReport", "jax_compile_cache"]

CACHE_DIR_ENV = "PUFFER_BACKEND_CACHE_DIR"
_HIT = "/jax/compilation_cache/cache_hits"
_REQUEST = "/jax/compilation_cache/compile_requests_use_cache"
# Every program is worth keeping: the mixed pipeline's env step compiles in well under a second.
_OUR_SETTINGS = {"jax_persistent_cache_min_compile_time_secs": 0.0,
                 "jax_persistent_cache_min_entry_size_bytes": 0}


def cache_dir() -> Path:
    """Where the jax and mixed pipelines keep compiled programs: `$PUFFER_BACKEND_CACHE_DIR/jax`
    when that variable is set, else the user's cache folder (`$XDG_CACHE_HOME` or `~/.cache`
    on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows) + `puffer-backend/jax`."""
    moved = os.environ.get(CACHE_DIR_ENV)
    if moved:
        return Path(moved).expanduser() / "jax"
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: relative paths ignored
    return base / "puffer-backend" / "jax"


@dataclass
class CacheReport:
    """What the cache did during a run: `folder` (None when off), `owner` ("ours", "yours": a
    folder set in JAX's config by the user, or None), and the compile requests that went
    through the cache and how many of them it answered."""
    folder: str | None = None
    owner: str | None = None
    requests: int = 0
    hits: int = 0

    def describe(self) -> str:
        """A parenthesis for the "compiled in ..." line, or "" when the cache is off."""
        if self.folder is None or not self.requests:  # off, disabled in JAX, or JAX no longer reports it
            return ""
        where = f"the cache at {self.folder}" if self.owner == "ours" else f"your JAX cache at {self.folder}"
        if self.hits and self.hits >= self.requests:
            return f" (from {where})"
        if self.hits:
            return f" ({self.hits} of {self.requests} programs from {where})"
        return f" (saved to {where}; the next run with these shapes skips the compile)"


@contextlib.contextmanager
def jax_compile_cache(enabled: bool = True):
    """Use JAX's persistent compilation cache for what compiles inside; yields a CacheReport
    (filled in as programs compile). See the module docstring for whose settings apply."""
    import jax

    report = CacheReport()
    if not enabled:
        yield report
        return
    chosen = jax.config.jax_compilation_cache_dir
    if chosen:
        report.folder, report.owner = str(chosen), "yours"
        with _counting(report):
            yield report
        return
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a read-only home: run without the cache rather than fail
        print(f"puffer-backend: note: no compilation cache ({folder}: {error.strerror})", file=sys.stderr)
        yield report
        return
    settings = {"jax_compilation_cache_dir": str(folder), **_OUR_SETTINGS}
    before = {name: getattr(jax.config, name) for name in settings}
    report.folder, report.owner = str(folder), "ours"
    _forget_opened_cache()  # JAX opens its cache folder once: one opened for another folder would be reused
    try:
        for name, value in settings.items():
            jax.config.update(name, value)
        with _counting(report):
            yield report
    finally:
        for name, value in before.items():
            jax.config.update(name, value)
        _forget_opened_cache()  # so a folder the user sets later is the one JAX opens


def _forget_opened_cache() -> None:
    # JAX's reset_cache is not public API: if it moves, the run goes on (only a later change
    # of cache folder in this process would go unnoticed by JAX).
    try:
        from jax._src import compilation_cache
        compilation_cache.reset_cache()
    except Exception:  # noqa: BLE001
        pass


@contextlib.contextmanager
def _counting(report: CacheReport):
    import jax.monitoring as monitoring

    def listen(event: str, **_) -> None:
        if event == _REQUEST:
            report.requests += 1
        elif event == _HIT:
            report.hits += 1

    monitoring.register_event_listener(listen)
    try:
        yield
    finally:
        unregister = getattr(monitoring, "unregister_event_listener", None)
        if unregister is not None:
            with contextlib.suppress(Exception):  # a listener left behind only counts; it must not fail a run
                unregister(listen)
