"""Shared by the CI check scripts: named checks that print `ok`/`FAIL`
lines and end with the `N passed, M failed` line `.ci/run` sums."""

from __future__ import annotations

import traceback
from typing import Callable


class Failed(Exception):
    """A check that did not hold; the message says how."""


def require(cond: bool, message: str) -> None:
    if not cond:
        raise Failed(message)


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def run(self, name: str, fn: Callable[[], str | None]) -> bool:
        try:
            detail = fn()
        except Failed as e:
            self._fail(name, str(e))
            return False
        except Exception as e:  # a crash in a check is a failed check
            self._fail(name, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
            return False
        self.passed += 1
        print(f"ok    {name}" + (f": {detail}" if detail else ""), flush=True)
        return True

    def _fail(self, name: str, message: str) -> None:
        self.failed.append(name)
        print(f"FAIL  {name}: {message}", flush=True)

    def finish(self) -> int:
        if self.failed:
            print(f"failed checks: {', '.join(self.failed)}")
        print(f"{self.passed} passed, {len(self.failed)} failed", flush=True)
        return 1 if self.failed else 0
