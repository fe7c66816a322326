#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a circle.

    scripts/import-circles.py core/src app/src server/src   # check, print the graph's circles
    scripts/import-circles.py --layers core/src             # modules by how deep they import
    scripts/import-circles.py --self-test                   # prove it finds a planted circle

A module is a file (`plan.rs`, `lint/metrics.rs`, `aws/mod.rs` is `aws`). An edge
A -> B is any path `crate::B…` or `super::…` in A's code outside its
`#[cfg(test)]` items and comments, including each leaf of a grouped
`use crate::{b, c::{d, e}}`. A module and its own submodules are one family:
`aws` declaring `mod cloudwatch` and `aws::cloudwatch` reading `super::Error` is
not a circle. Any other strongly connected set of modules is, and is printed
with one import that closes it.
"""
import os
import re
import sys
import tempfile

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def modules(root):
    mods = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)[:-3].replace(os.sep, "::")
            if rel.endswith("::mod"):
                rel = rel[: -len("::mod")]
            if rel in ("lib", "main"):
                rel = ""
            if rel.startswith("bin::"):
                continue
            mods[rel] = path
    return mods


def strip(src):
    """The code without comments, strings and #[cfg(test)] items."""
    out = []
    i, n = 0, len(src)
    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif src[i] == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif src.startswith("r#\"", i):
            j = src.find('"#', i + 3)
            out.append('""')
            i = n if j < 0 else j + 2
        elif src.startswith("#[cfg(test)]", i):
            i = skip_item(src, i + len("#[cfg(test)]"))
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def skip_item(src, i):
    """The index after the item that starts at i: up to its `;` or its braces' end."""
    depth = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def use_paths(code, start):
    """Every full path of the tree that begins at code[start:] (after `crate::`)."""
    paths = []

    def tree(i, prefix):
        i = skip_ws(code, i)
        if i < len(code) and code[i] == "{":
            i += 1
            while True:
                i = skip_ws(code, i)
                if i >= len(code):
                    return i
                if code[i] == "}":
                    return i + 1
                if code[i] == ",":
                    i += 1
                    continue
                i = tree(i, prefix)
        m = re.compile(IDENT).match(code, i)
        if not m:
            if prefix:
                paths.append(prefix)
            return i + 1
        segs = prefix + [m.group(0)]
        i = m.end()
        j = skip_ws(code, i)
        if code.startswith("::", j):
            return tree(j + 2, segs)
        paths.append(segs)
        return i

    tree(start, [])
    return paths


def skip_ws(code, i):
    while i < len(code) and code[i].isspace():
        i += 1
    return i


def edges(root):
    mods = modules(root)
    graph = {m: {} for m in mods}
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as f:
            code = strip(f.read())
        is_dir_module = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
        parent = mod if is_dir_module else "::".join(mod.split("::")[:-1])
        for hit in re.finditer(r"\b(crate|super)\s*::", code):
            if hit.group(1) == "crate":
                base = []
            else:
                base = parent.split("::")[:-1] if parent else []
                if parent == "":
                    continue
            for segs in use_paths(code, hit.end()):
                full = base + [s for s in segs if s != "self"]
                target = longest_module(full, mods)
                if target is None or family(mod, target):
                    continue
                graph[mod].setdefault(target, "::".join([hit.group(1)] + segs))
    return graph


def longest_module(segs, mods):
    for k in range(len(segs), -1, -1):
        cand = "::".join(segs[:k])
        if cand in mods:
            return cand
    return None


def family(a, b):
    return a == b or a == "" or b == "" or a.startswith(b + "::") or b.startswith(a + "::")


def circles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def report(root):
    graph = edges(root)
    found = circles(graph)
    name = lambda m: m or "(crate root)"
    if not found:
        count = sum(len(v) for v in graph.values())
        print(f"{root}: {len(graph)} modules, {count} imports, no circles")
        return True
    for comp in found:
        members = set(comp)
        print(f"{root}: a circle of {len(comp)} modules: {', '.join(name(m) for m in comp)}")
        for m in comp:
            for t, how in sorted(graph[m].items()):
                if t in members:
                    print(f"    {name(m)} -> {name(t)}  ({how})")
    return False


def layers(root):
    """Each module's layer: 0 imports no other module of the crate, n imports
    some module of layer n-1 and none higher. Only for a crate without circles."""
    graph = edges(root)
    depth = {}

    def visit(m):
        if m not in depth:
            depth[m] = 0
            depth[m] = 1 + max((visit(t) for t in graph[m]), default=-1)
        return depth[m]

    for m in graph:
        visit(m)
    print(root)
    for layer in sorted(set(depth.values())):
        names = sorted(m or "(crate root)" for m, d in depth.items() if d == layer)
        print(f"  {layer}: {', '.join(names)}")


def self_test():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "lint"))
        files = {
            "lib.rs": "pub mod plan; pub mod verdict; pub mod lint;",
            "plan.rs": "use crate::{field, verdict::{Verdict, DEFAULT}};\n// crate::lint in a comment\n",
            "verdict.rs": "use crate::lint::metrics::see;\n#[cfg(test)]\nmod tests { use crate::plan::Plan; }\n",
            "field.rs": "",
            "lint/mod.rs": "mod metrics; pub use metrics::see;\n",
            "lint/metrics.rs": "use super::super::plan::Plan;\nfn f() { let s = \"crate::field\"; }\n",
        }
        for rel, text in files.items():
            with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                f.write(text)
        graph = edges(d)
        assert set(graph["plan"]) == {"field", "verdict"}, graph["plan"]
        assert set(graph["verdict"]) == {"lint::metrics"}, graph["verdict"]
        assert set(graph["lint::metrics"]) == {"plan"}, graph["lint::metrics"]
        assert circles(graph) == [["lint::metrics", "plan", "verdict"]], circles(graph)
        with open(os.path.join(d, "lint/metrics.rs"), "w", encoding="utf-8") as f:
            f.write("use crate::field;\n")
        assert circles(edges(d)) == []
    print("import-circles self-test: finds a planted circle through a grouped use and super::super, ignores comments, strings and tests")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--layers"]:
        for root in sys.argv[2:]:
            layers(root)
        sys.exit(0)
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        sys.exit(0)
    ok = all([report(root) for root in sys.argv[1:]])
    sys.exit(0 if ok else 1)
