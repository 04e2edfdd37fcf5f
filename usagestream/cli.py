"""The `usagestream` console script: one entry point, one subcommand per process or operator task.

Each subcommand imports its adapter lazily, so `usagestream stack up` works before Kafka's Python client is used
and nothing connects at import time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

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
    "db": ("usagestream.materializer.db_cli", "cli", "database schema: `db upgrade`, `db current`"),
    "worker": ("usagestream.streams.worker", "cli", "run the stream worker (faust agents + materializer)"),
    "api": ("usagestream.http.server", "cli", "run the read API and the websocket feed"),
    "loadgen": ("usagestream.publisher.loadgen", "cli", "publish realistic gateway traffic to Kafka"),
    "verify": (
        "usagestream.materializer.verify",
        "cli_verify",
        "recount every aggregate; exit 1 on any difference",
    ),
    "rebuild": ("usagestream.materializer.verify", "cli_rebuild", "recompute every view from the records"),
    "retention": (
        "usagestream.materializer.retention",
        "cli",
        "create month partitions ahead, drop records and clear bodies past the retention settings",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="usagestream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, _func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        adder = _arguments_hook(module)
        if adder is not None:
            adder(p)
    return parser


def _arguments_hook(module: str) -> Callable[[argparse.ArgumentParser], None] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    hook: Callable[[argparse.ArgumentParser], None] | None = getattr(mod, "add_arguments", None)
    return hook


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        module, func, _ = COMMANDS[args.command]
        handler: Callable[[Settings, argparse.Namespace], int] = getattr(
            importlib.import_module(module), func
        )
        return int(handler(settings, args) or 0)
    except UsagestreamError as exc:
        print(f"usagestream {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
