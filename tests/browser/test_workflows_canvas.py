"""Each shipped workflow, dropped onto the real ComfyUI canvas in Chromium, loads cleanly.

A workflow file is dropped on the canvas the way a user drags it in from the file manager (a
``drop`` event carrying the file). Then: no dialog but the expected Missing Models one (the
loaders declare their model files in properties.models; the test server has only the generated test
checkpoint), no missing-nodes or load-error dialog, no error toast, no uncaught page error; every node
of the file is on the graph with its type, its node
class found (a missing one is drawn red as a bare LGraphNode), every link kept, no two nodes
overlapping as the canvas sizes them, and the widget values the canvas would save equal the file's.
A control test drops a file with an unknown node type and checks that these checks see it.

The screenshot of each loaded canvas, fitted to the window with the frontend's own "fit view"
command, is kept in test-artifacts/screenshots/<workflow>.png; its part that holds the graph goes to
test-artifacts/canvas/<workflow>.png (palette PNG, well under 400 KB). Tests write nothing the repository
tracks: `bash tools/refresh_canvas_images.sh` runs them and copies those pictures to docs/images/ for the
README.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from playwright.sync_api import expect

from magicmix_dev import host
from tools import make_workflows

PACK_DIR = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = PACK_DIR / "workflows"
SCREENSHOTS_DIR = PACK_DIR / "test-artifacts" / "screenshots"
CANVAS_IMAGES_DIR = PACK_DIR / "test-artifacts" / "canvas"  # tools/refresh_canvas_images.sh copies them to docs/images/
WORKFLOW_NAMES = sorted(p.stem for p in WORKFLOWS_DIR.glob("*.json"))

SCREENSHOT_VIEWPORT = {"width": 1920, "height": 1080}  # big enough that the fitted canvas is legible
MAX_DOCS_IMAGE_BYTES = 400_000
# Settings for legible screenshots, set on the test server's scratch user and restored afterwards.
SCREENSHOT_SETTINGS = {
    "Comfy.Minimap.Visible": False,  # the minimap would cover the output group
    "Comfy.Graph.CanvasInfo": False,  # the fps counter in the corner
    "LiteGraph.Canvas.MinFontSizeForLOD": 0,  # keep text drawn when fit view zooms out below ~65 %
    "Comfy.TutorialCompleted": True,  # no template browser on a first visit
}

DROP_FILE_JS = """([text, fileName]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], fileName, {type: "application/json"}));
    return transfer;
}"""

# What the canvas holds after a load: per node its type, whether its class was found, its widget values.
GRAPH_STATE_JS = """() => {
    const saved = window.app.graph.serialize();
    const savedById = Object.fromEntries(saved.nodes.map(n => [n.id, n]));
    return {
        nodes: window.app.graph.nodes.map(n => ({
            id: n.id, type: n.type, missing: n.constructor.name === "LGraphNode", has_errors: !!n.has_errors,
            widgets_values: savedById[n.id].widgets_values ?? null,
        })),
        link_count: saved.links.length,
        // pairs of nodes whose boxes (title bar included) overlap as the canvas draws them
        overlaps: window.app.graph.nodes.flatMap((a, i) => window.app.graph.nodes.slice(i + 1)
            .filter(b => {
                const [ax, ay, aw, ah] = a.boundingRect, [bx, by, bw, bh] = b.boundingRect;
                return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
            })
            .map(b => `${a.title} / ${b.title}`)),
    };
}"""

# The screen rectangle (CSS pixels) that holds every node and group, as [left, top, right, bottom].
GRAPH_SCREEN_BOUNDS_JS = """() => {
    const canvas = window.app.canvas;
    const corners = Array.from(canvas.positionableItems).flatMap(item => {
        const [x, y, w, h] = item.boundingRect;
        return [canvas.ds.convertOffsetToCanvas([x, y]), canvas.ds.convertOffsetToCanvas([x + w, y + h])];
    });
    const xs = corners.map(c => c[0]), ys = corners.map(c => c[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}"""

VISIBLE_PROBLEMS_JS = """() => ({
    dialogs: Array.from(document.querySelectorAll(".p-dialog")).map(d => d.innerText.trim().slice(0, 500)),
    error_toasts: Array.from(document.querySelectorAll(".p-toast-message-error, .p-toast-message-warn"))
        .map(t => t.innerText.trim().slice(0, 500)),
})"""


def close_dialogs(page) -> None:
    """Close the open dialogs with their close button, as a user does, and wait until none is left."""
    buttons = page.locator(".p-dialog .p-dialog-close-button")
    for index in range(buttons.count()):
        buttons.nth(index).click()
    page.wait_for_function("() => document.querySelectorAll('.p-dialog').length === 0", timeout=30_000)


FRONTENDS = (host.PINNED_FRONTEND, host.NEWER_FRONTEND)


@pytest.fixture(scope="module", params=FRONTENDS, ids=lambda v: f"frontend-{v}")
def canvas_server(request):
    """A test server (the pinned frontend, or the newer one) with the layout images in its input folder
    and screenshot-friendly settings; ``.frontend`` says which frontend it serves."""
    fixture = "comfy_server" if request.param == host.PINNED_FRONTEND else "newer_frontend_server"
    server = request.getfixturevalue(fixture)
    result = subprocess.run([sys.executable, str(PACK_DIR / "tools" / "install_layouts.py"),
                             "--input-dir", str(server.input_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # The server keeps settings in this file and reads it on every request; it is restored afterwards
    # so that other browser tests of this session see the settings as they were.
    settings_file = server.workdir / "user" / "default" / "comfy.settings.json"
    before = settings_file.read_bytes() if settings_file.exists() else None
    for setting, value in SCREENSHOT_SETTINGS.items():
        requests.post(f"{server.url}/api/settings/{setting}", json=value, timeout=30).raise_for_status()
    server.frontend = request.param
    try:
        yield server
    finally:
        if before is None:
            settings_file.unlink(missing_ok=True)
        else:
            settings_file.write_bytes(before)


# Console errors of the frontend itself, independent of what is loaded:
# - failed resource loads: offline, its look-ups on api.comfy.org fail;
# - primevue BlockUI's unblock removing a mask that is already gone (frontend 1.32.9; seen once in
#   CI while a workflow loaded, with a stack entirely inside primevue and vue);
# - frontend 1.58.1 asking for the queue history at /api/jobs, which ComfyUI 0.3.75 does not serve (404):
#   it asks on the server's status messages, so whether it lands while a workflow loads is timing.
FRONTEND_NOISE = ("Failed to load resource",
                  "NotFoundError: Failed to execute 'removeChild' on 'Node': The node to be removed is not a child",
                  "[Jobs API] Error fetching jobs: JobsApiError: Failed to fetch jobs: 404")


# The Missing Models dialog asks the model's host for the file size (a HEAD request); the test page
# routes every request off the loopback server to an abort, so that look-up fails, as it does offline.
MISSING_MODEL_SIZE_LOOKUP = "Error fetching file size: TypeError: Failed to fetch"


def _frontend_own_noise(text: str) -> bool:
    if text.startswith((FRONTEND_NOISE[0], FRONTEND_NOISE[2], MISSING_MODEL_SIZE_LOOKUP)):
        return True
    return text.startswith(FRONTEND_NOISE[1]) and "primevue/blockui" in text


def open_canvas(page, url: str) -> list[str]:
    """Open ComfyUI; returns the list that collects uncaught page errors and console errors from now on."""
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    # nothing leaves the machine: the page may only talk to the test server
    page.route(lambda request_url: not request_url.startswith(url), lambda route: route.abort())
    # the "Introducing Nodes 2.0" banner is dismissed in local storage, as its close button does
    page.context.add_init_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")
    page.goto(url)
    page.wait_for_function("window.app && window.app.graph && window.app.canvas && window.app.vueAppReady",
                           timeout=120_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    # Failed resource loads are left out: offline, the frontend's look-ups on api.comfy.org fail.
    page.on("console", lambda message: errors.append(f"console.error: {message.text}")
            if message.type == "error" and not _frontend_own_noise(message.text) else None)
    return errors


def drop_workflow(page, text: str, file_name: str) -> None:
    transfer = page.evaluate_handle(DROP_FILE_JS, [text, file_name])
    page.dispatch_event("#graph-canvas", "drop", {"dataTransfer": transfer})
    # the drop opens the file in a new tab named after it; wait until its nodes are on the graph
    page.wait_for_function("n => window.app.graph.nodes.length === n", arg=len(json.loads(text)["nodes"]),
                           timeout=30_000)
    page.wait_for_timeout(1000)  # dialogs and toasts of the load open asynchronously


def fit_view(page) -> None:
    page.evaluate("window.app.extensionManager.command.execute('Comfy.Canvas.FitView')")
    # fit view animates: wait until the view stops moving
    last = None
    for _ in range(50):
        view = page.evaluate("[window.app.canvas.ds.scale, ...window.app.canvas.ds.offset]")
        if view == last:
            break
        last = view
        page.wait_for_timeout(100)


def keep_screenshot(page, name: str) -> Path:
    """The whole window to test-artifacts/screenshots/, the graph's part of it to test-artifacts/canvas/."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    CANVAS_IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    artifact = SCREENSHOTS_DIR / f"{name}.png"
    page.screenshot(path=str(artifact))
    left, top, right, bottom = page.evaluate(GRAPH_SCREEN_BOUNDS_JS)
    with Image.open(artifact) as shot:
        # Cropped to the graph, the canvas fills the README's width instead of a third of it being
        # empty canvas; 256 colours are plenty for the flat UI and keep the file small.
        margin = 16
        box = (max(0, int(left) - margin), max(0, int(top) - margin),
               min(shot.width, int(right) + margin), min(shot.height, int(bottom) + margin))
        graph = shot.convert("RGB").crop(box).quantize(256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    graph.save(buffer, format="PNG", optimize=True)
    canvas_image = CANVAS_IMAGES_DIR / f"{name}.png"
    canvas_image.write_bytes(buffer.getvalue())
    return canvas_image


def test_every_workflow_is_under_test():
    # The generator's list, so a new workflow cannot ship without being loaded here.
    assert WORKFLOW_NAMES == sorted(make_workflows.WORKFLOWS), WORKFLOW_NAMES


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_loads_on_the_canvas_without_missing_nodes_or_errors(name, canvas_server, browser_page):
    page = browser_page
    text = (WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8")
    workflow = json.loads(text)
    errors = open_canvas(page, canvas_server.url)

    drop_workflow(page, text, f"{name}.json")

    problems = page.evaluate(VISIBLE_PROBLEMS_JS)
    # The missing-model notices expected (the test server has only the generated test checkpoint):
    # the pinned frontend opens its Missing Models dialog for the files the loaders declare in
    # properties.models (a checkpoint, or a diffusion model, text encoders and a VAE), offering their
    # download; the newer one opens no dialog, flags the loader nodes (has_errors) and warns: "<file> is
    # missing" for one file; for several, one issue each in a single toast, "<count> issues found" (its
    # multipleIssueCount message).
    declared = [m for n in workflow["nodes"] for m in n["properties"].get("models", [])]
    loaders = sorted(n["type"] for n in workflow["nodes"] if n["properties"].get("models"))
    assert declared, "the workflow declares its model files"
    if canvas_server.frontend == host.PINNED_FRONTEND:
        (dialog,) = problems["dialogs"] or [""]
        assert len(problems["dialogs"]) == 1 and dialog.startswith("Missing Models"), \
            f"expected only the Missing Models dialog on load, got: {problems['dialogs']}"
        for model in declared:
            assert f"{model['directory']} / {model['name']}" in dialog and "Download" in dialog, dialog
        close_dialogs(page)
    else:
        assert problems["dialogs"] == [], f"a dialog opened on load: {problems['dialogs']}"
        warning = f"{declared[0]['name']} is missing" if len(declared) == 1 else f"{len(declared)} issues found"
        expect(page.get_by_text(warning).first).to_be_visible(timeout=30_000)
    assert problems["error_toasts"] == [], f"an error toast appeared: {problems['error_toasts']}"
    assert errors == [], f"the page reported errors while loading: {errors}"
    active = page.evaluate("window.app.extensionManager.workflow.activeWorkflow?.filename")
    assert active == name, f"the dropped file did not open as the active workflow (active: {active})"

    state = page.evaluate(GRAPH_STATE_JS)
    # node ids as strings: frontend 1.58 keeps them as strings, 1.32 as numbers
    on_canvas = {str(node["id"]): node for node in state["nodes"]}
    assert {str(n["id"]): n["type"] for n in workflow["nodes"]} == {i: n["type"] for i, n in on_canvas.items()}
    missing = sorted(n["type"] for n in on_canvas.values() if n["missing"])
    assert missing == [], f"node types without a class on the canvas: {missing}"
    flagged = sorted(n["type"] for n in on_canvas.values() if n["has_errors"])
    expected_flags = [] if canvas_server.frontend == host.PINNED_FRONTEND else loaders
    assert flagged == expected_flags, f"nodes the canvas flags as broken: {flagged}"
    assert state["link_count"] == len(workflow["links"]), "the canvas dropped links"
    assert state["overlaps"] == [], f"nodes overlap on the canvas: {state['overlaps']}"
    for node in workflow["nodes"]:
        # a node without widgets: 1.32 saves [], 1.58 leaves widgets_values out
        assert (on_canvas[str(node["id"])]["widgets_values"] or []) == node["widgets_values"], \
            f"{node['type']} #{node['id']}: the canvas reads other widget values than the file holds"

    fit_view(page)
    if canvas_server.frontend != host.PINNED_FRONTEND:  # kept for a look, not for the docs
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS_DIR / f"{name}-frontend-{canvas_server.frontend}.png"))
        return
    canvas_image = keep_screenshot(page, name)
    assert canvas_image.stat().st_size < MAX_DOCS_IMAGE_BYTES
    with Image.open(canvas_image) as image:
        # the fitted graph takes most of the window: a small crop would mean the view was not fitted
        assert image.width > SCREENSHOT_VIEWPORT["width"] * 0.5 and image.height > SCREENSHOT_VIEWPORT["height"] * 0.5


def test_the_checks_see_a_missing_node(canvas_server, browser_page):
    """Control: the same checks report a workflow whose node type the server does not have."""
    page = browser_page
    workflow = json.loads((WORKFLOWS_DIR / "magicmix_image_layout.json").read_text(encoding="utf-8"))
    renamed = next(n for n in workflow["nodes"] if n["type"] == "MagicMixLayoutNoise")
    renamed["type"] = "MagicMixNoSuchNode"
    open_canvas(page, canvas_server.url)

    drop_workflow(page, json.dumps(workflow), "magicmix_missing_node.json")

    problems = page.evaluate(VISIBLE_PROBLEMS_JS)
    if canvas_server.frontend == host.PINNED_FRONTEND:  # 1.58 opens no missing-nodes dialog
        assert any("MagicMixNoSuchNode" in dialog for dialog in problems["dialogs"]), problems
    missing = [n["type"] for n in page.evaluate(GRAPH_STATE_JS)["nodes"] if n["missing"]]
    assert missing == ["MagicMixNoSuchNode"]
