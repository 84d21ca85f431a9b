"""linux.netDevices: move host network devices into the container's network
namespace (config-linux.md#network-devices), over rtnetlink.

At create, once the container process exists and before it goes on: each
device is moved and renamed in one RTM_NEWLINK (IFLA_NET_NS_FD, IFLA_IFNAME),
set up, and given back its permanent global addresses (a move drops them).
Nothing is done at delete: when the namespace goes, the kernel destroys the
virtual devices and returns the physical ones to the host."""

import os
import struct

from ..errors import ConfigError, PyruncError

RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
IFLA_IFNAME, IFLA_NET_NS_FD = 3, 28
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0
IFF_UP = 0x1
IFNAMSIZ = 16
CLONE_NEWNET = 0x40000000
WHERE = "$.linux.netDevices"


def valid_name(name: str) -> str | None:
    """Why `name` cannot be an interface name, or None (dev_valid_name())."""
    if not name:
        return "is empty"
    if len(name.encode()) >= IFNAMSIZ:
        return f"is longer than {IFNAMSIZ - 1} bytes"
    if name in (".", ".."):
        return "is not a valid name"
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        return "contains '/', ':' or white space"
    return None


def check(linux: dict, namespaces: dict) -> None:
    """The checks of linux.netDevices that need no device (config.check)."""
    devices = linux.get("netDevices")
    if not devices:
        return
    net = namespaces.get("network")
    if net is None:
        raise ConfigError(WHERE, "moving network devices needs a network namespace of the "
                          "container's own: linux.namespaces has none")
    if "path" in net:
        from .namespaces import is_hosts_namespace

        if is_hosts_namespace(net["path"], "network"):
            raise ConfigError(WHERE, "moving network devices needs a network namespace "
                              "other than the host's")
    targets: dict[str, str] = {}
    for name, dev in devices.items():
        where = f"{WHERE}{_key(name)}"
        why = valid_name(name)
        if why:
            raise ConfigError(where, f"\"{name}\" {why}")
        if name == "lo":
            raise ConfigError(where, "the loopback device cannot be moved (each network "
                              "namespace has its own)")
        new = dev.get("name") or name
        why = valid_name(new)
        if why:
            raise ConfigError(f"{where}.name", f"\"{new}\" {why}")
        if "%" in new and "%d" not in new:
            raise ConfigError(f"{where}.name", f"\"{new}\": the only template is %d")
        if "%d" not in new and new in targets:
            raise ConfigError(f"{where}.name", f"\"{new}\" is also the name of "
                              f"\"{targets[new]}\" in the container")
        targets[new] = name


def _key(name: str) -> str:
    from ..errors import format_path

    return format_path([name])[1:]


class Netlink:
    """A NETLINK_ROUTE socket in the network namespace it was made in."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  0)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, mtype: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send a request; return the replies (an error raises OSError)."""
        self.seq += 1
        self.sock.send(struct.pack("=IHHII", 16 + len(body), mtype, flags | NLM_F_REQUEST,
                                   self.seq, 0) + body)
        out = []
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                length, rtype, _, seq, _ = struct.unpack_from("=IHHII", data, off)
                if length < 16:
                    break
                payload = data[off + 16:off + length]
                off += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if rtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return out
                if rtype == NLMSG_DONE:
                    return out
                out.append((rtype, payload))
            if not flags & NLM_F_DUMP and not flags & NLM_F_ACK and out:
                return out

    def links(self) -> dict[str, int]:
        """Name -> index of every link."""
        out = {}
        for rtype, payload in self.request(RTM_GETLINK, NLM_F_DUMP, _ifinfo(0)):
            if rtype != RTM_NEWLINK:
                continue
            index = struct.unpack_from("=i", payload, 4)[0]
            name = _attrs(payload[16:]).get(IFLA_IFNAME, b"").rstrip(b"\0").decode(
                errors="replace")
            out[name] = index
        return out

    def addresses(self, index: int) -> list[tuple[bytes, dict[int, bytes]]]:
        """The permanent addresses of global scope of a link: (ifaddrmsg, attributes)."""
        out = []
        for rtype, payload in self.request(RTM_GETADDR, NLM_F_DUMP,
                                           struct.pack("=BBBBI", 0, 0, 0, 0, 0)):
            if rtype != RTM_NEWADDR:
                continue
            family, prefix, flags, scope, ifindex = struct.unpack_from("=BBBBI", payload)
            attrs = _attrs(payload[8:])
            if IFA_FLAGS in attrs:
                flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
            if ifindex != index or scope != RT_SCOPE_UNIVERSE or not flags & IFA_F_PERMANENT:
                continue
            out.append((struct.pack("=BBBB", family, prefix, 0, scope), attrs))
        return out


def _ifinfo(index: int, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", 0, 0, index, flags, change)


def _attr(atype: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), atype) + data
    return raw + b"\0" * (-len(raw) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out = {}
    off = 0
    while off + 4 <= len(data):
        length, atype = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[atype & 0x3FFF] = data[off + 4:off + length]
        off += (length + 3) & ~3
    return out


def _in_netns(ns_fd: int) -> Netlink:
    """A netlink socket in the network namespace `ns_fd` (this process comes back)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(ns_fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise PyruncError(f"{WHERE}: entering the container's network namespace: "
                              f"{os.strerror(e)}")
        try:
            return Netlink()
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:  # never expected; do not go on
                os.abort()
    finally:
        os.close(own)


def move(pid: int, devices: dict) -> None:
    """Move each device into the network namespace of `pid`."""
    if not devices:
        return
    ns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    host = inner = None
    try:
        host = Netlink()
        inner = _in_netns(ns_fd)
        for name, dev in devices.items():
            _move_one(host, inner, ns_fd, name, dev.get("name") or name)
    finally:
        os.close(ns_fd)
        for s in (host, inner):
            if s is not None:
                s.close()


def _move_one(host: Netlink, inner: Netlink, ns_fd: int, name: str, new: str) -> None:
    where = f"{WHERE}{_key(name)}"
    index = host.links().get(name)
    if index is None:
        raise PyruncError(f"{where}: no network device \"{name}\" on the host")
    before = inner.links()
    if "%d" not in new and new in before:
        raise PyruncError(f"{where}.name: a network device \"{new}\" exists already in the "
                          "container's network namespace")
    addresses = host.addresses(index)
    try:
        host.request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(index)
                     + _attr(IFLA_NET_NS_FD, struct.pack("=I", ns_fd))
                     + _attr(IFLA_IFNAME, new.encode() + b"\0"))
    except OSError as e:
        raise PyruncError(f"{where}: moving \"{name}\" into the container's network "
                          f"namespace as \"{new}\": {e.strerror}") from None
    after = inner.links()
    if "%d" in new:
        added = [n for n in after if n not in before]
        new = added[0] if len(added) == 1 else new
    new_index = after.get(new)
    if new_index is None:
        raise PyruncError(f"{where}: \"{name}\" was moved but \"{new}\" is not found in the "
                          "container's network namespace")
    try:
        inner.request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(new_index, IFF_UP, IFF_UP))
    except OSError as e:
        raise PyruncError(f"{where}: setting \"{new}\" up: {e.strerror}") from None
    for head, attrs in addresses:
        body = head + struct.pack("=I", new_index) + b"".join(
            _attr(k, attrs[k]) for k in (IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST) if k in attrs)
        try:
            inner.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)
        except OSError as e:
            raise PyruncError(f"{where}: restoring an address of \"{new}\": "
                              f"{e.strerror}") from None
