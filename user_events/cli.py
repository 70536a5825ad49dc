"""`user-events` console script. Each domain registers its own subcommands in its cli.py."""

from __future__ import annotations

import argparse
import importlib
import sys

# module -> register(subparsers) adds that domain's subcommands; each sets `func(args) -> int`.
DOMAIN_CLIS = (
    "user_events.batch_cli",  # batch, generate
    "user_events.streaming.cli",  # simulate, sink
    "user_events.lake.backfill",  # backfill
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="user-events", description="user_events platform commands")
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in DOMAIN_CLIS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from user_events.config import ConfigError

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except ConfigError as exc:  # a bad setting: one line naming the variable, no traceback
        print(f"user-events: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
