"""Tests of schemas/*.json and the fast validator pyrunc.schema.

* Every official runtime-spec test vector gets the same verdict from
  (a) jsonschema + the official schema, (b) pyrunc.schema + our schema and
  (c) jsonschema + our schema.
* pyrunc.schema is a faithful implementation: on many mutated documents it agrees
  with jsonschema (Draft 4) using our schema.
* Error paths and messages, client fixtures, spec examples, fast pattern matchers.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import pathlib
import random
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from helpers import shared_path  # noqa: E402

from pyrunc.config import schema  # noqa: E402
from pyrunc.errors import ConfigError, PyruncError  # noqa: E402

SCHEMAS = os.path.join(REPO, "schemas")
SPEC = shared_path("runtime-spec")
OFFICIAL = os.path.join(SPEC, "schema")
VECTORS = os.path.join(OFFICIAL, "test")
CLIENT_SPECS = shared_path("reference", "client-specs")

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(autouse=True)
def _our_schema_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validate against the top-level schemas/ (also what jsonschema is given)."""
    monkeypatch.setenv("PYRUNC_SCHEMA_DIR", SCHEMAS)


# -- jsonschema helpers -------------------------------------------------------------

_validators: dict[tuple[str, str], object] = {}
_registries: dict[str, object] = {}


def _registry(directory: str):
    """A referencing Registry holding every *.json of ``directory`` under its file: URI.

    (Pre-populated: with only a ``retrieve`` callback jsonschema re-reads the files on
    every validation, which makes it 3-4 times slower.)
    """
    if directory not in _registries:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        resources = []
        for name in sorted(os.listdir(directory)):
            if name.endswith(".json"):
                with open(os.path.join(directory, name)) as f:
                    contents = json.load(f)
                uri = pathlib.Path(directory, name).resolve().as_uri()
                resources.append(
                    (uri, Resource.from_contents(contents, default_specification=DRAFT4))
                )
        _registries[directory] = Registry().with_resources(resources).crawl()
    return _registries[directory]


def js_validator(directory: str, ref: str):
    """A jsonschema Draft4Validator for ``ref`` ("file.json#/pointer") of a schema directory."""
    key = (directory, ref)
    if key not in _validators:
        name, _, pointer = ref.partition("#")
        uri = pathlib.Path(directory, name).resolve().as_uri() + "#" + pointer
        _validators[key] = jsonschema.Draft4Validator({"$ref": uri}, registry=_registry(directory))
    return _validators[key]


def ours_js(doc, name: str = "config") -> bool:
    """Verdict of jsonschema with our schema."""
    ref = schema.SCHEMAS[name]
    return js_validator(SCHEMAS, ref if "#" in ref else ref + "#").is_valid(doc)


def official_js(doc, kind: str) -> bool:
    """Verdict of jsonschema with the official schema."""
    root = {"config": "config-schema.json#", "state": "state-schema.json#"}[kind]
    return js_validator(OFFICIAL, root).is_valid(doc)


def fast(doc, name: str = "config") -> bool:
    """Verdict of pyrunc.schema, checking that validate/errors/is_valid agree."""
    ok = schema.is_valid(doc, name)
    errs = schema.errors(doc, name)
    assert ok == (not errs)
    try:
        schema.validate(doc, name)
    except ConfigError as e:
        assert not ok
        assert (e.path, e.reason) == errs[0]
        assert e.path.startswith("$") and e.reason
    else:
        assert ok
    return ok


# -- official test vectors ----------------------------------------------------------


def _vector_params() -> list:
    files = sorted(glob.glob(os.path.join(VECTORS, "config", "*", "*.json")))
    files += sorted(glob.glob(os.path.join(VECTORS, "state", "*", "*.json")))
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no test vectors in {VECTORS}"))]
    return [pytest.param(f, id=os.path.relpath(f, VECTORS)) for f in files]


