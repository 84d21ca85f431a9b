"""The container's cgroups: manager.py is the one interface (and its factory),
v1.py/v2.py/systemd.py the backends, resources.py and stats.py the limits and
statistics read through it."""
