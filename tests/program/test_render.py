"""The offline render: files, determinism, and nothing written for bad input."""

from __future__ import annotations

import base64
import binascii
import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import STACKS, flat_config
from tools.render import (
    PROJECT_DIR,
    REDACTED,
    Rendered,
    StackFileError,
    _plain,
    main,
    run_program,
    stack_config,
    unappliable_secret,
)
from tools.stack_file import read_config

PROJECT_FILES = ["__main__.py", "Pulumi.yaml", "components", "tools", "pipelines", "scripts"]


def project_copy(tmp_path: Path, stack_files: dict[str, str]) -> Path:
    """A copy of the program with our own stack files, to render bad input safely."""
    root = tmp_path / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    for stack, text in stack_files.items():
        (root / f"Pulumi.{stack}.yaml").write_text(text)
    return root


def render_cli(project: Path, stack: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.render", stack, "--out", str(out), *extra],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def walk_values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in walk_values(item)]
    if isinstance(value, list):
        return [v for item in value for v in walk_values(item)]
    return [value]


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_one_file_per_object_and_resources_json(tmp_path: Path, stack: str) -> None:
    result = render_cli(PROJECT_DIR, stack, tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / stack
    manifests = sorted(out.glob("*.yaml"))
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in manifests]
    assert kinds.count("StatefulSet") == 2 and kinds.count("Deployment") == 1
    for path in manifests:
        document = yaml.safe_load(path.read_text())
        assert path.name.endswith(f"-{document['kind'].lower()}-{document['metadata']['name']}.yaml")
    resources = json.loads((out / "resources.json").read_text())
    kubernetes = [r for r in resources if r["type"].startswith("kubernetes:")]
    assert len(kubernetes) == len(manifests), "one resource record per object"
    components = sorted(r["type"].split(":")[-1] for r in resources if r["type"].startswith("elk-stack:"))
    assert components == [
        "ElasticsearchCertificates",
        "ElasticsearchCluster",
        "ElasticsearchNode",
        "ElasticsearchSetup",
        "KibanaUi",
        "LogstashPipeline",
        "StackCredentials",
        "StackNetworkPolicies",
        "TopologyChange",
    ]
    for record in resources:
        assert {"type", "name", "parent", "protect", "retainOnDelete", "ignoreChanges"} <= record.keys()
    assert f"into {out}" in result.stdout


def test_namespaces_sort_first_for_kubectl_apply(tmp_path: Path) -> None:
    rendered = run_program(flat_config(createNamespace=True), stack="unit")
    from tools.render import manifest_file_name

    names = sorted(manifest_file_name(m) for m in rendered.manifests)
    assert names[0] == "00-namespace-elk-unit.yaml"
    assert names.index("04-persistentvolumeclaim-data-elk-elasticsearch-0.yaml") < names.index(
        "06-statefulset-elk-elasticsearch.yaml"
    )


def test_two_renders_are_byte_identical(tmp_path: Path) -> None:
    for run in ("one", "two"):
        assert render_cli(PROJECT_DIR, "qa", tmp_path / run).returncode == 0
    comparison = filecmp.dircmp(tmp_path / "one" / "qa", tmp_path / "two" / "qa")
    assert comparison.left_list == comparison.right_list
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "one" / "qa", tmp_path / "two" / "qa", comparison.common_files, shallow=False
    )
    assert mismatch == [] and errors == []


@pytest.mark.parametrize("stack", STACKS)
def test_numbers_are_integers_not_floats(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    values = [v for m in rendered_stacks[stack].manifests for v in walk_values(m)]
    assert not [v for v in values if isinstance(v, float)]
    assert any(isinstance(v, int) and not isinstance(v, bool) for v in values)


BAD_STACK = """
config:
  elk-stack:namespace: Not_A_Label
  elk-stack:elasticsearch:
    heap: 3g
    resources: {limits: {cpu: "1", memory: 4Gi}}
"""


def test_bad_config_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    project = project_copy(tmp_path, {"bad": BAD_STACK})
    out = tmp_path / "build"
    result = render_cli(project, "bad", out)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: invalid elk-stack config (2 problems):",
        "  - elasticsearch.heap: 3g is more than 50% of resources.limits.memory (4Gi); "
        "the pod would be OOMKilled. Lower the heap or raise the limit",
        "  - namespace: 'Not_A_Label' is not a DNS-1123 label: lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters",
    ]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_bad_config_leaves_a_previous_render_untouched(tmp_path: Path) -> None:
    good = (PROJECT_DIR / "Pulumi.test.yaml").read_text()
    project = project_copy(tmp_path, {"test": good})
    out = tmp_path / "build"
    assert render_cli(project, "test", out).returncode == 0
    before = {p.name: p.read_bytes() for p in (out / "test").iterdir()}
    (project / "Pulumi.test.yaml").write_text(BAD_STACK)
    assert render_cli(project, "test", out).returncode == 1
    assert {p.name: p.read_bytes() for p in (out / "test").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["test"], "no staging directory is left behind"


def test_secure_values_give_a_clear_error(tmp_path: Path) -> None:
    stack = "config:\n  elk-stack:namespace: elk\n  elk-stack:kibana:\n    token:\n      secure: AAABAxyz\n"
    project = project_copy(tmp_path, {"enc": stack})
    result = render_cli(project, "enc", tmp_path / "build")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: Pulumi.enc.yaml: elk-stack:kibana.token is encrypted (secure:), which the offline render "
        "cannot decrypt; use `pulumi preview` for this stack, or a plain value here"
    )
    assert not (tmp_path / "build").exists()


