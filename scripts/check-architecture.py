#!/usr/bin/env python3
"""Keeps docs/architecture.md true: its module table must list every module under Sources/
exactly once, each with exactly the dependencies Package.swift gives it (project modules by
name, other packages by the name Package.swift gives them).

Usage: scripts/check-architecture.py   (from anywhere; exits 1 and says what differs)
"""
import json
import pathlib
import re
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
manifest = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                     capture_output=True, text=True).stdout)

# Modules that live under Sources/ (benchmarks, fuzzers and test support name a path of their own).
expected = {}
for target in manifest["targets"]:
    if target["type"] not in ("regular", "executable") or target.get("path"):
        continue
    dependencies = set()
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        if kind == "product":
            dependencies.add(value[1])
        else:
            dependencies.add(value[0])
    expected[target["name"]] = dependencies

text = (root / "docs" / "architecture.md").read_text()
lines = text.splitlines()
try:
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*module\s*\|\s*job\s*\|\s*depends on\s*\|", line))
except StopIteration:
    sys.exit("docs/architecture.md: no table with the header | module | job | depends on |")

documented = {}
problems = []
for line in lines[start + 2:]:
    if not line.startswith("|"):
        break
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    if len(cells) != 3:
        problems.append(f"a row without three cells: {line}")
        continue
    names = re.findall(r"`([^`]+)`", cells[0])
    listed = {name.strip().strip("`") for name in cells[2].split(",") if name.strip() not in ("", "—", "-")}
    for name in names:
        if name in documented:
            problems.append(f"{name} has two rows")
        documented[name] = listed

for name in sorted(expected.keys() - documented.keys()):
    problems.append(f"{name} is in Package.swift but has no row")
for name in sorted(documented.keys() - expected.keys()):
    problems.append(f"{name} has a row but is not a module under Sources/ in Package.swift")
for name in sorted(expected.keys() & documented.keys()):
    missing, extra = expected[name] - documented[name], documented[name] - expected[name]
    if missing:
        problems.append(f"{name}: Package.swift also depends on {', '.join(sorted(missing))}")
    if extra:
        problems.append(f"{name}: the table names {', '.join(sorted(extra))}, which Package.swift does not")

if problems:
    print("docs/architecture.md does not match Package.swift:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    sys.exit(1)
print(f"docs/architecture.md: {len(expected)} modules match Package.swift")
