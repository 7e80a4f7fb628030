"""`edgeship gpu`: devices, the effective configuration with its sources, and memory in use."""

from __future__ import annotations

import os

from exporter.gpu.config import GPUS, MEMORY_GROWTH, MEMORY_LIMIT, SETTINGS, GpuConfig, Source, _Setting
from exporter.gpu.devices import _import_tf, _nvidia_smi, _state


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
