"""`pyrunc features`: what this build implements, truthfully."""

from . import OCI_VERSION, seccomp
from .capabilities import CAPABILITIES, last_cap
from .mounts import FLAGS, IGNORED, PROPAGATION
from .plan import CLONE_FLAGS


def features() -> dict:
    """The OCI features document (features.md)."""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
        "mountOptions": sorted(set(FLAGS) | set(PROPAGATION) | (IGNORED - {"idmap", "ridmap"})),
        "linux": {
            "namespaces": sorted(CLONE_FLAGS),
            "capabilities": list(CAPABILITIES[: last_cap() + 1]),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": True},
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"io.github.pyrunc.version": __import__("pyrunc").__version__},
    }
