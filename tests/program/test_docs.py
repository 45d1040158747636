"""The documentation holds together: links resolve, the README stays short, the map names real paths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.specs import elasticsearch, kibana, logstash
from components.specs.clients import SCRIPT_RESOURCES

PROJECT_DIR = Path(__file__).resolve().parents[2]
README = PROJECT_DIR / "README.md"
DEVELOPMENT = PROJECT_DIR / "docs" / "development.md"
PAGES = [README, *sorted((PROJECT_DIR / "docs").glob("*.md"))]
README_MAX_LINES = 300
MAP_HEADING = "## Where things are"

LINK = re.compile(r"\]\(([^()\s]+)\)")
HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """The page's lines outside fenced code blocks, numbered from 1."""
    fence = ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence):
                fence = ""
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in the page; a repeated one gets `-1`, `-2`, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """The page's relative links (`](path)`, `](path#anchor)`, `](#anchor)`), outside code."""
    for number, line in prose(path):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if not EXTERNAL.match(target):
                yield number, target


def broken_links(path: Path, root: Path = PROJECT_DIR) -> list[str]:
    """Each link of the page whose file, or whose anchor in that file, does not exist."""
    broken = []
    for number, target in links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not linked.exists():
            broken.append(f"{where}: no such file")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{where}: no heading #{anchor} in {linked.relative_to(root)}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_DIR)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a missing file, a missing anchor, a missing anchor here."""
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## What `make render` writes\n")
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#what-make-render-writes) [ok](#page) [ok](other.md) [web](https://example.com)\n"
        "[gone](missing.md) [gone](other.md#nothing) [gone](#nothing)\n"
        "```text\n[in code](missing.md)\n```\n"
    )
    assert [line.split(": ", 1)[1] for line in broken_links(page, root=tmp_path)] == [
        "missing.md: no such file",
        "other.md#nothing: no heading #nothing in other.md",
        "#nothing: no heading #nothing in page.md",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Elasticsearch: one node or node sets", "elasticsearch-one-node-or-node-sets"),
        ("What `make render` writes", "what-make-render-writes"),
        ("What is generated, and where", "what-is-generated-and-where"),
        ("The real-Elasticsearch tier (`make test-real`)", "the-real-elasticsearch-tier-make-test-real"),
        ("snake_case and `dead_letter_queue`", "snake_case-and-dead_letter_queue"),
    ],
)
def test_slugs_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_readme_is_a_front_door() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details into docs/"


def test_the_readme_links_every_page_of_docs() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert [page.name for page in PAGES[1:] if page.resolve() not in linked] == []


def map_paths() -> list[str]:
    """The paths at the line starts of the first `text` block under the map's heading."""
    text = DEVELOPMENT.read_text()
    assert f"\n{MAP_HEADING}\n" in text, f"docs/development.md has no `{MAP_HEADING}` section"
    section = text.split(f"\n{MAP_HEADING}\n", 1)[1]
    block = section.split("```text\n", 1)[1].split("\n```", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip() and not line[0].isspace()]


def missing(path: str) -> bool:
    """Whether nothing in the repository matches the map's path (`<stack>` stands for any name)."""
    pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
    matches = list(PROJECT_DIR.glob(pattern))
    if path.endswith("/"):
        matches = [match for match in matches if match.is_dir()]
    return not matches


def test_the_development_map_names_only_paths_that_exist() -> None:
    paths = map_paths()
    assert len(paths) > 10, paths
    assert [path for path in paths if missing(path)] == []


def test_the_ephemeral_storage_table_is_what_the_program_sets() -> None:
    """docs/operations.md's defaults are the specs' own, so the page never drifts from the pods."""
    text = (PROJECT_DIR / "docs" / "operations.md").read_text()
    section = text.split("### Ephemeral storage", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[0]: (cells[1], cells[2])
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith(("| Container", "| ---"))
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    jobs = (
        SCRIPT_RESOURCES["requests"]["ephemeral-storage"],
        SCRIPT_RESOURCES["limits"]["ephemeral-storage"],
    )
    assert rows == {
        "Elasticsearch": (elasticsearch.SCRATCH.request, elasticsearch.SCRATCH.limit),
        "Logstash": (logstash.SCRATCH.request, logstash.SCRATCH.limit),
        "Kibana": (kibana.SCRATCH.request, kibana.SCRATCH.limit),
        "the Jobs (setup, snapshot, topology)": jobs,
    }
