#!/usr/bin/env python3
"""Fails when a function over 80 lines has no reason to be long.

    scripts/long-functions.py core/src app/src server/src   # check
    scripts/long-functions.py --list core/src app/src server/src
    scripts/long-functions.py --self-test

A function (or component) over LIMIT lines, counted from its `fn` line to its
closing brace outside `#[cfg(test)]` code, passes only when a comment line
`// Long: <why>` sits among the lines just above it (its doc comment and
attributes): one that is a single table or a single `match`. Any other is
split where its pieces have names of their own.
Braces inside string and character literals and comments are not counted.
"""
import os
import re
import sys
import tempfile

LIMIT = 80
FN = re.compile(r"\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def blank(text):
    """`text` with literals and comments blanked, line breaks kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        raw = re.match(r'r(#*)"', text[i : i + 12]) if c == "r" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) else None
        if raw:
            close = '"' + raw.group(1)
            j = text.find(close, i + len(raw.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
            continue
        if c == "'":
            char = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i : i + 12])
            if char:
                out.append(" " * len(char.group(0)))
                i += len(char.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


def long_functions(path):
    """(name, first line, length, reason or None) of each long function."""
    text = open(path, encoding="utf-8").read()
    original = text.split("\n")
    lines = blank(text).split("\n")
    end = next((i for i, line in enumerate(lines) if line.startswith("#[cfg(test)]")), len(lines))
    found = []
    i = 0
    while i < end:
        match = FN.match(lines[i])
        if not match:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < end:
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
            if opened and depth <= 0:
                break
            if not opened and lines[j].rstrip().endswith(";"):
                break
            j += 1
        if not opened:
            i += 1
            continue
        length = j - i + 1
        if length > LIMIT:
            reason = None
            k = i - 1
            while k >= 0 and original[k].strip().startswith(("//", "#[", "#![")):
                said = re.match(r"\s*// Long: (.+)", original[k])
                if said:
                    reason = said.group(1).strip()
                k -= 1
            found.append((match.group(6), i + 1, length, reason))
        i = j + 1
    return found


def scan(roots):
    out = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in sorted(files):
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    for fn, line, length, reason in long_functions(path):
                        out.setdefault(f"{path}::{fn}", []).append((line, length, reason))
    return out


def check(roots):
    found = scan(roots)
    problems = []
    for key, places in sorted(found.items()):
        for line, length, reason in places:
            if reason is None:
                problems.append(f"{key} (line {line}) is {length} lines: split it where its pieces have names, or, if it is a single table or match, say `// Long: why` above it")
    return found, problems


def self_test():
    with tempfile.TemporaryDirectory() as root:
        body = "\n".join(f"    let x{i} = \"{{ not a brace }}\"; // }}" for i in range(LIMIT))
        source = (
            "fn short() { }\n"
            f"fn unexplained() {{\n{body}\n}}\n"
            f"/// Docs.\n// Long: one match, an arm per kind.\n#[inline]\nfn explained() {{\n{body}\n}}\n"
            "#[cfg(test)]\nmod tests {\n" + f"fn in_tests() {{\n{body}\n}}\n" + "}\n"
        )
        path = os.path.join(root, "lib.rs")
        with open(path, "w", encoding="utf-8") as out:
            out.write(source)
        found, problems = check([root])
        names = sorted(key.rsplit("::", 1)[1] for key in found)
        assert names == ["explained", "unexplained"], names
        assert found[f"{path}::explained"][0][2] == "one match, an arm per kind.", found
        assert len(problems) == 1 and "::unexplained (line" in problems[0], problems
    print("long-functions: self-test passed")


def main(argv):
    if argv[:1] == ["--self-test"]:
        self_test()
        return 0
    show = argv[:1] == ["--list"]
    roots = argv[1:] if show else argv
    found, problems = check(roots)
    if show:
        for key, places in sorted(found.items(), key=lambda item: -item[1][0][1]):
            for line, length, reason in places:
                print(f"{length:4} {key}:{line}  {reason or '(to split)'}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"long-functions: {len(found)} over {LIMIT} lines, each a single table or match that says so")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
