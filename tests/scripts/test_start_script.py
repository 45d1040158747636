"""`scripts/elasticsearch-start.sh`, run as a pod runs it, with a stand-in for the image's entrypoint.

The initial masters are passed on a node's first start only, and only to the nodes named;
secure settings enter the keystore from their mounted files before the node starts; the
file realm's files are linked over the image's own, so a Secret update reaches the node.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.specs import file_realm
from tests.clusters import MASTER_PODS, START_SCRIPT

# --- the start script: initial masters only on a node's first start -----------------


@pytest.fixture
def entrypoint(tmp_path: Path) -> Path:
    """A stand-in for the image's entrypoint that reports what it was started with."""
    script = tmp_path / "docker-entrypoint.sh"
    script.write_text(
        '#!/usr/bin/env bash\necho "args: $*"\n'
        'env | grep -E "initial_master|node.processors" | sort || true\n'
    )
    script.chmod(0o755)
    return script


def start(
    entrypoint: Path,
    data_path: Path,
    initial_masters: str | None,
    hostname: str = "elk-elasticsearch-master-0",
    processors: str | None = None,
) -> list[str]:
    """Run the start script as the pod would; return the lines the fake entrypoint printed.

    `initial_masters` None leaves the variable unset, as on data-only pods.
    """
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": hostname,
        "ES_ENTRYPOINT": str(entrypoint),
        "FORMED_MARKER": str(data_path / ".elk-stack-cluster-formed"),
    }
    if initial_masters is not None:
        environment["INITIAL_MASTER_NODES"] = initial_masters
    if processors is not None:
        environment["NODE_PROCESSORS"] = processors
    result = subprocess.run(
        ["bash", str(START_SCRIPT)], env=environment, capture_output=True, text=True, check=True, timeout=30
    )
    return [line for line in result.stdout.splitlines() if line.startswith(("args:", "cluster.", "node."))]


def test_first_start_bootstraps_with_the_initial_masters(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, MASTER_PODS) == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
    ]


def test_once_the_cluster_formed_the_setting_is_never_passed_again(entrypoint: Path, tmp_path: Path) -> None:
    """Elastic warns against leaving the setting once the cluster has formed."""
    (tmp_path / ".elk-stack-cluster-formed").touch()
    assert start(entrypoint, tmp_path, MASTER_PODS) == ["args: eswrapper"]


def test_a_restart_before_the_cluster_formed_still_bootstraps(entrypoint: Path, tmp_path: Path) -> None:
    """Node metadata (`_state`) appears at the first start, before any cluster exists: not a sign."""
    (tmp_path / "_state").mkdir()
    assert start(entrypoint, tmp_path, MASTER_PODS)[1] == f"cluster.initial_master_nodes={MASTER_PODS}"


def test_data_only_pods_without_the_variable_start_plainly(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, None, hostname="elk-elasticsearch-data-0") == ["args: eswrapper"]


def test_no_initial_masters_configured_means_none_passed(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, "") == ["args: eswrapper"]


def test_node_processors_reach_the_node_with_the_initial_masters(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, MASTER_PODS, processors="1") == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
        "node.processors=1",
    ]


def test_node_processors_above_what_the_host_offers_are_lowered_to_it(
    entrypoint: Path, tmp_path: Path
) -> None:
    """Elasticsearch refuses to start with more processors than it can use."""
    available = len(os.sched_getaffinity(0))
    lines = start(entrypoint, tmp_path, None, hostname="elk-elasticsearch-data-0", processors="4096")
    assert lines == [
        f"node.processors 4096 is more than the {available} processors this host offers: using {available}",
        "args: eswrapper",
        f"node.processors={available}",
    ]


@pytest.mark.parametrize("hostname", ["elk-elasticsearch-master-1", "elk-elasticsearch-master-2"])
def test_every_initial_master_can_bootstrap(entrypoint: Path, tmp_path: Path, hostname: str) -> None:
    """Elastic's rule: the same list on every master-eligible node, so a Pending master-0 stops nothing."""
    assert start(entrypoint, tmp_path, MASTER_PODS, hostname=hostname) == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
    ]


