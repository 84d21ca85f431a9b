"""Signal names and numbers, without importing the signal module (enum)."""

from ..errors import PyruncError

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
    "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
    "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}
SIGRTMIN, SIGRTMAX = 34, 64


def parse_signal(text: str) -> int:
    """Accept 9, KILL, SIGKILL, kill, RTMIN+3 (as runc does)."""
    s = text.strip()
    if s.isdigit():
        n = int(s)
        if 1 <= n <= SIGRTMAX:
            return n
        raise PyruncError(f"invalid signal: {text}")
    name = s.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in SIGNALS:
        return SIGNALS[name]
    for base, num in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if name == base:
            return num
        if name.startswith(base) and name[len(base)] in "+-" and name[len(base) + 1:].isdigit():
            off = int(name[len(base) + 1:])
            n = num + off if name[len(base)] == "+" else num - off
            if SIGRTMIN <= n <= SIGRTMAX:
                return n
    raise PyruncError(f"unknown signal \"{text}\"")
