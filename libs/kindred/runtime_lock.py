"""`python -m kindred.runtime_lock REPORT`: a pip install report as a pinned requirements file."""

from __future__ import annotations

import json
import sys

HEADER = (
    "# Runtime dependencies only (the subgraph image); a subset of requirements.lock. "
    "`make lock` writes both."
)


def pins(report: dict[str, object]) -> list[str]:
    """`name==version` for each package the report would install, but the project itself."""
    installs = report.get("install", [])
    assert isinstance(installs, list)
    found = {(i["metadata"]["name"], i["metadata"]["version"]) for i in installs}
    return [
        f"{name}=={version}"
        for name, version in sorted(found, key=lambda p: p[0].lower())
        if name != "kindred"
    ]


if __name__ == "__main__":
    with open(sys.argv[1]) as file:
        print("\n".join([HEADER, *pins(json.load(file))]))
