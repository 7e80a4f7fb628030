"""GPU memory management (placeholder: the GPU helper replaces this module)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping


def argument_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> object:
    return None


def apply(config: object) -> list[str]:
    return []


def describe() -> str:
    return "no GPU configuration yet"
