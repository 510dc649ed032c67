#!/usr/bin/env python3
"""Checks that Package.swift's target dependencies equal the modules each target imports, and that
the README's module graph is Package.swift's.

For every target under Sources/ and Tests/, compares the names listed in its `dependencies:`
with the modules its Swift files import (`import X`, `@testable import X`,
`@_implementationOnly import X`), restricted to the package's own targets and the products of its
package dependencies. Prints each mismatch (declared but not imported, imported but not
declared) and exits 1 if there is any; prints the module graph of Sources/ with --graph.

Usage: scripts/peers/check-module-graph.py [--graph] [REPO]
"""
import os
import re
import sys

# Dependencies that are linked, not imported: a test target depends on an executable target so
# that SwiftPM builds the binary the test runs; CCPUCheck is linked into `hemo` for its ELF
# constructor, which runs before any Swift code.
LINKED_NOT_IMPORTED = {"CCPUCheck"}
PRODUCT_MODULES = {"ArgumentParser": "ArgumentParser", "SwiftProtobuf": "SwiftProtobuf", "Prometheus": "Prometheus"}


def parse_package(text):
    """Returns {target: (kind, path, [deps])} from Package.swift's `.target(`/`.testTarget(` calls."""
    targets = {}
    for m in re.finditer(r"\.(target|testTarget|executableTarget|systemLibrary)\(\s*name:\s*\"([^\"]+)\"", text):
        kind, name = m.group(1), m.group(2)
        # The call's text: up to its matching parenthesis.
        depth, i = 0, m.start() + 1
        while i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        call = text[m.start():i]
        deps = []
        d = re.search(r"dependencies:\s*\[", call)
        if d:
            j, depth = d.end(), 1
            while depth:
                depth += {"[": 1, "]": -1}.get(call[j], 0)
                j += 1
            body = call[d.end():j - 1]
            deps = re.findall(r"product\(name:\s*\"([^\"]+)\"", body)
            body = re.sub(r"\.product\([^)]*\)", "", body)
            deps += re.findall(r"\"([^\"]+)\"", body)
        p = re.search(r"path:\s*\"([^\"]+)\"", call)
        path = p.group(1) if p else ("Tests/" if kind == "testTarget" else "Sources/") + name
        targets[name] = (kind, path, deps)
    return targets


def imports_of(root, path):
    found = set()
    for dirpath, _, files in os.walk(os.path.join(root, path)):
        for f in files:
            if f.endswith(".swift"):
                for line in open(os.path.join(dirpath, f), encoding="utf-8"):
                    m = re.match(r"^\s*(?:@testable\s+|@_spi\([A-Za-z0-9_]+\)\s+|@_implementationOnly\s+|@_exported\s+|public\s+|internal\s+|package\s+)*import\s+(?:(?:struct|class|enum|func|protocol|typealias|var|let)\s+)?([A-Za-z_][A-Za-z0-9_]*)", line)
                    if m:
                        found.add(m.group(1))
    return found


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    targets = parse_package(open(os.path.join(root, "Package.swift")).read())
    known = set(targets) | set(PRODUCT_MODULES)
    problems = []
    for name, (kind, path, deps) in sorted(targets.items()):
        if kind == "systemLibrary" or not os.path.isdir(os.path.join(root, path)):
            continue
        used = imports_of(root, path) & known
        declared = set(deps)
        for d in sorted(declared - used):
            if targets.get(d, ("",))[0] == "executableTarget" or d in LINKED_NOT_IMPORTED:
                continue
            problems.append(f"{name}: declares {d} but no file imports it")
        for u in sorted(used - declared - {name}):
            problems.append(f"{name}: imports {u} but does not declare it")
    graph = [f"{name} -> {', '.join(sorted(deps)) or '(none)'}"
             for name, (kind, path, deps) in sorted(targets.items())
             if kind in ("target", "executableTarget") and path.startswith("Sources") and not name.startswith("C")]
    if "--graph" in sys.argv:
        print("\n".join(graph))
    # The README's module graph (the code block after "The dependencies between the modules") must be this one.
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    at = readme.find("The dependencies between the modules")
    if at < 0:
        problems.append("README.md: no module graph (\"The dependencies between the modules\")")
    else:
        start = readme.index("```\n", at) + 4
        shown = readme[start:readme.index("```", start)].strip().splitlines()
        if shown != graph:
            problems.append("README.md: the module graph differs from Package.swift; regenerate it with --graph:")
            problems += [f"  README: {l}" for l in shown if l not in graph] + [f"  Package.swift: {l}" for l in graph if l not in shown]
    for p in problems:
        print(p)
    print(f"{len(targets)} targets, {len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
