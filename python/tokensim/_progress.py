"""The progress bar of ``tokensim.run``: tqdm (``tqdm.auto``, so it renders in
Jupyter) when installed, else a plain one-line bar on stderr."""

from __future__ import annotations

import sys
import time


def _interactive() -> bool:
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class Progress:
    """Ticks of all runs done, with runs done / total. Silent with ``quiet``
    or when stderr is neither a terminal nor a notebook."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and _interactive()
        self.bar = None
        self.total_runs = 0
        self.last = 0.0

    def start(self, total_ticks: int, total_runs: int) -> None:
        self.total_runs = total_runs
        self.total_ticks = max(total_ticks, 1)
        self.started = time.monotonic()
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total_ticks, unit="tick", unit_scale=True, leave=False)

    def update(self, ticks: int, runs: int) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.n = ticks
            self.bar.set_postfix_str(f"runs {runs}/{self.total_runs}", refresh=False)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.last < 0.2 and ticks < self.total_ticks:
            return
        self.last = now
        frac = min(ticks / self.total_ticks, 1.0)
        width = 30
        done = int(frac * width)
        rate = ticks / max(now - self.started, 1e-9)
        sys.stderr.write(
            f"\r[{'#' * done}{'.' * (width - done)}] {frac:6.1%} ticks {ticks}/{self.total_ticks}"
            f" ({rate:,.0f}/s) runs {runs}/{self.total_runs}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
