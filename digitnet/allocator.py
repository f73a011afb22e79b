"""Keep memory that NumPy frees for the next batch, instead of handing it back to the system at every free.

glibc's malloc returns a large freed block to the kernel (munmap, or trimming the top of the heap), and the
next batch's arrays of the same size come back as fresh pages, which the kernel zeroes on their first touch:
12 % of a DeepConvNet inference pass's CPU time went there (`os.times()`: system against user time). With
higher thresholds malloc reuses those blocks. The peak memory is the same (the same blocks are reused); the
resident set no longer shrinks after a peak. Process-wide, so the command line and the benchmark ask for it;
importing the library never does.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_ABOVE = 32 << 20  # blocks larger than this still come from, and go back to, the system (glibc's maximum)
TRIM_ABOVE = 1 << 30  # the free top of the heap is handed back only when it exceeds this


def keep_freed_memory():
    """Raise glibc's mmap and trim thresholds for this process. True when done, False without glibc."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no C library found, or not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_ABOVE))
