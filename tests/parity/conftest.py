"""The parity tier: each scenario runs the same bundle and arguments through
runc (Debian's 1.1.5, the reference) and through pyrunc, each with its own
--root, one after the other, and compares what a caller sees: exit status,
stdout (parsed where it is JSON; ids, pids, times and roots normalised), the
presence and key words of stderr, and the container's observable state.

A scenario is a function of one `Side` (a runtime with its own root); the
`both` fixture runs it for runc, cleans up, runs it for pyrunc, and returns
the pair of what it returned. Where pyrunc departs from runc on purpose, the
test names the row of DIFFERENCES (README.md beside this file) it exercises;
any other difference fails."""

import json
import os
import subprocess

import pytest
from helpers import Snapshot, reap_children

from .harness import PYRUNC, REFERENCE, RUNC, Pair, Side


def pytest_collection_modifyitems(config, items) -> None:
    """Every test of this directory is in the `parity` tier (-m parity, -m "not parity")."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.parity)


@pytest.fixture(scope="session")
def reference() -> str:
    """runc's version line, or skip the tier: runc is the reference."""
    if not os.path.exists(RUNC):
        pytest.skip(f"runc is not installed ({RUNC}, Debian's runc {REFERENCE} is the "
                    "reference of the parity tier)")
    out = subprocess.run([RUNC, "--version"], capture_output=True, text=True).stdout
    if REFERENCE not in out.split("\n")[0]:
        pytest.skip(f"the parity tier compares with runc {REFERENCE}, found {out[:40]!r}")
    return out


@pytest.fixture
def both(reference, tmp_path, request):
    """Run a scenario with runc, then with pyrunc: `both(fn)` -> Pair. Each side
    has its own --root and starts from the same bundle (made when a scenario
    first uses it, or the test's `bundle` as the test left it); everything is
    force-deleted after each side, and the host is checked for leaks (mounts,
    cgroups, processes) at the end."""
    before = Snapshot.take()
    sides: list[Side] = []
    made: dict = {}

    def get_bundle():
        if "bundle" not in made:
            made["bundle"] = request.getfixturevalue("bundle")
            made["config"] = json.dumps(made["bundle"].config)
        return made["bundle"]

    def run(scenario) -> Pair:
        if "bundle" in request.fixturenames:
            get_bundle()
            made["config"] = json.dumps(made["bundle"].config)  # (with the test's edits)
        out = []
        for name, cmd in (("runc", [RUNC]), ("pyrunc", [PYRUNC])):
            if "bundle" in made:
                made["bundle"].config = json.loads(made["config"])
                made["bundle"].write()
            side = Side(name, cmd, str(tmp_path / f"root-{name}-{len(sides)}"), get_bundle)
            sides.append(side)
            try:
                out.append(scenario(side))
            finally:
                side.cleanup()
                reap_children()
        return Pair(*out)

    yield run
    ids = sorted({i for s in sides for i in s.rt.ids})
    leaks = Snapshot.take().leaks_since(before, (*ids, str(tmp_path)))
    assert not leaks, f"left behind: {leaks}"