@pytest.mark.parametrize("path", _vector_params())
def test_official_vector(path: str) -> None:
    kind = os.path.basename(os.path.dirname(os.path.dirname(path)))  # config | state
    expected_good = os.path.basename(os.path.dirname(path)) == "good"
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except ValueError:
        # Not JSON: rejected by everyone before any schema is involved.
        assert not expected_good
        return
    official = official_js(doc, kind)
    assert official == expected_good, "the official schema disagrees with the vector's name"
    assert fast(doc, kind) == official, schema.errors(doc, kind)
    assert ours_js(doc, kind) == official


def test_vector_count() -> None:
    files = glob.glob(os.path.join(VECTORS, "config", "*", "*.json"))
    files += glob.glob(os.path.join(VECTORS, "state", "*", "*.json"))
    if not files:
        pytest.skip(f"no test vectors in {VECTORS}")
    assert len(files) >= 16


# -- our schema files ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(os.listdir(SCHEMAS)))
def test_schema_files_are_draft4(name: str) -> None:
    with open(os.path.join(SCHEMAS, name)) as f:
        jsonschema.Draft4Validator.check_schema(json.load(f))


def _patterns(node, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            out.add(node["pattern"])
        out.update(node.get("patternProperties", {}))
        for v in node.values():
            _patterns(v, out)
    elif isinstance(node, list):
        for v in node:
            _patterns(v, out)
    return out


def test_schema_patterns_have_fast_matchers() -> None:
    """No pattern of our schemas needs ``re`` (keeps ~0.5 ms of regex compiling off create)."""
    found: set[str] = set()
    for name in os.listdir(SCHEMAS):
        with open(os.path.join(SCHEMAS, name)) as f:
            _patterns(json.load(f), found)
    assert found
    assert found <= set(schema._FAST_PATTERNS)


_TOKENS = [
    "", "0", "1", "7", "01", "10", "123", ".", "-", "+", ",", ":", "/", " ", "\t", "\n",
    "\\", "\\\\", "a", "Z", "rc", "RLIMIT_", "NOFILE", "MB:", "L3:", "C:", "c:/", "B", "K",
    "M", "G", "kB", "r", "w", "m", "x", "é", "\u0663", "1.0.0", "0-3", "2/4", "=",
]


def _corpus(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    out = [
        "", "\n", "/", "1.0.0", "1.0.0\n", "1.0.0\n\n", "01.0.0", "1.0", "1.0.0-rc.1+build.5",
        "1.0.0-01", "1.0.0-0a", "1.0.0-", "1.0.0+", "1.0.0+a+b", "1.3.0-dev", "0.5.0-dev",
        "C:\\x", "c:/x", "\\\\srv\\s", "\\x", "RLIMIT_NOFILE", "RLIMIT_", "RLIMIT_NOFILE\n",
        "2MB", "64kB", "0MB", "10GB\n", "1B", "0-3,7", " 0 - 3 , 7 ", "0-7:2/4", "0-7:2", "1,",
        ",1", "rwm", "rwm\n", "", "MB:0=20", "MB:0=20\n", "x\ny", "\u0663.0.0", "0-\u0663",
    ]
    for _ in range(n):
        out.append("".join(rnd.choice(_TOKENS) for _ in range(rnd.randint(0, 7))))
    return out


@pytest.mark.parametrize("pattern", sorted(schema._FAST_PATTERNS))
def test_fast_matcher_equals_re(pattern: str) -> None:
    rx = re.compile(pattern)
    match = schema._FAST_PATTERNS[pattern]
    for s in _corpus(sum(map(ord, pattern)), 6000):  # (hash() is salted per process)
        assert match(s) == (rx.search(s) is not None), (pattern, s)


def test_other_patterns_fall_back_to_re() -> None:
    m = schema._matcher("^a+b$")
    assert m("aab") and m("aab\n") and not m("ba")


# -- client fixtures, spec examples ---------------------------------------------------


def _client_files(suffix: str) -> list:
    files = sorted(glob.glob(os.path.join(CLIENT_SPECS, "*" + suffix)))
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no fixtures in {CLIENT_SPECS}"))]
    return [pytest.param(f, id=os.path.basename(f)) for f in files]


@pytest.mark.parametrize("path", _client_files("config.json"))
def test_client_config_accepted(path: str) -> None:
    with open(path) as f:
        doc = json.load(f)
    schema.validate(doc)
    assert ours_js(doc)


@pytest.mark.parametrize("path", _client_files("process.json"))
def test_client_process_accepted(path: str) -> None:
    with open(path) as f:
        doc = json.load(f)
    schema.validate(doc, "process", "process.json")
    assert ours_js(doc, "process")


@pytest.mark.parametrize("path", _client_files("resources.json") + _client_files(
    "resources-1.json") + _client_files("resources-2.json"))
def test_client_resources_accepted(path: str) -> None:
    with open(path) as f:
        doc = json.load(f)
    schema.validate(doc, "resources", "resources.json")
    assert ours_js(doc, "resources")


_RESOURCE_KEYS = {"memory", "cpu", "blockIO", "hugepageLimits", "network", "pids", "rdma",
                  "unified"}
_LINUX_KEYS = {"namespaces", "uidMappings", "gidMappings", "timeOffsets", "devices",
               "netDevices", "cgroupsPath", "resources", "intelRdt", "memoryPolicy", "sysctl",
               "seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel",
               "personality"}
_CONFIG_KEYS = {"ociVersion", "root", "mounts", "process", "hostname", "domainname", "hooks",
                "annotations", "linux", "windows", "solaris", "vm", "zos", "freebsd"}
_BASE = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}}


