"""The node docs pages (web/docs/<NodeId>.md, what the frontend's node docs panel shows) agree with the nodes.

Every node of the pack has a page; its inputs table names every input of the node's schema and no
other, with the schema's range and default; each error a page quotes is a message the code can raise
(matched against the string templates in nodes/, magicmix_comfy/ and magicmix_core/, "…" standing for a value).
"""
from __future__ import annotations

import ast
import re

import pytest

from magicmix_dev.host import PACK_DIR

DOCS_DIR = PACK_DIR / "web" / "docs"
SOURCE_DIRS = (PACK_DIR / "nodes", PACK_DIR / "magicmix_comfy", PACK_DIR / "magicmix_core")
PLACEHOLDER = object()
LONGEST_VALUE = 40  # characters a placeholder may stand for in a quoted error (a value, a name, a clause)


@pytest.fixture(scope="module")
def nodes(comfy_host):
    found = {name: cls for name, cls in comfy_host.NODE_CLASS_MAPPINGS.items() if name.startswith("MagicMix")}
    assert set(found) == {"MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler",
                          "MagicMix", "MagicMixSampler"}
    return found


def section(page: str, title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", page, flags=re.S | re.M)
    assert match, f"no '## {title}' section"
    return match.group(1)


def input_rows(page: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in section(page, "Inputs").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def number(text: str) -> float:
    return int(text) if text.isdigit() else float(text)  # seeds reach 2**64 - 1: not a float


def check_input(node_id: str, schema_input, quoted_range: str, quoted_default: str) -> None:
    kind = schema_input.get_io_type()  # FLOAT, INT, COMBO, LATENT, ...
    where = f"{node_id}.{schema_input.id}"
    if kind in ("FLOAT", "INT"):
        low, high = (number(v) for v in quoted_range.split(" – "))
        assert (low, high) == (schema_input.min, schema_input.max), f"{where}: page says {quoted_range}"
        assert number(quoted_default) == schema_input.default, f"{where}: page says default {quoted_default}"
    elif kind == "COMBO":
        import comfy.samplers
        named = {"ComfyUI's samplers": comfy.samplers.SAMPLER_NAMES,
                 "ComfyUI's schedulers": comfy.samplers.SCHEDULER_NAMES}
        options = named.get(quoted_range) or [o.strip() for o in quoted_range.split(",")]
        assert list(options) == list(schema_input.options), f"{where}: page lists {quoted_range}"
        assert quoted_default == schema_input.default, f"{where}: page says default {quoted_default}"
    else:
        assert quoted_default == "—", f"{where}: a {kind} socket has no default"


def message_templates() -> list[list]:
    """Every string literal of the pack's code as tokens: literal text and PLACEHOLDER for each {...}."""
    templates = []
    for directory in SOURCE_DIRS:
        for path in directory.glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.JoinedStr):
                    templates.append([v.value if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values])
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    templates.append([node.value])
    # a template must say something of its own (f"{a}{b}" would match any text)
    return [t for t in templates if any(tok is not PLACEHOLDER and len(tok) >= 12 for tok in t)]


def matches(fragment: str, tokens: list, at: int = 0, literal: int = 0) -> bool:
    """Whether ``fragment`` is the start of a message of this template ("…" and any value fill a placeholder).

    ``literal`` counts the fragment's characters matched by the template's own text: at least half
    of them must be, so a fragment is never matched by placeholders alone.
    """
    if at == len(fragment):
        return 2 * literal >= len(fragment)
    if not tokens:
        return False
    head, rest = tokens[0], tokens[1:]
    if head is PLACEHOLDER:
        return any(matches(fragment, rest, end, literal)
                   for end in range(at + 1, min(len(fragment), at + LONGEST_VALUE) + 1))
    remaining = fragment[at:]
    if remaining.startswith(head):
        return matches(fragment, rest, at + len(head), literal + len(head))
    return head.startswith(remaining) and 2 * (literal + len(remaining)) >= len(fragment)


def quoted_errors(page: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^- `([^`]+)`", section(page, "Errors"), flags=re.M)]


@pytest.mark.parametrize("node_id", ["MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler",
                                     "MagicMix", "MagicMixSampler"])
def test_each_node_has_a_page_whose_inputs_are_the_schemas(nodes, node_id):
    page_path = DOCS_DIR / f"{node_id}.md"
    assert page_path.is_file(), f"no node docs page {page_path}"
    page = page_path.read_text(encoding="utf-8")
    schema = nodes[node_id].define_schema()
    assert page.startswith(f"# {schema.display_name}\n"), "the page's title is the node's display name"
    rows = input_rows(page)
    assert list(rows) == [i.id for i in schema.inputs], "the inputs table lists the schema's inputs, in order"
    for schema_input in schema.inputs:
        check_input(node_id, schema_input, *rows[schema_input.id])


@pytest.mark.parametrize("node_id", ["MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler",
                                     "MagicMix", "MagicMixSampler"])
def test_the_errors_a_page_quotes_are_messages_the_code_raises(node_id):
    templates = message_templates()
    errors = quoted_errors((DOCS_DIR / f"{node_id}.md").read_text(encoding="utf-8"))
    assert errors, "a page lists the errors the node can raise"
    for error in errors:
        assert any(matches(error, t) for t in templates), f"{node_id}: no message in the code reads {error!r}"


def test_the_matcher_refuses_a_message_the_code_does_not_have():
    templates = message_templates()
    assert any(matches("k_min (…) must be smaller than k_max (…)", t) for t in templates)
    assert not any(matches("k_min (…) must be larger than k_max (…)", t) for t in templates)
