"""Shared fixtures of the four test layers (the single place for them).

Layers, by folder (each test is marked with its folder's name, so ``-m unit`` etc. select them):

- ``unit``: pure Python, ComfyUI must not be needed; nothing here imports ``comfy`` at import time.
- ``comfy``: ComfyUI imported in-process (``comfy_host``) and the generated checkpoint (``sd15_model``).
- ``e2e``: the real server started by ``comfy_server`` on a free loopback port.
- ``browser``: that server's page in Debian's chromium (``browser_page``).

Artifacts (server log of a failed run, screenshots) go to ``test-artifacts/`` at the repo root.
"""
from __future__ import annotations

import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from magicmix_dev import checkpoints, host

TESTS_DIR = Path(__file__).resolve().parent
LAYERS = ("unit", "comfy", "e2e", "browser")
ARTIFACTS_DIR = host.PACK_DIR / "test-artifacts"
SCREENSHOTS_DIR = ARTIFACTS_DIR / "screenshots"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# --- layers: markers, and a check that a full run really ran all of them ----------------------

def pytest_addoption(parser):
    parser.addoption(
        "--require-all-layers", action="store_true",
        help="fail the run unless every layer (unit, comfy, e2e, browser) passed at least one test and nothing "
             "was skipped")


def _layer_of(path) -> str | None:
    """The layer of a test file or folder under tests/<layer>/, else None."""
    try:
        parts = Path(path).resolve().relative_to(TESTS_DIR).parts
    except ValueError:
        return None
    return parts[0] if parts and parts[0] in LAYERS else None


def pytest_collection_modifyitems(config, items):
    for item in items:
        layer = _layer_of(item.path)
        if layer is None:
            raise pytest.UsageError(f"{item.nodeid}: tests belong in one of tests/{{{','.join(LAYERS)}}}/")
        item.add_marker(getattr(pytest.mark, layer))
        item.stash[_LAYER] = layer


_LAYER = pytest.StashKey[str]()  # an item's layer
_FAILED = pytest.StashKey[bool]()  # an item had a failed phase
_OUTCOMES = pytest.StashKey[dict]()  # layer -> counts of passed and skipped tests
_FAILED_ITEMS = pytest.StashKey[set]()  # node ids of failed items, for fixtures that keep logs


def pytest_configure(config):
    config.stash[_OUTCOMES] = {layer: {"passed": 0, "skipped": 0} for layer in LAYERS}
    config.stash[_FAILED_ITEMS] = set()


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A module or folder skipped while collected (module-level pytest.skip, importorskip) is a skip of its
    layer too: its tests never run, and no test report would say so."""
    report = yield
    layer = _layer_of(collector.path) if report.skipped else None
    if layer:
        collector.config.stash[_OUTCOMES][layer]["skipped"] += 1
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    layer = item.stash.get(_LAYER, None)
    outcomes = item.config.stash[_OUTCOMES]
    if report.failed:
        item.config.stash[_FAILED_ITEMS].add(item.nodeid)
        item.stash[_FAILED] = True
    elif layer and report.skipped:
        outcomes[layer]["skipped"] += 1
    elif layer and report.when == "call" and report.passed:
        outcomes[layer]["passed"] += 1
    return report


def _layer_problems(config) -> list[str]:
    problems = []
    for layer, counts in config.stash[_OUTCOMES].items():
        if counts["passed"] == 0:
            problems.append(f"layer {layer!r}: no test passed")
        if counts["skipped"]:
            problems.append(f"layer {layer!r}: {counts['skipped']} skipped")
    return problems


def pytest_sessionfinish(session, exitstatus):
    if (session.config.getoption("--require-all-layers") and exitstatus == pytest.ExitCode.OK
            and _layer_problems(session.config)):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("--require-all-layers"):
        problems = _layer_problems(config)
        if problems:
            terminalreporter.section("--require-all-layers", sep="=", red=True)
            for problem in problems:
                terminalreporter.line(problem, red=True)


def _failed_since(request, failed_before: set, fixture_name: str) -> list[str]:
    """Tests that used ``fixture_name`` and failed after the fixture was set up."""
    failed = request.config.stash[_FAILED_ITEMS] - failed_before
    users = {item.nodeid for item in request.session.items if fixture_name in getattr(item, "fixturenames", ())}
    return sorted(failed & users)


# --- models and the in-process host --------------------------------------------------------------

@pytest.fixture(scope="session")
def sd15_checkpoint() -> Path:
    """The seeded random-weight SD1.5 checkpoint (generated once, then cached under $MAGICMIX_CACHE/models)."""
    return checkpoints.ensure_checkpoint()


@pytest.fixture(scope="session")
def demo_checkpoint() -> Path:
    """The demo-world model's checkpoint, assembled from demo_world/weights (cached under
    $MAGICMIX_CACHE/demo_world)."""
    from demo_world import checkpoint
    return checkpoint.ensure_checkpoint()


@dataclass
class ComfyHost:
    path: Path  # the ComfyUI folder imported from
    NODE_CLASS_MAPPINGS: dict  # ComfyUI's node registry after loading extra and custom nodes

    def node(self, name: str):
        return self.NODE_CLASS_MAPPINGS[name]


@pytest.fixture(scope="session")
def comfy_host() -> ComfyHost:
    """ComfyUI imported in this process (CPU), with its extra nodes and custom_nodes, this pack among them, loaded."""
    mappings = host.load_host_nodes()
    return ComfyHost(path=host.comfyui_path(), NODE_CLASS_MAPPINGS=mappings)


@pytest.fixture(scope="session")
def sd15_model(comfy_host, sd15_checkpoint):
    """(MODEL, CLIP, VAE) of the generated checkpoint, loaded as CheckpointLoaderSimple loads it."""
    import comfy.sd
    import folder_paths
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
        str(sd15_checkpoint), output_vae=True, output_clip=True,
        embedding_directory=folder_paths.get_folder_paths("embeddings"))
    return model, clip, vae


@pytest.fixture(scope="session")
def prompts(sd15_model):
    """CONDITIONING of the generated checkpoint for a content, a layout and a negative prompt (CLIPTextEncode's)."""
    clip = sd15_model[1]

    def encode(text):
        return clip.encode_from_tokens_scheduled(clip.tokenize(text))

    return {name: encode(text) for name, text in {
        "content": "a photo of a coffee machine", "layout": "a photo of a corgi", "negative": "blurry"}.items()}


@pytest.fixture(scope="session")
def layout_latent():
    """A stand-in for a VAE-encoded 64x64 image (8x8 latent): smooth and non-zero everywhere."""
    import torch
    y, x = torch.meshgrid(torch.linspace(-1, 1, 8), torch.linspace(-1, 1, 8), indexing="ij")
    channels = [torch.sin(3 * x + c) * torch.cos(2 * y - c) * 4 for c in range(4)]
    return {"samples": torch.stack(channels)[None].float()}


@pytest.fixture(scope="session")
def demo_model(comfy_host, demo_checkpoint):
    """(MODEL, CLIP, VAE) of the demo-world checkpoint, loaded as CheckpointLoaderSimple loads it."""
    import comfy.sd
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(demo_checkpoint), output_vae=True, output_clip=True)
    return model, clip, vae


