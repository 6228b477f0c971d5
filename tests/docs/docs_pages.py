"""The repository's Markdown pages as a reader sees them: rendered by markdown-it-py (CommonMark, with
GitHub's tables), so a test checks the blocks and links a reader gets, not what a regex guesses.
Paths are relative to `root` (the repository unless a test gives another)."""
import pathlib
import re
import subprocess
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt

REPO = pathlib.Path(__file__).resolve().parents[2]
_MD = MarkdownIt("commonmark").enable("table")


def pages(root=REPO):
    """Every Markdown file git knows of or would add (README.md, docs/*.md, ...)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.split()
    return sorted(path for path in set(listed) if (root / path).is_file() and not path.startswith("node_modules/"))


def tokens(path, root=REPO):
    return _MD.parse((root / path).read_text("utf-8"))


def blocks(path, info, root=REPO):
    """The contents of the fenced blocks of `path` whose info string is `info` ("toml", "sh"), in order."""
    return [t.content for t in tokens(path, root) if t.type == "fence" and t.info.strip() == info]


def section(path, heading, root=REPO):
    """The tokens under the heading whose text is `heading`, up to the next heading of its level or above."""
    all_tokens = tokens(path, root)
    found, level, out = False, 0, []
    for i, token in enumerate(all_tokens):
        if token.type == "heading_open":
            if found and int(token.tag[1]) <= level:
                break
            if not found and all_tokens[i + 1].content == heading:
                found, level = True, int(token.tag[1])
                continue
        if found:
            out.append(token)
    assert found, f"{path} has no heading {heading!r}"
    return out


def table_rows(section_tokens):
    """The body rows of the first table among `section_tokens`, each a list of its cells' Markdown."""
    rows, row, in_body = [], None, False
    for token in section_tokens:
        if token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            return rows
        elif in_body and token.type == "tr_open":
            row = []
        elif in_body and token.type == "tr_close":
            rows.append(row)
        elif in_body and token.type == "inline":
            row.append(token.content)
    return rows


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path, root=REPO):
    """Every #anchor a link may use into `path`: GitHub numbers repeated headings -1, -2, ..."""
    all_tokens = tokens(path, root)
    seen, out = {}, set()
    for i, token in enumerate(all_tokens):
        if token.type == "heading_open":
            base = slug("".join(child.content for child in all_tokens[i + 1].children
                                if child.type in ("text", "code_inline")))
            out.add(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return out


# ---- what a reader would trip over, as "path:line: what" ------------------------------------------

def fence_problems(path, root=REPO):
    """A fence never closed; a fence naming no language (an early close turns the intended closing fence
    into the opening of a new block, which then swallows the prose after it); a heading inside a block."""
    lines = (root / path).read_text("utf-8").splitlines()
    problems = []
    for token in tokens(path, root):
        if token.type != "fence":
            continue
        first, end = token.map
        closing = lines[end - 1].strip() if end - 1 > first else ""
        if not (set(closing) == {token.markup[0]} and len(closing) >= len(token.markup)):
            problems.append(f"{path}:{first + 1}: the code fence opened here is never closed")
        if not token.info.strip():
            problems.append(f"{path}:{first + 1}: a code fence naming no language (`text` for plain text; "
                            f"or a block above closed too early)")
        for n, line in enumerate(token.content.splitlines(), first + 2):
            if re.match(r"#{2,6} \S", line):
                problems.append(f"{path}:{n}: the heading {line!r} renders as code")
    return problems


def prose_problems(path, root=REPO):
    """Config lines or a fence shown as a paragraph: what is left of a block closed too early."""
    all_tokens = tokens(path, root)
    problems = []
    for i, token in enumerate(all_tokens):
        if token.type != "inline" or all_tokens[i - 1].type != "paragraph_open":
            continue
        for n, line in enumerate(token.content.splitlines(), token.map[0] + 1):
            if re.match(r"[a-z_]+ = \S", line) or re.fullmatch(r"\[\[?[a-z_.]+\]\]?\s*(#.*)?", line) \
                    or line.lstrip().startswith("```"):
                problems.append(f"{path}:{n}: {line!r} renders as prose (a code fence closed too early?)")
    return problems


def link_problems(path, root=REPO):
    """Relative links to a file that does not exist, or to an #anchor no heading of the target has."""
    problems = []
    for token in tokens(path, root):
        for child in token.children or ():
            if child.type != "link_open":
                continue
            href = child.attrs["href"]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                continue                                  # http(s), mailto: not ours to check
            target = ((root / path).parent / unquote(parts.path)).resolve() if parts.path else root / path
            where = f"{path}:{token.map[0] + 1}: link to {href!r}"
            if not target.is_relative_to(root.resolve()) or not target.exists():
                problems.append(f"{where}: no such file")
            elif parts.fragment and target.suffix == ".md" \
                    and parts.fragment not in anchors(target.relative_to(root.resolve()), root):
                problems.append(f"{where}: no heading of {target.name} has that anchor")
    return problems
