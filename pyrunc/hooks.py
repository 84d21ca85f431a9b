"""OCI hooks: run with the container state on stdin, with args, env and timeout."""


from .errors import PyruncError
from .util import fastjson


def run_hooks(hooks: dict, kind: str, state: dict) -> None:
    """Run every hook of one kind, in order; the first failure raises."""
    for i, hook in enumerate(hooks.get(kind, [])):
        run_hook(hook, state, f"$.hooks.{kind}[{i}]")


def run_hook(hook: dict, state: dict, where: str) -> None:
    import subprocess

    path = hook["path"]
    args = hook.get("args") or [path]
    env = dict(e.split("=", 1) for e in hook.get("env", []) if "=" in e)
    try:
        proc = subprocess.run(
            args, executable=path, input=fastjson.dumps(state).encode(), env=env,
            capture_output=True, timeout=hook.get("timeout"), close_fds=True, cwd="/")
    except subprocess.TimeoutExpired:
        raise PyruncError(f"{where}: hook {path} timed out after {hook['timeout']}s") from None
    except OSError as e:
        raise PyruncError(f"{where}: running hook {path}: {e.strerror}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        detail = detail.splitlines()[-1] if detail else ""
        raise PyruncError(
            f"{where}: hook {path} failed with exit status {proc.returncode}"
            + (f": {detail}" if detail else ""))


def warn_hooks(hooks: dict, kind: str, state: dict, warn) -> None:
    """Run hooks whose failures are only warnings (poststop)."""
    for i, hook in enumerate(hooks.get(kind, [])):
        try:
            run_hook(hook, state, f"$.hooks.{kind}[{i}]")
        except PyruncError as e:
            warn(str(e))
