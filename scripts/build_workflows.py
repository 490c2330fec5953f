"""Write the canvas (UI-format) workflows from the API-format ones and a running ComfyUI's /object_info.

    python scripts/build_workflows.py --server http://127.0.0.1:8188

The API graphs in ghibli_core/workflows/ are the source of truth (what /prompt, `comfy run` and `ghibli-anim comfy`
take; package data, so a wheel carries them): this script copies them to the pack's workflows/api/ and writes the
UI files in workflows/ (named by UI_NAMES, as the template browser shows them) with the same nodes, values and links, laid out for the canvas, with model download hints.
The tests check that the copies are identical and that both stay in sync with the nodes' real inputs.
"""
from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path

from ghibli_core.defaults import MODEL_DOWNLOADS

ROOT = Path(__file__).resolve().parents[1]
API_SOURCE = ROOT / "ghibli_core" / "workflows"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
#: The canvas file of each API workflow: the template browser shows the file name as the card's title (and, with - and
#: _ as spaces, as its description), so it is a title.
UI_NAMES = {
    "ghibli_animation": "Ghibli animation, LLM plan and style LoRA",
    "ghibli_minimal": "Ghibli animation, quick start",
    "ghibli_video": "Ghibli video, repaint a clip with its sound",
}
#: Download hints for the canvas' missing-model dialog (properties.models): the single files it can fetch.
MODEL_HINTS = {name: hint for name, hint in MODEL_DOWNLOADS.items() if name.endswith(".safetensors")}


#: Canvas height kept under a saver's widgets for its animated preview (a 512² animation shows about 360 px wide).
PREVIEW_HEIGHT = 380


def input_specs(info: dict) -> list[tuple[str, str, dict, bool]]:
    """(name, type, options, optional) of a node's inputs in the order the canvas shows them."""
    order = info.get("input_order") or {k: list(v) for k, v in info["input"].items()}
    out = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = info["input"][section][name]
            kind = spec[0]
            kind = "COMBO" if isinstance(kind, list) else kind
            out.append((name, kind, spec[1] if len(spec) > 1 else {}, section == "optional"))
    return out


def widget_values(info: dict, inputs: dict) -> list:
    """widgets_values in the canvas' order; a seed with control_after_generate gets its mode after it."""
    values = []
    for name, kind, options, optional in input_specs(info):
        if kind not in WIDGET_TYPES:
            continue
        value = inputs.get(name, options.get("default"))
        if isinstance(value, list):  # linked: the widget keeps its default, the link wins
            value = options.get("default")
        values.append(value)
        if options.get("control_after_generate"):
            values.append("fixed")
    return values


#: Canvas units: the margin, the gap between nodes, a node's title bar (drawn above its `pos`), a widget row's height,
#: and about how wide a character of a widget's label or value is at the default font.
MARGIN, GAP, TITLE_HEIGHT, ROW, CHAR = 40, 40, 30, 24, 7.5
MIN_WIDTH, MAX_WIDTH = 360, 640


def node_size(info: dict, inputs: dict, slots: int) -> tuple[int, int]:
    """A node's (width, height) on the canvas: a row per widget and socket (a multiline text box taller), wide enough
    for its longest widget label and value side by side; a saver with room for its preview under the widgets."""
    specs = input_specs(info)
    widgets = widget_values(info, inputs)
    multiline = sum(1 for _, kind, opts, _ in specs if kind == "STRING" and opts.get("multiline"))
    height = 40 + ROW * (len(widgets) - multiline + slots) + 100 * multiline
    shown = [(name, inputs.get(name, opts.get("default"))) for name, kind, opts, _ in specs
             if kind in WIDGET_TYPES and not (kind == "STRING" and opts.get("multiline")) and not isinstance(inputs.get(name), list)]
    text = max((len(name) + len(str(value)) for name, value in shown), default=0)
    width = int(min(MAX_WIDTH, max(MIN_WIDTH, 80 + CHAR * text)))
    if info.get("output_node") and not info["output"]:  # a saver or preview: room for its pictures under the widgets
        width, height = max(width, 420), height + PREVIEW_HEIGHT
    return width, height