def test_missing_stack_file(tmp_path: Path) -> None:
    result = render_cli(PROJECT_DIR, "nosuchstack", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no stack file Pulumi.nosuchstack.yaml")


def test_kubernetes_keys_are_ignored_and_bare_keys_belong_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  kubernetes:namespace: other\n  kubernetes:context: qa\n  namespace: elk-x\n"
        "  elk-stack:createNamespace: false\n  elk-stack:imagePullSecrets: [a]\n"
    )
    assert stack_config("x", tmp_path) == {
        "elk-stack:namespace": "elk-x",
        "elk-stack:createNamespace": "false",
        "elk-stack:imagePullSecrets": '["a"]',
    }


def test_malformed_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.x.yaml").write_text("config: [unclosed\n")
    with pytest.raises(StackFileError, match=r"Pulumi\.x\.yaml is not valid YAML"):
        stack_config("x", tmp_path)


def test_secrets_are_redacted_unless_asked() -> None:
    wrapped = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    assert _plain({"data": {"password": wrapped}}, show_secrets=False) == {"data": {"password": REDACTED}}
    assert _plain({"data": {"password": wrapped}}, show_secrets=True) == {"data": {"password": "hunter2"}}
    assert _plain({"replicas": 1.0, "ratio": 0.5}, show_secrets=False) == {"replicas": 1, "ratio": 0.5}


def test_changing_only_the_pipeline_changes_only_logstash(tmp_path: Path) -> None:
    """Blast radius: a pipeline edit must not roll or touch Elasticsearch or Kibana."""
    base = stack_config("qa")
    pipeline = tmp_path / "edited.conf"
    pipeline.write_text(
        (PROJECT_DIR / "pipelines" / "spring-boot-json.conf").read_text().replace("@version", "host")
    )
    logstash = json.loads(base["elk-stack:logstash"])
    edited = {**base, "elk-stack:logstash": json.dumps({**logstash, "pipeline": str(pipeline)})}

    def by_name(rendered: Rendered) -> dict[str, Any]:
        return {f"{m['kind']}/{m['metadata']['name']}": m for m in rendered.manifests}

    before, after = by_name(run_program(base, stack="qa")), by_name(run_program(edited, stack="qa"))
    changed = sorted(key for key in before if before[key] != after[key])
    assert changed == ["ConfigMap/elk-logstash-config", "StatefulSet/elk-logstash"]
    assert before.keys() == after.keys()


def test_dependencies_do_not_depend_on_timing() -> None:
    """Repeated renders record the same dependencies.

    An Output nested in another's `apply` result once made the Pulumi SDK add dependencies
    to a shared set in place, so Logstash's StatefulSet depended on Kibana's passwords in
    some runs and not others.
    """
    runs = [run_program(stack_config("qa"), stack="qa").resources for _ in range(6)]
    assert all(resources == runs[0] for resources in runs[1:])
    logstash = next(
        r for r in runs[0] if r["type"] == "kubernetes:apps/v1:StatefulSet" and r["name"] == "logstash"
    )
    assert not [d for d in logstash["dependsOn"] if "credentials-kibana" in d]


@pytest.mark.parametrize("stack", ["..", ".", "", "a/b", "../build", "x" * 101])
def test_a_stack_name_that_is_no_stack_name_writes_and_removes_nothing(tmp_path: Path, stack: str) -> None:
    """`..` once made the render replace the whole project directory, `.git` included."""
    project = project_copy(tmp_path, {"test": (PROJECT_DIR / "Pulumi.test.yaml").read_text()})
    out = project / "build"
    out.mkdir()
    (out / "keep").write_text("a previous render")
    result = render_cli(project, stack, out, "--stack-file", str(project / "Pulumi.test.yaml"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "keep").read_text() == "a previous render"
    assert (project / "Pulumi.test.yaml").exists()
    assert sorted(p.name for p in out.iterdir()) == ["keep"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"# Kibana f\xfcr QA\nconfig:\n  elk-stack:namespace: elk\n", "line 1: the file is not UTF-8"),
        (b"config:\n  8080: x\n", "line 2: the config key '8080' is not text"),
        (b"config:\n  ~: x\n", "line 2: the config key '~' is not text"),
        (b"- config\n", "the top level is a list"),
        (b"config\n", "the top level is a single value"),
        (b"config:\n  elk-stack:kibana: {ingress: {host: !!binary aGk=}}\n", "a !!binary value"),
        (b"config:\n  elk-stack:kibana: &k [*k]\n", "the value contains itself"),
        (b"config:\n  elk-stack:kibana: " + b"[" * 10000 + b"\n", "nested too deeply"),
        (b"config:\n  elk-stack:namespace: a\n  elk-stack:namespace: b\n", "is given twice"),
        (
            b"config:\n  elk-stack:security: {enabled: !!bool 1}\n",
            "security.enabled: !!bool 1 is not a boolean",
        ),
        (b"config:\n  elk-stack:kibana: !!python/object {replicas: 2}\n", "a !!python/object value cannot"),
    ],
    ids=[
        "latin-1",
        "number-key",
        "null-key",
        "list",
        "scalar",
        "binary",
        "recursive",
        "deep",
        "duplicate",
        "bool-one",
        "python-tag",
    ],
)
def test_a_stack_file_pulumi_would_refuse_is_one_line_and_exit_1(
    tmp_path: Path, text: bytes, expected: str
) -> None:
    stack_file = tmp_path / "Pulumi.bad.yaml"
    stack_file.write_bytes(text)
    result = render_cli(PROJECT_DIR, "bad", tmp_path / "build", "--stack-file", str(stack_file))
    assert result.returncode == 1
    assert result.stderr.startswith("error: Pulumi.bad.yaml") and expected in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not (tmp_path / "build").exists()


