"""The version record: what the stack rolled out, and the refusal of a lower version."""

from __future__ import annotations

import pytest

from components.generated.version_record import VersionRecordProvider, downgrade_refusal, version_tuple

PROVIDER = VersionRecordProvider()


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [
        ("9.4.3", "9.2.0"),
        ("9.4.3", "9.4.2"),
        ("10.0.0", "9.99.99"),
        ("9.10.0", "9.9.0"),
        ("8.19.0", "8.15.0"),
    ],
)
def test_a_lower_version_is_refused_in_one_line_naming_the_key_and_both_versions(
    stored: str, wanted: str
) -> None:
    result = PROVIDER.check({"version": stored}, {"version": wanted})
    [failure] = result.failures
    assert failure.property == "version"
    assert "\n" not in failure.reason
    assert failure.reason.startswith(f"elk-stack:version is {wanted}, older than {stored},")
    assert "restore a snapshot into a new stack" in failure.reason


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [(None, "9.2.0"), ("9.2.0", "9.2.0"), ("9.2.0", "9.4.3"), ("9.9.0", "9.10.0"), ("8.19.0", "9.0.0")],
)
def test_a_first_deploy_the_same_version_and_an_upgrade_pass(stored: str | None, wanted: str) -> None:
    olds = {} if stored is None else {"version": stored}
    result = PROVIDER.check(olds, {"version": wanted})
    assert result.failures == []
    assert result.inputs == {"version": wanted}


def test_an_unknown_or_odd_stored_value_never_refuses() -> None:
    """Only two versions can be compared; the program's own schema checks what it is given."""
    assert downgrade_refusal("04000000-0000-0000-0000-000000000000", "9.2.0") is None
    assert downgrade_refusal("9.4.3", None) is None
    assert version_tuple("9.4") is None
    assert version_tuple("9.10.1") == (9, 10, 1)


def test_a_version_change_is_an_update_in_place_that_stores_the_new_version() -> None:
    diff = PROVIDER.diff("version-record", {"version": "9.2.0"}, {"version": "9.4.3"})
    assert diff.changes is True
    assert diff.replaces == []
    assert PROVIDER.diff("version-record", {"version": "9.4.3"}, {"version": "9.4.3"}).changes is False
    assert PROVIDER.update("version-record", {"version": "9.2.0"}, {"version": "9.4.3"}).outs == {
        "version": "9.4.3"
    }
    created = PROVIDER.create({"version": "9.2.0"})
    assert created.outs == {"version": "9.2.0"}
    assert PROVIDER.read("version-record", created.outs).outs == {"version": "9.2.0"}
