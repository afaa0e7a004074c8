"""Run a fuzz target under atheris, or, without atheris, on random bytes for a while.

Each target module defines ``test_one_input(data: bytes) -> None``, which
must raise nothing for any input: the documented exceptions are caught
inside it. ``main(test_one_input)`` is the command line:

    python3 fuzz/fuzz_frames.py -max_total_time=300        # with atheris (libFuzzer options)
    python3 fuzz/fuzz_frames.py --smoke 10                  # without: random inputs for 10 s
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def smoke(test_one_input: Callable[[bytes], None], seconds: float, seed: int = 0) -> int:
    """Feed random and mutated inputs for ``seconds``; return how many ran."""
    rng = random.Random(seed)
    runs = 0
    deadline = time.monotonic() + seconds
    previous = b""
    while time.monotonic() < deadline:
        if previous and rng.random() < 0.5:
            data = bytearray(previous)
            for _ in range(rng.randint(1, 4)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
            data += bytes(rng.randrange(256) for _ in range(rng.randint(0, 4)))
            data = bytes(data)
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 256)))
        test_one_input(data)
        previous = data
        runs += 1
    return runs


def main(test_one_input: Callable[[bytes], None]) -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--smoke":
        seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
        print(f"{smoke(test_one_input, seconds)} inputs, no failure")
        return
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed (pip install atheris); use --smoke SECONDS instead")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