@pytest.mark.parametrize("hostname", ["elk-elasticsearch-master-3", "elk-elasticsearch-master-", "master-0"])
def test_a_node_outside_the_list_never_bootstraps(entrypoint: Path, tmp_path: Path, hostname: str) -> None:
    """Nodes added later (a scale-up) must never form a second cluster among themselves."""
    assert start(entrypoint, tmp_path, MASTER_PODS, hostname=hostname) == ["args: eswrapper"]


# --- the start script: secure settings enter the keystore from files --------------------


@pytest.fixture
def keystore_tool(tmp_path: Path) -> Path:
    """A stand-in for `elasticsearch-keystore` that logs its arguments and what it read."""
    tool = tmp_path / "elasticsearch-keystore"
    tool.write_text(
        "#!/usr/bin/env bash\n"
        'echo "keystore $*" >> "$KEYSTORE_LOG"\n'
        'if [[ $1 == create ]]; then touch "$ES_PATH_CONF/elasticsearch.keystore"; fi\n'
        'if [[ $1 == add-file ]]; then echo "stored $3=$(cat "$4")" >> "$KEYSTORE_LOG"; fi\n'
        'if [[ $1 == add ]]; then echo "stored ${@: -1}=$(cat) (stdin)" >> "$KEYSTORE_LOG"; fi\n'
    )
    tool.chmod(0o755)
    return tool


def run_start(
    tmp_path: Path,
    keystore_tool: Path,
    settings: dict[str, str] | None,
    bootstrap_password: str | None = None,
) -> list[str]:
    """Run the start script with `settings` as mounted secure-setting files; the keystore log.

    `bootstrap_password` is `elastic`'s, as the mounted file the pod names.
    """
    conf = tmp_path / "config"
    conf.mkdir(exist_ok=True)
    entrypoint = tmp_path / "entrypoint"
    entrypoint.write_text('#!/usr/bin/env bash\necho "entrypoint $*" >> "$KEYSTORE_LOG"\n')
    entrypoint.chmod(0o755)
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": "elk-elasticsearch-0",
        "ES_ENTRYPOINT": str(entrypoint),
        "ES_KEYSTORE": str(keystore_tool),
        "ES_PATH_CONF": str(conf),
        "ES_IMAGE_CONFIG": str(conf),
        "KEYSTORE_LOG": str(tmp_path / "log"),
        "FORMED_MARKER": str(tmp_path / "formed"),
    }
    if settings is not None:
        directory = tmp_path / "secure-settings"
        (directory / "..data").mkdir(parents=True)
        for name, value in settings.items():
            (directory / name).write_text(value)
        environment["SECURE_SETTINGS_DIR"] = str(directory)
    if bootstrap_password is not None:
        (tmp_path / "password").write_text(bootstrap_password)
        environment["BOOTSTRAP_PASSWORD_FILE"] = str(tmp_path / "password")
    subprocess.run(["bash", str(START_SCRIPT)], env=environment, check=True, capture_output=True, timeout=30)
    return (tmp_path / "log").read_text().splitlines()


def test_secure_settings_are_added_from_files_before_the_node_starts(
    tmp_path: Path, keystore_tool: Path
) -> None:
    log = run_start(
        tmp_path,
        keystore_tool,
        {"s3.client.default.access_key": "AKIA-SECRET", "s3.client.default.secret_key": "s3cr3t"},
    )
    directory = tmp_path / "secure-settings"
    assert log == [
        "keystore create",
        f"keystore add-file --force s3.client.default.access_key {directory}/s3.client.default.access_key",
        "stored s3.client.default.access_key=AKIA-SECRET",
        f"keystore add-file --force s3.client.default.secret_key {directory}/s3.client.default.secret_key",
        "stored s3.client.default.secret_key=s3cr3t",
        "entrypoint eswrapper",
    ]


