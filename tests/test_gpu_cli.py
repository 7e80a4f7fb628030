"""`edgeship gpu` and the GPU options through the real command line, in subprocesses.

CUDA_VISIBLE_DEVICES=-1 makes "no GPU" hold on any machine, GPU or not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeship import cli

EDGESHIP = Path(sys.executable).with_name("edgeship")
ROOT = Path(__file__).resolve().parents[1]


def edgeship(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGESHIP_")}
    return subprocess.run(
        [str(EDGESHIP), *argv],
        cwd=ROOT,
        env={**clean, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (
            ["--gpu-memory-growth", "--gpu-memory-limit", "100"],
            {},
            "GpuConfigError: memory growth (--gpu-memory-growth) and a memory limit of 100 MiB "
            "(--gpu-memory-limit) cannot both apply to one GPU: TensorFlow takes one or the other; drop "
            "one of them",
        ),
        (
            ["--gpu-memory-limit", "100"],
            {"EDGESHIP_GPU_MEMORY_GROWTH": "1"},
            "GpuConfigError: memory growth (EDGESHIP_GPU_MEMORY_GROWTH) and a memory limit of 100 MiB "
            "(--gpu-memory-limit) cannot both apply to one GPU: TensorFlow takes one or the other; drop "
            "one of them",
        ),
        (
            ["--logical-gpus", "2:x"],
            {},
            'GpuConfigError: --logical-gpus "2:x": expected N or N:MiB with N at least 1, such as 2 or '
            "2:4096",
        ),
    ],
)
def test_a_bad_gpu_option_is_one_line_and_exit_2(argv: list[str], env: dict[str, str], line: str) -> None:
    done = edgeship("gpu", *argv, **env)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")


def test_main_in_process_maps_the_error_to_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gpu", "--gpus", "0,0"]) == 2
    assert capsys.readouterr().err == 'GpuConfigError: --gpus "0,0": GPU 0 is listed twice\n'


def notices(stderr: str) -> list[str]:
    # TensorFlow's own C++ start-up lines may share stderr; only edgeship's notices count here.
    return [line for line in stderr.splitlines() if line.startswith("Notice:")]


def test_edgeship_gpu_without_a_gpu_prints_devices_and_a_notice() -> None:
    done = edgeship("gpu", CUDA_VISIBLE_DEVICES="-1")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("TensorFlow ")
    assert out[1:5] == ["Physical devices:", "  CPU:0", "Logical devices:", "  CPU:0"]
    assert "  gpus           all                (default)" in out
    assert out[-1] == "Notice: no GPU is visible to TensorFlow; edgeship runs on the CPU."
    assert notices(done.stderr) == []


def test_gpu_options_without_a_gpu_give_one_notice_and_split_the_cpu() -> None:
    done = edgeship(
        "gpu",
        "--logical-gpus",
        "3",
        CUDA_VISIBLE_DEVICES="-1",
        EDGESHIP_LOGICAL_GPUS="5",
        EDGESHIP_GPU_MEMORY_LIMIT="2048",
    )
    assert done.returncode == 0, done.stderr
    assert notices(done.stderr) == [
        "Notice: no GPU is visible to TensorFlow, so edgeship runs on the CPU, split into 3 logical CPU "
        "devices; "
        "ignored: EDGESHIP_GPU_MEMORY_LIMIT."
    ]
    out = done.stdout.splitlines()
    logical = out.index("Logical devices:")
    assert out[logical + 1 : logical + 5] == ["  CPU:0", "  CPU:1", "  CPU:2", "Configuration:"]
    assert "  memory limit   2048 MiB           (environment EDGESHIP_GPU_MEMORY_LIMIT)" in out
    assert "  logical gpus   3                  (flag --logical-gpus)" in out
    assert not any(line.startswith("Notice:") for line in out)  # one notice in all
