"""rnn_sentiment/core/allocator.py: after keep_freed_memory, large blocks come from the heap and stay
there once freed."""

import json
import os
import subprocess
import sys

import pytest

# In a fresh process (the setting is process-wide): where an 8 MiB block comes from (a tensor's
# memory is such a block), and what the heap keeps once it is freed, read with glibc's mallinfo2.
PROBE = """
import ctypes, json, sys
from rnn_sentiment.core.allocator import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
block = libc.malloc(8 * 2**20)
mapped = libc.mallinfo2().hblkhd
libc.free(block)
print(json.dumps({"kept": kept, "mapped": mapped, "free_in_heap": libc.mallinfo2().fordblks}))
"""
MiB = 2**20


def probe(mode: str, **env) -> dict:
    untuned = {k: v for k, v in os.environ.items()
               if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    environment = untuned | env
    run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=environment,
                         check=True)
    return json.loads(run.stdout.splitlines()[-1])


GLIBC = (getattr(os, "confstr", lambda _: "")("CS_GNU_LIBC_VERSION") or "").removeprefix("glibc ")


@pytest.mark.skipif(not GLIBC or tuple(map(int, GLIBC.split(".")[:2])) < (2, 33),
                    reason="glibc's allocator, and its mallinfo2 (glibc 2.33 and later)")
def test_large_blocks_come_from_the_heap_and_stay_there_once_freed():
    default, kept = probe("default"), probe("keep")
    assert default["mapped"] >= 8 * MiB  # glibc maps a block this size apart and unmaps it on free
    assert kept["kept"] is True
    assert kept["mapped"] < 8 * MiB and kept["free_in_heap"] >= 8 * MiB  # reused by the next step


def test_a_users_allocator_settings_win():
    assert probe("keep", MALLOC_ARENA_MAX="2")["kept"] is False
    assert probe("keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=0")["kept"] is False
    assert probe("keep", LD_PRELOAD="libm.so.6")["kept"] is False  # another library preloaded: it may be an allocator
