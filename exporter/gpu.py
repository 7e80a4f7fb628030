"""GPU memory management for everything that runs TensorFlow.

TensorFlow takes almost all memory of every GPU it sees. edgeship offers the four standard remedies, as
flags on every command that runs TensorFlow, as environment variables, and as a Python API (`configure`):

    --gpus LIST|all|none      EDGESHIP_GPUS               which GPUs this process sees ("none": the CPU only)
    --gpu-memory-limit MiB    EDGESHIP_GPU_MEMORY_LIMIT   a fixed cap on each visible GPU
    --gpu-memory-growth       EDGESHIP_GPU_MEMORY_GROWTH  take GPU memory only as it is needed
    --logical-gpus N[:MiB]    EDGESHIP_LOGICAL_GPUS       split each visible GPU into N logical devices

A flag wins over its environment variable, which wins over the default; `GpuConfig` records where each
setting came from. `apply` validates a configuration and applies it before TensorFlow initialises its
devices: `--gpus` through CUDA_VISIBLE_DEVICES while TensorFlow is not imported yet, else through
`tf.config.set_visible_devices`. Every user mistake is a `GpuConfigError` with one line. Without a GPU, GPU
options give one notice and the work runs on the CPU; `--logical-gpus N` then splits the CPU into N logical
CPU devices, so multi-device code can be tried on any machine. An all-default configuration does not import
TensorFlow at all.

Indices in `--gpus` count the GPUs this process may see: all GPUs in nvidia-smi (PCI bus) order, or the
entries of a CUDA_VISIBLE_DEVICES that was set before edgeship started (for example by a job scheduler).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
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


# --------------------------------------------------------------------------------------------- applying


@dataclass
class _State:
    config: GpuConfig | None = None
    notices: tuple[str, ...] = ()


_state = _State()


def _nvidia_smi() -> list[GpuInfo] | None:
    """All GPUs in nvidia-smi (PCI bus) order, without starting CUDA; None where nvidia-smi is missing or
    fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        cards = []
        for line in out.strip().splitlines():
            name, total, free = (part.strip() for part in line.rsplit(",", 2))
            cards.append(GpuInfo(name, int(float(total)), int(float(free))))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return cards


def visible_cards(environ: Mapping[str, str], cards: Sequence[GpuInfo]) -> list[GpuInfo]:
    """The GPUs a process with this environment sees, from nvidia-smi's list. Where CUDA_VISIBLE_DEVICES
    cannot be mapped onto nvidia-smi's indices (UUIDs, MIG, another device order), sizes are those of the
    largest card, so that no limit is refused wrongly."""
    entries = environ.get("CUDA_VISIBLE_DEVICES")
    ordered_by_bus = environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID") == "PCI_BUS_ID"
    if entries is None:
        if ordered_by_bus:
            return list(cards)
        items = [str(i) for i in range(len(cards))]
    else:
        items = [item.strip() for item in entries.split(",")] if entries.strip() else []
    visible: list[GpuInfo] = []
    largest = max(cards, key=lambda card: card.total_mib or 0, default=GpuInfo("GPU"))
    for item in items:
        if item.isdigit() and ordered_by_bus:
            if int(item) >= len(cards):
                break  # CUDA stops at the first invalid entry
            visible.append(cards[int(item)])
        elif item.startswith("-"):
            break
        else:
            visible.append(GpuInfo(item, largest.total_mib, largest.free_mib))
    return visible


def _import_tf() -> Any:
    import tensorflow as tf

    return tf


