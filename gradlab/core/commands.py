"""Command-line helpers shared by ``python -m gradlab.demo`` and ``python -m gradlab.bench``.

A bad command line raises :class:`UsageError` (its message is the one line the command prints)
instead of argparse's usage dump and ``SystemExit``, so ``main(argv)`` can be tested.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """A bad command line; its message is the one line the command prints."""


class Parser(argparse.ArgumentParser):
    """An argparse parser that raises :class:`UsageError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def positive_int(text: str) -> int:
    """An int >= 1 (an argparse ``type``).

    >>> positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
