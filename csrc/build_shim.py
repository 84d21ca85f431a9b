"""cffi build script for pyrunc._shim (the host side of the C shim)."""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int pyrunc_spawn(int exe_fd, char *const argv[], const int *keep, int nkeep);
    int pyrunc_setns(int fd, int nstype);
    """
)
ffibuilder.set_source(
    "pyrunc._shim",
    """
    int pyrunc_spawn(int exe_fd, char *const argv[], const int *keep, int nkeep);
    int pyrunc_setns(int fd, int nstype);
    """,
    sources=[os.path.relpath(os.path.join(HERE, "shim.c"))],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
