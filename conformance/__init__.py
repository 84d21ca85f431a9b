"""OCI runtime-spec v1.3.0 conformance suite for runc-compatible runtimes.

    python3 -m conformance --runtime PATH [--runtime-arg ARG ...]
                           [--filter PATTERN] [--json OUT]
"""

SPEC_VERSION = "1.3.0"
