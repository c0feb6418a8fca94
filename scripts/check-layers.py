#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-layers.py: the dependency rule of docs/hacking.md, checked on the
sources. Every quoted #include of a C file must resolve to a header in the
file's own layer or a lower one (common < proto < adapter < chat <
gateway; tests/support is for tests only: *_test.c, *_fuzz.c and the
test-only headers *_fake.h and *_test_util.h), and the module graph (a module
is a .c/.h pair; an edge is an include) must have no cycle. ctest runs it
as lint.layers. Exit status 1 lists every violation."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ["common", "proto", "adapter", "chat", "gateway"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    top = path.split(os.sep)[0]
    return LAYERS.index(top) if top in LAYERS else None


def main():
    headers = {}  # basename -> relative path
    sources = []
    for top in LAYERS + ["tests/support"]:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(dirpath, f), ROOT)
                    sources.append(rel)
                    if f.endswith(".h"):
                        headers[f] = rel
    errors = []
    graph = {}  # module -> set of modules
    for rel in sources:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
            text = fh.read()
        mine = layer_of(rel)
        is_test = rel.startswith("tests/") or re.search(
            r"_(test|fuzz)\.c$|_(fake|test_util)\.h$", rel
        )
        module = os.path.splitext(rel)[0]
        for inc in INCLUDE.findall(text):
            name = os.path.basename(inc)
            target = headers.get(name)
            if target is None:
                continue  # generated (gw_redis_scripts.h's .c) or system-like
            if target.startswith("tests/"):
                if not is_test:
                    errors.append(f"{rel}: includes test support {inc}")
                continue
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                errors.append(
                    f"{rel} ({LAYERS[mine]}) includes {inc} "
                    f"({LAYERS[theirs]}): upward"
                )
            if not is_test:
                dep = os.path.splitext(target)[0]
                if dep != module:
                    graph.setdefault(module, set()).add(dep)
    # Cycles between modules (Tarjan's strongly connected components).
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        errors.append("include cycle between modules: " + " <-> ".join(comp))
    for e in errors:
        print(e)
    n = len(sources)
    print(f"{n} files, {len(graph)} modules: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
