"""GPU options: parsing flags and environment variables, checking them, and planning device sizes.

Pure Python: nothing here imports TensorFlow.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exporter.errors import GpuConfigError


class Source(StrEnum):
    DEFAULT = "default"
    FLAG = "flag"
    ENV = "environment"
    API = "api"


@dataclass(frozen=True)
class _Setting:
    name: str  # key in GpuConfig.sources
    label: str  # for people
    flag: str
    env: str
    api: str  # keyword of `configure`


GPUS = _Setting("gpus", "gpus", "--gpus", "EDGESHIP_GPUS", "gpus")
MEMORY_LIMIT = _Setting(
    "memory_limit", "memory limit", "--gpu-memory-limit", "EDGESHIP_GPU_MEMORY_LIMIT", "memory_limit_mib"
)
MEMORY_GROWTH = _Setting(
    "memory_growth", "memory growth", "--gpu-memory-growth", "EDGESHIP_GPU_MEMORY_GROWTH", "memory_growth"
)
LOGICAL_GPUS = _Setting(
    "logical_gpus", "logical gpus", "--logical-gpus", "EDGESHIP_LOGICAL_GPUS", "logical_gpus"
)
SETTINGS = (GPUS, MEMORY_LIMIT, MEMORY_GROWTH, LOGICAL_GPUS)
_DESTS = {
    GPUS: "gpus",
    MEMORY_LIMIT: "gpu_memory_limit",
    MEMORY_GROWTH: "gpu_memory_growth",
    LOGICAL_GPUS: "logical_gpus",
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class GpuConfig:
    """What the user asked for; `sources` maps a setting name to where it came from (absent: default)."""

    gpus: tuple[int, ...] | None = None  # None: every GPU; (): none, the CPU only
    memory_limit_mib: int | None = None
    memory_growth: bool = False
    logical_gpus: int | None = None  # None: no split
    logical_gpu_mib: int | None = None  # size of each logical GPU; None: derived (see `plan`)
    sources: tuple[tuple[str, Source], ...] = ()

    def source(self, setting: _Setting) -> Source:
        return dict(self.sources).get(setting.name, Source.DEFAULT)

    def origin(self, setting: _Setting) -> str:
        """Where a setting came from, as a user writes it: a flag, a variable, a keyword, or "default"."""
        source = self.source(setting)
        return {
            Source.FLAG: setting.flag,
            Source.ENV: setting.env,
            Source.API: f"configure({setting.api}=...)",
            Source.DEFAULT: "default",
        }[source]

    @property
    def is_default(self) -> bool:
        """Nothing to do: TensorFlow keeps its own behaviour and is not even imported."""
        return (
            self.gpus is None
            and self.memory_limit_mib is None
            and not self.memory_growth
            and self.logical_gpus is None
        )


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as nvidia-smi reports it; sizes are None where unknown before TensorFlow starts."""

    name: str
    total_mib: int | None = None
    free_mib: int | None = None


@dataclass(frozen=True)
class Plan:
    """A validated configuration, resolved against the GPUs that exist."""

    selected: tuple[int, ...] | None  # indices among the visible GPUs; None: all
    memory_limit_mib: int | None
    memory_growth: bool
    logical_sizes_mib: tuple[int, ...]  # one size per logical device on each selected GPU; (): no split


# --------------------------------------------------------------------------------------------- parsing


