"""bench/QUALITY.md and its picture grid from a bench run."""
from __future__ import annotations

import numpy as np


def _interval(values: tuple) -> str:
    mean, low, high = values
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def cell_row(cell) -> str:
    return (f"| {cell.method.label()} | {cell.n} | {_interval(cell.iou_interval())} | {_interval(cell.rate('kept'))} | "
            f"{_interval(cell.rate('adopted'))} | {_interval(cell.rate('both'))} |")


HEADER = ("| method | n | silhouette IoU with the layout | layout kept | content adopted | both |\n"
          "|---|---|---|---|---|---|")


def table(title: str, cells: list, note: str = "") -> str:
    lines = [f"### {title}", ""]
    if note:
        lines += [note, ""]
    lines += [HEADER] + [cell_row(c) for c in cells] + [""]
    return "\n".join(lines)


def regional_note(cells: list) -> str:
    """Outside the mask: the regional rows' error on the kept pixels against the VAE round trip's."""
    if not cells:
        return ""
    parts = []
    for cell in cells:
        errors = np.asarray(cell.outside_errors)
        parts.append(f"{cell.method.label()}: mean |result - layout image| {errors.mean():.4f} (worst image "
                     f"{errors.max():.4f})")
    return ("The mask is the left half (4 of 8 latent cell columns); the pattern is read on the shape's part "
            "inside it. Pixels beyond a band of two latent cells from the mask's edge (the right 16 px) are "
            f"compared with the layout image; the VAE's own round trip of the layout gives "
            f"{np.asarray(cells[0].round_trip_errors).mean():.4f} there. " + "; ".join(parts) + ".")


def scenes_note(cells: list) -> str:
    """The two-scene rows: the second scene kept, and the error beyond the band against the VAE round trip's."""
    from .mixing import wilson
    if not cells:
        return ""
    parts = []
    for cell in cells:
        errors, kept = np.asarray(cell.outside_errors), np.asarray(cell.others_kept)
        low, high = wilson(int(kept.sum()), len(kept))
        parts.append(f"{cell.method.label()}: mean |result - canvas| {errors.mean():.4f} "
                     f"(worst image {errors.max():.4f}), "
                     f"second scene shows its own pattern {kept.mean():.3f} [{low:.3f}, {high:.3f}]")
    return ("A 128 px canvas of two scenes (16 x 16 latent cells): the pair's layout top left, the next pair's layout "
            "bottom right. The mask is the first scene's quadrant; the first scene is scored as any result. Pixels "
            "beyond a band of two latent cells from the mask's edge (most of the second scene) are compared with the "
            f"canvas; the VAE's own round trip gives {np.asarray(cells[0].round_trip_errors).mean():.4f} there. "
            "The model was trained on single 64 px scenes only. " + "; ".join(parts) + ".")


def picture_grid(rows: list[list[np.ndarray]], labels: list[str], path, scale: int = 2) -> None:
    """Images (H x W x 3 in [0, 1]) in rows, one column label each, written as a PNG."""
    from PIL import Image, ImageDraw
    size, gap, label_height = 64 * scale, 4, 28
    width = len(labels) * (size + gap) + gap
    height = label_height + len(rows) * (size + gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(labels):
        x = gap + c * (size + gap)
        for i, line in enumerate(label.split("\n")[:2]):
            draw.text((x + 2, 2 + 12 * i), line, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            tile = Image.fromarray(pixels).resize((size, size), Image.NEAREST)
            canvas.paste(tile, (gap + c * (size + gap), label_height + gap + r * (size + gap)))
    canvas.save(path)


def write_example(rows: list[list[np.ndarray]], labels: list[str], pairs: list, path) -> None:
    """A README example: the picture grid at twice the size, then the pairs it shows and its path, printed."""
    picture_grid(rows, labels, path, scale=2)
    for pair in pairs:
        print(f"{pair.layout_prompt!r} + {pair.content_prompt!r}")
    print(path)