# --- the real server ----------------------------------------------------------------------------

DEFAULT_CHECKPOINT_NAME = checkpoints.DEFAULT_MODEL_NAME


@pytest.fixture(scope="session")
def comfy_server(request, tmp_path_factory, sd15_checkpoint):
    """``python main.py --cpu --listen 127.0.0.1 --port <free>`` with the generated checkpoint as
    ``magicmix-test-sd15.safetensors``, a scratch output/input/user folder, stopped after the session.

    Its log is copied to test-artifacts/ when a test that used it failed (or when it fails to start).
    """
    yield from _served(request, "comfy_server", sd15_checkpoint, tmp_path_factory.mktemp("comfy-server"), "")


@pytest.fixture(scope="session")
def newer_frontend_server(request, tmp_path_factory, sd15_checkpoint):
    """The same test server with the newer frontend (host.NEWER_FRONTEND, unpacked by tools/setup.sh)."""
    root = host.newer_frontend_root()
    assert (root / "index.html").is_file(), f"no frontend {host.NEWER_FRONTEND} at {root}: run tools/setup.sh"
    yield from _served(request, "newer_frontend_server", sd15_checkpoint, tmp_path_factory.mktemp("comfy-server-newer"),
                       "newer-frontend-", extra_args=("--front-end-root", str(root)))


def _served(request, fixture_name: str, checkpoint: Path, workdir: Path, log_prefix: str, extra_args=()):
    """A started test server for the session, stopped afterwards; its log kept when it fails to start
    or when a test that used ``fixture_name`` failed."""
    from magicmix_dev.server import ComfyServer

    failed_before = set(request.config.stash[_FAILED_ITEMS])
    server = ComfyServer({DEFAULT_CHECKPOINT_NAME: checkpoint}, workdir=workdir, extra_args=extra_args)
    try:
        server.start()
    except Exception:
        _keep_server_log(server, f"{log_prefix}start-failed")
        raise
    try:
        yield server
    finally:
        server.stop()
        if _failed_since(request, failed_before, fixture_name):
            _keep_server_log(server, f"{log_prefix}failed")


def _keep_server_log(server, why: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS_DIR / f"comfy-server-{why}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    if server.log_path.exists():
        shutil.copyfile(server.log_path, target)
        print(f"\nComfyUI server log kept: {target}", file=sys.stderr)


@pytest.fixture
def run_prompt(comfy_server):
    """Queue an API-format prompt on the test server and wait; returns its outputs or raises PromptError."""
    return comfy_server.run_prompt


# --- the browser --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium driven by playwright (playwright's own browser download cannot work offline)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        # launch() gives each browser a fresh temporary profile: no user data from earlier runs.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Everything but the loopback server: the frontend asks api.comfy.org for release notes and node
# metadata, which the test machines cannot reach; refused at once, a request cannot stall a test.
OUTSIDE_LOOPBACK = re.compile(r"^(?!(https?|wss?)://(127\.0\.0\.1|localhost)[:/])")


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    """Where tests keep screenshots worth looking at (test-artifacts/screenshots/)."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS_DIR


@pytest.fixture
def browser_page(request, chromium):
    """A page in a fresh browser context that only reaches the loopback interface (requests elsewhere
    are aborted); a screenshot of it is kept in test-artifacts/screenshots/ if the test fails."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.route(OUTSIDE_LOOPBACK, lambda route: route.abort())
    page = context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_FAILED, False):
            SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
            safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
            try:
                page.screenshot(path=str(SCREENSHOTS_DIR / f"{safe_name}-failed.png"))
            except Exception as error:  # the page may be what broke; the test's own error matters more
                print(f"\nno failure screenshot: {error}", file=sys.stderr)
        context.close()
