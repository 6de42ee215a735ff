#!/usr/bin/env python3
"""api_functions.py HEADER... - prints the functions the public headers declare.

Output: one line per function declaration, "<name> api" when it carries
AUTOCERT_API and "<name> plain" when not, sorted. Comments, preprocessor lines,
GNU attributes, typedefs (function-pointer types), struct/enum bodies and function-pointer
members are not declarations of the library's functions and are skipped.
Used by tests/integration/test_install_exports.sh.
"""
import re
import sys

DECL = re.compile(r"^(?P<head>[\w\s\*]*?)\b(?P<name>[A-Za-z_]\w*)\s*"
                  r"\((?:[^()]|\([^()]*\))*\)\s*$", re.S)


def strip(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)  # continuation lines
    # GNU attributes after a declaration, e.g. __attribute__((format(printf, 3, 4)))
    text = re.sub(r"__attribute__\s*\(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)", " ", text)
    return "\n".join("" if l.lstrip().startswith("#") else l for l in text.split("\n"))


def declarations(text):
    for stmt in strip(text).split(";"):
        # what follows the last brace: drops struct/enum bodies, extern "C" {
        stmt = re.split(r"[{}]", stmt)[-1].strip()
        if not stmt or re.match(r"typedef\b", stmt):
            continue
        m = DECL.match(stmt)
        if m is None:
            continue
        api = re.search(r"\bAUTOCERT_API\b", m.group("head"))
        yield m.group("name"), "api" if api else "plain"


def main():
    out = set()
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            out.update(declarations(f.read()))
    for name, kind in sorted(out):
        print(name, kind)


if __name__ == "__main__":
    main()