def _spec_examples() -> list:
    """JSON examples of config.md / config-linux.md placed into a minimal config."""
    out = []
    for md in ("config.md", "config-linux.md"):
        path = os.path.join(SPEC, md)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            blocks = re.findall(r"```json\n(.*?)```", f.read(), re.S)
        for i, block in enumerate(blocks):
            text = block.strip()
            try:
                frag = json.loads(text if text.startswith("{") else "{" + text + "}")
            except ValueError:
                continue  # a few spec examples are not valid JSON (trailing commas, ...)
            if not set(frag) <= _CONFIG_KEYS | _LINUX_KEYS | _RESOURCE_KEYS:
                continue  # e.g. the seccomp agent's container process state
            doc = copy.deepcopy(_BASE)
            if "ociVersion" in frag and len(frag) > 1:
                doc = frag  # the full example
            elif set(frag) <= _RESOURCE_KEYS or (
                set(frag) == {"devices"} and "allow" in frag["devices"][0]
            ):
                doc["linux"] = {"resources": frag}
            elif set(frag) <= _LINUX_KEYS:
                doc["linux"] = frag
            else:
                doc.update(frag)
            if "\\\\?\\Volume" in json.dumps(doc) or "C:\\\\" in json.dumps(doc):
                doc["windows"] = {"layerFolders": ["C:\\layers\\1"]}
            out.append(pytest.param(doc, id=f"{md}-{i}"))
    if not out:
        out.append(pytest.param(None, marks=pytest.mark.skip(reason=f"no spec in {SPEC}")))
    return out


@pytest.mark.parametrize("doc", _spec_examples())
def test_spec_examples_accepted(doc: dict) -> None:
    assert schema.errors(doc) == []
    assert ours_js(doc)


# -- a document using every field ---------------------------------------------------

HOOK = {"path": "/usr/bin/hook", "args": ["hook", "a"], "env": ["K=v"], "timeout": 5}


def _idmap() -> list:
    """A fresh ID mapping list (no aliasing between fields, which deepcopy would keep)."""
    return [{"containerID": 0, "hostID": 1000, "size": 65536}]

