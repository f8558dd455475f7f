"""What a reader sees of a page, for tests: the English-only texts of a page (tests/test_catalog_pages.py
and tests/test_pages.py check there are none). The standard library's HTML parser, built into a small
tree: a block (paragraph, cell, label, option...) with English words must have Chinese in it, or be
the English line right after a Chinese one (lang="en" or class "en"). Code, verbatim law text and
identifiers (E1001, SEP-2026-001, as_of) are not prose."""
import re
from html.parser import HTMLParser

_BLOCKS = {"p", "li", "td", "th", "dt", "dd", "h1", "h2", "h3", "h4", "label", "option", "button", "summary",
           "title", "legend", "caption", "div", "section", "article", "header", "footer", "nav", "main", "body",
           "form", "blockquote", "pre", "ul", "ol", "dl", "table", "tr", "thead", "tbody"}
_SKIP = {"code", "pre", "blockquote", "script", "style"}
_VOID = {"meta", "link", "br", "input", "img", "hr"}
_CJK = re.compile(r"[\u3400-\u9fff]")
# A word of prose: not part of an identifier (SEP-2026-001, as_of, sha256:...).
_WORD = re.compile(r"(?<![\w\-.:/])[A-Za-z]{3,}(?![\w\-.:/])")


class _Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], []


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__()
        self.root = self.node = _Node("root", [], None)

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, attrs, self.node)
        self.node.children.append(node)
        if tag not in _VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def _own_text(node) -> str:
    """The text of a block without the blocks inside it, nor code/verbatim text."""
    out = []
    for child in node.children:
        if isinstance(child, str):
            out.append(child)
        elif child.tag not in _SKIP and child.tag not in _BLOCKS:
            out.append(_own_text(child))
    return " ".join(out)


def _all_text(node) -> str:
    return " ".join(c if isinstance(c, str) else _all_text(c) for c in node.children)


def _blocks(node):
    for child in node.children:
        if isinstance(child, str) or child.tag in _SKIP:
            continue
        if child.tag in _BLOCKS:
            yield child
        yield from _blocks(child)


def english_only(page: str, ignore=()) -> list[str]:
    """Texts on the page in English with no Chinese in the same block: a block with English words
    and no Chinese character, unless it is the English line of a pair (lang=en / class en, right
    after a block with Chinese)."""
    tree = _Tree()
    tree.feed(page)
    found = []
    for block in _blocks(tree.root):
        text = " ".join(_own_text(block).split())
        for token in ignore:
            text = text.replace(token, "")
        if not _WORD.search(text) or _CJK.search(text):
            continue
        if block.attrs.get("lang") == "en" or "en" in (block.attrs.get("class") or "").split():
            siblings = [c for c in block.parent.children if not isinstance(c, str)]
            before = siblings[:siblings.index(block)]
            if before and _CJK.search(_all_text(before[-1])):
                continue
        found.append(f"<{block.tag} class={block.attrs.get('class')!r}> {text[:160]}")
    return found
