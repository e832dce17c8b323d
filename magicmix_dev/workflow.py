"""Convert a UI-format workflow (what the ComfyUI canvas saves) to the API format /prompt accepts.

The canvas stores widget values as a positional list (``widgets_values``) and connections in a
separate ``links`` table; /prompt wants ``{node_id: {"class_type", "inputs": {name: value | [id, slot]}}}``.
The mapping needs each node's input definitions, taken from the running server's /object_info, and
follows what the frontend (comfyui-frontend-package 1.32, shipped with ComfyUI 0.3.75) does when it
queues a graph:

- Widget inputs are the INT, FLOAT, STRING, BOOLEAN and COMBO inputs without ``forceInput``, in
  definition order (required, then optional). Each one takes the next entry of ``widgets_values``.
- A seed-like INT (``control_after_generate``, or named seed / noise_seed when the flag is absent)
  is followed by one extra saved value, the "control after generate" mode; a COMBO with
  ``control_after_generate`` by two (the mode and its filter list).
- A required COMBO with ``image_upload`` / ``video_upload`` / ``animated_image_upload`` gets an
  "upload" button widget appended after the required inputs; its saved value is skipped.
- A linked input (a socket, or a widget converted to an input) takes the link instead of the value.
- Note and MarkdownNote are dropped; Reroute is followed to its source; a PrimitiveNode's value is
  written into each input it feeds; a bypassed node (mode 4) passes the input of the same type
  through; a muted node (mode 2) is dropped. Groups are layout only and ignored.

Not handled (raises or is left as saved): subgraphs and legacy group nodes (raise), dynamic-prompt
syntax such as ``{a|b}`` in text (left as written), "control before generate" mode.
"""
from __future__ import annotations

import copy
from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_LIKE_NAMES = {"seed", "noise_seed"}  # the frontend's fallback when an INT has no control_after_generate flag
MEDIA_UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")
NOTE_TYPES = {"Note", "MarkdownNote"}
MODE_MUTED = 2
MODE_BYPASSED = 4


class WorkflowConversionError(ValueError):
    pass


class MissingNodeTypesError(WorkflowConversionError):
    """The workflow uses node types the server does not have (what the canvas's "missing nodes" dialog lists)."""

    def __init__(self, missing: set[str]):
        super().__init__(f"node types not on this server: {', '.join(sorted(missing))}")
        self.missing = missing


def _input_kind(spec: list) -> str:
    """'COMBO' for a list of choices or a COMBO spec, else the declared type name."""
    declared = spec[0]
    return "COMBO" if isinstance(declared, list) else str(declared)


def _options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _is_widget(spec: list) -> bool:
    return _input_kind(spec) in WIDGET_TYPES and not _options(spec).get("forceInput", False)


def _extra_saved_values(name: str, spec: list) -> int:
    """How many saved values follow this widget's own value (its control widgets)."""
    kind, options = _input_kind(spec), _options(spec)
    if kind == "INT":
        control = options.get("control_after_generate")
        return 1 if (control if control is not None else name in SEED_LIKE_NAMES) else 0
    if kind == "COMBO" and options.get("control_after_generate"):
        return 2  # the mode and the filter-list text widget
    return 0


def _ordered_inputs(node_info: dict) -> list[tuple[str, list, bool]]:
    """(name, spec, required) in the order the frontend creates widgets."""
    ordered = []
    for section in ("required", "optional"):
        specs = node_info.get("input", {}).get(section, {}) or {}
        order = (node_info.get("input_order") or {}).get(section) or list(specs)
        ordered += [(name, specs[name], section == "required") for name in order if name in specs]
    return ordered


def widget_values_by_name(node: dict, node_info: dict) -> dict[str, Any]:
    """Map a node's ``widgets_values`` to its widget input names."""
    saved = node.get("widgets_values")
    inputs = _ordered_inputs(node_info)
    if isinstance(saved, dict):  # some nodes save widgets by name
        return {name: saved[name] for name, spec, _ in inputs if _is_widget(spec) and name in saved}
    saved = list(saved or [])
    values, position = {}, 0
    has_upload_widget = any(required and _input_kind(spec) == "COMBO"
                            and any(_options(spec).get(o) for o in MEDIA_UPLOAD_OPTIONS)
                            for _, spec, required in inputs)
    upload_skipped = False
    for name, spec, required in inputs:
        if not required and has_upload_widget and not upload_skipped:
            position += 1  # the upload button sits between the required and the optional widgets
            upload_skipped = True
        if not _is_widget(spec):
            continue
        if position < len(saved):
            values[name] = saved[position]
        position += 1 + _extra_saved_values(name, spec)
    return values


