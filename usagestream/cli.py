"""The `usagestream` console script: one entry point, one subcommand per process or operator task.

Only the chosen subcommand's module is imported (for its `add_arguments` hook, then its handler), so
`usagestream --help` loads no Kafka, PostgreSQL, Redis or HTTP client and each command only the clients it uses
(`usagestream db` neither faust nor redis); nothing connects at import time. A subcommand whose module cannot be
imported (a package missing from the environment) is reported by name with exit status 69, instead of a
traceback or silently missing options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from usagestream.errors import UsagestreamError
from usagestream.logs import configure as configure_logging
from usagestream.settings import Settings

# subcommand -> (module, function, help). The function takes (settings, args) and returns an exit code.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("usagestream.stack.demo", "cli", "stack + worker + API + load generator, until Ctrl-C"),
    "stack": (
        "usagestream.stack.launcher",
        "cli",
        "start/stop/inspect the local Kafka, PostgreSQL and Redis",
    ),
    "topics": ("usagestream.streams.kafka_topics", "cli", "create the contract's Kafka topics (idempotent)"),
    "db": ("usagestream.materializer.ops.db", "cli", "database schema: `db upgrade`, `db current`"),
    "worker": ("usagestream.streams.worker", "cli", "run the stream worker (faust agents + materializer)"),
    "api": ("usagestream.http.server", "cli", "run the read API and the websocket feed"),
    "loadgen": ("usagestream.publisher.loadgen.command", "cli", "publish realistic gateway traffic to Kafka"),
    "verify": (
        "usagestream.materializer.ops.verify",
        "cli_verify",
        "recount every aggregate; exit 1 on any difference",
    ),
    "rebuild": ("usagestream.materializer.ops.verify", "cli_rebuild", "recompute every view from the records"),
    "export": (
        "usagestream.http.export_command",
        "cli",
        "export records, an aggregation or a time series as CSV or JSON Lines (streamed from PostgreSQL)",
    ),
    "retention": (
        "usagestream.materializer.ops.retention",
        "cli",
        "create month partitions ahead, drop records and clear bodies past the retention settings",
    ),
}

# sysexits' EX_UNAVAILABLE: the subcommand cannot run in this environment (a package it needs is not installed).
EXIT_UNAVAILABLE = 69


class CommandUnavailable(UsagestreamError):
    """A subcommand's module failed to import: install the package it names (`pip install usagestream`)."""

    def __init__(self, command: str, module: str, exc: ImportError) -> None:
        missing = f" (missing module {exc.name!r})" if exc.name else ""
        super().__init__(f"usagestream {command}: cannot load {module}{missing}: {exc}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; only `command`'s module is imported, for its own options."""
    parser = argparse.ArgumentParser(prog="usagestream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_module, _func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            adder: Callable[[argparse.ArgumentParser], None] | None = getattr(_load(name), "add_arguments", None)
            if adder is not None:
                adder(p)
    return parser


def _load(command: str) -> ModuleType:
    module = COMMANDS[command][0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CommandUnavailable(command, module, exc) from exc


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv: the first word that is not an option (the top level has only -h)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(_command_in(argv))
    except CommandUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        handler: Callable[[Settings, argparse.Namespace], int] = getattr(_load(args.command), COMMANDS[args.command][1])
        return int(handler(settings, args) or 0)
    except CommandUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    except UsagestreamError as exc:
        print(f"usagestream {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
