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
        schemas = os.path.join(pkg, "schemas")
        os.makedirs(schemas, exist_ok=True)
        for path in glob.glob("schemas/*.json"):
            shutil.copy(path, schemas)


setup(cffi_modules=["csrc/build_shim.py:ffibuilder"], cmdclass={"build_py": BuildPy})
