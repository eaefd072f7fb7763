"""The Dask cluster a batch may run on (``--scheduler ADDRESS``): reaching its scheduler.

Dask's own timeout does not hold when something else answers at the address: against an HTTP
server the client waited forever, or read the reply's first bytes ("HTTP/1.0") as a message
length and said "Unable to allocate 3.07 EiB".  So the client is made in a thread that is waited
for at most :data:`SCHEDULER_WAIT_SECONDS`, and what went wrong is said as "cannot reach".
"""
from __future__ import annotations

import threading
from typing import Dict

from ..messages import one_line

SCHEDULER_WAIT_SECONDS = 30.0  # Dask's own 20 s, and some more


class SchedulerUnreachable(Exception):
    """No Dask scheduler could be used at the address (or Dask is not installed); one line."""


def connect(address: str) -> object:
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`SchedulerUnreachable`.
    A client still trying after :data:`SCHEDULER_WAIT_SECONDS` is left behind in its thread (a
    daemon: it ends with the process)."""
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerUnreachable("--scheduler needs Dask: pip install 'corebatchloader[dask]'") from None
    outcome: Dict[str, object] = {}

    def make_client() -> None:
        try:
            outcome["client"] = Client(address, timeout="20s")
        except BaseException as exc:  # MemoryError too: a reply that is no Dask message
            outcome["error"] = exc

    thread = threading.Thread(target=make_client, name="corebatchloader-dask-connect", daemon=True)
    thread.start()
    thread.join(SCHEDULER_WAIT_SECONDS)
    if "client" in outcome:
        return outcome["client"]
    error = outcome.get("error")
    if error is None:
        reason = "no Dask scheduler answered within %.0f s" % SCHEDULER_WAIT_SECONDS
    elif isinstance(error, MemoryError):
        reason = "what answers there is not a Dask scheduler"
    else:
        reason = one_line(error)
    raise SchedulerUnreachable("cannot reach the Dask scheduler at %s (%s): check the address "
                               "(tcp://host:8786)" % (address, reason))
