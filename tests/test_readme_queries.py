"""Every Python and SQL example of "Querying the outputs" runs as written.

The examples live in ``docs/querying.md`` (all of its ``python`` and ``sql``
blocks) and, once the section is merged there, in the README's "Querying
the outputs" section; a file without that section is skipped. They run
against the analyst file the ``tiny_run`` fixture publishes (the whole weekly
job on the tiny preset): Python blocks in a fresh interpreter whose working
folder holds ``data/analyst/wmp_analyst.duckdb`` (a link to that file) and
whose environment points the settings at it; SQL blocks on a read-only
connection.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from wmp_pipeline.settings import PROJECT_ROOT

SECTION = "Querying the outputs"
SOURCES = (PROJECT_ROOT / "docs" / "querying.md", PROJECT_ROOT / "README.md")
_BLOCK = re.compile(r"^```(python|sql)[ \t]*\n(.*?)^```", re.S | re.M)


def section_text(text: str, title: str) -> str | None:
    """The body of the markdown section ``title`` (to the next heading of the same or a higher level)."""
    m = re.search(rf"^(#+)\s+{re.escape(title)}\s*$", text, re.M)
    if not m:
        return None
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(rf"^#{{1,{level}}}\s", rest, re.M)
    return rest[: end.start()] if end else rest


def code_blocks(path: Path, whole_file: bool) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    body = text if whole_file else section_text(text, SECTION)
    if body is None:
        return []
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(body)]


def collect() -> list:
    params = []
    for path in SOURCES:
        blocks = code_blocks(path, whole_file=path.name == "querying.md")
        for i, (lang, code) in enumerate(blocks, start=1):
            params.append(pytest.param(lang, code, id=f"{path.name}-{i}-{lang}"))
    return params


EXAMPLES = collect()


def test_the_guide_has_examples_of_both_kinds():
    kinds = {p.values[0] for p in EXAMPLES}
    assert kinds == {"python", "sql"}, "docs/querying.md must hold python and sql examples"
    assert section_text((PROJECT_ROOT / "docs" / "querying.md").read_text(), SECTION) is not None


@pytest.fixture(scope="module")
def analyst_workdir(tiny_run, tmp_path_factory) -> tuple[Path, Path]:
    assert tiny_run.result.success, "the weekly job failed; the examples need its analyst file"
    analyst = tiny_run.settings.analyst_db_path
    assert analyst.exists(), f"the weekly job published no analyst file at {analyst}"
    work = tmp_path_factory.mktemp("analyst_examples")
    (work / "data" / "analyst").mkdir(parents=True)
    (work / "data" / "analyst" / "wmp_analyst.duckdb").symlink_to(analyst)
    return work, analyst


@pytest.mark.parametrize(("lang", "code"), EXAMPLES)
def test_example_runs_as_written(lang, code, analyst_workdir):
    work, analyst = analyst_workdir
    if lang == "sql":
        with duckdb.connect(str(analyst), read_only=True) as con:
            statements = [s for s in code.split(";") if s.strip() and not all(
                line.strip().startswith("--") or not line.strip() for line in s.splitlines())]
            assert statements
            for statement in statements:
                result = con.execute(statement)
                assert result.description, f"no result columns from:\n{statement}"
                result.fetchall()
        return
    env = {**os.environ, "WMP_DATA_DIR": str(analyst.parent.parent), "WMP_ANALYST_DB_PATH": str(analyst)}
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"example failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"
