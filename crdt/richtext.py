"""Rich text as y-prosemirror stores it: Tiptap 2 StarterKit nodes in a Y.XmlFragment.

Part of the zone contract (crdt/schema.py, docs/schema.md). The browser's editor binding
deletes any element its schema rejects, so a fragment written here must look exactly like one
the editor wrote. Text is replaced whole, never edited by position (DESIGN §9).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias

from pycrdt import XmlElement, XmlFragment, XmlText

# --- rich text: the editor's (Tiptap 2 StarterKit) node and mark names ------------------------

PARAGRAPH: Final = "paragraph"
HEADING: Final = "heading"
BULLET_LIST: Final = "bulletList"
ORDERED_LIST: Final = "orderedList"
LIST_ITEM: Final = "listItem"
MARKS: Final = frozenset({"bold", "italic"})
# What each node may contain. y-prosemirror deletes an element its schema rejects, so a
# Python writer that strays from this loses the text the first time a browser opens it.
_BLOCKS = frozenset({PARAGRAPH, HEADING, BULLET_LIST, ORDERED_LIST})
_CHILDREN: dict[str, frozenset[str]] = {
    "doc": _BLOCKS,
    PARAGRAPH: frozenset({"text"}),
    HEADING: frozenset({"text"}),
    BULLET_LIST: frozenset({LIST_ITEM}),
    ORDERED_LIST: frozenset({LIST_ITEM}),
    LIST_ITEM: _BLOCKS,
}

Node: TypeAlias = dict[str, Any]
"""One ProseMirror JSON node (`editor.getJSON()` form): type, attrs?, content? / text, marks?"""
Block: TypeAlias = str | tuple[str, str] | tuple[str, Sequence[str]]
"""Authoring shorthand: "text", ("paragraph"|"heading1".."heading6", text), ("bullet"|"ordered",
[item, ...])."""
RichValue: TypeAlias = str | Sequence[Block | Node]


def blocks_to_nodes(blocks: RichValue) -> list[Node]:
    """Expand the authoring shorthand; ProseMirror JSON nodes pass through unchanged."""
    if isinstance(blocks, str):
        blocks = [blocks]
    return [node for block in blocks for node in _block_nodes(block)]


def _block_nodes(block: Block | Node) -> list[Node]:
    if isinstance(block, dict):
        return [block]
    if isinstance(block, str):
        return [_textblock(PARAGRAPH, block)]
    kind, body = block
    if kind == PARAGRAPH and isinstance(body, str):
        return [_textblock(PARAGRAPH, body)]
    if kind.startswith(HEADING) and kind[len(HEADING) :] in {"1", "2", "3", "4", "5", "6"}:
        if isinstance(body, str):
            return [_textblock(HEADING, body, {"level": int(kind[len(HEADING) :])})]
    if kind in ("bullet", "ordered") and not isinstance(body, str):
        items = [{"type": LIST_ITEM, "content": [_textblock(PARAGRAPH, t)]} for t in body]
        if kind == "bullet":
            return [{"type": BULLET_LIST, "content": items}]
        # Tiptap's orderedList always carries `start`; y-prosemirror writes every non-null attr.
        return [{"type": ORDERED_LIST, "attrs": {"start": 1}, "content": items}]
    raise ValueError(f"unknown block {block!r}")


def _textblock(node_type: str, text: str, attrs: dict[str, Any] | None = None) -> Node:
    node: Node = {"type": node_type}
    if attrs:
        node["attrs"] = attrs
    if text:
        node["content"] = [{"type": "text", "text": text}]
    return node


def set_rich_text(fragment: XmlFragment, blocks: RichValue) -> None:
    """Replace the whole fragment, shaped exactly as y-prosemirror would have written it."""
    nodes = blocks_to_nodes(blocks)
    validate_nodes(nodes)
    with fragment.doc.transaction():
        del fragment.children[:]
        _append_nodes(fragment, nodes)


def _append_nodes(parent: XmlFragment | XmlElement, nodes: Sequence[Node]) -> None:
    run: list[Node] = []
    for node in [*nodes, None]:
        if node is not None and node["type"] == "text":
            run.append(node)
            continue
        if run:
            # y-prosemirror keeps one XmlText per run of adjacent text nodes.
            _fill_text(parent.children.append(XmlText()), run)
            run = []
        if node is not None:
            element = parent.children.append(XmlElement(node["type"]))
            for key, value in sorted(node.get("attrs", {}).items()):
                if value is not None:
                    element.attributes[key] = value
            _append_nodes(element, node.get("content", []))


def _fill_text(xml_text: XmlText, run: Sequence[Node]) -> None:
    # Inserting each chunk at 0, last first, never needs a position past the start, so the
    # UTF-8/UTF-16 mismatch cannot bite. Marks are attributes named after the mark, valued by
    # its attrs ({} for bold/italic), as y-prosemirror's marksToAttributes writes them.
    for node in reversed(run):
        if node["text"]:
            marks = {m["type"]: dict(m.get("attrs", {})) for m in node.get("marks", [])}
            xml_text.insert(0, node["text"], marks)


def rich_text_nodes(fragment: XmlFragment | XmlElement) -> list[Node]:
    """The fragment as ProseMirror JSON, the lossless form used by export and `read_zone`."""
    nodes: list[Node] = []
    for child in fragment.children:
        if isinstance(child, XmlText):
            nodes.extend(_text_nodes(child))
        elif isinstance(child, XmlElement):
            node: Node = {"type": child.tag}
            # XmlAttributesView.__iter__ is typed Iterable, so go through it explicitly.
            pairs: Iterable[tuple[str, Any]] = child.attributes.__iter__()
            attrs = {k: plain_value(v) for k, v in sorted(pairs) if v is not None}
            if attrs:
                node["attrs"] = attrs
            content = rich_text_nodes(child)
            if content:
                node["content"] = content
            nodes.append(node)
    return nodes


def _text_nodes(xml_text: XmlText) -> list[Node]:
    nodes: list[Node] = []
    for insert, attrs in xml_text.diff():
        if not isinstance(insert, str) or not insert:
            continue  # embeds are not part of the contract; the editor never writes them
        node: Node = {"type": "text", "text": insert}
        marks = [_mark(name, value) for name, value in sorted((attrs or {}).items())]
        if marks:
            node["marks"] = marks
        nodes.append(node)
    return nodes


def _mark(name: str, value: Any) -> Node:
    if isinstance(value, dict) and value:
        return {"type": name, "attrs": plain_value(value)}
    return {"type": name}


def rich_text_plain(fragment: XmlFragment) -> str:
    return nodes_plain(rich_text_nodes(fragment))


def nodes_plain(nodes: Sequence[Node]) -> str:
    """One line per text block; list items prefixed "- " or "1. ", for search and plain export."""
    return "\n".join(_plain_lines(nodes, ""))


def _plain_lines(nodes: Sequence[Node], prefix: str) -> Iterable[str]:
    for node in nodes:
        kind = node["type"]
        if kind in (PARAGRAPH, HEADING):
            yield prefix + "".join(t.get("text", "") for t in node.get("content", []))
        elif kind in (BULLET_LIST, ORDERED_LIST):
            for number, item in enumerate(node.get("content", []), start=1):
                marker = "- " if kind == BULLET_LIST else f"{number}. "
                yield from _plain_lines(item.get("content", []), prefix + marker)


def validate_nodes(nodes: Sequence[Node], parent: str = "doc") -> None:
    """Refuse what the editor's schema would reject (and so silently delete)."""
    allowed = _CHILDREN.get(parent, frozenset())
    for node in nodes:
        if not isinstance(node, dict) or node.get("type") not in allowed:
            raise ValueError(f"{parent} cannot contain {node!r}")
        kind = node["type"]
        if kind == "text":
            if not isinstance(node.get("text"), str):
                raise ValueError(f"text node without text: {node!r}")
            for mark in node.get("marks", []):
                if mark.get("type") not in MARKS:
                    raise ValueError(f"unknown mark {mark!r}")
            continue
        content = node.get("content", [])
        if kind in (BULLET_LIST, ORDERED_LIST, LIST_ITEM) and not content:
            raise ValueError(f"{kind} cannot be empty")
        if kind == LIST_ITEM and content[0].get("type") != PARAGRAPH:
            raise ValueError("a listItem starts with a paragraph")
        if kind == HEADING and node.get("attrs", {}).get("level") not in range(1, 7):
            raise ValueError(f"heading needs a level 1-6: {node!r}")
        validate_nodes(content, kind)


def plain_value(value: Any) -> Any:
    """Yrs keeps every number as a float64 (3 reads back 3.0); JSON and JS don't tell apart."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    return value
