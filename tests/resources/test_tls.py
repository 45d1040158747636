"""TLS from the config: certificate lifetimes and names, and the CA the clients mount.

Also the user's own PKI (`tls.existingSecret`) and plain HTTP with transport TLS kept.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import find
from tests.readers import CA_TYPE, LEAF_TYPE, PASSWORD_TYPE, env_of, es_settings, kibana_settings, record
from tools.render import PROJECT_DIR, REDACTED, Rendered

Render = Callable[..., Rendered]


def test_the_ca_key_stays_redacted_where_the_certificate_uses_it(
    rendered_stacks: dict[str, Rendered],
) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    assert node["ca_private_key_pem"] == REDACTED
    assert node["ca_cert_pem"] != REDACTED


def test_certificates_renew_before_they_expire(rendered_stacks: dict[str, Rendered]) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    ca = record(rendered_stacks["qa"], CA_TYPE, "elasticsearch-tls-ca")["inputs"]
    assert node["validity_hours"] == 365 * 24
    assert node["early_renewal_hours"] == 30 * 24
    assert 0 < node["early_renewal_hours"] < node["validity_hours"]
    assert 0 < ca["early_renewal_hours"] < ca["validity_hours"]
    assert ca["validity_hours"] > node["validity_hours"]


def test_ca_and_node_keep_their_key_sizes_and_subjects(rendered_stacks: dict[str, Rendered]) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    ca = record(rendered_stacks["qa"], CA_TYPE, "elasticsearch-tls-ca")["inputs"]
    assert (ca["rsa_bits"], ca["common_name"], ca["organization"]) == (3072, "elk-stack CA", "elk-stack")
    assert (node["rsa_bits"], node["common_name"], node["organization"]) == (
        2048,
        "elk-elasticsearch-0",
        "elk-stack",
    )


def test_renewal_window_follows_config(render: Render) -> None:
    rendered = render(elasticsearch={"tls": {"validityDays": 90, "earlyRenewalDays": 10}})
    node = record(rendered, LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    assert (node["validity_hours"], node["early_renewal_hours"]) == (90 * 24, 10 * 24)


def test_node_certificate_covers_services_pods_and_localhost(rendered_stacks: dict[str, Rendered]) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    names = node["dns_names"]
    for name in (
        "elk-elasticsearch.elk-qa.svc",
        "elk-elasticsearch.elk-qa.svc.cluster.local",
        "elk-elasticsearch-headless.elk-qa.svc",
        "elk-elasticsearch-0.elk-elasticsearch-headless.elk-qa.svc",
        "localhost",
    ):
        assert name in names
    assert node["ip_addresses"] == ["127.0.0.1"]


def test_clients_mount_only_the_ca(rendered_stacks: dict[str, Rendered]) -> None:
    rendered = rendered_stacks["qa"]
    for kind, name in (
        ("StatefulSet", "elk-logstash"),
        ("Deployment", "elk-kibana"),
        ("Job", "elk-elasticsearch-setup"),
    ):
        volumes = find(rendered.manifests, kind, name)["spec"]["template"]["spec"]["volumes"]
        secret_volumes = [v["secret"] for v in volumes if "secret" in v]
        own = (
            [{"secretName": "elk-kibana-server-certs", "defaultMode": 0o440}] if name == "elk-kibana" else []
        )
        assert secret_volumes == [
            {"secretName": "elk-elasticsearch-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]},
            *own,
        ], f"{name}: the CA, and only Kibana its own certificate (it serves HTTPS)"


def test_bring_your_own_pki(render: Render) -> None:
    rendered = render(elasticsearch={"tls": {"existingSecret": "company-pki"}})
    assert not [r for r in rendered.resources if r["type"] in (CA_TYPE, LEAF_TYPE)]
    assert [r for r in rendered.resources if r["type"] == PASSWORD_TYPE], "passwords are still generated"
    assert not [m for m in rendered.manifests if m["metadata"]["name"].endswith("-certs")]
    es_volumes = find(rendered.manifests, "StatefulSet", "elk-elasticsearch")["spec"]["template"]["spec"][
        "volumes"
    ]
    assert {"name": "certs", "secret": {"secretName": "company-pki", "defaultMode": 0o440}} in es_volumes
    kibana_volumes = find(rendered.manifests, "Deployment", "elk-kibana")["spec"]["template"]["spec"][
        "volumes"
    ]
    assert {
        "name": "elasticsearch-ca",
        "secret": {"secretName": "company-pki", "items": [{"key": "ca.crt", "path": "ca.crt"}]},
    } in kibana_volumes


def test_ca_change_rolls_the_clients(render: Render) -> None:
    def annotations(rendered: Rendered, kind: str, name: str) -> dict[str, str]:
        result: dict[str, str] = find(rendered.manifests, kind, name)["spec"]["template"]["metadata"][
            "annotations"
        ]
        return result

    own, byo = render(), render(elasticsearch={"tls": {"existingSecret": "company-pki"}})
    for kind, name in (("StatefulSet", "elk-logstash"), ("Deployment", "elk-kibana")):
        assert (
            annotations(own, kind, name)["elk-stack/ca-checksum"]
            != annotations(byo, kind, name)["elk-stack/ca-checksum"]
        )


def test_http_tls_off_keeps_auth_and_transport_tls(render: Render) -> None:
    rendered = render(elasticsearch={"tls": {"http": False}})
    settings = es_settings(rendered)
    assert settings["xpack.security.enabled"] is True
    assert settings["xpack.security.transport.ssl.enabled"] is True
    assert settings["xpack.security.http.ssl.enabled"] is False
    assert rendered.outputs["elasticsearchUrl"].startswith("http://")
    pipeline = find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["main.conf"]
    assert pipeline == (PROJECT_DIR / "pipelines" / "spring-boot-json-http.conf").read_text()
    assert "ELASTICSEARCH_CA" not in env_of(rendered, "StatefulSet", "elk-logstash")
    assert "elasticsearch.ssl.certificateAuthorities" not in kibana_settings(rendered)
