"""The README tells the truth: every fenced block of README.md, read from the file at test time, runs as
written on data this module makes, or is marked in the README with why it does not (the marks:
tests/readme_blocks.py), and what each block prints or writes is checked against references made
from the same data (tests/readme_checks.py).

The blocks run at the same time, four at once, from a module fixture (tests/readme_runner.py): each
in its own folder linked to one shared copy of the data; the commands as a user runs them (bash, the
servers a mark names started first), the Python blocks forked from one interpreter that has imported
numpy, scipy and ufo once (tests/readme_python.py). Each test then waits for its block and checks it.
Only the blocks of the tests pytest selected run. (`--durations` therefore shows the wait for all of
them in the first block test; `-k` one block to time it alone.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from .readme_blocks import README, SERVERS, blocks, env, folder, make_data, problems, runnable, \
    servers_for
from .readme_checks import CHECKS, check_for, close_to_phantom, truth
from .readme_runner import PythonRunner, Result, run_all, run_block, run_command

BLOCKS = blocks(README.read_text())
RUNNABLE = runnable(BLOCKS)
WORKERS = 4  # blocks at once: much of their time is start-up and waiting (servers, camera clocks), which overlap


def test_the_readme_keeps_the_ci_test_command_first():
    """.ci/run takes the first line with `pytest` right after a ```bash fence as CI's test command."""
    lines = README.read_text().splitlines()
    after_fence = [b for a, b in zip(lines, lines[1:]) if a.strip() == "```bash" and "pytest" in b]
    assert after_fence[0] == 'pip install -e ".[test]" && python -m pytest -q'


def test_every_block_is_run_or_marked():
    assert len(RUNNABLE) > 10 and not problems(BLOCKS), problems(BLOCKS)
    sample = blocks("```bash\nls\n```\n\n<!-- not run: a GPU -->\n```bash\nnvidia-smi\n```\n```text\nout\n```\n"
                    "<!-- not run: -->\n```bash\nx\n```\n<!-- servers for the next block -->\n```bash\ny\n```\n")
    assert [b.mark for b in sample] == ["", "not run: a GPU", "", "not run:", SERVERS]
    assert problems(sample) == ["README.md:9:text: a block the test can neither run nor check",
                                "README.md:13:bash: unknown mark or no why: 'not run:'",
                                "README.md:17:bash: no block after the servers runs"]


def test_every_runnable_block_has_one_check_and_every_check_a_block():
    """A block added to the README without saying what it must print or write fails here."""
    used = [check_for(block.text) for block in RUNNABLE]
    assert sorted(c.key for c in used) == sorted(c.key for c in CHECKS)


def test_the_phantom_check_fails_a_mirrored_shifted_scaled_or_flat_slice():
    """The reconstruction checks pass a slightly blurred true slice and fail the usual wrong answers."""
    true = truth(range(8, 40, 4))
    good = gaussian_filter(true, (0, 0.5, 0.5))  # about the resolution FBP reaches here
    close_to_phantom(good, true, "blurred")
    for name, wrong in {"mirrored": good[:, :, ::-1], "upside down": good[:, ::-1], "shifted": np.roll(good, 1, 2),
                        "scaled": 1.3 * good, "flat": np.full_like(good, good.mean())}.items():
        with pytest.raises(AssertionError):
            close_to_phantom(wrong, true, name)


# -- running the blocks ------------------------------------------------------------------------
# The commands whose output the README shows, and the options (documented in the README beside the
# output) that make them small enough for CI; the output's wording does not depend on the size.
SMALL = {"ufo demo": ["--size", "64", "--projections", "60", "--rows", "4:64:8"]}
SHOWN = [b for b in BLOCKS if b.mark.startswith("output of:")]


def _selected(request: pytest.FixtureRequest) -> set[str]:
    """The ids of the blocks whose tests this session runs."""
    return {item.callspec.params["block"].id for item in request.session.items
            if item.module is request.module and hasattr(item, "callspec") and "block" in item.callspec.params}


def _shown(block, root: Path) -> tuple[int, str]:
    command = block.mark.partition(":")[2].strip()
    assert command in SMALL, f"{block.id}: the test does not know how to run '{command}' small"
    width = max(len(line) for line in block.text.splitlines())
    path = root / f"shown-{block.line}"
    path.mkdir()
    return run_command([*shlex.split(command), *SMALL[command]], path, {**env(), "COLUMNS": str(width)}, 300)


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """Every selected block started at once (WORKERS at a time, the longest first): {block id: Future}."""
    root = tmp_path_factory.mktemp("readme")
    data = make_data(root / "data")
    selected = _selected(request)
    python = PythonRunner() if any(b.lang == "python" and b.id in selected for b in RUNNABLE) else None
    jobs = [(b.id, lambda b=b: _shown(b, root), 5.0) for b in SHOWN if b.id in selected]
    for b in RUNNABLE:
        if b.id in selected:
            check = check_for(b.text)
            jobs.append((b.id, lambda b=b, c=check: run_block(b, folder(data, root / f"block-{b.line}", BLOCKS),
                                                                servers_for(BLOCKS, b), python, list(c.exprs)),
                         check.cost))
    futures, pool = run_all([(name, job) for name, job, _ in sorted(jobs, key=lambda j: -j[2])], WORKERS)
    yield futures, data
    pool.shutdown(wait=True, cancel_futures=True)
    if python:
        python.close()


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_as_written(block, runs):
    futures, data = runs
    result: Result = futures[block.id].result()
    assert result.rc == 0, result.why()
    check_for(block.text).verify(result, data)


BOX = re.compile(r"[\u2500-\u257f\u2580-\u259f]")  # box drawing and block characters: borders and bars
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def said(text: str) -> list[str]:
    """What output says, figures aside: each table row as '|label: text', the text outside tables between
    them as one item (so wrapping at another width does not matter); numbers become '#', borders, bars and
    runs of spaces go."""
    rows: list[str] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("\u2502").split("\u2502")]
        if line.lstrip().startswith("\u2502") and len(cells) == 2:
            if cells[0] or not rows or not rows[-1].startswith("|"):
                rows.append(f"|{cells[0]}: {cells[1]}")
            else:
                rows[-1] += f" {cells[1]}"
        elif not BOX.sub("", line).strip():
            rows.append("|")  # a border: what follows is a new item
        elif rows and not rows[-1].startswith("|"):
            rows[-1] += f" {line}"
        else:
            rows.append(line)
    return [" ".join(NUMBER.sub("#", BOX.sub(" ", row)).split()) for row in rows if row != "|"]


@pytest.mark.parametrize("block", SHOWN, ids=[b.id for b in SHOWN])
def test_shown_output_is_what_the_command_prints(block, runs):
    rc, out = runs[0][block.id].result()
    assert rc == 0, out
    shown, printed = said(block.text), said(out)
    assert len(shown) > 5 and shown == printed, "\n".join(
        f"{'  ' if a == b else '!='} README: {a}\n   printed: {b}" for a, b in zip(shown, printed))
