"""cffi build script for pyrunc._shim (the host side of the C shim)."""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int pyrunc_spawn(int exe_fd, char *const argv[], const int *keep, int nkeep);
    int pyrunc_setns(int fd, int nstype);
    struct pyrunc_dev_rule { int allow; int type; long long major; long long minor;
                             int access; };
    int pyrunc_devices_bpf(int cgroup_fd, const struct pyrunc_dev_rule *rules, int n,
                           int default_allow, char *log, int log_size);
    """
)
ffibuilder.set_source(
    "pyrunc._shim",
    """
    int pyrunc_spawn(int exe_fd, char *const argv[], const int *keep, int nkeep);
    int pyrunc_setns(int fd, int nstype);
    struct pyrunc_dev_rule { int allow; int type; long long major; long long minor;
                             int access; };
    int pyrunc_devices_bpf(int cgroup_fd, const struct pyrunc_dev_rule *rules, int n,
                           int default_allow, char *log, int log_size);
    """,
    sources=[os.path.relpath(os.path.join(HERE, name)) for name in ("shim.c", "devfilter.c")],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