def test_an_existing_keystore_is_kept(tmp_path: Path, keystore_tool: Path) -> None:
    """`create` would ask before overwriting it, and the image's entrypoint may have made one."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "elasticsearch.keystore").touch()
    log = run_start(tmp_path, keystore_tool, {"gcs.client.default.credentials_file": "{}"})
    assert [line for line in log if line.startswith("keystore")] == [
        f"keystore add-file --force gcs.client.default.credentials_file "
        f"{tmp_path}/secure-settings/gcs.client.default.credentials_file"
    ]


def test_the_bootstrap_password_enters_the_keystore_from_its_file_on_stdin(
    tmp_path: Path, keystore_tool: Path
) -> None:
    """`elastic`'s password never in an env value or on a command line: the shell reads the file."""
    log = run_start(tmp_path, keystore_tool, {"s3.client.default.access_key": "AKIA"}, "b00tstrap")
    assert log[:3] == [
        "keystore create",
        "keystore add --force --stdin bootstrap.password",
        "stored bootstrap.password=b00tstrap (stdin)",
    ]
    assert log[-1] == "entrypoint eswrapper"


def test_without_secure_settings_the_keystore_is_untouched(tmp_path: Path, keystore_tool: Path) -> None:
    (tmp_path / "log").touch()
    assert run_start(tmp_path, keystore_tool, None) == ["entrypoint eswrapper"]


# --- the start script: the file realm's files linked over the image's own ---------------


def start_with_config(
    tmp_path: Path, image: Path, config: Path, entrypoint_line: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the start script with `image` as the image's config directory and `config` as ES_PATH_CONF.

    The stand-in entrypoint runs `entrypoint_line` (in bash) instead of Elasticsearch.
    """
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_text(f"#!/usr/bin/env bash\n{entrypoint_line}\n")
    entrypoint.chmod(0o755)
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": "elk-elasticsearch-0",
        "FORMED_MARKER": str(tmp_path / "formed"),
        "ES_ENTRYPOINT": str(entrypoint),
        "ES_PATH_CONF": str(config),
        "ES_IMAGE_CONFIG": str(image),
        **extra,
    }
    return subprocess.run(
        ["bash", str(START_SCRIPT)], env=environment, capture_output=True, text=True, timeout=30
    )


def test_start_script_links_the_realm_files_over_the_images_own(tmp_path: Path) -> None:
    """Links, not copies: a Secret update reaches the running node without a restart."""
    image, config, realm = tmp_path / "image", tmp_path / "config", tmp_path / "realm"
    for directory in (image, config, realm):
        directory.mkdir()
    for name in file_realm.FILES:
        (image / name).write_text("# the image's empty file\n")
        (realm / name).write_text(f"first {name}\n")
    for _ in range(2):  # a container restart finds its links in place
        result = start_with_config(tmp_path, image, config, "echo started", FILE_REALM_DIR=str(realm))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "started"
    for name in file_realm.FILES:
        assert (config / name).is_symlink()
        assert (config / name).read_text() == f"first {name}\n"
        (realm / name).write_text(f"second {name}\n")
        assert (config / name).read_text() == f"second {name}\n"


# --- the start script: a writable copy of the config directory on a read-only root -------


def test_each_start_copies_the_images_config_and_links_the_certificates(tmp_path: Path) -> None:
    """The copy is fresh per start (the emptyDir outlives a container restart); certs stay live."""
    image, copy = tmp_path / "image", tmp_path / "copy"
    (image / "jvm.options.d").mkdir(parents=True)
    (image / "certs").mkdir()
    (image / "jvm.options").write_text("-XX:+UseG1GC\n")
    (image / "jvm.options.d" / "heap.options").write_text("-Xms1g\n")
    (image / "elasticsearch.yml").write_text("cluster.name: elk\n")
    (image / "certs" / "ca.crt").write_text("first CA\n")
    copy.mkdir()
    (copy / "elasticsearch.keystore").write_text("last start's keystore")
    gate = tmp_path / "recovered"
    gate.touch()
    result = start_with_config(tmp_path, image, copy, 'ls "$ES_PATH_CONF"', READY_GATE=str(gate))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["certs", "elasticsearch.yml", "jvm.options", "jvm.options.d"]
    assert (copy / "jvm.options.d" / "heap.options").read_text() == "-Xms1g\n"
    assert (copy / "certs").is_symlink() and (copy / "certs" / "ca.crt").read_text() == "first CA\n"
    (image / "certs" / "ca.crt").write_text("renewed CA\n")
    assert (copy / "certs" / "ca.crt").read_text() == "renewed CA\n", "a renewed certificate reaches the node"
    assert not gate.exists(), "the readiness gate holds again after a restart"
