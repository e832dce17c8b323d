"""The node interfaces the workflow generator reads are the server's.

tools/make_workflows.py builds every node of the shipped workflows (sockets, widgets, the order of
widgets_values, outputs) from tools/workflow_data/object_info.json, a snapshot of /object_info. This
compares that snapshot with the running test server's, node type by node type; a node whose inputs,
outputs, defaults or descriptions changed fails here until ``python tools/refresh_object_info.py`` and
``python tools/make_workflows.py`` are run. Cost: one /object_info request to the session's server.
"""
from __future__ import annotations

import json

from tools import make_workflows, refresh_object_info


def test_the_committed_snapshot_is_what_the_server_declares(comfy_server):
    committed = json.loads(make_workflows.OBJECT_INFO_PATH.read_text(encoding="utf-8"))
    served = refresh_object_info.snapshot(comfy_server.object_info())
    assert sorted(committed) == sorted(served), "the snapshot holds other node types than the generator uses"
    changed = sorted(name for name in served if served[name] != committed[name])
    assert not changed, (f"the server declares {changed} otherwise than tools/workflow_data/object_info.json: run "
                         "python tools/refresh_object_info.py, then python tools/make_workflows.py")
