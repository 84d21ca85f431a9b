"""python3 -m conformance --runtime PATH [--runtime-arg ARG ...] [--filter PATTERN]
[--json OUT]: check a runc-compatible runtime against OCI runtime-spec v1.3.0.

Prints one line per requirement, `PASS|FAIL|SKIP <id> <short text> [reason]`,
then `N passed, N failed, N skipped`; exits 0 iff nothing failed."""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import platform
import shutil
import sys
import time

from conformance import SPEC_VERSION, checks, harness, reqs


def matches(pattern: str, *names: str) -> bool:
    p = pattern.lower()
    for n in names:
        n = n.lower()
        if any(ch in p for ch in "*?[") and fnmatch.fnmatch(n, p):
            return True
        if p in n:
            return True
    return False


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python3 -m conformance", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", required=True, help="the runtime binary (runc-compatible CLI)")
    ap.add_argument("--runtime-arg", action="append", default=[], metavar="ARG",
                    help="a global argument passed to the runtime before the command "
                         "(repeatable)")
    ap.add_argument("--filter", action="append", default=[], metavar="PATTERN",
                    help="only requirements whose id or check name contains PATTERN "
                         "(or matches it as a glob); repeatable")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--tmpdir", help="where the run's temporary directory goes")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each check's time")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if os.geteuid() != 0:
        print("conformance: must run as root (containers need namespaces, mounts, cgroups)",
              file=sys.stderr)
        return 2
    path = shutil.which(a.runtime) or a.runtime
    if not os.access(path, os.X_OK):
        print(f"conformance: runtime {a.runtime!r} not found or not executable", file=sys.stderr)
        return 2
    path = os.path.abspath(path)

    table = reqs.load()
    checks.load_all()
    wanted = [r for r in table
              if not a.filter or any(matches(p, r.id) for p in a.filter)]
    by_check = {}
    for c in harness.CHECKS:
        if a.filter and any(matches(p, c.name) for p in a.filter):
            by_check[c.name] = c
        elif any(r.id in c.ids for r in wanted):
            by_check[c.name] = c
    wanted_ids = {r.id for r in wanted}
    for c in by_check.values():
        wanted_ids.update(c.ids)
    text = {r.id: r.text for r in table}

    harness.become_subreaper()
    suite = harness.Suite(path, a.runtime_arg, a.tmpdir)
    version = suite.runtime.version()
    results: dict[str, harness.Result] = {}
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    started = time.monotonic()

    def emit(r: harness.Result) -> None:
        if r.id not in wanted_ids or r.id in results:
            return
        results[r.id] = r
        counts[r.status] += 1
        line = f"{r.status} {r.id} {text.get(r.id, '')}"
        if r.reason:
            line += f" [{r.reason}]"
        print(line, flush=True)

    try:
        for c in harness.CHECKS:
            if c.name not in by_check:
                continue
            t0 = time.monotonic()
            for r in suite.run_check(c):
                emit(r)
            if a.verbose:
                print(f"# {c.name}: {time.monotonic() - t0:.2f}s", file=sys.stderr)
        for r in table:
            if r.id in wanted_ids and r.id not in results:
                emit(harness.Result(r.id, "SKIP", r.skip or "no check", ""))
    finally:
        problems = suite.close()
    for p in problems:
        print(f"conformance: left behind: {p}", file=sys.stderr)
    elapsed = time.monotonic() - started
    if a.json:
        doc = {
            "runtime": path,
            "runtime_args": a.runtime_arg,
            "version": version,
            "spec": SPEC_VERSION,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(),
            "seconds": round(elapsed, 1),
            "counts": {"passed": counts["PASS"], "failed": counts["FAIL"],
                       "skipped": counts["SKIP"]},
            "left_behind": problems,
            "results": [{"id": r.id, "status": r.status, "text": text.get(r.id, ""),
                         "reason": r.reason, "check": r.check}
                        for r in sorted(results.values(), key=lambda r: r.id)],
        }
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0