FULL_LINUX_CONFIG = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs", "readonly": True},
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
        {"destination": "/data", "type": "none", "source": "/vol", "options": ["rbind", "idmap"],
         "uidMappings": _idmap(), "gidMappings": _idmap()},
    ],
    "process": {
        "terminal": True,
        "consoleSize": {"height": 25, "width": 80},
        "cwd": "/root",
        "env": ["PATH=/bin", "TERM=xterm"],
        "args": ["sh", "-c", "true"],
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 18446744073709551615}],
        "apparmorProfile": "acme",
        "capabilities": {k: ["CAP_KILL"] for k in
                         ("bounding", "effective", "inheritable", "permitted", "ambient")},
        "noNewPrivileges": True,
        "oomScoreAdj": -500,
        "scheduler": {"policy": "SCHED_DEADLINE", "nice": -5, "priority": 10,
                      "flags": ["SCHED_FLAG_RECLAIM"], "runtime": 1, "deadline": 2, "period": 3},
        "selinuxLabel": "system_u:system_r:svirt_lxc_net_t:s0:c124,c675",
        "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4},
        "execCPUAffinity": {"initial": "7", "final": "0-3,7"},
        "user": {"uid": 1, "gid": 1, "umask": 63, "additionalGids": [5, 6]},
    },
    "hostname": "slartibartfast",
    "domainname": "foobarbaz.test",
    "hooks": {k: [dict(HOOK)] for k in ("prestart", "createRuntime", "createContainer",
                                  "startContainer", "poststart", "poststop")},
    "annotations": {"com.example.key": "v", "org.opencontainers.image.os": "linux"},
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "network", "mount", "ipc", "uts", "user",
                                             "cgroup")] + [{"type": "time",
                                                            "path": "/proc/1/ns/time"}],
        "uidMappings": _idmap(),
        "gidMappings": _idmap(),
        "timeOffsets": {"monotonic": {"secs": 172800, "nanosecs": 0}, "boottime": {"secs": -1}},
        "devices": [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438,
             "uid": 0, "gid": 0},
            {"path": "/dev/fifo", "type": "p"},
        ],
        "netDevices": {"eth0": {"name": "container_eth0"}, "ens4": {}},
        "cgroupsPath": "/myRuntime/myContainer",
        "resources": {
            "devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
            "memory": {"limit": 536870912, "reservation": 536870912, "swap": -1, "kernel": -1,
                       "kernelTCP": -1, "swappiness": 0, "disableOOMKiller": False,
                       "useHierarchy": True, "checkBeforeUpdate": True},
            "cpu": {"shares": 1024, "quota": 1000000, "burst": 1000000, "period": 500000,
                    "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "2-3",
                    "mems": "0-7", "idle": 1},
            "blockIO": {
                "weight": 10, "leafWeight": 10,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
                                 {"major": 8, "minor": 16, "leafWeight": 500}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 600}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "pids": {"limit": -1},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "rxe3": {"hcaObjects": 1}},
            "unified": {"io.max": "259:0 rbps=2097152 wiops=120", "hugetlb.1GB.max": "1"},
        },
        "intelRdt": {"closID": "guaranteed_group", "l3CacheSchema": "L3:0=7f0;1=1f",
                     "memBwSchema": "MB:0=20;1=70", "schemata": ["L2:0=f;1=f"],
                     "enableMonitoring": True},
        "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "2-3",
                         "flags": ["MPOL_F_STATIC_NODES"]},
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/seccomp.sock", "listenerMetadata": "meta",
            "syscalls": [{"names": ["getcwd", "chmod"], "action": "SCMP_ACT_NOTIFY",
                          "errnoRet": 1, "args": [{"index": 0, "value": 1, "valueTwo": 2,
                                                   "op": "SCMP_CMP_MASKED_EQ"}]}],
        },
        "rootfsPropagation": "slave",
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "mountLabel": "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811",
        "personality": {"domain": "LINUX32", "flags": []},
    },
}

