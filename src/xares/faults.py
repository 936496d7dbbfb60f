"""Fail points: named places where the fault-injection tests kill the process on purpose.

`XARES_FAILPOINT=name` (or `name:N` for the N-th time the point is reached) makes `failpoint(name)`
send SIGKILL to its own process, the harshest interrupt there is: no cleanup, no atexit, no
finally. The tests then run the command again and check that it completes with the same scores and
never reads a partial artifact. Unset, a fail point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENVIRONMENT_VARIABLE = "XARES_FAILPOINT"
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    wanted = os.environ.get(ENVIRONMENT_VARIABLE)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
