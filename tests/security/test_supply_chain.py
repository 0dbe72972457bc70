"""Dependencies are pinned with hashes and installed only from the lock (security.md A58).

requirements/lock.txt (`make lock`) pins every distribution of the runtime, the test extra, pip
and the build backend to one version with its sha256 hashes; requirements/bench-lock.txt adds
the bench extra at the same versions, requirements/runtime-lock.txt holds the same versions of
the runtime alone (a production venv, without test tools), requirements/uv.txt pins the lock
tool. `make venv`
installs the lock with `pip install --require-hashes` and then the project with `--no-deps`, so
every distribution in the venv is pinned and hash-checked. The audit of what is installed runs
on every CI run in tests/security/test_pip_audit.py; the fix deadlines are in
docs/operations.md ("Dependencies").
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
LOCK = REQUIREMENTS / "lock.txt"
BENCH_LOCK = REQUIREMENTS / "bench-lock.txt"
RUNTIME_LOCK = REQUIREMENTS / "runtime-lock.txt"
LOCKS = (LOCK, BENCH_LOCK, RUNTIME_LOCK, REQUIREMENTS / "uv.txt")
# The project itself (installed editable from the tree) and the installer's own tools, which a
# new venv brings along before the lock is installed (the lock pins them too).
NOT_FROM_THE_LOCK = {"sankaku", "pip", "setuptools", "wheel"}
PINNED = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)"
    r"(?P<hashes>(?:\s+--hash=sha256:[0-9a-f]{64})+)$"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, str]:
    """Name -> version of a hash-pinned lock; ValueError names the first entry that is not
    `name==version` with at least one sha256 hash (a range, an editable, a URL, an option)."""
    pins: dict[str, str] = {}
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        match = PINNED.match(entry)
        if not match:
            raise ValueError(f"not pinned with a hash: {entry[:120]}")
        pins[canonical(match["name"])] = match["version"]
    if not pins:
        raise ValueError("the lock is empty")
    return pins


def unlocked(installed: dict[str, str], locked: dict[str, str]) -> list[str]:
    """Installed distributions missing from the lock or at another version than it pins."""
    return sorted(
        f"{name} {version} (lock: {locked.get(name, 'absent')})"
        for name, version in installed.items()
        if name not in NOT_FROM_THE_LOCK and locked.get(name) != version
    )


def read(path: Path) -> dict[str, str]:
    return parse_lock(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_lock_entry_is_pinned_with_a_hash(lock):
    assert read(lock)


def test_every_installed_distribution_comes_from_the_lock():
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    locked = read(LOCK)
    extra = read(BENCH_LOCK)  # `make bench` adds Locust and its dependencies, from its lock
    assert {name: extra[name] for name in locked} == locked, "bench-lock.txt disagrees with lock"
    assert unlocked(installed, extra) == []


def _declared() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = project["project"]["optional-dependencies"]
    return {
        "runtime": project["project"]["dependencies"],
        "test": extras["test"] + project["build-system"]["requires"],
        "bench": extras.get("bench", []),
    }


def test_every_declared_dependency_is_locked_within_its_range():
    declared = _declared()
    main = declared["runtime"] + declared["test"]
    for lock, requirements in (
        (LOCK, main),
        (BENCH_LOCK, main + declared["bench"]),
        (RUNTIME_LOCK, declared["runtime"]),
    ):
        pins = read(lock)
        for text in requirements:
            requirement = Requirement(text)
            name = canonical(requirement.name)
            assert name in pins, f"{requirement.name} is not in {lock.name}: run `make lock`"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{lock.name} pins {name} {pins[name]} outside {requirement.specifier}"
            )


def test_the_runtime_lock_is_the_lock_without_the_tools():
    """Same versions as the lock, and no test, lint or build tool in a production venv."""
    locked, runtime = read(LOCK), read(RUNTIME_LOCK)
    assert {name: locked.get(name) for name in runtime} == runtime
    tools = {canonical(Requirement(text).name) for text in _declared()["test"]}
    assert tools, "the test extra names the tools"
    assert sorted(tools & runtime.keys()) == []


def pip_installs(text: str) -> list[str]:
    """`pip install` commands (continuation lines joined) that neither check hashes nor
    install only the project itself without its dependencies."""
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if re.search(r"\bpip\b.*\binstall\b", line)
        and "--require-hashes" not in line
        and not re.search(r"--no-deps\b.*(-e|--editable) \.(\s|$)", line)
    ]


def test_the_venv_installs_only_from_the_lock():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "LOCK := requirements/lock.txt" in makefile
    assert re.search(r"^\$\(VENV\)/\.installed: .*\$\(LOCK\)", makefile, re.MULTILINE), (
        "the venv must be rebuilt when the lock changes"
    )
    assert re.search(r"pip install .*--require-hashes -r \$\(LOCK\)", makefile)
    assert re.search(r"pip install .*--no-deps .*-e \.", makefile)
    scripts = [ROOT / "Makefile", *sorted((ROOT / "scripts").glob("*.sh"))]
    for path in scripts:
        assert pip_installs(path.read_text(encoding="utf-8")) == [], path.name


def test_fix_deadlines_are_documented():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Dependencies", 1)[1].split("\n## ", 1)[0]
    for needed in ("make lock", "--require-hashes", "test_pip_audit.py", "7 days", "30 days"):
        assert needed in section, needed


def test_the_oracles_can_fail():
    """Unpinned or hash-less entries, strays in the venv and unchecked installs are caught."""
    good = "flask==3.1.3 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via sankaku\n"
    assert parse_lock(good) == {"flask": "3.1.3"}
    for bad in (
        "flask==3.1.3\n",
        "flask>=3 --hash=sha256:" + "a" * 64,
        "-e .\n",
        "--index-url https://example.org/simple\n",
        "flask @ https://example.org/flask.whl\n",
        "flask==3.1.3 --hash=md5:" + "a" * 32,
        "# only comments\n",
    ):
        with pytest.raises(ValueError, match=r"not pinned|empty"):
            parse_lock(bad)
    locked = {"flask": "3.1.3"}
    assert unlocked({"flask": "3.1.3", "sankaku": "0.1.0", "pip": "26.3"}, locked) == []
    assert unlocked({"flask": "3.1.2", "left-over": "1.0"}, locked) == [
        "flask 3.1.2 (lock: 3.1.3)",
        "left-over 1.0 (lock: absent)",
    ]
    assert (
        pip_installs("pip install -q --require-hashes -r x.txt\npip install --no-deps -e .") == []
    )
    assert pip_installs("pip install -q -e '.[bench]'") != []
    assert pip_installs("python -m pip install \\\n  --upgrade pip") != []
    assert pip_installs("pip install --no-deps -e '.[test]' flask") != []
