"""A minimal D-Bus client (the wire protocol over a unix socket), enough to
call systemd's manager: method calls with basic types, arrays, structs and
variants, their replies and errors, and the signals that match a rule."""

import os
import socket
import struct

SYSTEM_BUS = "/run/dbus/system_bus_socket"
_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8,
          "s": 4, "o": 4, "g": 1, "a": 4, "(": 8, "{": 8, "v": 1, "h": 4}
_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q",
          "d": "d", "h": "I"}
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
_FIELDS = {1: "path", 2: "interface", 3: "member", 4: "error", 5: "reply_serial",
           6: "destination", 7: "sender", 8: "signature"}


class DBusError(Exception):
    """An error reply (`name` is the D-Bus error name) or a broken connection."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message


def split_types(sig: str) -> list[str]:
    """'sa(sv)b' -> ['s', 'a(sv)', 'b']: the single complete types of a signature."""
    out = []
    i = 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _type_end(sig: str, i: int) -> int:
    c = sig[i]
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        depth = 0
        for j in range(i, len(sig)):
            if sig[j] == c:
                depth += 1
            elif sig[j] == close:
                depth -= 1
                if depth == 0:
                    return j + 1
        raise ValueError(f"unbalanced signature {sig!r}")
    if c not in _ALIGN:
        raise ValueError(f"unknown type {c!r} in signature {sig!r}")
    return i + 1


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def pad(self, n: int) -> None:
        self.buf += b"\0" * (-len(self.buf) % n)

    def write(self, t: str, v: object) -> None:
        c = t[0]
        self.pad(_ALIGN[c])
        if c in _FIXED:
            self.buf += struct.pack("<" + _FIXED[c], v)
        elif c in "so":
            data = str(v).encode()
            self.buf += struct.pack("<I", len(data)) + data + b"\0"
        elif c == "g":
            data = str(v).encode()
            self.buf += bytes([len(data)]) + data + b"\0"
        elif c == "v":
            sig, value = v  # type: ignore[misc]
            self.write("g", sig)
            self.write(sig, value)
        elif c == "(" or c == "{":
            for sub, item in zip(split_types(t[1:-1]), v, strict=True):  # type: ignore
                self.write(sub, item)
        elif c == "a":
            elem = t[1:]
            at = len(self.buf)
            self.buf += b"\0\0\0\0"
            self.pad(_ALIGN[elem[0]])
            start = len(self.buf)
            items = v.items() if isinstance(v, dict) else v  # type: ignore[union-attr]
            if elem == "y":
                self.buf += bytes(v)  # type: ignore[arg-type]
            else:
                for item in items:  # type: ignore[union-attr]
                    self.write(elem, item)
            struct.pack_into("<I", self.buf, at, len(self.buf) - start)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def read(self, t: str) -> object:
        c = t[0]
        self.pos += -self.pos % _ALIGN[c]
        if c in _FIXED:
            fmt = "<" + _FIXED[c]
            (v,) = struct.unpack_from(fmt, self.data, self.pos)
            self.pos += struct.calcsize(fmt)
            return bool(v) if c == "b" else v
        if c in "so":
            (n,) = struct.unpack_from("<I", self.data, self.pos)
            s = self.data[self.pos + 4:self.pos + 4 + n].decode()
            self.pos += 5 + n
            return s
        if c == "g":
            n = self.data[self.pos]
            s = self.data[self.pos + 1:self.pos + 1 + n].decode()
            self.pos += 2 + n
            return s
        if c == "v":
            sig = str(self.read("g"))
            return (sig, self.read(sig))
        if c in "({":
            return tuple(self.read(sub) for sub in split_types(t[1:-1]))
        # an array
        (n,) = struct.unpack_from("<I", self.data, self.pos)
        self.pos += 4
        elem = t[1:]
        self.pos += -self.pos % _ALIGN[elem[0]]
        end = self.pos + n
        if elem == "y":
            self.pos = end
            return self.data[end - n:end]
        items = []
        while self.pos < end:
            items.append(self.read(elem))
        return dict(items) if elem[0] == "{" else items  # type: ignore[arg-type]


def encode(msg_type: int, serial: int, fields: dict, sig: str, args: tuple) -> bytes:
    """One message: header, header fields, body."""
    body = _Writer()
    for t, v in zip(split_types(sig), args, strict=True):
        body.write(t, v)
    codes = {v: k for k, v in _FIELDS.items()}
    kinds = {"path": "o", "reply_serial": "u", "signature": "g"}
    header = _Writer()
    header.buf += struct.pack("<cBBBII", b"l", msg_type, 0, 1, len(body.buf), serial)
    hf = [(codes[k], (kinds.get(k, "s"), v)) for k, v in fields.items()]
    if sig:
        hf.append((8, ("g", sig)))
    header.write("a(yv)", hf)
    header.pad(8)
    return bytes(header.buf + body.buf)


class Message:
    """A received message: its type, header fields and decoded body."""

    def __init__(self, msg_type: int, fields: dict, body: list) -> None:
        self.type = msg_type
        self.fields = fields
        self.body = body


def decode(data: bytes) -> tuple[Message, int]:
    """A message from the front of `data`; returns it and its length.
    Raises IndexError (struct.error) while `data` is still incomplete."""
    if len(data) < 16:
        raise IndexError("short")
    if data[0:1] != b"l":
        raise DBusError("pyrunc.BigEndian", "big-endian messages are not supported")
    msg_type, body_len, _serial, fields_len = struct.unpack_from("<xBxxIII", data, 0)
    body_at = 16 + fields_len + (-(16 + fields_len) % 8)
    total = body_at + body_len
    if len(data) < total:
        raise IndexError("short")
    r = _Reader(data, 12)
    fields = {_FIELDS.get(code, code): value[1]  # type: ignore[index]
              for code, value in r.read("a(yv)")}  # type: ignore[union-attr]
    body: list = []
    sig = fields.get("signature", "")
    if sig:
        r = _Reader(data[:total], body_at)
        body = [r.read(t) for t in split_types(sig)]
    return Message(msg_type, fields, body), total


class Connection:
    """A connection to a bus (the system bus by default), authenticated as
    this process's uid."""

    def __init__(self, path: str | None = None, timeout: float = 30.0) -> None:
        if path is None:
            addr = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
            path = addr[len("unix:path="):].split(",")[0] if addr.startswith(
                "unix:path=") else SYSTEM_BUS
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
            self._auth()
        except OSError as e:
            self.sock.close()
            raise DBusError("pyrunc.NoBus", f"cannot connect to {path}: "
                            f"{e.strerror or e}") from None
        self.serial = 0
        self.buf = b""
        self.pending: list[Message] = []
        self.unique_name = str(self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "Hello")[0])

    def close(self) -> None:
        self.sock.close()

    def _auth(self) -> None:
        uid = str(os.geteuid()).encode().hex()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(256)
            if not chunk:
                raise OSError("the bus closed the connection during authentication")
            line += chunk
        if not line.startswith(b"OK "):
            raise OSError(f"authentication refused: {line.strip().decode(errors='replace')}")
        self.sock.sendall(b"BEGIN\r\n")

    def _receive(self) -> Message:
        while True:
            try:
                msg, n = decode(self.buf)
                self.buf = self.buf[n:]
                return msg
            except (IndexError, struct.error):
                pass
            chunk = self.sock.recv(65536)
            if not chunk:
                raise DBusError("pyrunc.Disconnected", "the bus closed the connection")
            self.buf += chunk

    def call(self, dest: str, path: str, iface: str, member: str, sig: str = "",
             *args: object) -> list:
        """Call a method and return its reply's body; an error reply raises DBusError.
        Signals that arrive meanwhile are kept for wait_signal."""
        self.serial += 1
        serial = self.serial
        fields = {"path": path, "interface": iface, "member": member, "destination": dest}
        self.sock.sendall(encode(METHOD_CALL, serial, fields, sig, args))
        while True:
            msg = self._receive()
            if msg.type == SIGNAL:
                self.pending.append(msg)
            elif msg.fields.get("reply_serial") == serial:
                if msg.type == ERROR:
                    text = str(msg.body[0]) if msg.body else ""
                    raise DBusError(str(msg.fields.get("error")), text)
                return msg.body

    def wait_signal(self, match) -> Message:  # noqa: ANN001 (a predicate on Message)
        """The first signal (kept or new) for which `match(msg)` is true."""
        while True:
            for i, msg in enumerate(self.pending):
                if match(msg):
                    return self.pending.pop(i)
            self.pending.clear()
            msg = self._receive()
            if msg.type == SIGNAL:
                self.pending.append(msg)