def depth_of(graph: dict) -> dict[str, int]:
    memo: dict[str, int] = {}

    def depth(node: str) -> int:
        if node not in memo:
            parents = [v[0] for v in graph[node]["inputs"].values() if isinstance(v, list)]
            memo[node] = 1 + max((depth(p) for p in parents), default=-1)
        return memo[node]

    for node in graph:
        depth(node)
    return memo


def to_ui(graph: dict, object_info: dict) -> dict:
    links, link_id = [], 0
    node_inputs: dict[str, list] = {}
    node_outputs: dict[str, list] = {}
    for node_id, node in graph.items():
        info = object_info[node["class_type"]]
        node_outputs[node_id] = [{"name": n, "type": t, "links": [], "slot_index": i}
                                 for i, (n, t) in enumerate(zip(info.get("output_name", info["output"]), info["output"]))]
    for node_id, node in graph.items():
        info = object_info[node["class_type"]]
        entries = []
        for name, kind, _options, optional in input_specs(info):
            value = node["inputs"].get(name)
            linked = isinstance(value, list)
            if kind in WIDGET_TYPES and not linked:
                continue
            entry = {"name": name, "type": kind, "link": None}
            if kind in WIDGET_TYPES:
                entry["widget"] = {"name": name}
            if optional:
                entry["shape"] = 7
            if linked:
                link_id += 1
                src, slot = value
                src_type = object_info[graph[src]["class_type"]]["output"][slot]
                links.append([link_id, int(src), slot, int(node_id), len(entries), src_type])
                node_outputs[src][slot]["links"].append(link_id)
                entry["link"] = link_id
            entries.append(entry)
        node_inputs[node_id] = entries
    depths = depth_of(graph)
    sizes = {node_id: node_size(object_info[graph[node_id]["class_type"]], graph[node_id]["inputs"],
                                 max(len(node_inputs[node_id]), len(node_outputs[node_id]))) for node_id in graph}
    # columns by depth, each as wide as its widest node; nodes stacked in a column with room for the title bars
    columns = sorted(set(depths.values()))
    widths = {c: max(sizes[n][0] for n in graph if depths[n] == c) for c in columns}
    x_of = {c: MARGIN + sum(widths[k] + GAP for k in columns if k < c) for c in columns}
    rows: dict[int, int] = {}
    nodes = []
    for order, node_id in enumerate(sorted(graph, key=lambda n: (depths[n], int(n)))):
        node = graph[node_id]
        info = object_info[node["class_type"]]
        widgets = widget_values(info, node["inputs"])
        column = depths[node_id]
        width, height = sizes[node_id]
        y = rows.get(column, MARGIN + TITLE_HEIGHT)
        rows[column] = y + height + GAP + TITLE_HEIGHT
        ui_node = {
            "id": int(node_id), "type": node["class_type"], "pos": [x_of[column], y], "size": [width, height],
            "flags": {}, "order": order, "mode": 0, "inputs": node_inputs[node_id], "outputs": node_outputs[node_id],
            "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": widgets,
        }
        title = node.get("_meta", {}).get("title")
        if title and title != info.get("display_name"):
            ui_node["title"] = title
        hints = [{"name": v, "url": MODEL_HINTS[v][1], "directory": MODEL_HINTS[v][0]}
                 for v in node["inputs"].values() if isinstance(v, str) and v in MODEL_HINTS]
        if hints:
            ui_node["properties"]["models"] = hints
        nodes.append(ui_node)
    return {
        "last_node_id": max(int(n) for n in graph), "last_link_id": link_id, "nodes": nodes, "links": links,
        "groups": [], "config": {}, "extra": {"ds": {"scale": 0.7, "offset": [30, 90]}}, "version": 0.4,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="a ComfyUI with this pack loaded")
    args = parser.parse_args()
    with urllib.request.urlopen(args.server.rstrip("/") + "/object_info", timeout=30) as resp:
        object_info = json.load(resp)
    for api_file in sorted(API_SOURCE.glob("*.json")):
        (ROOT / "workflows" / "api" / api_file.name).write_bytes(api_file.read_bytes())
        ui = to_ui(json.loads(api_file.read_text()), object_info)
        target = ROOT / "workflows" / f"{UI_NAMES[api_file.stem]}.json"
        target.write_text(json.dumps(ui, indent=2) + "\n")
        print(f"wrote {target.relative_to(ROOT)} ({len(ui['nodes'])} nodes, {len(ui['links'])} links)")


if __name__ == "__main__":
    main()
