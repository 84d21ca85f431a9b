"""A small client of the Kubernetes CRI (runtime.v1) over containerd's
socket, as the kubelet calls it: grpc with the messages encoded here by hand
(the few fields a pod sandbox and a container need), so no generated code.
Field numbers are those of k8s.io/cri-api/pkg/apis/runtime/v1/api.proto."""

import grpc

NODE, CONTAINER = 2, 1  # NamespaceMode


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _len(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def msg(*fields: tuple) -> bytes:
    """Fields (number, value): str, bytes (a message), int, list, or dict (a map)."""
    out = b""
    for num, value in fields:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                for k, x in v.items():
                    out += _len(num, msg((1, k), (2, x)))
            elif isinstance(v, str):
                out += _len(num, v.encode())
            elif isinstance(v, bytes):
                out += _len(num, v)
            elif v:
                out += _varint(num << 3) + _varint(int(v))
    return out


def first_string(data: bytes) -> str:
    """Field 1 of a response (an id), a length-delimited string."""
    assert data[0] == 0x0A, data[:20]
    n, shift, i = 0, 0, 1
    while True:
        b = data[i]
        n |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if not b & 0x80:
            break
    return data[i:i + n].decode()


class Cri:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(f"unix://{address}")

    def call(self, method: str, request: bytes, timeout: float = 60) -> bytes:
        rpc = self.channel.unary_unary(f"/runtime.v1.RuntimeService/{method}")
        return rpc(request, timeout=timeout)

    @staticmethod
    def sandbox_config(name: str, namespace: str, uid: str, cgroup_parent: str) -> bytes:
        """PodSandboxConfig: host network (no CNI), a pid namespace per container."""
        ns_options = msg((1, NODE), (2, CONTAINER))
        linux = msg((1, cgroup_parent), (2, msg((1, ns_options))))
        return msg((1, msg((1, name), (2, uid), (3, namespace))), (8, linux))

    def run_pod(self, config: bytes, handler: str) -> str:
        return first_string(self.call("RunPodSandbox", msg((1, config), (2, handler))))

    def create_container(self, pod_id: str, pod_config: bytes, name: str, image: str,
                         command: list[str]) -> str:
        # LinuxContainerConfig.security_context.namespace_options, as the kubelet
        # sets them: the pod's network, a pid namespace of its own
        linux = msg((2, msg((3, msg((1, NODE), (2, CONTAINER))))))
        config = msg((1, msg((1, name))), (2, msg((1, image))), (3, command), (15, linux))
        return first_string(self.call("CreateContainer",
                                      msg((1, pod_id), (2, config), (3, pod_config))))

    def start_container(self, cid: str) -> None:
        self.call("StartContainer", msg((1, cid)))

    def remove_container(self, cid: str) -> None:
        self.call("StopContainer", msg((1, cid), (2, 1)))
        self.call("RemoveContainer", msg((1, cid)))

    def remove_pod(self, pod_id: str) -> None:
        self.call("StopPodSandbox", msg((1, pod_id)))
        self.call("RemovePodSandbox", msg((1, pod_id)))

    def close(self) -> None:
        self.channel.close()
