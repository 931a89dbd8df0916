"""The registry of the command line's sub-commands: each group module (``data``, ``models``,
``forecast``, ``serve``) has one :class:`Group`, and a command is one function in it, declared with
``@commands.command(name, help, arguments)``."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, one line of help, what adds its arguments, and what runs it
    (returning the exit status)."""

    name: str
    help: str
    arguments: Arguments
    run: Run


class Group:
    """The commands of one module, in the order they are declared."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def command(self, name: str, help: str, arguments: Arguments) -> Callable[[Run], Run]:
        """Register the decorated function as the command ``name``."""
        def register(run: Run) -> Run:
            self.commands.append(Command(name, help, arguments, run))
            return run
        return register