def test_a_missing_stack_file_option_names_that_file(tmp_path: Path) -> None:
    """It once named the project directory, where the render had not looked."""
    result = render_cli(PROJECT_DIR, "qa", tmp_path / "build", "--stack-file", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: no stack file {tmp_path / 'nope.yaml'}"


def test_a_wrong_command_line_exits_2(tmp_path: Path) -> None:
    result = render_cli(PROJECT_DIR, "qa", tmp_path / "build", "--no-such-option")
    assert result.returncode == 2
    assert "usage: python -m tools.render" in result.stderr
    assert not (tmp_path / "build").exists()


MISSPELT_PREFIXES = (
    "config:\n  elk-stack:namespace: elk-x\n  elk_stack:replicas: 2\n  elkstack:version: 8.0.0\n"
)


def test_a_misspelt_project_prefix_is_a_warning_in_the_render(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text(MISSPELT_PREFIXES + "  elk-stak:kibana: {}\n  kubernetes:namespace: other\n")
    result = render_cli(PROJECT_DIR, "x", tmp_path / "build", "--stack-file", str(stack_file))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: Pulumi.x.yaml")]
    assert warnings == [
        "warning: Pulumi.x.yaml: elk_stack:replicas is ignored: 'elk_stack' is not this project's "
        "namespace; did you mean elk-stack:replicas?",
        "warning: Pulumi.x.yaml: elkstack:version is ignored: 'elkstack' is not this project's "
        "namespace; did you mean elk-stack:version?",
        "warning: Pulumi.x.yaml: elk-stak:kibana is ignored: 'elk-stak' is not this project's "
        "namespace; did you mean elk-stack:kibana?",
    ]


def test_a_misspelt_prefix_warns_next_to_the_error_it_causes(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text("config:\n  elk_stack:namespace: elk-x\n")
    result = render_cli(PROJECT_DIR, "x", tmp_path / "build", "--stack-file", str(stack_file))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "warning: Pulumi.x.yaml: elk_stack:namespace is ignored: 'elk_stack' is not this project's "
        "namespace; did you mean elk-stack:namespace?",
        "error: invalid elk-stack config (1 problem):",
        "  - namespace: is required",
    ]


def test_the_program_warns_about_a_misspelt_prefix_the_engine_passes_on() -> None:
    """`pulumi up` hands the program every namespace's keys; other providers' stay silent."""
    config = {
        "elk-stack:namespace": "elk-x",
        "elk_stack:replicas": "2",
        "kubernetes:namespace": "other",
        "kubernetes:context": "qa",
    }
    warnings = run_program(config, stack="unit").warnings
    assert [w for w in warnings if "ignored" in w] == [
        "elk_stack:replicas is ignored: 'elk_stack' is not this project's namespace; "
        "did you mean elk-stack:replicas?"
    ]


def decodes_as_kubernetes_data(value: str) -> bool:
    """Whether kube-apiserver would take `value` as a Secret `data` value.

    `data` is `map[string][]byte`, which Go's JSON decoding reads as standard base64
    (skipping line breaks); anything else fails with "illegal base64 data at input byte N".
    """
    try:
        base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@pytest.mark.parametrize("extra", [[], ["--show-secrets"]], ids=["redacted", "show-secrets"])
def test_rendered_secrets_cannot_be_applied(tmp_path: Path, extra: list[str]) -> None:
    """Mock and redacted values in `stringData` would have been applied as real credentials."""
    result = render_cli(PROJECT_DIR, "qa", tmp_path, *extra)
    assert result.returncode == 0, result.stderr
    secrets = [yaml.safe_load(path.read_text()) for path in sorted((tmp_path / "qa").glob("*-secret-*.yaml"))]
    assert len(secrets) == 10
    for secret in secrets:
        assert "stringData" not in secret
        assert secret["data"], secret["metadata"]["name"]
        accepted = [key for key, value in secret["data"].items() if decodes_as_kubernetes_data(value)]
        assert accepted == [], secret["metadata"]["name"]


def test_the_base64_check_accepts_what_the_api_server_accepts() -> None:
    """Without this, the test above could pass on any value."""
    assert decodes_as_kubernetes_data(base64.b64encode(b"hunter2").decode())
    assert decodes_as_kubernetes_data("abcd")
    assert not decodes_as_kubernetes_data("mock-password-0123")
    assert not decodes_as_kubernetes_data(REDACTED)


def test_a_shown_value_that_is_valid_base64_is_still_refused() -> None:
    """`abcd` is a valid base64 text, and a possible `security.logstashUser`."""
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"username": "abcd"}}
    written = unappliable_secret(secret)
    assert "stringData" not in written
    assert written["data"] == {"username": "<render only, not base64: abcd>"}
    assert not decodes_as_kubernetes_data(written["data"]["username"])
    redacted = unappliable_secret({**secret, "stringData": {"username": REDACTED}})
    assert redacted["data"] == {"username": REDACTED}


