"""Process-wide memory settings of the `edgeship` command: glibc's allocator and the optional imports.

TensorFlow allocates and frees large blocks (frozen graphs, flatbuffers, interpreter arenas) from many
threads. By default glibc raises its mmap threshold each time such a block is freed, so later large blocks
come from the heap arenas, where fragmentation keeps them counted in the process's memory after they are
freed. A fixed threshold sends every block of 1 MiB or more to mmap, which returns it to the system on free
(MobileNetV2 export: 1,307 -> 1,241 MB peak; same wall time within noise).

TensorFlow and Keras also import libraries "on the off chance", each inside `try: import ... except
ImportError`: tf.lite imports jax for its JAX entry point, Keras imports pandas (to accept DataFrames) and
scikit-learn (for its wrapper), which brings scipy. An export uses none of them, and they hold about 230 MB
of its memory (demo export: 847 -> 631 MB peak) and take about 1.3 s to import. `keep_out` installs an
import hook that answers ModuleNotFoundError for them, as if they were not installed, so those optional
imports fail and the libraries carry on without them. (Not `sys.modules[name] = None`: code that asks
"is pandas loaded?" with `sys.modules["pandas"]`, as scikit-learn does, would then get None and fail.)

Both change the whole process, so only the command line applies them, never the library (`exporter`), which
runs inside notebooks and other programs. The release step between variants is the library's:
`exporter/memory.py`.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import sys
from collections.abc import Iterable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
LARGE_BLOCK = 1024 * 1024
# Imported only as optional extras by TensorFlow (jax) and Keras (pandas, sklearn and, through it, scipy).
OPTIONAL_IMPORTS = ("jax", "jaxlib", "pandas", "sklearn", "scipy")


def tune_allocator() -> None:
    """Call before TensorFlow is imported (a fixed threshold also stops glibc from adjusting it)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS, Windows): nothing to tune
        return
    if hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
        libc.mallopt(M_TRIM_THRESHOLD, LARGE_BLOCK)


class _KeptOut(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: the named top-level packages (and their submodules) cannot be found."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (kept out by edgeship)", name=fullname)
        return None  # not ours: the usual finders look for it


def keep_out(names: Iterable[str]) -> None:
    """Make `import NAME` fail for each name not imported yet. Process-wide and final: only the command
    line's entry point calls it, for commands that need none of them (not tests, which share the process)."""
    missing = [name for name in names if name not in sys.modules]
    if missing:
        sys.meta_path.insert(0, _KeptOut(missing))
