"""The stack edgeship installs: today's TensorFlow, and none of what the Python tensorflowjs package pinned.

tensorflowjs 4.22 pins tensorflow-decision-forests 1.12, which pins tensorflow 2.19 and brings ydf, jax and flax
(docs/STACK.md). TFJS output is checked with @tensorflow/tfjs itself; the official converter lives only in the
benchmark's own venv (bench/official.lock). These tests read the files that decide what a user and CI install.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = {"tensorflowjs", "tensorflow-decision-forests", "ydf", "jax", "jaxlib", "flax", "pandas"}
PINNED = {"tensorflow": "2.21.0", "tf-keras": "2.21.0", "keras": "3.15.1", "ai-edge-litert": "2.3.0"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_name(name)] = version.strip()
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_lock_pins_todays_stack_and_nothing_tensorflowjs_pulled_in():
    lock = _lock()
    assert {name: lock.get(name) for name in PINNED} == PINNED
    assert sorted(LEFT_OUT & set(lock)) == []


def test_the_package_depends_on_todays_stack_and_not_on_tensorflowjs():
    project = _pyproject()["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    assert sorted(LEFT_OUT & {_name(r) for r in requirements}) == []
    assert {f"{name}=={version}" for name, version in PINNED.items()} <= {
        r.split("#")[0].strip() for r in project["dependencies"]
    }


def test_every_direct_dependency_is_pinned_in_the_lock():
    project = _pyproject()["project"]
    lock = _lock()
    names = {_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]}
    assert sorted(names - set(lock)) == []


def test_the_python_versions_claimed_are_those_docs_stack_checked():
    project = _pyproject()["project"]
    assert project["requires-python"] == ">=3.11"
    claimed = sorted(c.rsplit(" ", 1)[1] for c in project["classifiers"] if re.search(r":: 3\.\d+$", c))
    assert claimed == ["3.11", "3.12", "3.13"]
    stack = (ROOT / "docs" / "STACK.md").read_text()
    assert all(version in stack for version in claimed)


def test_the_official_tools_are_pinned_in_their_own_lock_only():
    official = (ROOT / "bench" / "official.lock").read_text()
    assert "tensorflowjs==4.22.0" in official
    assert "tensorflow==2.19.0" in official
