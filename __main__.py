"""elk-stack: read and validate the stack config, build the three components, export endpoints."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi.runtime.config as runtime_config
from pulumi_kubernetes.core.v1 import Namespace

from components.configuration import PROJECT, ConfigError, load_config, mistyped_prefix_warnings
from components.resources.credentials import StackCredentials, login_of
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.resources.engine_logging import drop_sdk_debug_messages
from components.resources.kibana import KibanaUi
from components.resources.logstash import LogstashPipeline
from components.resources.network_policies import StackNetworkPolicies
from components.resources.setup import ElasticsearchSetup
from components.specs import common, snapshots

INSECURE_WARNING = (
    "SECURITY IS DISABLED (elk-stack:security.enabled is false): Elasticsearch and Kibana accept "
    "anyone without a password, over plain HTTP. Use this only for a throwaway stack."
)


def project_config() -> dict[str, str]:
    """Every `elk-stack:*` key, so unknown keys are reported rather than silently ignored.

    A key in a namespace close to `elk-stack` (`elk_stack:namespace`) is a typo nothing
    would read: warn about it.

    `pulumi.Config` can only look keys up by name; the engine hands the whole bag to the
    program through PULUMI_CONFIG, and the mocks through `set_all_config`.
    """
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    for warning in mistyped_prefix_warnings(everything):
        pulumi.log.warn(warning)
    prefix = f"{PROJECT}:"
    return {k.removeprefix(prefix): v for k, v in everything.items() if k.startswith(prefix)}


# Each SDK debug message is a blocking call to the engine, on the loop that registers resources.
drop_sdk_debug_messages()
try:
    config = load_config(project_config(), Path(__file__).parent)
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

namespace: pulumi.Input[str] = config.namespace
if config.create_namespace:
    namespace = Namespace(
        "namespace",
        metadata={
            "name": config.namespace,
            "labels": common.labels(PROJECT, "namespace", config.version),
            "annotations": dict(common.APPLY_ANNOTATIONS),
        },
        # Deleting a namespace deletes everything in it, the retained data claims too.
        opts=pulumi.ResourceOptions(retain_on_delete=True),
    ).metadata.name

target = common.Target(
    namespace, config.version, config.image_pull_secrets, config.image_pull_policy, config.pod_ready_seconds
)
credentials = None
if config.security.enabled:
    credentials = StackCredentials(
        "credentials",
        config.security,
        data_streams=config.elasticsearch.retention.data_streams,
        snapshots=config.elasticsearch.snapshots,
        kibana_keys_secret=config.kibana.encryption_keys_secret,
        target=target,
    )
else:
    pulumi.log.warn(INSECURE_WARNING)
elasticsearch = ElasticsearchCluster(
    "elasticsearch", config.elasticsearch, target=target, credentials=credentials
)
setup = ElasticsearchSetup(
    "setup",
    config.elasticsearch,
    elasticsearch=elasticsearch,
    login=login_of(credentials, "setup"),
    target=target,
)
# A stack that starts from a snapshot: the setup Job restores it before anything writes.
restore = [setup.job] if setup.restores else []
if config.elasticsearch.snapshots is not None and config.elasticsearch.snapshots.restore_from is not None:
    pulumi.log.info(snapshots.restore_plan(config.elasticsearch.snapshots.restore_from))
logstash = LogstashPipeline(
    "logstash",
    config.logstash,
    elasticsearch=elasticsearch,
    target=target,
    login=login_of(credentials, "logstash"),
    after=restore,
)
kibana = KibanaUi(
    "kibana",
    config.kibana,
    elasticsearch=elasticsearch,
    target=target,
    login=login_of(credentials, "kibana"),
    keys_secret=credentials.kibana_keys_secret_name if credentials else None,
    after=restore,
)
if credentials is not None:
    pulumi.export("elasticPassword", credentials.elastic_password)
for shortfall in config.elasticsearch.capacity_shortfalls():
    pulumi.log.warn(shortfall)
for warning in config.logstash.pipeline_warnings():
    pulumi.log.warn(warning)
if config.network_policy.enabled:
    StackNetworkPolicies(
        "network-policies",
        config.network_policy,
        elasticsearch=elasticsearch,
        logstash=logstash,
        kibana=kibana,
        http_clients=[setup.pod_labels, *elasticsearch.client_pod_labels],
        object_store=config.elasticsearch.snapshots is not None
        and config.elasticsearch.snapshots.repository is not None
        and config.elasticsearch.snapshots.repository.type != "fs",
        target=target,
    )

pulumi.export("elasticsearchUrl", elasticsearch.http_endpoint)
pulumi.export("kibanaUrl", kibana.url)
pulumi.export("logstashEndpoints", logstash.endpoints)
pulumi.export("dataClaimNames", elasticsearch.data_claim_names)
