"""Puts the text on standard input between the markers `<!-- NAME:begin -->`
and `<!-- NAME:end -->` of a Markdown file (added at its end when missing),
and prints it: how the benchmark scripts keep their tables in
docs/performance.md.

    ... | python3 scripts/doc_section.py docs/performance.md NAME
"""

import pathlib
import sys


def main(path, name):
    doc, table = pathlib.Path(path), sys.stdin.read().rstrip("\n")
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{table}\n{end}{tail}")
    print(table)


if __name__ == "__main__":
    main(*sys.argv[1:])
