"""Keep the export's peak memory close to one conversion's: a release step between variants.

Converter graphs form reference cycles, and glibc keeps what they freed in its arenas. The process-wide
settings (glibc's mmap threshold, keeping optional libraries out) belong to the command line, not to a
library that runs inside other programs: `edgeship/memory.py`.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc


def release_memory() -> None:
    """Between variants: collect the cycles and give glibc's freed arenas back to the system, so that the
    peak is one conversion's, not the sum of all."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS, Windows): nothing to trim
        return
    with contextlib.suppress(AttributeError):
        libc.malloc_trim(0)
