"""glibc's allocator set to keep the memory that tensors free, for the next step's tensors.

A training step allocates and frees the same megabytes of temporaries each time (the recurrence's
outputs and gradients over a batch's steps). By default glibc serves such blocks with fresh `mmap`s,
or trims them off the heap once freed, so every step faults its pages in anew: on the 2-core
machine of docs/performance.md, 8-12% of a tutorial epoch (medians of alternating runs). Raising the
mmap threshold to its maximum (32 MiB) and the trim threshold to 1 GiB keeps them in the heap. A
process then holds on to the memory of its largest step (its peak did not move in
docs/performance.md's runs). Nothing is changed where the allocator is not glibc's, where another
one is preloaded (`LD_PRELOAD`), or where the user tunes glibc's allocator (any `MALLOC_*`
variable, or `glibc.malloc` in `GLIBC_TUNABLES`).
"""

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 * 2**20  # glibc's upper bound for it on 64-bit systems
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Tells glibc to reuse freed blocks rather than return them to the system; True where it did."""
    tuned = (any(name.startswith("MALLOC_") for name in os.environ)
             or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""))
    if tuned or os.environ.get("LD_PRELOAD", "").strip():
        return False
    try:
        if "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""):
            return False
        mallopt = ctypes.CDLL("libc.so.6").mallopt
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    except (AttributeError, OSError, ValueError):  # not POSIX, or not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
