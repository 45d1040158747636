"""The one place where cluster addresses become loopback addresses, and says so.

In Kubernetes each pod has an IP, each Service a DNS name, and `localhost` is the pod itself.
Here each pod gets a loopback address of its own (127.0.0.2, .3, ...), and every name the
render uses resolves to it through the pod's own `/etc/hosts`: a headless Service to every
pod behind it, a client Service to its pods (or to a stand-in put in front of them), a pod's
DNS name to the pod, and `localhost` to the pod itself. Clients still ask for the real names,
so TLS is checked against the certificates' real subject names. The one setting changed in a
rendered file is `network.host` (`0.0.0.0` there; two nodes cannot both bind every address on
one machine), in the node's own copy of `elasticsearch.yml`. Everything changed is printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.specs.certificates import service_dns_names

Manifest = dict[str, Any]
FIRST_HOST = 2


@dataclass
class AddressPool:
    """Loopback addresses handed out once each, so stacks running side by side never share one."""

    next_host: int = FIRST_HOST

    def take(self) -> str:
        """The next free loopback address."""
        if self.next_host > 254:
            raise RuntimeError("no loopback address left in 127.0.0.0/24")
        self.next_host += 1
        return f"127.0.0.{self.next_host - 1}"


@dataclass
class AddressMap:
    """One stack's pod addresses and the DNS names that resolve to them, as its namespace sees them."""

    pool: AddressPool = field(default_factory=AddressPool)
    pods: dict[str, str] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """Each pod's labels, which Services select it by."""

    def add_pod(self, pod: str) -> str:
        """A loopback address for `pod`, the same for every start of the pod."""
        if pod not in self.pods:
            self.pods[pod] = self.pool.take()
            print(f"network: pod {pod} -> {self.pods[pod]}")
        return self.pods[pod]

    def add_address(self, label: str) -> str:
        """A loopback address for something that is not a pod (a stand-in in front of one)."""
        return self.add_pod(label)

    def point(self, names: Iterable[str], addresses: Sequence[str]) -> None:
        """Make each of `names` resolve to `addresses`, replacing what it resolved to before."""
        for name in names:
            if self.names.get(name) != list(addresses):
                self.names[name] = list(addresses)
                print(f"network: {name} -> {', '.join(addresses)}")

    def hosts_file(self, pod: str, overrides: Mapping[str, Sequence[str]] | None = None) -> str:
        """`/etc/hosts` for one pod: its own address as `localhost`, then every known name.

        `overrides` point names elsewhere for this pod alone (a Job's clients to a stand-in).
        """
        lines = [f"{self.pods[pod]}\tlocalhost {pod}"]
        for name, addresses in sorted({**self.names, **(overrides or {})}.items()):
            lines += [f"{address}\t{name}" for address in addresses]
        return "\n".join(lines) + "\n"

    def resolve(self, name: str) -> str:
        """The first address of `name`, as a client on this machine connects to it."""
        if name in self.names:
            return self.names[name][0]
        if name in self.pods:
            return self.pods[name]
        raise KeyError(f"{name} is not a name of the rendered cluster: {sorted(self.names)}")


def service_names(service: str, namespace: str) -> list[str]:
    """Every name a Service answers to from a pod of its namespace (the names its certificates carry)."""
    return service_dns_names(service, namespace)


def selects(service: Manifest, labels: Mapping[str, str]) -> bool:
    """Whether the Service's selector picks pods with `labels`."""
    selector = service["spec"].get("selector") or {}
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def point_services(addresses: AddressMap, manifests: Sequence[Manifest]) -> None:
    """Each Service's names to the pods it selects; a headless one's pods by their own names too."""
    for service in (m for m in manifests if m["kind"] == "Service"):
        name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
        pods = sorted(pod for pod, labels in addresses.labels.items() if selects(service, labels))
        if not pods:
            continue
        addresses.point(service_names(name, namespace), [addresses.pods[pod] for pod in pods])
        if service["spec"].get("clusterIP") == "None":
            for pod in pods:
                addresses.point(
                    [
                        f"{pod}.{n}"
                        for n in service_names(name, namespace)[:1] + service_names(name, namespace)[2:]
                    ],
                    [addresses.pods[pod]],
                )


_NETWORK_HOST = re.compile(r"^network\.host:.*$", re.M)


def bind_node(settings: str, pod: str, address: str) -> str:
    """The node's `elasticsearch.yml` with `network.host` set to its loopback address."""
    line = f"network.host: {address}"
    old = _NETWORK_HOST.search(settings)
    print(f"network: {pod} elasticsearch.yml {old.group(0) if old else '(no network.host)'} -> {line}")
    if old:
        return _NETWORK_HOST.sub(line, settings, count=1)
    return settings.rstrip("\n") + f"\n{line}\n"


def curl_localhost(pod: str, address: str) -> str:
    """A `.curlrc` that sends the pod's `localhost` to its address: curl never asks /etc/hosts for it."""
    print(f"network: {pod} curl localhost -> {address}")
    return f"connect-to = localhost::{address}:\n"
