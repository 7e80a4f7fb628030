"""Applying a GPU configuration to TensorFlow before it initialises its devices, and the strategy that
training runs under."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.errors import GpuConfigError
from exporter.gpu.config import (
    GPUS,
    LOGICAL_GPUS,
    MEMORY_GROWTH,
    MEMORY_LIMIT,
    SETTINGS,
    GpuConfig,
    GpuInfo,
    Source,
    _config,
    _Setting,
    check,
    plan,
)


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
