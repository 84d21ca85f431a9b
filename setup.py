"""Build steps beyond pyproject.toml: the cffi shim, the static init binary
(pyrunc-init) and the JSON schemas, all placed inside the package."""
import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

INIT_SOURCES = ["csrc/init.c", "csrc/rootfs.c", "csrc/process.c", "csrc/terminal.c",
                "csrc/hooks.c", "csrc/debug.c", "csrc/seccomp.c",
                "csrc/attrs.c", "csrc/idmap.c", "csrc/cgroup.c"]


class BuildPy(build_py):
    """Also compile csrc/ into pyrunc/libexec/pyrunc-init and copy schemas/."""

    def run(self) -> None:
        super().run()
        pkg = os.path.join(self.build_lib, "pyrunc")
        libexec = os.path.join(pkg, "libexec")
        os.makedirs(libexec, exist_ok=True)
        cc = os.environ.get("CC", "cc")
        cmd = [cc, "-static", "-Os", "-Wall", "-Wextra", "-Werror", "-o",
               os.path.join(libexec, "pyrunc-init"), *INIT_SOURCES,
               "-lseccomp"]  # libseccomp-dev's static libseccomp.a
        subprocess.check_call(cmd)
        with open(os.path.join(libexec, "version"), "w") as f:  # for `pyrunc --version`
            f.write(f"commit: {_out('git', 'describe', '--always', '--dirty')}\n"
                    f"libseccomp: {_out('pkg-config', '--modversion', 'libseccomp')}\n")
        schemas = os.path.join(pkg, "schemas")
        os.makedirs(schemas, exist_ok=True)
        for path in glob.glob("schemas/*.json"):
            shutil.copy(path, schemas)


def _out(*cmd: str) -> str:
    """A command's output, or "unknown" (a tarball has no git)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


setup(cffi_modules=["csrc/build_shim.py:ffibuilder"], cmdclass={"build_py": BuildPy})
