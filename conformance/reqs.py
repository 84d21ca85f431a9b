"""The requirement table (requirements.toml) and its Markdown rendering.

    python3 -m conformance.reqs        # rewrite conformance/requirements.md
    python3 -m conformance.reqs --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
TOML = os.path.join(HERE, "requirements.toml")
MD = os.path.join(HERE, "requirements.md")


@dataclass
class Req:
    id: str
    level: str
    file: str
    section: str
    text: str
    quote: str
    skip: str = ""


def load() -> list[Req]:
    with open(TOML, "rb") as f:
        data = tomllib.load(f)
    return [Req(**r) for r in data["req"]]


def tests_by_id() -> dict[str, str]:
    from conformance import checks

    checks.load_all()
    from conformance.harness import CHECKS

    out: dict[str, str] = {}
    for c in CHECKS:
        for rid in c.ids:
            out[rid] = f"{c.func.__module__.rsplit('.', 1)[-1]}.{c.name}"
    return out


def md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    reqs = load()
    tests = tests_by_id()
    levels: dict[str, int] = {}
    for r in reqs:
        levels[r.level] = levels.get(r.level, 0) + 1
    tested = sum(1 for r in reqs if r.id in tests)
    lines = [
        "# OCI runtime-spec v1.3.0: normative requirements",
        "",
        "Generated from `conformance/requirements.toml` by `python3 -m conformance.reqs`;",
        "edit the TOML, not this file.",
        "",
        "One row per normative statement of runtime.md, runtime-linux.md, config.md and",
        "config-linux.md (MUST, MUST NOT, REQUIRED, SHALL, SHOULD, SHOULD NOT). `MUST*` marks",
        "a field whose meaning the spec states without a keyword; it is bound by runtime.md",
        "(\"All of the properties configured in config.json except for process MUST be",
        "applied\", \"start ... MUST run the user-specified program as specified by process\").",
        "A config.md/config-linux.md constraint on the document (\"cwd MUST be absolute\") is",
        "checked as the runtime's duty under config.md's Valid values: \"Runtimes MUST generate",
        "an error when invalid or unsupported values are encountered\".",
        "",
        "The Test column names the check (`conformance/checks/MODULE.py`, function) that",
        "decides the row; rows without a test give the reason none can run here, and are",
        "reported as SKIP.",
        "",
        f"{len(reqs)} requirements, {tested} with a test, {len(reqs) - tested} without; by level: "
        + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())) + ".",
        "",
        "| ID | Level | Spec file | Section | Requirement | Quote | Test or reason |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in reqs:
        how = f"`{tests[r.id]}`" if r.id in tests else f"none: {r.skip}"
        lines.append(f"| {r.id} | {r.level} | {r.file} | {md_escape(r.section)} | "
                     f"{md_escape(r.text)} | {md_escape(r.quote)} | {md_escape(how)} |")
    return "\n".join(lines) + "\n"


def consistency() -> list[str]:
    """Problems: ids tested but not in the table, rows with neither a test
    nor a reason, rows with both."""
    reqs = load()
    tests = tests_by_id()
    ids = {r.id for r in reqs}
    problems = [f"{t}: checked by {tests[t]} but not in requirements.toml"
                for t in sorted(set(tests) - ids)]
    for r in reqs:
        if r.id in tests and r.skip:
            problems.append(f"{r.id}: has a test ({tests[r.id]}) and a skip reason")
        if r.id not in tests and not r.skip:
            problems.append(f"{r.id}: neither a test nor a skip reason")
    if len(ids) != len(reqs):
        problems.append("duplicate ids in requirements.toml")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    problems = consistency()
    for p in problems:
        print(p, file=sys.stderr)
    text = render()
    if "--check" in argv:
        with open(MD) as f:
            if f.read() != text:
                print("requirements.md is out of date: python3 -m conformance.reqs",
                      file=sys.stderr)
                return 1
        return 1 if problems else 0
    with open(MD, "w") as f:
        f.write(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
