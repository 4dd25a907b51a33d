"""The ``tokensim`` command of the Python package: the whole Rust CLI, with
the Python behaviours of the modules or files given by ``--python`` (before
or after the subcommand, repeatable) or in ``TOKENSIM_PYTHON``
(``os.pathsep``-separated) registered next to the built-ins."""

from __future__ import annotations

import importlib
import os
import runpy
import sys
from collections.abc import Sequence


def _import(spec: str) -> None:
    if spec.endswith(".py") or os.sep in spec:
        runpy.run_path(spec, run_name=f"tokensim_behaviours_{abs(hash(spec))}")
    else:
        importlib.import_module(spec)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI with ``argv`` (default ``sys.argv``) and returns its exit
    code: 0 ok, 2 error, 3 invariant broken."""
    from . import _registered_behaviours, _tokensim

    args = list(sys.argv if argv is None else argv)
    program, rest = (args[0] if args else "tokensim"), args[1:]
    modules = [m for m in os.environ.get("TOKENSIM_PYTHON", "").split(os.pathsep) if m]
    kept: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--python" and i + 1 < len(rest):
            modules.append(rest[i + 1])
            i += 2
            continue
        if a.startswith("--python="):
            modules.append(a.split("=", 1)[1])
        else:
            kept.append(a)
        i += 1
    sys.path.insert(0, os.getcwd())
    for m in modules:
        try:
            _import(m)
        except Exception as e:  # a user's module: report like any CLI error
            print(f"error: --python {m}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
    return _tokensim.cli([os.path.basename(program) or "tokensim", *kept], _registered_behaviours())


if __name__ == "__main__":
    sys.exit(main())
