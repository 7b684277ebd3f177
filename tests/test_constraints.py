"""constraints.txt pins what `make` installs: every package the project asks for must be
in it, at a version its range in pyproject.toml admits, or a fresh machine would take
whatever was released last for that package."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, Version]:
    """Name -> pinned version of a constraints file; a line that is not `name==version`
    (other than a comment) is an error naming the line."""
    out: dict[str, Version] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", \
            f"{path.name}:{number}: not an exact pin: {line}"
        out[canonicalize_name(requirement.name)] = Version(specifiers[0].version)
    return out


def requirements() -> list[Requirement]:
    """The project's own requirements and those of its test extra, for this Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    return [r for r in map(Requirement, wanted) if r.marker is None or r.marker.evaluate()]


def test_every_requirement_is_pinned_within_its_range() -> None:
    pinned = pins(ROOT / "constraints.txt")
    missing = [str(r) for r in requirements() if canonicalize_name(r.name) not in pinned]
    assert not missing, f"not in constraints.txt (run `make lock`): {missing}"
    outside = [f"{r} (pinned {pinned[canonicalize_name(r.name)]})" for r in requirements()
               if not r.specifier.contains(pinned[canonicalize_name(r.name)],
                                           prereleases=True)]
    assert not outside, f"constraints.txt pins a version pyproject.toml excludes: {outside}"


def test_torch_is_pinned_to_the_cpu_build_the_makefile_installs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet torch==2.13.0" in makefile
    assert pins(ROOT / "constraints.txt")["torch"] == Version("2.13.0")


def test_the_makefile_installs_through_the_constraints() -> None:
    installs = [line.strip() for line in (ROOT / "Makefile").read_text().splitlines()
                if "pip install" in line and "-e " in line]
    assert installs, "the Makefile installs the project"
    assert all("-c constraints.txt" in line for line in installs), installs

