"""Every command in README.md, pasted as a user would paste it.

Each shell line of every ```sh block (and of any indented code block) runs in bash, exactly as written, in
a folder prepared with what the commands name: `.venv` (a link to the venv running the tests), a tiny
`model.keras` with `calibration.npz`, `eval.npz` and `train.npz`, and `dist/demo`, made once by the
README's own `edgeship demo` command. A command written as `edgeship ...` finds the venv's bin first on
PATH, as in an activated venv. Each must exit 0 (or the code its comment documents: `# exits 2`).
Each ```python block runs in the venv's Python in the same folder.

What cannot run here is checked another way: `edgeship serve` must print its "Serving ..." line and answer
/api/models, then gets Ctrl+C; a `make TARGET` line runs as `make -n TARGET` in the checkout (the target
exists and would run; `make test` never recurses into itself); GPU commands run with no GPU visible and
must print their notice. Blocks that are not commands (output, tables) are fenced ```text and never run;
a fence without a language fails, so no command can hide in one.

Before anything runs, every block must paste as one intends: bash must parse it, and no `\\` may be
followed by spaces or a comment (that ends the continuation: the next line runs as a command of its own).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from models import CLASSES, quadrant_data

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV = Path(sys.executable).parent.parent  # the venv running the tests, linked as `.venv` in the workspace
# Set for every command run here: a README command that ran the test suite would skip this module instead
# of running the README's commands again, and again.
NESTED = "EDGESHIP_README_TEST_NESTED"

if os.environ.get(NESTED):
    pytest.skip(
        "README commands run the test suite: not running them again inside it", allow_module_level=True
    )

SHELL = {"sh", "bash", "shell"}
RUN = SHELL | {"python"}
SHOWN = {"text", "json", "js", "javascript", "html", "nginx", "toml", "yaml", "diff"}  # never run
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")
BROKEN_CONTINUATION = re.compile(r"\\[ \t]+(#.*)?$")
EXIT_CODE_COMMENT = re.compile(r"#.*\bexits? (\d+)\b")
SERVING = re.compile(r"^Serving .* on (http://\S+/) ")
GPU_OPTION = ("--gpus", "--gpu-memory-limit", "--gpu-memory-growth", "--logical-gpus")
GPU_VARIABLE = ("EDGESHIP_GPUS=", "EDGESHIP_GPU_MEMORY", "EDGESHIP_LOGICAL_GPUS=")
TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    language: str  # the fence's first word, lower case; "sh" for an indented block; "" for a bare fence
    text: str
    line: int  # README line of the block's first line of code


@dataclass(frozen=True)
class Command:
    text: str  # as pasted: continuation lines kept with their backslash-newlines
    line: int  # README line where it starts

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text.replace("\\\n", " "), comments=True)

    @property
    def program(self) -> list[str]:
        """The words after any leading VAR=value assignments, with the program as a bare name."""
        words = self.words
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        return [Path(words[0]).name, *words[1:]] if words else []

    @property
    def expected_exit(self) -> int:
        documented = EXIT_CODE_COMMENT.search(self.text)
        return int(documented.group(1)) if documented else 0

    @property
    def uses_gpu_settings(self) -> bool:
        program = self.program
        return program[:2] == ["edgeship", "gpu"] or (
            program[:1] == ["edgeship"]
            and (
                any(w.startswith(GPU_OPTION) for w in program)
                or any(w.startswith(GPU_VARIABLE) for w in self.words)
            )
        )

    def __str__(self) -> str:
        return f"README.md line {self.line}: {self.text}"


def extract_blocks(markdown: str) -> list[Block]:
    """Fenced blocks (any language) and indented code blocks (shell) in the order they appear."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    previous_blank, in_list, i = True, False, 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            marker = fence.group(1)
            end = i + 1
            while end < len(lines) and not (
                lines[end].strip().startswith(marker) and set(lines[end].strip()) == {marker[0]}
            ):
                end += 1
            blocks.append(Block(fence.group(2).lower(), "\n".join(lines[i + 1 : end]), i + 2))
            i, previous_blank, in_list = end + 1, False, False
            continue
        if line.startswith("    ") and line.strip() and previous_blank and not in_list:
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            while not lines[end - 1].strip():
                end -= 1
            blocks.append(Block("sh", "\n".join(text[4:] for text in lines[i:end]), i + 1))
            i, previous_blank = end, False
            continue
        if line.strip():
            if LIST_ITEM.match(line):
                in_list = True
            elif not line[0].isspace():
                in_list = False
        previous_blank = not line.strip()
        i += 1
    return blocks


