#!/usr/bin/env python3.11
"""Set up the project's virtual environment, then run the pipeline or the tests.

    python3.11 scripts/bootstrap.py run  [wmp run options]   # set up + weekly job end to end
    python3.11 scripts/bootstrap.py test [pytest options]    # set up + the whole test suite

Standard library only, so it works on a fresh machine with Python 3.11 and the
package registries. It creates ``.venv`` beside the project, installs the
project with its development extras, and reinstalls only when
``pyproject.toml`` changes. The dbt manifest is built by ``wmp run`` (dbt
parse) and by the test session's fixture.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".wmp-installed"


def _python311() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is required (this is {sys.version.split()[0]}): run it as python3.11 scripts/bootstrap.py ...")


def _install_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = _install_stamp()
    if STAMP.exists() and STAMP.read_text() == stamp:
        return
    print("Installing the project and its pinned dependencies (a few minutes the first time) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "--quiet", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(stamp)


def main(argv: list[str]) -> int:
    _python311()
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if argv[0] == "run":
        return subprocess.call([str(BIN / "wmp"), "run", *argv[1:]], cwd=ROOT, env=env)
    code = subprocess.call([str(BIN / "python"), "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)
    if code == 5:  # pytest: no tests collected is a failure for this project
        print("pytest collected no tests", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
