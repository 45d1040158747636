"""The invariants hold over every rendered stack, and catch mistakes seeded into a real render.

The stacks are qa and test, and four rendered from config: the large benchmark cluster,
security off, the user's own PKI and plain HTTP.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.specs.common import config_checksum
from tests import invariants
from tests.conftest import INVARIANT_STACKS, STACKS, stack_config_of
from tests.invariants import CHECKS, Manifest, Stack
from tests.readers import find_named, pod
from tools.render import Rendered

# --- every rendered stack holds every invariant ---------------------------------------


def stack_context(stack: str) -> Stack:
    """What the checks need of a stack besides its manifests, read from its config."""
    config = stack_config_of(stack)
    tls = json.loads(config.get("elk-stack:elasticsearch", "{}")).get("tls") or {}
    external = frozenset({tls["existingSecret"]}) if tls.get("existingSecret") else frozenset()
    create = json.loads(config.get("elk-stack:createNamespace", "false"))
    return Stack(config["elk-stack:namespace"], create, external)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("stack", INVARIANT_STACKS)
def test_rendered_stack_holds(invariant_stacks: dict[str, Rendered], stack: str, check: str) -> None:
    """Each invariant on its own, so a failure names the stack and the check."""
    rendered = invariant_stacks[stack]
    assert CHECKS[check](rendered.manifests, rendered.resources, stack_context(stack)) == []


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_stack_has_what_the_checks_look_at(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    """Guard against vacuous passes: the checks find an ES data claim and pod templates."""
    rendered = rendered_stacks[stack]
    assert invariants.data_claim_names(rendered.manifests) == ["data-elk-elasticsearch-0"]
    names = sorted(
        manifest["metadata"]["name"] for manifest, _, _ in invariants.pod_templates(rendered.manifests)
    )
    unchanging = [name.rsplit("-", 1)[0] if "-topology-" in name else name for name in names]
    assert unchanging == [
        "elk-elasticsearch",
        "elk-elasticsearch-setup",
        "elk-elasticsearch-topology-leave",
        "elk-elasticsearch-topology-settle",
        "elk-kibana",
        "elk-logstash",
    ]


def test_created_namespace_is_the_one_cluster_scoped_object(render: Callable[..., Rendered]) -> None:
    """With createNamespace the Namespace is allowed, and only because it was asked for."""
    rendered = render(namespace="elk-own", createNamespace=True)
    assert invariants.all_violations(rendered.manifests, rendered.resources, "elk-own", True) == []
    assert invariants.namespace_violations(rendered.manifests, "elk-own") == [
        "Namespace/elk-own: Namespace is cluster-scoped; the stack may only use 'elk-own'"
    ]


def test_persisted_queue_with_replicas_holds(render: Callable[..., Rendered]) -> None:
    """More replicas mean more claims and pods; the invariants still hold."""
    rendered = render(logstash={"replicas": 2, "queue": {"type": "persisted"}})
    assert invariants.all_violations(rendered.manifests, rendered.resources, "elk-unit") == []


# --- wiring: mistakes seeded into a real render are each caught --------------------------


def edit_settings(manifests: list[Manifest], config_map: str, key: str, **changes: Any) -> None:
    """Change settings of a YAML settings file in a rendered ConfigMap (None removes one)."""
    data = find_named(manifests, "ConfigMap", config_map)["data"]
    settings = yaml.safe_load(data[key])
    settings.update(changes)
    data[key] = yaml.safe_dump({k: v for k, v in settings.items() if v is not None})


def ingress_to_a_missing_port(manifests: list[Manifest]) -> None:
    backend = find_named(manifests, "Ingress", "elk-kibana")["spec"]["rules"][0]["http"]["paths"][0]
    backend["backend"]["service"]["port"] = {"name": "web"}


def budget_selects_nothing(manifests: list[Manifest]) -> None:
    budget = find_named(manifests, "PodDisruptionBudget", "elk-elasticsearch-data")
    budget["spec"]["selector"]["matchLabels"]["elk-stack/node-set"] = "hot"


def es_to_transport(manifests: list[Manifest]) -> None:
    find_named(manifests, "Service", "elk-elasticsearch")["spec"]["ports"][0]["targetPort"] = "transport"


def es_to_port_9300(manifests: list[Manifest]) -> None:
    find_named(manifests, "Service", "elk-elasticsearch")["spec"]["ports"][0]["targetPort"] = 9300


def kibana_selects_nothing(manifests: list[Manifest]) -> None:
    selector = find_named(manifests, "Service", "elk-kibana")["spec"]["selector"]
    selector["app.kubernetes.io/name"] = "kibana-ui"


def headless_selects_nothing(manifests: list[Manifest]) -> None:
    selector = find_named(manifests, "Service", "elk-logstash-headless")["spec"]["selector"]
    selector["app.kubernetes.io/instance"] = "elk-old"


def pipeline_key_missing(manifests: list[Manifest]) -> None:
    volumes = pod(manifests, "StatefulSet", "elk-logstash")["spec"]["volumes"]
    next(v for v in volumes if v["name"] == "pipeline")["configMap"]["items"][0]["key"] = "pipeline.conf"


def password_key_missing(manifests: list[Manifest]) -> None:
    volumes = pod(manifests, "Deployment", "elk-kibana")["spec"]["volumes"]
    sources = next(v for v in volumes if v["name"] == "env-files")["projected"]["sources"]
    items = next(s["secret"]["items"] for s in sources if s["secret"]["name"] == "elk-kibana-credentials")
    next(i for i in items if i["path"] == "KIBANA_ES_PASSWORD")["key"] = "pass"


def tmp_not_mounted(manifests: list[Manifest]) -> None:
    container = pod(manifests, "Deployment", "elk-kibana")["spec"]["containers"][0]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "tmp"]


def es_certs_elsewhere(manifests: list[Manifest]) -> None:
    """The certificates move to tls/, while the probe's --cacert still names certs/ca.crt."""
    container = pod(manifests, "StatefulSet", "elk-elasticsearch")["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "certs")
    mount["mountPath"] = "/usr/share/elasticsearch/config/tls"


def es_pod_certificate_missing(manifests: list[Manifest]) -> None:
    """The Secret lacks pod 0's certificate, which its settings name through POD_NAME."""
    secret = find_named(manifests, "Secret", "elk-elasticsearch-node-certs")
    secret["stringData"].pop("elk-elasticsearch-0.tls.crt")


def kibana_ca_renamed(manifests: list[Manifest]) -> None:
    volumes = pod(manifests, "Deployment", "elk-kibana")["spec"]["volumes"]
    next(v for v in volumes if v["name"] == "elasticsearch-ca")["secret"]["items"][0]["path"] = "ca.pem"


def logstash_ca_env_wrong(manifests: list[Manifest]) -> None:
    env = pod(manifests, "StatefulSet", "elk-logstash")["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "ELASTICSEARCH_CA")["value"] = "/usr/share/logstash/certs/ca.crt"


def es_checksum_over_nothing(manifests: list[Manifest]) -> None:
    annotations = pod(manifests, "StatefulSet", "elk-elasticsearch")["metadata"]["annotations"]
    annotations[invariants.CHECKSUM_ANNOTATION] = config_checksum({})


def logstash_checksum_over_pipeline(manifests: list[Manifest]) -> None:
    data = find_named(manifests, "ConfigMap", "elk-logstash-config")["data"]
    annotations = pod(manifests, "StatefulSet", "elk-logstash")["metadata"]["annotations"]
    annotations[invariants.CHECKSUM_ANNOTATION] = config_checksum({"main.conf": data["main.conf"]})


def kibana_checksum_over_es_too(manifests: list[Manifest]) -> None:
    kibana = find_named(manifests, "ConfigMap", "elk-kibana-config")["data"]
    es = find_named(manifests, "ConfigMap", "elk-elasticsearch-config")["data"]
    annotations = pod(manifests, "Deployment", "elk-kibana")["metadata"]["annotations"]
    annotations[invariants.CHECKSUM_ANNOTATION] = config_checksum({**kibana, **es})


def es_local_only(manifests: list[Manifest]) -> None:
    edit_settings(manifests, "elk-elasticsearch-config", "elasticsearch.yml", **{"network.host": "_local_"})


def kibana_localhost(manifests: list[Manifest]) -> None:
    edit_settings(manifests, "elk-kibana-config", "kibana.yml", **{"server.host": "localhost"})


def logstash_api_default(manifests: list[Manifest]) -> None:
    edit_settings(manifests, "elk-logstash-config", "logstash.yml", **{"api.http.host": None})


def kibana_chain_only(manifests: list[Manifest]) -> None:
    setting = {"elasticsearch.ssl.verificationMode": "certificate"}
    edit_settings(manifests, "elk-kibana-config", "kibana.yml", **setting)


def transport_unverified(manifests: list[Manifest]) -> None:
    setting = {"xpack.security.transport.ssl.verification_mode": "none"}
    edit_settings(manifests, "elk-elasticsearch-config", "elasticsearch.yml", **setting)


def setup_insecure(manifests: list[Manifest]) -> None:
    data = find_named(manifests, "ConfigMap", "elk-elasticsearch-setup-config")["data"]
    (key,) = [name for name, text in data.items() if '--cacert "$CA_CERT"' in text]
    data[key] = data[key].replace('--cacert "$CA_CERT"', "--insecure")


MUTATIONS: list[tuple[Callable[[list[Manifest]], None], str, str]] = [
    (es_to_transport, "target_port", "targetPort 'transport' is container port 'transport' (9300)"),
    (es_to_port_9300, "target_port", "targetPort 9300 is container port 'transport' (9300)"),
    (kibana_selects_nothing, "service_selector", "Service/elk-kibana: spec.selector"),
    (headless_selects_nothing, "service_selector", "Service/elk-logstash-headless: spec.selector"),
    (pipeline_key_missing, "stored_key", "ConfigMap 'elk-logstash-config' has no key 'pipeline.conf'"),
    (password_key_missing, "stored_key", "Secret 'elk-kibana-credentials' has no key 'pass'"),
    (tmp_not_mounted, "stored_key", "(tmp): no container mounts it"),
    (es_certs_elsewhere, "file_path", "readinessProbe.exec names /usr/share/elasticsearch/config/certs/ca"),
    (es_certs_elsewhere, "file_path", "xpack.security.http.ssl.key names /usr/share/elasticsearch/config"),
    (
        es_pod_certificate_missing,
        "file_path",
        "ssl.certificate names /usr/share/elasticsearch/config/certs/elk-elasticsearch-0.tls.crt",
    ),
    (kibana_ca_renamed, "file_path", "certificateAuthorities names /usr/share/kibana/config/certs/ca.crt"),
    (logstash_ca_env_wrong, "file_path", "env ELASTICSEARCH_CA names /usr/share/logstash/certs/ca.crt"),
    (es_checksum_over_nothing, "config_checksum", "StatefulSet/elk-elasticsearch: spec.template.metadata"),
    (logstash_checksum_over_pipeline, "config_checksum", "StatefulSet/elk-logstash: spec.template.metadata"),
    (kibana_checksum_over_es_too, "config_checksum", "Deployment/elk-kibana: spec.template.metadata"),
    (es_local_only, "exposure", "network.host is '_local_'"),
    (kibana_localhost, "exposure", "server.host is 'localhost'"),
    (logstash_api_default, "exposure", "api.http.host is not set"),
    (
        kibana_chain_only,
        "exposure",
        "elasticsearch.ssl.verificationMode is 'certificate', not one of ['full']",
    ),
    (transport_unverified, "exposure", "transport.ssl.verification_mode is 'none'"),
    (setup_insecure, "exposure", "'options+=(--insecure)' turns TLS verification off"),
]


@pytest.mark.parametrize(
    ("mutation", "check", "fragment"), MUTATIONS, ids=[f"{m.__name__}-{c}" for m, c, _ in MUTATIONS]
)
def test_wiring_check_catches_the_mistake_in_a_real_render(
    invariant_stacks: dict[str, Rendered],
    mutation: Callable[[list[Manifest]], None],
    check: str,
    fragment: str,
) -> None:
    """The qa render holds the check (see above); the same render with one mistake fails it."""
    manifests = copy.deepcopy(invariant_stacks["qa"].manifests)
    mutation(manifests)
    violations = CHECKS[check](manifests, [], stack_context("qa"))
    assert any(fragment in v for v in violations), violations


def test_start_script_key_is_checked_on_a_multi_node_cluster(invariant_stacks: dict[str, Rendered]) -> None:
    """Only multi-node sets mount the start script, by `items`; a renamed key is caught."""
    manifests = copy.deepcopy(invariant_stacks["large"].manifests)
    volumes = pod(manifests, "StatefulSet", "elk-elasticsearch-data")["spec"]["volumes"]
    index = next(i for i, v in enumerate(volumes) if v["name"] == "start")
    volumes[index]["configMap"]["items"][0]["key"] = "start.sh"
    assert invariants.stored_key_violations(manifests) == [
        f"StatefulSet/elk-elasticsearch-data: spec.template.spec.volumes[{index}] (start): "
        "ConfigMap 'elk-elasticsearch-data-config' has no key 'start.sh'"
    ]


def test_ingress_and_disruption_budget_point_at_real_objects(invariant_stacks: dict[str, Rendered]) -> None:
    """An Ingress to a port the Service lacks, a budget over no pod: both silently do nothing."""
    qa = copy.deepcopy(invariant_stacks["qa"].manifests)
    ingress_to_a_missing_port(qa)
    assert invariants.target_port_violations(qa) == [
        "Ingress/elk-kibana: spec.rules[0] backend 'elk-kibana' has no port 'web'"
    ]
    large = copy.deepcopy(invariant_stacks["large"].manifests)
    budget_selects_nothing(large)
    (violation,) = invariants.service_selector_violations(large)
    assert violation.startswith("PodDisruptionBudget/elk-elasticsearch-data: spec.selector.matchLabels")


def test_own_pki_secret_is_exempt_only_when_named(invariant_stacks: dict[str, Rendered]) -> None:
    """The user's Secret is not in the render: exempt when the stack names it, flagged otherwise."""
    manifests = invariant_stacks["own-pki"].manifests
    assert invariants.stored_key_violations(manifests, frozenset({"company-pki"})) == []
    assert "Secret 'company-pki' is not part of the stack" in "".join(
        invariants.stored_key_violations(manifests)
    )
