"""The ComfyUI page of the test server, in Chromium, with the pack installed.

The page is the real frontend (comfyui-frontend-package) served by the real server; the canvas is
driven the way a user drives it: double-click, type in the node search, Enter. Loading each shipped
workflow without a missing-nodes dialog is tests/browser/test_workflows_canvas.py's.
"""
import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from magicmix_dev import host
from magicmix_dev.workflow import ui_to_api

PACK_MODULE = f"custom_nodes.{host.PACK_FOLDER_NAME}"
CORE_PACK_NODES = ("MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler")
WORKFLOWS_DIR = host.PACK_DIR / "workflows"
PAGE_TIMEOUT_MS = 120_000  # a cold page on 2 busy cores takes ~10 s
# Dialogs a user would see: PrimeVue dialogs that are on screen (the missing-nodes and error
# dialogs are of this kind; the node search box is one too, while it is open).
VISIBLE_DIALOGS = ".p-dialog:visible"


@pytest.fixture(scope="module")
def pack_node_info(comfy_server) -> dict:
    info = comfy_server.object_info()
    return {name: node for name, node in info.items() if node.get("python_module") == PACK_MODULE}


@pytest.fixture
def comfy_page(browser_page, comfy_server):
    """The server's page, loaded until the app and its graph exist; uncaught page errors are collected."""
    return open_page(browser_page, comfy_server.url)


def open_page(page, url: str):
    page.uncaught_errors = []
    page.on("pageerror", lambda error: page.uncaught_errors.append(str(error)))
    page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
    # The node definitions are registered before the first graph is configured, so a graph with
    # nodes means registration is complete.
    page.wait_for_function("() => window.app?.graph && window.LiteGraph && app.graph._nodes.length > 0",
                           timeout=PAGE_TIMEOUT_MS)
    return page


def open_node_search(page, attempts: int = 6):
    """Double-click the empty canvas until the node search box shows, and return its input.

    LiteGraph counts two clicks as a double-click only if they arrive within its own interval; on two
    busy cores the second click can come late, and a user would simply double-click again."""
    canvas = page.locator("#graph-canvas")
    search = page.get_by_role("combobox").or_(page.locator(".comfy-vue-node-search-box input")).first
    for _ in range(attempts):
        box = canvas.bounding_box()
        # Left of centre: the minimap and the run toolbar sit on the right.
        canvas.dblclick(position={"x": box["width"] * 0.35, "y": box["height"] * 0.4})
        try:
            search.wait_for(state="visible", timeout=10_000)
            return search
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")  # whatever the click opened instead
    raise AssertionError(f"no node search box after {attempts} double-clicks on the empty canvas; "
                         f"dialogs on screen: {visible_dialog_texts(page)}")


def visible_dialog_texts(page) -> list[str]:
    return [text.strip()[:300] for text in page.locator(VISIBLE_DIALOGS).all_inner_texts()]


def test_page_loads_with_the_pack_nodes_and_no_dialog(comfy_page, pack_node_info):
    assert set(CORE_PACK_NODES) <= set(pack_node_info), f"server's pack nodes: {sorted(pack_node_info)}"
    registered = comfy_page.evaluate("() => Object.keys(window.LiteGraph.registered_node_types)")
    missing = sorted(set(pack_node_info) - set(registered))
    assert not missing, f"pack nodes not in the frontend's node registry: {missing}"
    # The frontend's own node definitions carry the pack's category and display names.
    definitions = comfy_page.evaluate(
        "(names) => names.map(name => { const t = LiteGraph.registered_node_types[name];"
        " return [name, t.category, t.title]; })", sorted(pack_node_info))
    for name, category, title in definitions:
        assert category == pack_node_info[name]["category"], name
        assert title == pack_node_info[name]["display_name"], name
    assert visible_dialog_texts(comfy_page) == []
    assert comfy_page.uncaught_errors == []


