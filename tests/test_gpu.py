"""exporter.gpu: configuration logic and every error without a GPU; the logical split for real on the CPU;
and, marked `gpu`, the cap, growth and logical GPUs on a real GPU.

TensorFlow fixes its devices once per process, so everything that initialises TensorFlow runs in a
subprocess; importing this module and the in-process tests never import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exporter import gpu
from exporter.errors import GpuConfigError
from exporter.gpu import GpuConfig, GpuInfo, Plan, Source
from exporter.gpu import config as gpu_config

ROOT = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    return gpu.argument_parser().parse_args(list(argv))


def run_python(code: str, **env: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last stdout line."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- parsing and errors


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            ["--gpus", "x"],
            {},
            '--gpus "x": expected GPU indices separated by commas (such as 1 or 0,2), "all" or "none"',
        ),
        (
            [],
            {"EDGESHIP_GPUS": "-1"},
            'EDGESHIP_GPUS="-1": expected GPU indices separated by commas (such as 1 or 0,2), "all" or '
            '"none"',
        ),
        (["--gpus", "0,1,0"], {}, '--gpus "0,1,0": GPU 0 is listed twice'),
        (
            ["--gpu-memory-limit", "1.5"],
            {},
            '--gpu-memory-limit "1.5": expected a whole number of MiB above 0, such as 4096',
        ),
        (
            [],
            {"EDGESHIP_GPU_MEMORY_LIMIT": "0"},
            'EDGESHIP_GPU_MEMORY_LIMIT="0": expected a whole number of MiB above 0, such as 4096',
        ),
        (
            [],
            {"EDGESHIP_GPU_MEMORY_GROWTH": "maybe"},
            'EDGESHIP_GPU_MEMORY_GROWTH="maybe": expected one of 1, true, yes, on, 0, false, no, off',
        ),
        *[
            (
                ["--logical-gpus", text],
                {},
                f'--logical-gpus "{text}": expected N or N:MiB with N at least 1, such as 2 or 2:4096',
            )
            for text in ("0", "2:", "2:0", "2:x", "two", ":512")
        ],
        (
            ["--gpu-memory-growth", "--gpu-memory-limit", "100"],
            {},
            "memory growth (--gpu-memory-growth) and a memory limit of 100 MiB (--gpu-memory-limit) cannot "
            "both apply to one GPU: TensorFlow takes one or the other; drop one of them",
        ),
        (
            ["--gpu-memory-limit", "100"],
            {"EDGESHIP_GPU_MEMORY_GROWTH": "yes"},
            "memory growth (EDGESHIP_GPU_MEMORY_GROWTH) and a memory limit of 100 MiB (--gpu-memory-limit) "
            "cannot both apply to one GPU: TensorFlow takes one or the other; drop one of them",
        ),
        (
            ["--gpu-memory-growth"],
            {"EDGESHIP_LOGICAL_GPUS": "2"},
            "memory growth (--gpu-memory-growth) and 2 logical GPUs (EDGESHIP_LOGICAL_GPUS) cannot both "
            "apply to one GPU: logical GPUs have fixed sizes; drop one of them",
        ),
        (
            ["--logical-gpus", "2:600", "--gpu-memory-limit", "1000"],
            {},
            "2 logical GPUs of 600 MiB (--logical-gpus) need 1200 MiB, more than the memory limit of 1000 "
            "MiB (--gpu-memory-limit): lower one of them",
        ),
    ],
)
def test_config_errors(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(GpuConfigError) as caught:
        gpu.config_from(parse(*argv), environ)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"gpus": "first"},
            "configure(gpus='first'): expected GPU indices separated by commas (such as 1 or "
            '0,2), "all" or "none"',
        ),
        (
            {"memory_limit_mib": -5},
            "configure(memory_limit_mib='-5'): expected a whole number of MiB above 0, such as 4096",
        ),
        (
            {"memory_growth": True, "memory_limit_mib": 512},
            "memory growth (configure(memory_growth=...)) and a memory limit of 512 MiB "
            "(configure(memory_limit_mib=...)) cannot both apply to one GPU: TensorFlow takes one or the "
            "other; drop one of them",
        ),
    ],
)
def test_configure_errors_name_the_keyword(kwargs: dict, message: str) -> None:
    with pytest.raises(GpuConfigError) as caught:
        gpu.configure(**kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, GpuConfig()),
        (["--gpus", "none"], {}, GpuConfig(gpus=(), sources=(("gpus", Source.FLAG),))),
        ([], {"EDGESHIP_GPUS": " ALL "}, GpuConfig(gpus=None, sources=(("gpus", Source.ENV),))),
        (
            ["--gpus", "1, 0"],
            {"EDGESHIP_GPUS": "3"},
            GpuConfig(gpus=(1, 0), sources=(("gpus", Source.FLAG),)),
        ),
        (
            ["--gpu-memory-limit", "2048"],
            {"EDGESHIP_GPU_MEMORY_LIMIT": "9999", "EDGESHIP_GPU_MEMORY_GROWTH": ""},
            GpuConfig(memory_limit_mib=2048, sources=(("memory_limit", Source.FLAG),)),
        ),
        (
            ["--no-gpu-memory-growth", "--gpu-memory-limit", "64"],
            {"EDGESHIP_GPU_MEMORY_GROWTH": "1"},
            GpuConfig(
                memory_limit_mib=64, sources=(("memory_limit", Source.FLAG), ("memory_growth", Source.FLAG))
            ),
        ),
        (
            [],
            {"EDGESHIP_LOGICAL_GPUS": "4:1024", "EDGESHIP_GPU_MEMORY_GROWTH": "off"},
            GpuConfig(
                logical_gpus=4,
                logical_gpu_mib=1024,
                sources=(("memory_growth", Source.ENV), ("logical_gpus", Source.ENV)),
            ),
        ),
        # --gpus none: the memory options have no GPU to conflict on (apply ignores them with a notice)
        (
            ["--gpus", "none", "--gpu-memory-growth", "--gpu-memory-limit", "10"],
            {},
            GpuConfig(
                gpus=(),
                memory_limit_mib=10,
                memory_growth=True,
                sources=(
                    ("gpus", Source.FLAG),
                    ("memory_limit", Source.FLAG),
                    ("memory_growth", Source.FLAG),
                ),
            ),
        ),
    ],
)
def test_flags_win_over_environment_which_wins_over_defaults(
    argv: list[str], environ: dict[str, str], expected: GpuConfig
) -> None:
    assert gpu.config_from(parse(*argv), environ) == expected


def test_format_config_shows_each_value_and_its_source() -> None:
    config = gpu.config_from(
        parse("--logical-gpus", "3"), {"EDGESHIP_LOGICAL_GPUS": "5", "EDGESHIP_GPU_MEMORY_LIMIT": "2048"}
    )
    assert gpu.format_config(config).splitlines() == [
        "  gpus           all                (default)",
        "  memory limit   2048 MiB           (environment EDGESHIP_GPU_MEMORY_LIMIT)",
        "  memory growth  off                (default)",
        "  logical gpus   3                  (flag --logical-gpus)",
    ]


def test_format_config_for_the_python_api() -> None:
    config = gpu_config._config({gpu.GPUS: ("none", Source.API, "configure(gpus=...)")})
    assert gpu.format_config(config).splitlines()[0] == (
        "  gpus           none (CPU only)    (api configure(gpus=...))"
    )


def test_a_command_without_gpu_options_ignores_the_environment() -> None:
    # `serve` runs no TensorFlow: its parser lacks the options, and a bad variable must not break it.
    serve_args = argparse.Namespace(directory=Path("dist"), host="127.0.0.1", port=8000)
    assert gpu.config_from(serve_args, {"EDGESHIP_GPUS": "nonsense"}) == GpuConfig()


CARDS = [GpuInfo("Card A", 16384, 15000), GpuInfo("Card B", 8192, 8000)]


@pytest.mark.parametrize(
    ("argv", "cards", "message"),
    [
        (
            ["--gpus", "2"],
            CARDS,
            "GPU 2 (--gpus) does not exist: this process sees 2 GPUs (0-1); run `edgeship gpu` to list them",
        ),
        (
            ["--gpus", "0,1"],
            CARDS[:1],
            "GPU 1 (--gpus) does not exist: this process sees 1 GPU (0); run `edgeship gpu` to list them",
        ),
        (
            ["--gpu-memory-limit", "10000"],
            CARDS,
            "the memory limit of 10000 MiB (--gpu-memory-limit) is larger than GPU 1 (Card B, 8192 MiB): "
            "give at most 8192",
        ),
        (
            ["--logical-gpus", "2:5000"],
            CARDS,
            "2 logical GPUs of 5000 MiB (--logical-gpus) need 10000 MiB, more than GPU 1 (Card B, 8192 MiB): "
            "lower N or the size",
        ),
        (
            ["--logical-gpus", "3"],
            [GpuInfo("GPU 0")],
            "3 logical GPUs (--logical-gpus) need a size, and the GPU's free memory is unknown (no "
            "nvidia-smi): give --logical-gpus 3:MiB or --gpu-memory-limit",
        ),
        (
            ["--logical-gpus", "200", "--gpu-memory-limit", "100"],
            CARDS,
            "200 logical GPUs (--logical-gpus) would get under 1 MiB each: lower N",
        ),
    ],
)
def test_plan_errors_against_the_cards(argv: list[str], cards: list[GpuInfo], message: str) -> None:
    with pytest.raises(GpuConfigError) as caught:
        gpu.plan(gpu.config_from(parse(*argv), {}), cards)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("argv", "cards", "expected"),
    [
        (["--gpus", "1", "--gpu-memory-limit", "8192"], CARDS, Plan((1,), 8192, False, ())),
        (["--gpu-memory-limit", "4096"], [GpuInfo("GPU 0")], Plan(None, 4096, False, ())),  # size unknown
        (["--gpu-memory-growth"], CARDS, Plan(None, None, True, ())),
        (["--logical-gpus", "2", "--gpu-memory-limit", "1001"], CARDS, Plan(None, None, False, (500, 500))),
        (["--logical-gpus", "2", "--gpus", "1"], CARDS, Plan((1,), None, False, (3600, 3600))),  # 90 % free
        (["--logical-gpus", "3:1024"], CARDS, Plan(None, None, False, (1024, 1024, 1024))),
    ],
)
def test_plan_resolves_sizes(argv: list[str], cards: list[GpuInfo], expected: Plan) -> None:
    assert gpu.plan(gpu.config_from(parse(*argv), {}), cards) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, CARDS),
        ({"CUDA_VISIBLE_DEVICES": "1"}, CARDS[1:]),
        ({"CUDA_VISIBLE_DEVICES": "1,7,0"}, CARDS[1:]),  # CUDA stops at the first invalid entry
        ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
        ({"CUDA_VISIBLE_DEVICES": ""}, []),
        ({"CUDA_VISIBLE_DEVICES": "GPU-5e1f"}, [GpuInfo("GPU-5e1f", 16384, 15000)]),  # UUID: largest card
        ({"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}, [GpuInfo("0", 16384, 15000), GpuInfo("1", 16384, 15000)]),
    ],
)
def test_visible_cards_follow_cuda_visible_devices(environ: dict[str, str], expected: list[GpuInfo]) -> None:
    assert gpu.visible_cards(environ, CARDS) == expected


def test_a_default_config_does_not_import_tensorflow() -> None:
    result = run_python(
        """
        import json, os, sys
        from edgeship import cli
        from exporter import gpu
        for argv in (["gpu"], ["serve", "dist"]):
            args = cli.build_parser().parse_args(argv)
            assert gpu.apply(gpu.config_from(args, os.environ)) == []
        print(json.dumps({"tensorflow": "tensorflow" in sys.modules}))
        """,
        EDGESHIP_GPUS="",
    )
    assert result == {"tensorflow": False}


# ------------------------------------------------------------------------------- for real, on the CPU


def test_logical_split_on_the_cpu_runs_an_op_on_each_device_and_cannot_be_changed_later() -> None:
    result = run_python(
        """
        import json
        from exporter import gpu
        from exporter.errors import GpuConfigError
        notices = gpu.configure(gpus="none", logical_gpus=3)
        import tensorflow as tf
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        placed = []
        for name in devices:
            with tf.device(name):
                placed.append(tf.reduce_sum(tf.ones([4, 4]) * 2.0).device)
        strategy = gpu.distribution_strategy()
        total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
        try:
            gpu.configure(gpus="none", logical_gpus=2)
            late = None
        except GpuConfigError as error:
            late = str(error)
        print(json.dumps({
            "notices": notices, "devices": devices, "placed": placed,
            "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
            "total": float(total), "late": late,
        }))
        """
    )
    assert result["notices"] == [
        "Notice: every GPU is hidden (configure(gpus=...)), so edgeship runs on the CPU, split into 3 "
        "logical CPU devices."
    ]
    assert result["devices"] == ["/device:CPU:0", "/device:CPU:1", "/device:CPU:2"]
    assert [name.rsplit("/", 1)[-1] for name in result["placed"]] == [
        "device:CPU:0",
        "device:CPU:1",
        "device:CPU:2",
    ]
    assert (result["strategy"], result["replicas"], result["total"]) == ("MirroredStrategy", 3, 3.0)
    assert result["late"] == (
        "TensorFlow already initialised its devices (Virtual devices cannot be modified after being "
        "initialized), so GPU options can no longer change them: give them on the command line, or call "
        "exporter.gpu.configure() before anything runs TensorFlow"
    )


# ------------------------------------------------------------------------------------ on a real GPU


@pytest.fixture(scope="module")
def needs_gpu() -> None:
    """Skip unless TensorFlow sees a GPU, asked in a subprocess so that this process never starts TF."""
    if shutil.which("nvidia-smi") is None and not Path("/dev/nvidiactl").exists():
        pytest.skip("no GPU here: no NVIDIA driver (neither nvidia-smi nor /dev/nvidiactl)")
    found = run_python(
        """
        import json
        import tensorflow as tf
        print(json.dumps({"gpus": len(tf.config.list_physical_devices("GPU"))}))
        """
    )
    if not found["gpus"]:
        pytest.skip("no GPU here: TensorFlow lists no physical GPU")


def card_used_mib() -> int:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "--id=0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(float(out.strip()))


@pytest.mark.gpu
def test_gpu_memory_limit_holds(needs_gpu: None) -> None:
    result = run_python(
        """
        import json
        from exporter import gpu
        gpu.configure(gpus=0, memory_limit_mib=1024)
        import tensorflow as tf
        with tf.device("/GPU:0"):
            within = tf.ones([256 * 2**20 // 4])  # 256 MiB
            float(tf.reduce_sum(within))
            try:
                beyond = tf.ones([2048 * 2**20 // 4])  # 2 GiB, twice the cap
                float(tf.reduce_sum(beyond))
                error = None
            except tf.errors.ResourceExhaustedError as exhausted:
                error = type(exhausted).__name__
            after = float(tf.reduce_sum(tf.ones([1024])))  # still usable after the failure
        info = tf.config.experimental.get_memory_info("GPU:0")
        print(json.dumps({"error": error, "after": after, "peak": info["peak"]}))
        """
    )
    assert result["error"] == "ResourceExhaustedError"
    assert result["after"] == 1024.0
    assert 256 * 2**20 <= result["peak"] <= 1024 * 2**20


@pytest.mark.gpu
def test_gpu_memory_growth_starts_small(needs_gpu: None) -> None:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("needs nvidia-smi to read the card's memory in use")
    code = """
        import json, subprocess
        from exporter import gpu
        gpu.configure(gpus=0, memory_growth={growth})
        import tensorflow as tf
        with tf.device("/GPU:0"):
            float(tf.reduce_sum(tf.ones([1024])))
        used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total",
                               "--format=csv,noheader,nounits", "--id=0"],
                              capture_output=True, text=True, check=True).stdout
        print(json.dumps({{"used_total": [int(float(v)) for v in used.split(",")]}}))
        """
    before = card_used_mib()
    grown = run_python(code.format(growth=True))["used_total"]
    greedy = run_python(code.format(growth=False))["used_total"]
    total = grown[1]
    assert grown[0] - before < 2048, f"with growth: {grown[0] - before} MiB taken for a 4 KiB tensor"
    assert greedy[0] - before > total // 2, "control without growth should take most of the card"


@pytest.mark.gpu
def test_logical_gpus_appear_and_each_runs_an_op(needs_gpu: None) -> None:
    result = run_python(
        """
        import json
        from exporter import gpu
        gpu.configure(gpus=0, logical_gpus="2:1024")
        import tensorflow as tf
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        placed = []
        for name in devices:
            with tf.device(name):
                placed.append(tf.reduce_sum(tf.ones([64, 64])).device)
        strategy = gpu.distribution_strategy()
        total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
        print(json.dumps({"devices": devices, "placed": placed, "replicas": strategy.num_replicas_in_sync,
                          "total": float(total)}))
        """
    )
    assert result["devices"] == ["/device:GPU:0", "/device:GPU:1"]
    assert [name.rsplit("/", 1)[-1] for name in result["placed"]] == ["device:GPU:0", "device:GPU:1"]
    assert (result["replicas"], result["total"]) == (2, 2.0)


@pytest.mark.gpu
def test_gpu_errors_on_a_real_card(needs_gpu: None) -> None:
    edgeship = Path(sys.executable).with_name("edgeship")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    missing = subprocess.run([edgeship, "gpu", "--gpus", "99"], capture_output=True, text=True, env=env)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        .splitlines()[-1]
        .startswith("GpuConfigError: GPU 99 (--gpus) does not exist: this process sees ")
    )
    if shutil.which("nvidia-smi"):
        huge = subprocess.run(
            [edgeship, "gpu", "--gpu-memory-limit", "100000000"], capture_output=True, text=True, env=env
        )
        assert huge.returncode == 2
        assert huge.stderr.strip().startswith(
            "GpuConfigError: the memory limit of 100000000 MiB (--gpu-memory-limit) is larger than GPU 0 ("
        )
    late = run_python(
        """
        import json
        import tensorflow as tf
        tf.config.list_logical_devices()
        from exporter import gpu
        from exporter.errors import GpuConfigError
        try:
            gpu.configure(memory_limit_mib=1024)
            message = None
        except GpuConfigError as error:
            message = str(error)
        print(json.dumps({"message": message}))
        """
    )
    assert late["message"].startswith("TensorFlow already initialised its devices (")
