"""The OCI runtime-spec conformance suite (conformance/) against pyrunc: no
FAIL other than those in conformance/known_failures.txt, nothing left
behind, and the requirement table consistent with the checks."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from conformance import reqs  # noqa: E402

KNOWN = os.path.join(REPO, "conformance", "known_failures.txt")


def known_failures() -> dict[str, str]:
    out = {}
    with open(KNOWN) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rid, _, why = line.partition(" ")
                out[rid] = why.strip()
    return out


def test_requirements_table_is_consistent():
    assert reqs.consistency() == []
    with open(reqs.MD) as f:
        assert f.read() == reqs.render(), "run: python3 -m conformance.reqs"


def test_known_failures_are_requirements():
    ids = {r.id for r in reqs.load()}
    assert set(known_failures()) <= ids


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the conformance suite needs root")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed")
    pyrunc = os.environ.get("PYRUNC") or shutil.which("pyrunc")
    if not pyrunc:
        pytest.skip("pyrunc is not installed")
    out = tmp_path_factory.mktemp("conformance") / "pyrunc.json"
    p = subprocess.run([sys.executable, "-m", "conformance", "--runtime", pyrunc,
                        "--json", str(out)], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    with open(out) as f:
        return p, json.load(f)


def test_no_unexpected_failures(run):
    p, doc = run
    failed = {r["id"]: r["reason"] for r in doc["results"] if r["status"] == "FAIL"}
    unexpected = {k: v for k, v in failed.items() if k not in known_failures()}
    assert not unexpected, "new conformance failures:\n" + "\n".join(
        f"{k}: {v}" for k, v in sorted(unexpected.items()))
    fixed = sorted(set(known_failures()) - set(failed))
    if fixed:
        print(f"known failures that now pass (remove them from known_failures.txt): {fixed}")


def test_output_format(run):
    p, doc = run
    lines = p.stdout.strip().splitlines()
    assert re.fullmatch(r"\d+ passed, \d+ failed, \d+ skipped", lines[-1])
    body = [ln for ln in lines[:-1] if not ln.startswith("#")]
    assert all(re.match(r"(PASS|FAIL|SKIP) [A-Z0-9-]+ ", ln) for ln in body), body[:3]
    assert len(body) == len(reqs.load())
    c = doc["counts"]
    assert lines[-1] == f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
    assert (p.returncode == 0) == (c["failed"] == 0)


def test_nothing_left_behind(run):
    p, doc = run
    assert doc["left_behind"] == [], p.stderr