def argument_parser() -> argparse.ArgumentParser:
    """The GPU options, for `parents=` of every subcommand that runs TensorFlow. Values are parsed by
    `config_from`, so a bad flag and a bad environment variable get the same one-line error."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("GPU memory (applied before TensorFlow starts)")
    group.add_argument(
        "--gpus",
        metavar="LIST|none",
        help=f"GPU indices this process sees, e.g. 1 or 0,2; 'none' forces the CPU (env {GPUS.env})",
    )
    group.add_argument(
        "--gpu-memory-limit",
        metavar="MiB",
        help=f"fixed memory cap on each visible GPU (env {MEMORY_LIMIT.env})",
    )
    group.add_argument(
        "--gpu-memory-growth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"take GPU memory only as it is needed (env {MEMORY_GROWTH.env}=1)",
    )
    group.add_argument(
        "--logical-gpus",
        metavar="N[:MiB]",
        help=f"split each visible GPU into N logical devices of MiB each (env {LOGICAL_GPUS.env})",
    )
    return parser


def _shown(origin: str, text: str) -> str:
    """A value as the user gave it: `--gpus "x"`, `EDGESHIP_GPUS="x"` or `configure(gpus='x')`."""
    if origin.startswith("--"):
        return f'{origin} "{text}"'
    if origin.startswith("configure("):
        return origin.replace("...", repr(text))
    return f'{origin}="{text}"'


def _parse_gpus(text: str, origin: str) -> tuple[int, ...] | None:
    value = text.strip().lower()
    if value in ("all", "none"):
        return None if value == "all" else ()
    items = [item.strip() for item in value.split(",")]
    if not all(item.isdigit() for item in items):
        raise GpuConfigError(
            f"{_shown(origin, text)}: expected GPU indices separated by commas (such as 1 or 0,2), "
            '"all" or "none"'
        )
    indices = tuple(int(item) for item in items)
    for index in indices:
        if indices.count(index) > 1:
            raise GpuConfigError(f"{_shown(origin, text)}: GPU {index} is listed twice")
    return indices


def _parse_mib(text: str, origin: str) -> int:
    value = text.strip()
    if not value.isdigit() or int(value) == 0:
        raise GpuConfigError(f"{_shown(origin, text)}: expected a whole number of MiB above 0, such as 4096")
    return int(value)


def _parse_bool(text: str, origin: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise GpuConfigError(f"{_shown(origin, text)}: expected one of {', '.join(_TRUE + _FALSE)}")


def _parse_logical(text: str, origin: str) -> tuple[int, int | None]:
    count, sep, size = (part.strip() for part in text.strip().partition(":"))
    if not (count.isdigit() and int(count) > 0 and (not sep or (size.isdigit() and int(size) > 0))):
        raise GpuConfigError(
            f"{_shown(origin, text)}: expected N or N:MiB with N at least 1, such as 2 or 2:4096"
        )
    return int(count), int(size) if sep else None


def _config(raw: Mapping[_Setting, tuple[Any, Source, str]]) -> GpuConfig:
    """Build and check a GpuConfig from (raw value, source, origin) per given setting."""
    values: dict[str, Any] = {}
    sources: list[tuple[str, Source]] = []
    for setting, (value, source, origin) in raw.items():
        sources.append((setting.name, source))
        if setting is GPUS:
            values["gpus"] = _parse_gpus(str(value), origin)
        elif setting is MEMORY_LIMIT:
            values["memory_limit_mib"] = _parse_mib(str(value), origin)
        elif setting is MEMORY_GROWTH:
            values["memory_growth"] = value if isinstance(value, bool) else _parse_bool(str(value), origin)
        else:
            values["logical_gpus"], values["logical_gpu_mib"] = _parse_logical(str(value), origin)
    config = GpuConfig(**values, sources=tuple(sources))
    check(config)
    return config


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> GpuConfig:
    """Flags win over environment variables, which win over defaults.

    A command without the GPU options (serve) runs no TensorFlow: its configuration is the default, and the
    environment variables are not read for it.
    """
    if not any(hasattr(args, dest) for dest in _DESTS.values()):
        return GpuConfig()
    raw: dict[_Setting, tuple[Any, Source, str]] = {}
    for setting in SETTINGS:
        flag_value = getattr(args, _DESTS[setting], None)
        env_value = environ.get(setting.env, "").strip()
        if flag_value is not None:
            raw[setting] = (flag_value, Source.FLAG, setting.flag)
        elif env_value:
            raw[setting] = (env_value, Source.ENV, setting.env)
    return _config(raw)


def check(config: GpuConfig) -> None:
    """Conflicts that need no GPU to see. Raises GpuConfigError."""
    if config.gpus == ():
        return  # the CPU only: the memory options have no GPU to act on (`apply` says so)
    if config.memory_growth and config.memory_limit_mib is not None:
        raise GpuConfigError(
            f"memory growth ({config.origin(MEMORY_GROWTH)}) and a memory limit of "
            f"{config.memory_limit_mib} MiB ({config.origin(MEMORY_LIMIT)}) cannot both apply to one GPU: "
            "TensorFlow takes one or the other; drop one of them"
        )
    if config.memory_growth and config.logical_gpus is not None:
        raise GpuConfigError(
            f"memory growth ({config.origin(MEMORY_GROWTH)}) and {config.logical_gpus} logical GPUs "
            f"({config.origin(LOGICAL_GPUS)}) cannot both apply to one GPU: logical GPUs have fixed sizes; "
            "drop one of them"
        )
    if config.logical_gpus and config.logical_gpu_mib and config.memory_limit_mib is not None:
        need = config.logical_gpus * config.logical_gpu_mib
        if need > config.memory_limit_mib:
            raise GpuConfigError(
                f"{config.logical_gpus} logical GPUs of {config.logical_gpu_mib} MiB "
                f"({config.origin(LOGICAL_GPUS)}) need {need} MiB, more than the memory limit of "
                f"{config.memory_limit_mib} MiB ({config.origin(MEMORY_LIMIT)}): lower one of them"
            )


def plan(config: GpuConfig, gpus: Sequence[GpuInfo]) -> Plan:
    """Resolve a checked configuration against the GPUs this process can see (at least one). Raises
    GpuConfigError for an index that does not exist and for sizes larger than a card."""
    check(config)
    if config.gpus:
        for index in config.gpus:
            if index >= len(gpus):
                have = "0" if len(gpus) == 1 else f"0-{len(gpus) - 1}"
                raise GpuConfigError(
                    f"GPU {index} ({config.origin(GPUS)}) does not exist: this process sees {len(gpus)} "
                    f"GPU{'s' if len(gpus) != 1 else ''} ({have}); run `edgeship gpu` to list them"
                )
    selected = config.gpus
    cards = [gpus[i] for i in selected] if selected is not None else list(gpus)
    limit = config.memory_limit_mib
    if limit is not None:
        for index, card in zip(selected or range(len(gpus)), cards, strict=True):
            if card.total_mib is not None and limit > card.total_mib:
                raise GpuConfigError(
                    f"the memory limit of {limit} MiB ({config.origin(MEMORY_LIMIT)}) is larger than "
                    f"GPU {index} ({card.name}, {card.total_mib} MiB): give at most {card.total_mib}"
                )
    sizes: tuple[int, ...] = ()
    if config.logical_gpus is not None:
        count = config.logical_gpus
        size = config.logical_gpu_mib
        if size is None and limit is not None:
            size = limit // count
        if size is None:
            free = [card.free_mib for card in cards]
            if any(mib is None for mib in free):
                raise GpuConfigError(
                    f"{count} logical GPUs ({config.origin(LOGICAL_GPUS)}) need a size, and the GPU's "
                    f"free memory is unknown (no nvidia-smi): give --logical-gpus {count}:MiB or "
                    "--gpu-memory-limit"
                )
            size = int(min(mib for mib in free if mib is not None) * 0.9) // count
        for index, card in zip(selected or range(len(gpus)), cards, strict=True):
            if card.total_mib is not None and count * size > card.total_mib:
                raise GpuConfigError(
                    f"{count} logical GPUs of {size} MiB ({config.origin(LOGICAL_GPUS)}) need "
                    f"{count * size} MiB, more than GPU {index} ({card.name}, {card.total_mib} MiB): "
                    "lower N or the size"
                )
        if size < 1:
            raise GpuConfigError(
                f"{count} logical GPUs ({config.origin(LOGICAL_GPUS)}) would get under 1 MiB each: lower N"
            )
        sizes = (size,) * count
    return Plan(selected, None if sizes else limit, config.memory_growth, sizes)
