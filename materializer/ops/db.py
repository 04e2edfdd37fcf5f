"""`usagestream db upgrade | current | downgrade REV`: the schema commands."""

from __future__ import annotations

import argparse

from usagestream.materializer.ops import migrate
from usagestream.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["upgrade", "current", "downgrade"])
    parser.add_argument("revision", nargs="?", default="head")


def cli(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "upgrade":
        migrate.upgrade(settings, args.revision)
    elif args.action == "downgrade":
        migrate.downgrade(settings, args.revision)
    else:
        migrate.current(settings)
    return 0