def test_a_magicmix_node_is_added_from_the_node_search(comfy_page, pack_node_info, screenshots_dir):
    comfy_page.evaluate("() => { app.graph.clear(); app.canvas.setDirty(true, true); }")
    search = open_node_search(comfy_page)
    search.wait_for(state="visible", timeout=1_000)
    comfy_page.keyboard.type(pack_node_info["MagicMixLayoutNoise"]["display_name"])
    # The result list is filtered asynchronously; until then it shows the most used nodes.
    first_option = comfy_page.locator("li.p-autocomplete-option").first
    expect(first_option).to_contain_text("MagicMix Layout Noise", timeout=30_000)
    comfy_page.keyboard.press("Enter")

    comfy_page.wait_for_function("() => app.graph._nodes.length === 1", timeout=30_000)
    node = comfy_page.evaluate(
        "() => { const n = app.graph._nodes[0];"
        " return {type: n.type, widgets: (n.widgets || []).map(w => w.name), inputs: n.inputs.map(i => i.name),"
        " outputs: n.outputs.map(o => o.type)}; }")
    assert node["type"] == "MagicMixLayoutNoise"
    # The widgets and sockets the server declares are on the canvas node.
    required = pack_node_info["MagicMixLayoutNoise"]["input"]["required"]
    for name in ("seed", "steps", "scheduler", "k_min", "k_max", "batch_size"):
        assert name in required and name in node["widgets"], name
    assert {"model", "layout_latent"} <= set(node["inputs"])
    assert node["outputs"] == pack_node_info["MagicMixLayoutNoise"]["output"]
    # the search box closes (with an animation), and nothing else opened
    expect(comfy_page.locator(VISIBLE_DIALOGS)).to_have_count(0, timeout=10_000)
    assert comfy_page.uncaught_errors == []

    shot = screenshots_dir / "canvas-magicmix-layout-noise.png"
    comfy_page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty file


def test_the_workflow_converter_gives_what_the_frontend_queues(comfy_page, comfy_server):
    """magicmix_dev/workflow.py (used by the e2e tests and the main job) against the frontend's own
    conversion, ``app.graphToPrompt()``, for every shipped workflow."""
    object_info = comfy_server.object_info()
    paths = sorted(WORKFLOWS_DIR.glob("*.json"))
    assert paths
    for path in paths:
        workflow = json.loads(path.read_text())
        frontend = comfy_page.evaluate(
            "async (workflow) => { await app.loadGraphData(workflow); return (await app.graphToPrompt()).output; }",
            workflow)
        ours = ui_to_api(workflow, object_info)
        assert sorted(ours) == sorted(frontend), path.name
        for node_id, node in frontend.items():
            assert ours[node_id]["class_type"] == node["class_type"], (path.name, node_id)
            assert ours[node_id]["inputs"] == node["inputs"], (path.name, node_id, node["class_type"])
    assert comfy_page.uncaught_errors == []


@pytest.mark.parametrize("frontend", [host.PINNED_FRONTEND, host.NEWER_FRONTEND], ids=lambda v: f"frontend-{v}")
def test_the_node_docs_panel_shows_the_packs_own_page(request, browser_page, screenshots_dir, frontend):
    """Select a MagicMix node, press the selection toolbox's info button: the docs panel shows
    web/docs/MagicMixLayoutNoise.md (its own words), not the generic description; on both frontends."""
    server = request.getfixturevalue("comfy_server" if frontend == host.PINNED_FRONTEND else "newer_frontend_server")
    comfy_page = open_page(browser_page, server.url)
    own_words = "Paint the mask on the layout image"
    page_text = (host.PACK_DIR / "web" / "docs" / "MagicMixLayoutNoise.md").read_text(encoding="utf-8")
    assert own_words in page_text
    comfy_page.evaluate(
        "() => { app.graph.clear(); const n = LiteGraph.createNode('MagicMixLayoutNoise'); n.pos = [300, 200];"
        " app.graph.add(n); app.canvas.selectNode(n); app.canvas.setDirty(true, true); }")
    info = comfy_page.locator('[data-testid="info-button"]')
    info.wait_for(state="visible", timeout=30_000)
    info.click()
    expect(comfy_page.get_by_text(own_words)).to_be_visible(timeout=30_000)
    shot = screenshots_dir / f"node-docs-magicmix-layout-noise-frontend-{frontend}.png"
    comfy_page.screenshot(path=str(shot))
    assert comfy_page.uncaught_errors == []
