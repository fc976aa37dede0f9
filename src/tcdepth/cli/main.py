"""Entry point of the ``tcdepth`` console script.

Every module ``tcdepth.cli.<name>`` that defines ``register(subparsers)`` contributes a command; ``register`` adds
a subparser and sets ``func`` (called with the parsed arguments, returning an exit code or None).

A refused input or a failed write ends the command with one line on stderr naming the file or option and exit code
1; ``--debug`` (or ``TCDEPTH_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys

import tcdepth
import tcdepth.cli
from tcdepth.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcdepth", description=tcdepth.__doc__)
    parser.add_argument("--version", action="version", version=f"tcdepth {tcdepth.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also TCDEPTH_DEBUG=1)")
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
    debug = args.debug or os.environ.get("TCDEPTH_DEBUG", "") not in ("", "0")
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print(f"tcdepth {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, ValueError, OSError) as err:
        if debug:
            raise
        print(f"tcdepth {args.command}: error: {describe_error(err)}", file=sys.stderr)
        return 1
    return int(code or 0)


def describe_error(err: BaseException) -> str:
    """One line for an error: our messages as they are, operating-system errors with the file and what to do."""
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError) and err.errno is not None:
        target = f"{err.filename}: " if err.filename else ""
        hint = {errno.ENOSPC: "the disk is full; free space and run the same command again",
                errno.EDQUOT: "the disk quota is exceeded",
                errno.EACCES: "permission denied",
                errno.EROFS: "the file system is read-only",
                errno.EISDIR: "is a directory, expected a file",
                errno.ENOTDIR: "a part of the path is a file, expected a folder",
                errno.EEXIST: "exists"}.get(err.errno, err.strerror or str(err))
        return f"{target}{hint}"
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