MINIMAL_STACK = "config:\n  elk-stack:namespace: elk-qa\n"


def render_main(tmp_path: Path, stack: str, out: Path) -> int:
    """Run the render's command line in-process on a minimal stack file."""
    stack_file = tmp_path / "minimal.yaml"
    stack_file.write_text(MINIMAL_STACK)
    return main([stack, "--stack-file", str(stack_file), "--out", str(out)])


@pytest.mark.parametrize("stack", [".git", "pipelines"])
def test_a_directory_the_render_did_not_write_is_never_replaced(
    tmp_path: Path, stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "out" / stack
    (kept / "objects").mkdir(parents=True)
    (kept / "HEAD").write_text("ref: refs/heads/main\n")
    assert render_main(tmp_path, stack, tmp_path / "out") == 1
    assert "is not the output of an earlier render; refusing to replace it" in capsys.readouterr().err
    assert sorted(p.name for p in kept.iterdir()) == ["HEAD", "objects"]


def test_an_earlier_render_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render_main(tmp_path, "mine", out) == 0
    (out / "mine" / "99-stale-object.yaml").write_text("{}\n")
    assert render_main(tmp_path, "mine", out) == 0
    assert not (out / "mine" / "99-stale-object.yaml").exists()
    assert (out / "mine" / "resources.json").is_file()


@pytest.mark.parametrize("where", ["out root", "stack directory"])
def test_a_file_in_the_way_is_one_message_not_a_traceback(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    blocker = out if where == "out root" else out / "mine"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("keep me\n")
    assert render_main(tmp_path, "mine", out) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert blocker.read_text() == "keep me\n"


def test_a_failed_write_is_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full_disk(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tools.render_output.os.replace", full_disk)
    assert render_main(tmp_path, "mine", tmp_path / "out") == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot write {tmp_path / 'out' / 'mine'}: No space left on device"
    ]
    assert list((tmp_path / "out").iterdir()) == []


def test_the_rendered_directory_is_readable_by_others(tmp_path: Path) -> None:
    assert render_main(tmp_path, "mine", tmp_path / "out") == 0
    assert (tmp_path / "out" / "mine").stat().st_mode & 0o755 == 0o755


@pytest.mark.parametrize(
    "text",
    [
        b"config:\n  elk-stack:elasticsearch: {storage: {size: 20Gi, protect: !!bool yes}}\n",
        b"%YAML 1.1\n---\nconfig:\n  elk-stack:elasticsearch: {storage: {size: 20Gi, protect: yes}}\n",
    ],
    ids=["bool-tag", "yaml-1.1"],
)
def test_a_yaml_1_1_yes_keeps_protection_on(tmp_path: Path, text: bytes) -> None:
    """Read as "is it `true`?", a `yes` once turned `protect` off."""
    stack_file = tmp_path / "Pulumi.yes.yaml"
    stack_file.write_bytes(text)
    assert read_config(stack_file)["elk-stack:elasticsearch"]["storage"]["protect"] is True
