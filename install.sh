#!/bin/sh
# install.sh [--test]: install pyrunc on a Debian machine, as root.
#   - Debian packages: a C compiler and static libc (for pyrunc-init),
#     busybox-static (the default bundle), libcap-dev (python-prctl), Python.
#   - a virtual environment at $PYRUNC_VENV (default /opt/pyrunc) with pyrunc
#     and its dependencies; /usr/local/bin/pyrunc links to it.
#   --test: also the test tools (pytest, hypothesis, ruff) and runc/crun to
#   compare with; dbus-daemon and systemd for the systemd cgroup driver tests.
set -eu
cd "$(dirname "$0")"
venv=${PYRUNC_VENV:-/opt/pyrunc}
packages="gcc libc6-dev busybox-static libcap-dev libseccomp-dev python3 python3-venv python3-dev"
[ "${1:-}" = --test ] && packages="$packages runc crun iproute2 util-linux procps containerd docker.io podman conmon dbus-daemon systemd"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
# Debian's own python3 by default, not the first on PATH: it is built with
# PGO and LTO and linked statically, and starts ~3 ms faster than a pyenv
# build (--enable-shared), on every pyrunc call.
python=$("${PYTHON:-/usr/bin/python3}" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ "$(sed -n 's/^executable = //p' "$venv/pyvenv.cfg" 2>/dev/null)" != "$python" ]; then
	[ ! -e "$venv" ] || [ -f "$venv/pyvenv.cfg" ] || { echo "$venv is not a venv" >&2; exit 1; }
	"$python" -m venv --clear "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip setuptools wheel cffi
extras=""
[ "${1:-}" = --test ] && extras="[test]"
"$venv/bin/pip" install -q --no-build-isolation ".$extras"
# Start Python without the site module (-S): every call is 3-4 ms faster
# (no .pth files to run); the launcher adds the venv's site-packages itself.
sed -i '1s|^\(#!.*python[0-9.]*\)$|\1 -S|' "$venv/bin/pyrunc"
ln -sf "$venv/bin/pyrunc" /usr/local/bin/pyrunc
echo "installed: $("$venv/bin/pyrunc" --version | head -n 1) at $venv/bin/pyrunc" >&2