OTHER_PLATFORM_CONFIGS = {
    "windows": {
        "ociVersion": "1.3.0",
        "process": {"cwd": "C:\\", "commandLine": "cmd.exe /c dir",
                    "user": {"username": "ContainerUser"}},
        "mounts": [{"destination": "C:\\in", "source": "C:\\out", "options": ["ro"]}],
        "windows": {
            "layerFolders": ["C:\\layers\\1"],
            "devices": [{"id": "24E552D7-6523-47F7-A647-D3465BF1F5CA", "idType": "class"}],
            "resources": {"memory": {"limit": 2097152},
                          "cpu": {"count": 2, "shares": 256, "maximum": 5000},
                          "storage": {"iops": 50, "bps": 1000, "sandboxSize": 10}},
            "network": {"endpointList": ["7a010682"], "allowUnqualifiedDNSQuery": True,
                        "DNSSearchList": ["a.com"], "networkSharedContainerName": "c",
                        "networkNamespace": "ns"},
            "credentialSpec": {}, "servicing": False, "ignoreFlushesDuringBoot": True,
            "hyperv": {"utilityVMPath": "C:\\uvm"},
        },
    },
    "solaris": {
        "ociVersion": "1.3.0", "root": {"path": "rootfs"},
        "solaris": {"milestone": "svc:/milestone/container:default", "limitpriv": "default",
                    "maxShmMemory": "512m", "cappedCPU": {"ncpus": "8"},
                    "cappedMemory": {"physical": "512m", "swap": "512m"},
                    "anet": [{"linkname": "net0", "lowerLink": "net2", "macAddress": "auto",
                              "linkProtection": "mac-nospoof"}]},
    },
    "vm": {
        "ociVersion": "1.3.0", "root": {"path": "rootfs"},
        "vm": {"hypervisor": {"path": "/usr/bin/qemu", "parameters": ["-x"]},
               "kernel": {"path": "/vmlinuz", "parameters": ["console=ttyS0"],
                          "initrd": "/initrd"},
               "image": {"path": "/img", "format": "qcow2"},
               "hwConfig": {"deviceTree": "/dt", "vcpus": 2, "memory": 1024}},
    },
    "zos": {
        "ociVersion": "1.3.0", "root": {"path": "rootfs"},
        "zos": {"namespaces": [{"type": "pid"}, {"type": "mount", "path": "/x"}]},
    },
    "freebsd": {
        "ociVersion": "1.3.0", "root": {"path": "rootfs"},
        "freebsd": {"devices": [{"path": "pf", "mode": 448}],
                    "jail": {"host": "new", "vnet": "inherit", "ip4": "disable",
                             "ip4Addr": ["10.0.0.1"], "sysvshm": "new", "enforceStatfs": 1,
                             "allow": {"rawSockets": True, "mount": ["tmpfs"]}}},
    },
}

STATE = {"ociVersion": "1.3.0", "id": "c1", "status": "running", "pid": 4422,
         "bundle": "/containers/redis", "annotations": {"myKey": "myValue"}}


def test_full_documents_accepted() -> None:
    assert schema.errors(FULL_LINUX_CONFIG) == []
    assert ours_js(FULL_LINUX_CONFIG)
    for doc in OTHER_PLATFORM_CONFIGS.values():
        assert schema.errors(doc) == []
        assert ours_js(doc)
    assert schema.errors(STATE, "state") == []
    assert ours_js(STATE, "state")


# -- faithfulness: fast validator == jsonschema on our schema ------------------------

_WRONG_TYPES = ["x", 7, None, [], {}]
_EXTRA = {
    str: ["", "/abs", "1.0"],
    int: [-1, 0, 1.5, 4294967296, 18446744073709551616, True],
    bool: [1],
    list: [[None], ["x"]],
    dict: [],
}


