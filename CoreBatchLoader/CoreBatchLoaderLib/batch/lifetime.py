"""How a batch ends when it is told to stop, and why it never leaves a process behind.

Two halves:

- In the main process, :func:`stop_signals_interrupt` turns SIGTERM and SIGHUP into the same
  :class:`KeyboardInterrupt` Ctrl-C raises (as :class:`Terminated`), so one path stops the work
  (workers terminated, temporary files removed, the manifest written whole); the exit status is
  then 128 + the signal's number (143 SIGTERM, 129 SIGHUP; 130 Ctrl-C), as a shell reports a
  process killed by it.  This is what the Slicer panel's Cancel sends to its child batch.
- In each worker process, :func:`die_with_parent` (the pool's initializer) makes the worker end by
  itself when the main process dies without cleaning up (``kill -9``, a crash): on Linux the kernel
  sends it SIGKILL (``prctl(PR_SET_PDEATHSIG)``), everywhere a thread waiting on the parent's
  sentinel exits the process.  Its temporary file is then removed by the next run, which holds the
  output lock.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, List, Optional

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP received: handled exactly as Ctrl-C is (a KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__("stopped by %s" % signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """What :func:`stop_signals_interrupt` saw: the first stop signal, if any."""

    def __init__(self) -> None:
        self.received: Optional[int] = None

    def exit_status(self, default: int = 130) -> int:
        """128 + the signal's number once one came, else ``default`` (Ctrl-C's 130)."""
        return 128 + self.received if self.received is not None else default


@contextmanager
def stop_signals_interrupt() -> Iterator[StopSignals]:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread while inside the block.

    Only the first one interrupts: the cleanup it starts (terminating workers, writing the
    manifest) must not be cut short by a second.  Outside the main thread (a signal handler
    cannot be set there) this does nothing; previous handlers come back at the end.
    """
    seen = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def interrupt(signum: int, frame: object) -> None:
        if seen.received is None:
            seen.received = signum
            raise Terminated(signum)

    previous: List[tuple] = []
    for signum in STOP_SIGNALS:
        previous.append((signum, signal.signal(signum, interrupt)))
    _watching.append(seen)
    try:
        yield seen
    finally:
        _watching.remove(seen)
        for signum, handler in previous:
            signal.signal(signum, handler)


_watching: List[StopSignals] = []


def raise_if_stop_was_lost() -> None:
    """Raise :class:`Terminated` if a stop signal came but its exception never got here.

    The exception is raised wherever the main thread happens to be, and code it lands in can
    swallow it (a cleanup that fails, an ``except Exception`` in a library around a callback).
    The batch calls this between folders, so a lost interrupt stops it there instead of never."""
    for seen in _watching:
        if seen.received is not None:
            raise Terminated(seen.received)


WORKER_BLOCKED_SIGNALS = {signal.SIGINT} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP") else set())
"""Signals a terminal sends to every process of the foreground group (Ctrl-C, hang-up): workers
never act on them; the main process owns them and stops the workers itself.  SIGTERM stays
deliverable: it is how the pool and the main process end a worker."""


def die_with_parent() -> None:
    """Pool initializer: end this worker when the process that started it dies.

    Linux: the kernel's parent-death signal (SIGKILL: nothing left to clean up that the next run
    does not).  Everywhere (macOS, Windows, and a parent that died before this ran): a daemon
    thread blocked on multiprocessing's parent sentinel, which becomes ready when the parent ends.
    """
    import multiprocessing

    if hasattr(signal, "pthread_sigmask"):  # started with it blocked: SIGTERM is how a worker is ended
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nobody to follow
        return
    if sys.platform.startswith("linux"):
        _set_parent_death_signal(signal.SIGKILL)
    if not parent.is_alive():  # died before the death signal was set
        os._exit(1)
    watcher = threading.Thread(target=_exit_when_gone, args=(parent,), name="parent-watch", daemon=True)
    watcher.start()


def _exit_when_gone(parent: object) -> None:
    parent.join()  # type: ignore[attr-defined]  # waits on the sentinel: no polling
    os._exit(1)


def _set_parent_death_signal(signum: int) -> None:
    """prctl(PR_SET_PDEATHSIG, signum) through ctypes; silently nothing where libc lacks it."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc/musl: the watcher thread does it
        pass
