#!/usr/bin/env python3
"""`make dist`: build the production wheel into OUTDIR (default dist/).

The wheel is built from a copy of the work tree (without .git, the venv, caches and instance
data), so a stale build/ folder or egg-info in the tree can never add files to it, and with the
build backend pinned in requirements/lock.txt (no build isolation, nothing fetched unpinned).
Compile the catalogues first (`make translations`): the wheel carries the .mo files, not the .po
sources. Prints the wheel's path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(
    ".git",
    ".venv",
    "instance",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "test-results",
)


def build_wheel(outdir: Path) -> Path:
    """Build the wheel into outdir and return its path; raise CalledProcessError on failure."""
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("sankaku-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="sankaku-build-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(ROOT, source, ignore=LEFT_OUT, symlinks=True)
        subprocess.run(  # noqa: S603 - a fixed command: this interpreter's pip, no shell
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                str(outdir),
                str(source),
            ],
            check=True,
        )
    (wheel,) = outdir.glob("sankaku-*.whl")
    return wheel


if __name__ == "__main__":
    print(build_wheel(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"))
