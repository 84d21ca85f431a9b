"""Mount options of config.json turned into mount(2) flags and data."""

from ..errors import ConfigError

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MS_POSIXACL = 0x10000
MS_I_VERSION = 0x800000

# mount_setattr(2) attributes, for the recursive options (rro, rnosuid, ...)
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
# option: (attributes to set, attributes to clear)
RECURSIVE = {
    "rro": (MOUNT_ATTR_RDONLY, 0), "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0), "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0), "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0), "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
    # atime modes are one field: setting one clears the others
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rrelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "ratime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnorelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
}

# option: (flags to set, flags to clear)
FLAGS = {
    "defaults": (0, 0),
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "suid": (0, MS_NOSUID), "nosuid": (MS_NOSUID, 0),
    "dev": (0, MS_NODEV), "nodev": (MS_NODEV, 0),
    "exec": (0, MS_NOEXEC), "noexec": (MS_NOEXEC, 0),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0),
    "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "atime": (0, MS_NOATIME), "noatime": (MS_NOATIME, 0),
    "diratime": (0, MS_NODIRATIME), "nodiratime": (MS_NODIRATIME, 0),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "lazytime": (MS_LAZYTIME, 0), "nolazytime": (0, MS_LAZYTIME),
    "symfollow": (0, MS_NOSYMFOLLOW), "nosymfollow": (MS_NOSYMFOLLOW, 0),
    "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
    "silent": (MS_SILENT, 0), "loud": (0, MS_SILENT),
    "iversion": (MS_I_VERSION, 0), "noiversion": (0, MS_I_VERSION),
    "acl": (MS_POSIXACL, 0), "noacl": (0, MS_POSIXACL),
}
PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}
# Options handled elsewhere or by later work, ignored by mount(2).
IGNORED = {"tmpcopyup"}
# Idmapped bind mounts with the mount's uidMappings/gidMappings, made with
# mount_setattr(MOUNT_ATTR_IDMAP) (pyrunc/linux/attrs.py, csrc/idmap.c).
IDMAP = {"idmap", "ridmap"}


def parse_options(options: list[str], where: str) -> tuple[int, int, str]:
    """Return (flags, propagation, data) for a mount's options."""
    flags = propagation = 0
    data = []
    for i, opt in enumerate(options):
        if opt in FLAGS:
            on, off = FLAGS[opt]
            flags = (flags | on) & ~off
        elif opt in PROPAGATION:
            propagation = PROPAGATION[opt]
        elif opt in IGNORED or opt in RECURSIVE or opt in IDMAP:
            continue  # RECURSIVE: see recursive_attrs; IDMAP: plan.build_create
        elif "\0" in opt or "," in opt:
            raise ConfigError(f"{where}.options[{i}]", f"invalid option \"{opt}\"")
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def root_propagation(value: str) -> int:
    """linux.rootfsPropagation as mount flags."""
    if value not in PROPAGATION:
        raise ConfigError("$.linux.rootfsPropagation", f"unknown propagation \"{value}\"")
    return PROPAGATION[value]


def recursive_attrs(options: list[str]) -> tuple[int, int]:
    """(attributes to set, to clear) with mount_setattr(AT_RECURSIVE), for rro & co."""
    attr_set = attr_clr = 0
    for opt in options:
        if opt not in RECURSIVE:
            continue
        on, off = RECURSIVE[opt]
        if off == MOUNT_ATTR__ATIME:  # the kernel wants the whole atime field cleared
            attr_set = (attr_set & ~MOUNT_ATTR__ATIME) | on
            attr_clr |= MOUNT_ATTR__ATIME
        else:
            attr_set = (attr_set | on) & ~off
            attr_clr = (attr_clr | off) & ~on
    return attr_set, attr_clr
