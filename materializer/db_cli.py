"""`usagestream db upgrade | current | downgrade REV`: the schema commands."""

from __future__ import annotations

import argparse

from usagestream.materializer import pg_migrations
from usagestream.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["upgrade", "current", "downgrade"])
    parser.add_argument("revision", nargs="?", default="head")


def cli(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "upgrade":
        pg_migrations.upgrade(settings, args.revision)
    elif args.action == "downgrade":
        pg_migrations.downgrade(settings, args.revision)
    else:
        pg_migrations.current(settings)
    return 0