def _continues(line: str) -> bool:
    """bash joins a line to the next only when it ends in an unescaped backslash, with nothing after it."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def split_commands(block: Block) -> list[Command]:
    """The commands bash would run, one per line, continuation lines joined; comment lines skipped."""
    commands: list[Command] = []
    current: list[str] = []
    start = block.line
    for offset, line in enumerate(block.text.splitlines()):
        if not current:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = block.line + offset
        current.append(line)
        if not _continues(line):
            commands.append(Command("\n".join(current), start))
            current = []
    if current:
        commands.append(Command("\n".join(current), start))
    return commands


def paste_problems(block: Block) -> list[str]:
    """What goes wrong when the block is pasted, before anything runs: each problem names its line."""
    problems = []
    if block.language == "python":
        try:
            compile(block.text, f"README.md line {block.line}", "exec")
        except SyntaxError as error:
            problems.append(f"README.md line {block.line + (error.lineno or 1) - 1}: not Python: {error.msg}")
        return problems
    parsed = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True, timeout=30)
    if parsed.returncode != 0:
        problems.append(
            f"README.md block at line {block.line}: bash cannot parse it: {parsed.stderr.strip()}"
        )
    for offset, line in enumerate(block.text.splitlines()):
        if BROKEN_CONTINUATION.search(line):
            problems.append(
                f"README.md line {block.line + offset}: a backslash followed by spaces or a comment ends the "
                "command there, and the next line runs as a command of its own; end the line with the "
                "backslash and put the comment on a line of its own"
            )
    for command in split_commands(block):
        if command.text.lstrip().startswith("-"):
            problems.append(f"{command}: starts with an option: the line before it does not continue into it")
    return problems


def user_env() -> dict[str, str]:
    """A user's shell: the venv's bin first on PATH, none of the tests' own settings, no GPU visible."""
    ours = {"TF_USE_LEGACY_KERAS", "KERAS_BACKEND", "TFDF_DISABLE_WELCOME_MESSAGE", "PYTEST_CURRENT_TEST"}
    ours |= {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}  # from `make test-py`, when it runs these tests
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGESHIP_") and k not in ours}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CUDA_VISIBLE_DEVICES"] = "-1"  # GPU commands take their no-GPU path on any machine
    env[NESTED] = "1"
    return env


def run_shell(command: Command, cwd: Path, timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command.text], cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=timeout
    )