def _links_by_id(workflow: dict) -> dict[int, dict]:
    links = {}
    for link in workflow.get("links", []) or []:
        if isinstance(link, dict):  # workflow schema 1.0 stores links as objects
            links[link["id"]] = link
        else:  # schema 0.4: [id, origin_id, origin_slot, target_id, target_slot, type]
            links[link[0]] = {"id": link[0], "origin_id": link[1], "origin_slot": link[2],
                              "target_id": link[3], "target_slot": link[4], "type": link[5]}
    return links


class _Resolver:
    """Follows a link back through Reroutes, PrimitiveNodes and bypassed nodes to its real source."""

    def __init__(self, nodes: dict[int, dict], links: dict[int, dict]):
        self.nodes, self.links = nodes, links

    def source(self, link_id: int | None, depth: int = 0):
        """('link', [node_id, slot]) or ('value', v), or None when nothing real feeds it."""
        if link_id is None or link_id not in self.links:
            return None
        if depth > len(self.nodes) + 1:
            raise WorkflowConversionError(f"link {link_id} loops through Reroutes or bypassed nodes")
        link = self.links[link_id]
        origin = self.nodes.get(link["origin_id"])
        if origin is None:
            return None
        if origin["type"] == "Reroute":
            return self.source(_first_input_link(origin), depth + 1)
        if origin["type"] == "PrimitiveNode":
            values = origin.get("widgets_values") or []
            return ("value", values[0]) if values else None
        mode = origin.get("mode", 0)
        if mode == MODE_MUTED:
            return None
        if mode == MODE_BYPASSED:
            return self.source(_bypass_input_link(origin, link), depth + 1)
        return ("link", [str(origin["id"]), link["origin_slot"]])


def _first_input_link(node: dict):
    inputs = node.get("inputs") or []
    return inputs[0].get("link") if inputs else None


def _bypass_input_link(node: dict, link: dict):
    # The frontend's bypass: the input at the output's own slot if its type matches, else the first
    # input of that type.
    inputs = node.get("inputs") or []
    wanted = link.get("type")
    slot = link["origin_slot"]
    if slot < len(inputs) and inputs[slot].get("type") == wanted and inputs[slot].get("link") is not None:
        return inputs[slot]["link"]
    for candidate in inputs:
        if candidate.get("type") == wanted and candidate.get("link") is not None:
            return candidate["link"]
    return None


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """The API-format prompt for a UI-format workflow, given the server's /object_info."""
    workflow = copy.deepcopy(workflow)
    if (workflow.get("definitions") or {}).get("subgraphs"):
        raise WorkflowConversionError("workflows with subgraphs are not supported by this converter")
    if (workflow.get("extra") or {}).get("groupNodes"):
        raise WorkflowConversionError("workflows with legacy group nodes are not supported by this converter")

    nodes = {node["id"]: node for node in workflow.get("nodes", [])}
    virtual = NOTE_TYPES | {"Reroute", "PrimitiveNode"}
    missing = {node["type"] for node in nodes.values()
               if node["type"] not in virtual and node["type"] not in object_info}
    if missing:
        raise MissingNodeTypesError(missing)

    resolver = _Resolver(nodes, _links_by_id(workflow))
    prompt = {}
    for node_id, node in sorted(nodes.items()):
        if node["type"] in virtual or node.get("mode", 0) in (MODE_MUTED, MODE_BYPASSED):
            continue
        node_info = object_info[node["type"]]
        inputs: dict[str, Any] = dict(widget_values_by_name(node, node_info))
        for slot in node.get("inputs") or []:
            name = (slot.get("widget") or {}).get("name") or slot["name"]
            if slot.get("link") is None:
                continue
            source = resolver.source(slot["link"])
            if source is None:
                if not slot.get("widget"):
                    inputs.pop(name, None)
                continue
            inputs[name] = source[1]
        prompt[str(node_id)] = {
            "class_type": node["type"],
            "inputs": inputs,
            "_meta": {"title": node.get("title") or node_info.get("display_name") or node["type"]},
        }
    return prompt
