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

from exporter.gpu.config import (
    GPUS,
    LOGICAL_GPUS,
    MEMORY_GROWTH,
    MEMORY_LIMIT,
    SETTINGS,
    GpuConfig,
    GpuInfo,
    Plan,
    Source,
    argument_parser,
    check,
    config_from,
    plan,
)
from exporter.gpu.devices import apply, configure, distribution_strategy, visible_cards
from exporter.gpu.report import describe, format_config

__all__ = [
    "GPUS",
    "LOGICAL_GPUS",
    "MEMORY_GROWTH",
    "MEMORY_LIMIT",
    "SETTINGS",
    "GpuConfig",
    "GpuInfo",
    "Plan",
    "Source",
    "apply",
    "argument_parser",
    "check",
    "config_from",
    "configure",
    "describe",
    "distribution_strategy",
    "format_config",
    "plan",
    "visible_cards",
]
