#!/usr/bin/env python3
"""Fails when the files of one folder of src/ import each other in a circle.

Each .rs file is a module (`src/desktop/backend.rs` is `crate::desktop::backend`). Every path a
file names (`use` trees with their braces expanded, and inline `crate::`, `super::` and `self::`
paths) is resolved to the deepest module file it reaches. An edge joins two modules of the same
folder (siblings; a folder's mod.rs is its parent, not a sibling). A strongly connected
component of more than one module is a circle, printed with the edges that make it.

    python3 .ci/module_cycles.py [src]
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "src"


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # String literals can hold anything that looks like a path.
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def expand_tree(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]; `as` renames are dropped."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                parts, level, begin = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[begin:j])
                        begin = j + 1
                parts.append(inner[begin:])
                out = []
                for part in parts:
                    if part:
                        out.extend(expand_tree(prefix + part + rest))
                return out
    return [tree]


def resolve(module, is_dir_module, path):
    segments = [s for s in path.split("::") if s]
    if not segments:
        return None
    # The module whose items `self::` and `super::` are relative to.
    base = list(module)
    first = segments[0]
    if first == "crate":
        base, segments = [], segments[1:]
    elif first == "self":
        segments = segments[1:]
    elif first == "super":
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
    else:
        return None  # an external crate, a std path, or a name in scope
    return tuple(base + segments)


def main():
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                files[module_of(path)] = path
    modules = set(files)
    edges = {}
    for module, path in files.items():
        base = os.path.basename(path)
        is_dir_module = base in ("mod.rs", "lib.rs", "main.rs")
        text = strip_comments(open(path, encoding="utf-8").read())
        paths = []
        for tree in re.findall(r"\buse\s+([^;]+);", text):
            paths.extend(expand_tree(tree))
        paths.extend(re.findall(r"\b(?:crate|super|self)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+", text))
        for named in paths:
            target = resolve(module, is_dir_module, named)
            if target is None:
                continue
            while target and target not in modules:
                target = target[:-1]
            if not target or target == module:
                continue
            siblings = len(target) == len(module) and target[:-1] == module[:-1]
            if siblings and not is_dir_module and os.path.basename(files[target]) != "mod.rs":
                edges.setdefault(module, set()).add(target)

    # Tarjan's strongly connected components.
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    if not circles:
        print(f"no import circle inside a folder ({len(modules)} modules)")
        return 0
    for component in circles:
        names = ["::".join(m) for m in component]
        print("circle: " + ", ".join(names))
        for m in component:
            for t in sorted(edges.get(m, ())):
                if t in component:
                    print(f"  {'::'.join(m)} -> {'::'.join(t)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
