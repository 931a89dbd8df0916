"""SIGTERM ends a process as Ctrl-C does: with a ``KeyboardInterrupt`` its code can catch, so a
stop asked by the system (a service manager, ``kill``) prints one line instead of a traceback,
and cleans up (e.g. multiprocessing's finalizers) instead of dying where it stands."""
from __future__ import annotations

import signal


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """From now on SIGTERM raises ``KeyboardInterrupt`` in the main thread (as SIGINT does)."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
