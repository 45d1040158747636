"""Elastic's test distribution of Elasticsearch, from Maven Central, unpacked once per version.

`org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip` is the server
with x-pack-core, x-pack-security, transport-netty4 and apm: no ILM, SLM, data streams
module, analysis-common, rest-root or cloud repositories, and no bundled JDK. It is the only
Elasticsearch these machines can download (the default distribution is not on Maven
Central). `mvn dependency:get` puts the zip in the local Maven repository; it is unpacked
into `~/.cache/elk-stack/elasticsearch/<version>/` with its file modes, so a second run
only checks a stamp.

    python -m tools.real_es.distribution [version ...]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tools.e2e.build import cache_root

# The version the tier runs by default, and the one a rolling upgrade starts from.
DEFAULT_VERSION = "9.4.3"
UPGRADE_FROM_VERSION = "9.2.0"
ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
MINIMUM_JAVA = 21
JVM_DIRS = (Path("/usr/lib/jvm"), Path("/opt/java"))


class DistributionError(Exception):
    """Elasticsearch or a JDK to run it is not to be had; the message says what to do."""


def maven_zip(version: str) -> Path:
    """Where `mvn dependency:get` leaves the zip in the local Maven repository."""
    repository = Path(os.environ.get("MAVEN_REPOSITORY") or Path.home() / ".m2" / "repository")
    folder = repository / "org/elasticsearch/distribution/integ-test-zip/elasticsearch" / version
    return folder / f"elasticsearch-{version}.zip"


def download(version: str) -> Path:
    """The zip of `version`, fetched from Maven Central when the local repository lacks it."""
    zip_path = maven_zip(version)
    if zip_path.is_file():
        return zip_path
    if shutil.which("mvn") is None:
        raise DistributionError(f"Elasticsearch {version} is not cached and `mvn` is not on PATH to fetch it")
    print(f"fetching Elasticsearch {version} from Maven Central ({ARTIFACT.format(version=version)})")
    command = ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT.format(version=version)}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not zip_path.is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-10:])
        raise DistributionError(f"`{' '.join(command)}` did not fetch Elasticsearch {version}:\n{tail}")
    return zip_path


def _extract(zip_path: Path, target: Path) -> None:
    """Unpack with the Unix modes the zip records (zipfile alone drops the executable bits)."""
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.infolist():
            path = Path(archive.extract(member, target))
            mode = member.external_attr >> 16 & 0o777
            if mode:
                path.chmod(mode)


def home(version: str) -> Path:
    """The unpacked distribution of `version` (its ES_HOME), fetched and unpacked when missing."""
    root = cache_root() / "elasticsearch" / version
    es_home = root / f"elasticsearch-{version}"
    stamp = root / ".unpacked"
    if stamp.is_file() and es_home.is_dir():
        return es_home
    zip_path = download(version)
    shutil.rmtree(root, ignore_errors=True)
    staging = root.with_name(f".{version}-unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _extract(zip_path, staging)
    # Readable and searchable by the unprivileged user the nodes run as.
    for path in [staging, *staging.rglob("*")]:
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    (staging / ".unpacked").write_text(f"{zip_path}\n")
    staging.rename(root)
    return es_home


def java_major(java_home: Path) -> int | None:
    """The feature release of the JDK at `java_home`, from its `release` file."""
    try:
        text = (java_home / "release").read_text()
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="(\d+)', text, re.M)
    return int(found.group(1)) if found else None


def java_home() -> Path:
    """A JDK of release 21 or later: ES_JAVA_HOME if set, else the newest under the JVM folders."""
    configured = os.environ.get("ES_JAVA_HOME")
    if configured:
        major = java_major(Path(configured))
        if major is None or major < MINIMUM_JAVA:
            raise DistributionError(
                f"ES_JAVA_HOME={configured} is not a JDK {MINIMUM_JAVA} or later (found {major})"
            )
        return Path(configured)
    candidates = [path for folder in JVM_DIRS if folder.is_dir() for path in folder.iterdir()]
    found = sorted(
        ((major, path) for path in candidates if (major := java_major(path)) and major >= MINIMUM_JAVA),
        reverse=True,
    )
    if not found:
        raise DistributionError(
            f"Elasticsearch needs a JDK {MINIMUM_JAVA} or later and none is under "
            f"{', '.join(map(str, JVM_DIRS))}; install one (e.g. Temurin 25) or set ES_JAVA_HOME"
        )
    return found[0][1]


def main(argv: list[str] | None = None) -> int:
    """Fetch and unpack the given versions (the default one and the upgrade's start without)."""
    versions = (argv if argv is not None else sys.argv[1:]) or [UPGRADE_FROM_VERSION, DEFAULT_VERSION]
    try:
        print(f"JDK for Elasticsearch: {java_home()}")
        for version in versions:
            print(f"Elasticsearch {version}: {home(version)}")
    except DistributionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