def _cpu_split(tf: Any, count: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def _too_late(error: Exception) -> GpuConfigError:
    return GpuConfigError(
        f"TensorFlow already initialised its devices ({str(error).rstrip('.')}), so GPU options can no "
        "longer change them: give them on the command line, or call exporter.gpu.configure() before "
        "anything runs TensorFlow"
    )


def apply(config: GpuConfig) -> list[str]:
    """Validate `config` and apply it before TensorFlow initialises its devices; return notices to show.

    Raises GpuConfigError for conflicts, a GPU index that does not exist, sizes larger than a card, and for
    settings that come after TensorFlow initialised its devices. An all-default config imports nothing.
    """
    check(config)
    if config.is_default:
        _state.config, _state.notices = config, ()
        return []
    environ = os.environ
    tf_loaded = "tensorflow" in sys.modules
    notices: list[str] = []
    if config.gpus == () and not tf_loaded:
        environ["CUDA_VISIBLE_DEVICES"] = "-1"  # hide every GPU before CUDA starts
    smi = None if config.gpus == () else _nvidia_smi()
    use_env = not tf_loaded and smi is not None and config.gpus is not None and config.gpus != ()
    if smi is not None:
        cards = visible_cards(environ, smi)
        physical_before: list[Any] | None = None
    else:
        tf = _import_tf()  # counts GPUs, and starts CUDA: from here only tf.config can choose devices
        physical_before = tf.config.list_physical_devices("GPU")
        cards = [GpuInfo(f"GPU {i}") for i in range(len(physical_before))]
    if config.gpus == ():
        cards = []

    resolved = plan(config, cards) if cards else None
    if resolved is not None and use_env and resolved.selected is not None:
        current = environ.get("CUDA_VISIBLE_DEVICES")
        base = (
            [item.strip() for item in current.split(",")]
            if current
            else [str(i) for i in range(len(smi or []))]
        )
        environ["CUDA_VISIBLE_DEVICES"] = ",".join(base[i] for i in resolved.selected)
        if current is None:
            environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # so that indices match nvidia-smi's
    tf = _import_tf()
    try:
        if resolved is not None and not use_env and resolved.selected is not None:
            physical = (
                physical_before if physical_before is not None else tf.config.list_physical_devices("GPU")
            )
            tf.config.set_visible_devices([physical[i] for i in resolved.selected], "GPU")
        if config.gpus == () and tf_loaded:
            tf.config.set_visible_devices([], "GPU")
        gpus = tf.config.get_visible_devices("GPU") if resolved is not None else []
        if not gpus:
            split = config.logical_gpus if config.logical_gpus and config.logical_gpus > 1 else None
            ignored = [
                config.origin(s)
                for s in SETTINGS
                if config.source(s) is not Source.DEFAULT
                and not (s is GPUS and config.gpus == ())
                and not (s is LOGICAL_GPUS and split)
            ]
            if ignored or split:
                hidden = f"every GPU is hidden ({config.origin(GPUS)})"
                why = hidden if config.gpus == () else "no GPU is visible to TensorFlow"
                where = f"the CPU, split into {split} logical CPU devices" if split else "the CPU"
                ignoring = f"; ignored: {', '.join(ignored)}" if ignored else ""
                notices.append(f"Notice: {why}, so edgeship runs on {where}{ignoring}.")
            if split:
                _cpu_split(tf, split)
        else:
            assert resolved is not None
            for device in gpus:
                if resolved.memory_growth:
                    tf.config.experimental.set_memory_growth(device, True)
                elif resolved.logical_sizes_mib or resolved.memory_limit_mib is not None:
                    sizes = resolved.logical_sizes_mib or (resolved.memory_limit_mib,)
                    tf.config.set_logical_device_configuration(
                        device, [tf.config.LogicalDeviceConfiguration(memory_limit=mib) for mib in sizes]
                    )
    except RuntimeError as error:
        raise _too_late(error) from None
    except ValueError as error:
        raise GpuConfigError(f"TensorFlow refused the GPU configuration: {error}") from None
    _state.config, _state.notices = config, tuple(notices)
    return notices


def configure(
    gpus: str | int | Sequence[int] | None = None,
    memory_limit_mib: int | None = None,
    memory_growth: bool | None = None,
    logical_gpus: int | str | None = None,
) -> list[str]:
    """Library use: the same settings as the flags (source "api"), applied at once; returns the notices.
    Call it before anything runs TensorFlow. `gpus`: "all", "none", an index or indices; `logical_gpus`: N or
    "N:MiB"."""
    raw: dict[_Setting, tuple[Any, Source, str]] = {}
    given: list[tuple[_Setting, Any]] = [
        (GPUS, gpus),
        (MEMORY_LIMIT, memory_limit_mib),
        (MEMORY_GROWTH, memory_growth),
        (LOGICAL_GPUS, logical_gpus),
    ]
    for setting, value in given:
        if value is None:
            continue
        if setting is GPUS and not isinstance(value, str | int):
            value = ",".join(str(index) for index in value)
        raw[setting] = (value, Source.API, f"configure({setting.api}=...)")
    return apply(_config(raw))


# --------------------------------------------------------------------------------------------- reporting


def _value_text(config: GpuConfig, setting: _Setting) -> str:
    if setting is GPUS:
        if config.gpus is None:
            return "all"
        return "none (CPU only)" if config.gpus == () else ",".join(map(str, config.gpus))
    if setting is MEMORY_LIMIT:
        return "none" if config.memory_limit_mib is None else f"{config.memory_limit_mib} MiB"
    if setting is MEMORY_GROWTH:
        return "on" if config.memory_growth else "off"
    if config.logical_gpus is None:
        return "no split"
    size = f" x {config.logical_gpu_mib} MiB" if config.logical_gpu_mib else ""
    return f"{config.logical_gpus}{size}"


def format_config(config: GpuConfig) -> str:
    """The effective configuration and where each setting came from, one line per setting."""
    lines = []
    for setting in SETTINGS:
        source = config.source(setting)
        where = "default" if source is Source.DEFAULT else f"{source.value} {config.origin(setting)}"
        lines.append(f"  {setting.label:<14} {_value_text(config, setting):<18} ({where})")
    return "\n".join(lines)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def describe() -> str:
    """Devices, the effective configuration and its sources, and memory in use and peak per GPU.
    Imports TensorFlow and initialises its devices."""
    tf = _import_tf()
    config = _state.config or GpuConfig()
    physical = tf.config.list_physical_devices()
    logical = tf.config.list_logical_devices()
    lines = [f"TensorFlow {tf.__version__}", "Physical devices:"]
    lines += [f"  {d.name.removeprefix('/physical_device:')}" for d in physical]
    lines.append("Logical devices:")
    lines += [f"  {d.name.removeprefix('/device:')}" for d in logical]
    lines.append("Configuration:")
    lines.append(format_config(config))
    cuda = [
        f"{name}={os.environ.get(name, '(unset)')}" for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")
    ]
    lines.append(f"  {'environment':<14} {', '.join(cuda)}")
    logical_gpus = [d for d in logical if d.device_type == "GPU"]
    if logical_gpus:
        lines.append("GPU memory (TensorFlow's allocator):")
        for device in logical_gpus:
            short = device.name.removeprefix("/device:")
            info = tf.config.experimental.get_memory_info(short)
            lines.append(f"  {short:<8} in use {_mib(info['current'])}, peak {_mib(info['peak'])}")
        cards = _nvidia_smi()
        if cards:
            lines.append("GPU cards (nvidia-smi):")
            lines += [
                f"  {i}: {card.name}, {card.total_mib} MiB, {card.free_mib} MiB free"
                for i, card in enumerate(cards)
            ]
    elif not _state.notices:  # `apply` gave its notice already
        lines.append("Notice: no GPU is visible to TensorFlow; edgeship runs on the CPU.")
    return "\n".join(lines)


def distribution_strategy() -> Any:
    """The tf.distribute strategy for training and calibration on the devices as configured: mirrored over
    several logical GPUs (or over several logical CPUs where the CPU was split), one device for one GPU, the
    default strategy otherwise."""
    tf = _import_tf()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        split = len(gpus) > len(tf.config.get_visible_devices("GPU"))
        # NCCL cannot reduce between logical devices of one card; copying through one device can.
        ops = tf.distribute.ReductionToOneDevice() if split else None
        return tf.distribute.MirroredStrategy([d.name for d in gpus], cross_device_ops=ops)
    if gpus:
        return tf.distribute.OneDeviceStrategy("/GPU:0")
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()
