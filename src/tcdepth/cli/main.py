"""Entry point of the ``tcdepth`` console script.

Every module ``tcdepth.cli.<name>`` that defines ``register(subparsers)`` contributes a command; ``register`` adds
a subparser and sets ``func`` (called with the parsed arguments, returning an exit code or None).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tcdepth
import tcdepth.cli
from tcdepth.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcdepth", description=tcdepth.__doc__)
    parser.add_argument("--version", action="version", version=f"tcdepth {tcdepth.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(tcdepth.cli.__path__), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"tcdepth.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Commands with a positional ``overrides`` list take ``key=value`` words wherever they stand among the options.
    if extra and hasattr(args, "overrides") and all("=" in word and not word.startswith("-") for word in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"tcdepth {args.command}: error: {err}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
