"""`pyrunc features`: what this build implements, truthfully."""

from . import OCI_VERSION, criu
from .linux import seccomp
from .linux.attrs import MPOL_FLAGS, MPOL_MODES
from .linux.capabilities import CAPABILITIES, last_cap
from .linux.mounts import FLAGS, IDMAP, IGNORED, PROPAGATION, RECURSIVE
from .plan import CLONE_FLAGS


def features() -> dict:
    """The OCI features document (features.md)."""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(set(FLAGS) | set(PROPAGATION) | set(RECURSIVE) | IGNORED
                               | IDMAP),
        "linux": {
            "namespaces": sorted(CLONE_FLAGS),
            "capabilities": list(CAPABILITIES[: last_cap() + 1]),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False,
                       "rdma": True},
            "seccomp": seccomp.features(),
            # (the runtime's support, whatever the host has: see lsm.py)
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
            "intelRdt": {"enabled": False},
            "memoryPolicy": {"modes": list(MPOL_MODES), "flags": list(MPOL_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
        "annotations": {"io.github.pyrunc.version": __import__("pyrunc").__version__,
                        # (runc: org.opencontainers.runc.checkpoint.enabled)
                        "io.github.pyrunc.checkpoint.enabled": str(criu.available()).lower()},
    }