def _nodes(doc, prefix=()):
    """Paths of all nodes (only the first two items of an array)."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:2]):
            yield from _nodes(v, prefix + (i,))


def _mutants(doc):
    """Copies of ``doc`` with one node replaced, deleted, or an empty key added."""

    def copy_at(head):
        d = copy.deepcopy(doc)
        parent = d
        for p in head:
            parent = parent[p]
        return d, parent

    for path in _nodes(doc):
        if not path:
            continue
        *head, last = path
        d, parent = copy_at(head)
        old = parent[last]
        for repl in _WRONG_TYPES + _EXTRA.get(type(old), []):
            if type(old) is type(repl) and old == repl:
                continue
            d, parent = copy_at(head)
            parent[last] = repl
            yield d
        if isinstance(parent, dict):
            d, parent = copy_at(head)
            del parent[last]
            yield d
        if isinstance(old, dict):
            d, parent = copy_at(path)
            parent[""] = "x"
            yield d


def _sections():
    """Small documents covering FULL_LINUX_CONFIG (jsonschema is slow on large ones)."""
    full = FULL_LINUX_CONFIG
    base = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}}
    process = full["process"]
    yield "config", {**base, "process": {k: process[k] for k in
                                         ("cwd", "args", "user", "terminal", "consoleSize")}}
    yield "config", {**base, "process": {k: v for k, v in process.items() if k not in
                                         ("user", "terminal", "consoleSize", "capabilities")}}
    yield "config", {**base, "process": {"cwd": "/", "args": ["sh"], "capabilities":
                                         {"bounding": ["CAP_KILL"], "ambient": []}}}
    yield "config", {k: full[k] for k in ("ociVersion", "root", "mounts", "hostname",
                                          "domainname")}
    yield "config", {**base, "hooks": {"poststop": full["hooks"]["poststop"]},
                     "annotations": full["annotations"]}
    linux = full["linux"]
    groups = [("namespaces", "uidMappings", "timeOffsets"), ("devices", "netDevices"),
              ("cgroupsPath", "intelRdt", "memoryPolicy", "sysctl"), ("seccomp",),
              ("rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel", "personality")]
    for keys in groups:
        yield "config", {**base, "linux": {k: linux[k] for k in keys}}
    resources = linux["resources"]
    for keys in (("devices", "memory"), ("cpu", "pids", "unified"), ("blockIO",),
                 ("hugepageLimits", "network", "rdma")):
        yield "config", {**base, "linux": {"resources": {k: resources[k] for k in keys}}}
    for doc in OTHER_PLATFORM_CONFIGS.values():
        yield "config", doc
    yield "state", STATE
    yield "process", {k: process[k] for k in ("cwd", "args", "user", "env")}
    yield "resources", {"pids": {"limit": 1}, "cpu": {"shares": 2}}


def test_fast_validator_agrees_with_jsonschema() -> None:
    checked = invalid = 0
    for name, section in _sections():
        for doc in _mutants(section):
            expected = ours_js(doc, name)
            assert fast(doc, name) == expected, (name, doc, schema.errors(doc, name))
            checked += 1
            invalid += not expected
    assert checked > 1000 and invalid > checked // 2


@pytest.mark.parametrize("doc", [
    None, 1, "x", [], {}, {"ociVersion": "1.0.0"}, {"ociVersion": "1.0.0", "windows": {}},
    {"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"cwd": "/", "args": ["a"]}},
    {"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"cwd": "/", "user": {}}},
    {"ociVersion": "1.0.0", "windows": {}, "process": {"cwd": "c:\\", "user": {}}},
    {"ociVersion": "1.0.0", "root": {}, "linux": {"devices": [{"type": "u", "path": "/d"}]}},
])
def test_edge_documents_agree(doc) -> None:
    assert fast(doc) == ours_js(doc)


# -- error paths and messages --------------------------------------------------------


def _set(path, value):
    def mutate(d):
        *head, last = path
        for p in head:
            d = d[p]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value
    return mutate


_DELETE = object()

ERROR_CASES = [
    (("ociVersion",), _DELETE, "$", 'missing required property "ociVersion"'),
    (("linux", "resources", "memory", "limit"), "512M", "$.linux.resources.memory.limit",
     "expected an integer, got string"),
    (("linux", "resources", "blockIO", "weightDevice", 0, "major"), 8.5,
     "$.linux.resources.blockIO.weightDevice[0].major", "expected an integer, got number"),
    (("linux", "namespaces", 2, "type"), "foo", "$.linux.namespaces[2].type",
     '"foo" is not one of: pid, network, mount, ipc, uts, user, cgroup, time'),
    (("process", "user", "uid"), -1, "$.process.user.uid", "-1 is less than the minimum of 0"),
    (("process", "user", "gid"), 4294967296, "$.process.user.gid",
     "4294967296 is greater than the maximum of 4294967295"),
    (("process", "args"), "sh", "$.process.args", "expected an array, got string"),
    (("process", "args"), [], "$.process.args", "expected at least 1 item, got 0"),
    (("process", "args", 1), 5, "$.process.args[1]", "expected a string, got integer"),
    (("process", "cwd"), "root", "$.process.cwd", '"root" is not an absolute path'),
    (("process", "user", "uid"), _DELETE, "$.process.user", 'missing required property "uid"'),
    (("root",), _DELETE, "$", 'missing required property "root"'),
    (("ociVersion",), "1.0", "$.ociVersion",
     '"1.0" is not a SemVer 2.0.0 version such as "1.3.0"'),
    (("linux",), [], "$.linux", "expected an object, got array"),
    (("linux", "devices", 0, "major"), _DELETE, "$.linux.devices[0]",
     'missing required property "major"'),
    (("linux", "resources", "hugepageLimits", 0, "pageSize"), "2mb",
     "$.linux.resources.hugepageLimits[0].pageSize",
     '"2mb" is not a page size like 64KB, 2MB or 1GB'),
    (("linux", "resources", "rdma", "rxe3"), {}, "$.linux.resources.rdma.rxe3",
     'missing required property "hcaHandles"'),
    (("linux", "sysctl", "net.ipv4.ip_forward"), 1, '$.linux.sysctl["net.ipv4.ip_forward"]',
     "expected a string, got integer"),
    (("annotations", ""), "x", '$.annotations[""]', "empty keys are not allowed"),
    (("mounts", 1, "gidMappings"), _DELETE, "$.mounts[1]",
     'property "uidMappings" requires property "gidMappings"'),
    (("linux", "seccomp", "listenerPath"), _DELETE, "$.linux.seccomp",
     'property "listenerMetadata" requires property "listenerPath"'),
    (("linux", "seccomp", "syscalls", 0, "names"), [], "$.linux.seccomp.syscalls[0].names",
     "expected at least 1 item, got 0"),
    (("linux", "seccomp", "defaultAction"), "ALLOW", "$.linux.seccomp.defaultAction",
     '"ALLOW" is not one of: SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, '
     "SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, "
     "SCMP_ACT_NOTIFY"),
    (("linux", "resources", "cpu", "cpus"), "0-3,x", "$.linux.resources.cpu.cpus",
     '"0-3,x" is not a list like "0-3,7"'),
    (("linux", "intelRdt", "schemata", 0), "L3:0=f\nMB:0=1", "$.linux.intelRdt.schemata[0]",
     '"L3:0=f\\nMB:0=1" is not a single line (no newline)'),
    (("process", "ioPriority", "priority"), 8, "$.process.ioPriority.priority",
     "8 is greater than the maximum of 7"),
    (("hooks", "poststop", 0, "timeout"), 0, "$.hooks.poststop[0].timeout",
     "0 is less than the minimum of 1"),
    (("hooks", "poststop", 0, "path"), "hook", "$.hooks.poststop[0].path",
     '"hook" is not an absolute path'),
    (("linux", "maskedPaths", 0), "proc/kcore", "$.linux.maskedPaths[0]",
     '"proc/kcore" is not an absolute path'),
    (("linux", "personality", "domain"), _DELETE, "$.linux.personality",
     'missing required property "domain"'),
    (("linux", "resources", "devices", 1, "access"), 7,
     "$.linux.resources.devices[1].access", "expected a string, got integer"),
]


@pytest.mark.parametrize("path,value,where,reason", ERROR_CASES,
                         ids=[c[2] + ":" + c[3][:20] for c in ERROR_CASES])
def test_error_message(path, value, where, reason) -> None:
    doc = copy.deepcopy(FULL_LINUX_CONFIG)
    _set(path, value)(doc)
    with pytest.raises(ConfigError) as info:
        schema.validate(doc, source="bundle/config.json")
    e = info.value
    assert (e.path, e.reason, e.source) == (where, reason, "bundle/config.json")
    assert str(e) == f"bundle/config.json: {where}: {reason}"
    assert not ours_js(doc)


def test_errors_lists_all() -> None:
    doc = copy.deepcopy(FULL_LINUX_CONFIG)
    doc["ociVersion"] = 1
    doc["process"]["args"] = []
    doc["linux"]["namespaces"] = [{"type": "x"}, {}]
    assert schema.errors(doc) == [
        ("$.ociVersion", "expected a string, got integer"),
        ("$.linux.namespaces[0].type",
         '"x" is not one of: pid, network, mount, ipc, uts, user, cgroup, time'),
        ("$.linux.namespaces[1]", 'missing required property "type"'),
        ("$.process.args", "expected at least 1 item, got 0"),  # from the root's anyOf
    ]


def test_state_messages() -> None:
    doc = dict(STATE)
    del doc["pid"]
    assert schema.errors(doc, "state") == [("$", 'missing required property "pid"')]
    doc["status"] = "stopped"
    assert schema.errors(doc, "state") == []
    doc["status"] = "paused"  # runtimes MAY define additional states
    assert schema.errors(doc, "state") == []
    with pytest.raises(ConfigError) as info:
        schema.validate([], "state", "state.json")
    assert str(info.value) == "state.json: $: expected an object, got array"


def test_type_mismatch_in_anyof_reports_branch_types() -> None:
    # Neither anyOf branch of the root accepts an array: the type error comes first.
    assert schema.errors(["x"]) == [("$", "expected an object, got array")]


def test_format_path() -> None:
    assert schema.format_path(["process", "args", 0]) == "$.process.args[0]"
    assert schema.format_path(["annotations", "a.b", "x-y"]) == '$.annotations["a.b"]["x-y"]'
    assert schema.format_path([]) == "$"


# -- API, schema directory -----------------------------------------------------------


def test_unknown_schema_name() -> None:
    with pytest.raises(PyruncError):
        schema.validate({}, "nope")


def test_schema_ref_names() -> None:
    assert schema.is_valid({"limit": 1}, "config-linux.json#/definitions/Pids")
    assert not schema.is_valid({"limit": "1"}, "config-linux.json#/definitions/Pids")


def test_schema_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("PYRUNC_SCHEMA_DIR", str(tmp_path))
    assert schema.schema_dir() == str(tmp_path)
    with pytest.raises(PyruncError, match="cannot read schema"):
        schema.validate({}, "config")
    monkeypatch.delenv("PYRUNC_SCHEMA_DIR")
    installed = os.path.join(os.path.dirname(os.path.dirname(schema.__file__)), "schemas")
    expected = installed if os.path.isdir(installed) else SCHEMAS
    assert os.path.samefile(schema.schema_dir(), expected)


def test_no_jsonschema_on_hot_path() -> None:
    doc = {"ociVersion": "1.3.0", "root": {"path": "rootfs"},
           "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
           "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}
    code = ("import sys; import pyrunc.config.schema as s; "
            f"s.validate({doc!r}); "
            "assert 'jsonschema' not in sys.modules, 'jsonschema imported'")
    env = dict(os.environ, PYTHONPATH=REPO, PYRUNC_SCHEMA_DIR=SCHEMAS)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)