def explain(command: Command, done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{command}\nexit {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )


def readme_blocks() -> list[Block]:
    return extract_blocks(README.read_text(encoding="utf-8"))


def readme_commands() -> list[Command]:
    return [
        command for block in readme_blocks() if block.language in SHELL for command in split_commands(block)
    ]


def _param(item: Command | Block) -> object:
    words = item.program[:2] if isinstance(item, Command) else [item.language]
    return pytest.param(item, id=f"line{item.line}-{'-'.join(words)}")


COMMANDS = readme_commands()
MAKE = [_param(c) for c in COMMANDS if c.program[:1] == ["make"]]
SERVE = [_param(c) for c in COMMANDS if c.program[:2] == ["edgeship", "serve"]]
SHELL_RUNS = [
    _param(c) for c in COMMANDS if c.program[:1] != ["make"] and c.program[:2] != ["edgeship", "serve"]
]
PYTHON = [_param(b) for b in readme_blocks() if b.language == "python"]


def is_demo_into_dist_demo(command: Command) -> bool:
    program = command.program
    if program[:2] != ["edgeship", "demo"]:
        return False
    out = program[program.index("--out") + 1] if "--out" in program[:-1] else "dist/demo"
    return out.rstrip("/") == "dist/demo"


# ---------------------------------------------------------------------------------------------------------
# The extractor and the checks on snippets: the README's broken example of before must fail them.

BROKEN = """\
```sh
.venv/bin/edgeship export model.keras --out dist/mymodel \\   # where the export goes
    --calibration calibration.npz --eval eval.npz --train train.npz
```
"""
FIXED = BROKEN.replace(" \\   # where the export goes", " \\")


def test_a_comment_after_a_continuation_backslash_is_refused() -> None:
    [block] = extract_blocks(BROKEN)
    assert paste_problems(block) == [
        "README.md line 2: a backslash followed by spaces or a comment ends the command there, and the next "
        "line runs as a command of its own; end the line with the backslash and put the comment on a line of "
        "its own",
        "README.md line 3:     --calibration calibration.npz --eval eval.npz --train train.npz: starts with an "
        "option: the line before it does not continue into it",
    ]
    # And run as pasted, it fails on its own: the second line is a command bash cannot find.
    _first, second = split_commands(block)
    assert second.text.lstrip().startswith("--calibration")
    assert run_shell(second, ROOT, timeout=30).returncode == 127


def test_a_continued_command_is_one_command() -> None:
    [block] = extract_blocks(FIXED)
    assert paste_problems(block) == []
    [command] = split_commands(block)
    assert command.program[:3] == ["edgeship", "export", "model.keras"] and "--train" in command.words
    assert command.line == 2


def test_blocks_and_what_runs() -> None:
    markdown = (
        "Intro:\n\n    edgeship gpu   # an indented block\n    make lint\n\n"
        "- a list item\n\n    continued, not code\n\n"
        "```text\nvariant  bytes\n```\n\n```\nbare\n```\n\n"
        "```python\nprint(1)\n```\n\n```sh\n# a comment line\nFOO=1 .venv/bin/edgeship demo  # exits 2\n```\n"
    )
    blocks = extract_blocks(markdown)
    assert [(b.language, b.line) for b in blocks] == [
        ("sh", 3),
        ("text", 11),
        ("", 15),
        ("python", 19),
        ("sh", 23),
    ]
    assert [c.text for c in split_commands(blocks[0])] == ["edgeship gpu   # an indented block", "make lint"]
    [demo] = split_commands(blocks[-1])
    assert (demo.line, demo.program, demo.expected_exit) == (24, ["edgeship", "demo"], 2)
    assert is_demo_into_dist_demo(demo) and not demo.uses_gpu_settings
    assert paste_problems(Block("python", "print(", 5)) == [
        "README.md line 5: not Python: '(' was never closed"
    ]


# ---------------------------------------------------------------------------------------------------------
# The README itself, before anything runs.


def test_every_code_block_names_its_language() -> None:
    unnamed = [f"README.md line {b.line - 1}" for b in readme_blocks() if b.language not in RUN | SHOWN]
    assert unnamed == [], "fence commands as ```sh (or ```python) and output as ```text"


def test_every_block_pastes_as_written() -> None:
    problems = [p for block in readme_blocks() if block.language in RUN for p in paste_problems(block)]
    assert problems == []


def test_the_commands_a_user_starts_with_are_found() -> None:
    programs = [c.program[:2] for c in COMMANDS]
    for expected in (
        ["make", "demo"],
        ["edgeship", "export"],
        ["edgeship", "serve"],
        ["edgeship", "build-site"],
    ):
        assert expected in programs


# ---------------------------------------------------------------------------------------------------------
# Running them.


def _tiny_model_and_data(folder: Path) -> None:
    """What the README's export names, small enough that its full command (QAT and TFJS included) is fast."""
    import keras

    keras.utils.set_random_seed(0)
    x_train, y_train = quadrant_data(256, seed=1)
    x_eval, y_eval = quadrant_data(64, seed=2)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(CLASSES, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-2), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    model.save(folder / "model.keras")
    np.savez(folder / "train.npz", x=x_train, y=y_train)
    np.savez(folder / "eval.npz", x=x_eval, y=y_eval)
    np.savez(folder / "calibration.npz", x=x_train[:32])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert (VENV / "bin" / "edgeship").exists(), f"run the tests with the venv's Python: {sys.executable}"
    folder = tmp_path_factory.mktemp("paste")
    (folder / ".venv").symlink_to(VENV, target_is_directory=True)
    _tiny_model_and_data(folder)
    return folder


@dataclass(frozen=True)
class DemoRun:
    command: Command
    done: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def demo(workspace: Path) -> DemoRun:
    """dist/demo, made once (~25 s) by the README's own `edgeship demo` command where it has one."""
    command = next(
        (c for c in COMMANDS if is_demo_into_dist_demo(c)),
        Command(".venv/bin/edgeship demo --out dist/demo", 0),
    )
    done = run_shell(command, workspace)
    assert (workspace / "dist" / "demo" / "manifest.json").is_file(), explain(command, done)
    return DemoRun(command, done)


def check_exit(command: Command, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == command.expected_exit, explain(command, done)
    assert "Traceback" not in done.stderr, explain(command, done)
    if command.uses_gpu_settings:
        assert "Notice: no GPU is visible to TensorFlow" in done.stdout + done.stderr, explain(command, done)


@pytest.mark.parametrize("command", SHELL_RUNS)
def test_command_runs_as_pasted(command: Command, workspace: Path, demo: DemoRun) -> None:
    done = demo.done if command == demo.command else run_shell(command, workspace)
    check_exit(command, done)
    if "--json" in command.words:  # the report, for scripts: JSON and nothing else on stdout
        words = command.words
        printed = (workspace / words[words.index(">") + 1]).read_text() if ">" in words else done.stdout
        assert isinstance(json.loads(printed)["rows"], list), explain(command, done)


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _on_a_free_port_if_taken(text: str) -> str:
    """Another program (another test run) may hold the README's port: then the OS picks one (--port 0)."""
    asked = re.search(r"--port[ =](\d+)", text)
    if not _port_taken(int(asked.group(1)) if asked else 8000):
        return text
    if asked:
        return text[: asked.start()] + "--port 0" + text[asked.end() :]
    return re.sub(r"\bserve\b", "serve --port 0", text, count=1)


@pytest.mark.parametrize("command", SERVE)
def test_serve_prints_its_address_and_answers(command: Command, workspace: Path, demo: DemoRun) -> None:
    server = subprocess.Popen(
        ["bash", "-c", _on_a_free_port_if_taken(command.text)],
        cwd=workspace, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, which gets the Ctrl+C
        # A pytest started in the background (`cmd &` in a script) inherits SIGINT ignored, and so would the
        # server: give it the default a terminal's user has, so that Ctrl+C stops it as it would them.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    output: list[str] = []
    url = None
    deadline = time.monotonic() + 120
    try:
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            output.append(line)
            serving = SERVING.match(line)
            url = serving.group(1) if serving else None
        assert url, f"{command}\nno 'Serving ...' line; output:\n{''.join(output)}"
        with urllib.request.urlopen(url + "api/models", timeout=30) as answer:
            assert answer.status == 200 and isinstance(json.loads(answer.read()), (list, dict))
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 0, f"{command}\nexit {server.returncode} after Ctrl+C:\n{''.join(output)}"


@pytest.mark.parametrize("command", MAKE)
def test_make_target_exists_and_would_run(command: Command) -> None:
    """A dry run in the checkout: `make test` here would run this test again, and installs things."""
    targets = [w for w in command.program[1:] if not w.startswith("-") and "=" not in w]
    assert targets, f"{command}: names no target"
    done = subprocess.run(
        ["make", "-n", *command.program[1:]],
        cwd=ROOT,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip(), explain(command, done)


@pytest.mark.parametrize("block", PYTHON)
def test_python_block_runs(block: Block, workspace: Path) -> None:
    script = workspace / f"readme_line_{block.line}.py"
    script.write_text(block.text + "\n", encoding="utf-8")
    done = subprocess.run(
        [str(workspace / ".venv" / "bin" / "python"), script.name],
        cwd=workspace, env=user_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, explain(Command(block.text, block.line), done)
