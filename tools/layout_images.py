"""The layout images and the layout video the shipped workflows load, drawn by code (Pillow), no downloads.

Flat shapes on a plain background, 512x512 RGB PNG, a few KB each. A MagicMix layout only has to
carry a shape and its colours: at k_max the layout is noised until only coarse layout is left, so a
clean silhouette is a good layout (a photo works too; the canvas notes say so).

Drawn at 2x and reduced with a box filter for smooth edges, then stored as a 64-colour palette PNG
(LoadImage converts palette images to RGB). ``make_workflows.py`` writes them into ``layouts/``;
``install_layouts.py`` copies them into ComfyUI's input folder, where LoadImage looks. The workflows'
template thumbnails are drawn here too, from these images (``thumbnail_jpeg``).

The layout video (``LAYOUT_VIDEOS``) is the corgi walking across the frame, drawn frame by frame the
same way and written as an H.264 MP4 with PyAV (which ComfyUI itself requires, for its video nodes):
832x480, 33 frames at 16 fps, WAN 2.1's template size and length (frames = 4n + 1, as WAN's VAE reads them).
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

SIZE = 512
SCALE = 2  # supersampling factor
CORGI_BACKGROUND = (226, 234, 240)


def _canvas(background: tuple[int, int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw, Callable[..., list[float]]]:
    image = Image.new("RGB", (SIZE * SCALE, SIZE * SCALE), background)
    draw = ImageDraw.Draw(image)

    def s(*values: float) -> list[float]:  # 512-space coordinates -> canvas pixels
        return [v * SCALE for v in values]

    return image, draw, s


def _finish(image: Image.Image) -> Image.Image:
    small = image.resize((SIZE, SIZE), Image.Resampling.BOX)
    return small.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def corgi() -> Image.Image:
    """A corgi-like dog, side view, facing right: tan back, white chest and belly, short legs, big ears."""
    image, draw, s = _canvas(CORGI_BACKGROUND)
    _draw_corgi(draw, s)
    return _finish(image)


def _draw_corgi(draw: ImageDraw.ImageDraw, s: Callable[..., list[float]]) -> None:
    """The corgi in 512-space coordinates, mapped to the canvas by ``s``."""
    tan, white, dark, shadow = (214, 136, 62), (246, 240, 230), (52, 38, 30), (196, 206, 214)
    draw.ellipse(s(88, 392, 440, 424), fill=shadow)  # ground shadow
    for x in (150, 196, 330, 370):  # short legs
        draw.rounded_rectangle(s(x, 320, x + 34, 404), radius=s(12)[0], fill=tan)
        draw.rounded_rectangle(s(x, 382, x + 34, 406), radius=s(10)[0], fill=white)
    draw.ellipse(s(104, 214, 420, 350), fill=tan)  # long body
    draw.ellipse(s(150, 292, 380, 352), fill=white)  # belly
    draw.ellipse(s(84, 226, 132, 262), fill=tan)  # tail stub
    draw.ellipse(s(340, 224, 432, 340), fill=white)  # chest
    draw.ellipse(s(336, 150, 446, 252), fill=tan)  # head
    draw.polygon(s(350, 172, 352, 82, 396, 154), fill=tan)  # ears
    draw.polygon(s(404, 158, 436, 78, 446, 178), fill=tan)
    draw.polygon(s(360, 160, 360, 106, 386, 152), fill=(232, 170, 120))
    draw.polygon(s(412, 158, 432, 108, 438, 172), fill=(232, 170, 120))
    draw.ellipse(s(404, 200, 478, 250), fill=white)  # muzzle
    draw.ellipse(s(464, 204, 484, 222), fill=dark)  # nose
    draw.ellipse(s(402, 182, 416, 196), fill=dark)  # eye


def rabbit() -> Image.Image:
    """A grey rabbit sitting, side view, facing left: round body, long upright ears, white tail."""
    image, draw, s = _canvas((222, 238, 214))
    grey, light, pink, dark = (150, 146, 142), (208, 204, 200), (230, 170, 176), (40, 36, 36)
    draw.ellipse(s(120, 410, 420, 440), fill=(196, 214, 186))  # ground shadow
    draw.ellipse(s(190, 220, 410, 430), fill=grey)  # body
    draw.ellipse(s(300, 360, 420, 430), fill=grey)  # hind leg
    draw.ellipse(s(390, 300, 440, 350), fill=(250, 250, 250))  # tail
    draw.ellipse(s(180, 390, 250, 424), fill=light)  # front paw
    draw.ellipse(s(130, 170, 270, 300), fill=grey)  # head
    draw.ellipse(s(176, 40, 226, 200), fill=grey)  # ears
    draw.ellipse(s(222, 50, 272, 206), fill=grey)
    draw.ellipse(s(188, 60, 214, 180), fill=pink)
    draw.ellipse(s(234, 70, 260, 186), fill=pink)
    draw.ellipse(s(150, 214, 166, 230), fill=dark)  # eye
    draw.ellipse(s(126, 250, 142, 262), fill=pink)  # nose
    draw.ellipse(s(140, 256, 200, 296), fill=light)  # cheek
    return _finish(image)


def lamp() -> Image.Image:
    """A table lamp on a table: cone shade, thin stem, round base, warm wall."""
    image, draw, s = _canvas((54, 66, 92))
    shade, glow, metal, wood = (244, 222, 160), (255, 244, 200), (180, 150, 96), (120, 78, 46)
    draw.rectangle(s(0, 430, 512, 512), fill=wood)  # table
    draw.rectangle(s(0, 424, 512, 434), fill=(140, 96, 60))
    draw.ellipse(s(176, 400, 336, 440), fill=metal)  # base
    draw.rectangle(s(248, 230, 264, 420), fill=metal)  # stem
    draw.polygon(s(196, 96, 316, 96, 372, 244, 140, 244), fill=shade)  # shade
    draw.ellipse(s(140, 232, 372, 256), fill=glow)  # shade rim
    draw.rectangle(s(196, 90, 316, 100), fill=(226, 200, 140))
    return _finish(image)


def landscape() -> Image.Image:
    """A simple scene: sky, sun, two hills, a house with a red roof, a winding river."""
    image, draw, s = _canvas((150, 200, 236))
    draw.ellipse(s(360, 50, 450, 140), fill=(255, 214, 80))  # sun
    draw.ellipse(s(-160, 250, 330, 640), fill=(96, 160, 84))  # hills
    draw.ellipse(s(180, 280, 700, 680), fill=(70, 136, 70))
    draw.rectangle(s(0, 400, 512, 512), fill=(84, 150, 76))  # meadow
    river = [(s(330, 300)[0] + SCALE * 30 * math.sin(t / 9), s(0, 300 + t * 2)[1]) for t in range(0, 107)]
    draw.line(river, fill=(70, 130, 200), width=22 * SCALE, joint="curve")
    draw.rectangle(s(120, 300, 220, 380), fill=(238, 226, 204))  # house
    draw.polygon(s(108, 304, 170, 250, 232, 304), fill=(190, 60, 50))  # roof
    draw.rectangle(s(158, 336, 182, 380), fill=(110, 76, 50))  # door
    draw.rectangle(s(130, 316, 150, 334), fill=(120, 170, 220))  # window
    draw.rectangle(s(190, 316, 210, 334), fill=(120, 170, 220))
    for cx in (60, 262, 470):  # trees
        draw.rectangle(s(cx - 5, 360, cx + 5, 400), fill=(100, 70, 40))
        draw.ellipse(s(cx - 28, 310, cx + 28, 372), fill=(40, 110, 56))
    return _finish(image)


# Where the regional workflow mixes (512-space box around the dog, with its ears, tail and shadow's top).
CORGI_REGION = (60, 56, 500, 436)
CORGI_REGION_RADIUS = 48


def corgi_region() -> Image.Image:
    """The corgi with a mask in its alpha channel: transparent (mask 1, mix) over the dog, opaque elsewhere.

    LoadImage's MASK is 1 - alpha, so this is what ComfyUI's MaskEditor saves after painting over the
    dog. The colours stay under the transparent pixels: they are the layout that is mixed there.
    """
    image = corgi().convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    ImageDraw.Draw(alpha).rounded_rectangle(CORGI_REGION, radius=CORGI_REGION_RADIUS, fill=0)
    image.putalpha(alpha)
    return image


LAYOUT_IMAGES: dict[str, Callable[[], Image.Image]] = {
    "magicmix_corgi.png": corgi,
    "magicmix_corgi_region.png": corgi_region,
    "magicmix_rabbit.png": rabbit,
    "magicmix_lamp.png": lamp,
    "magicmix_landscape.png": landscape,
}


VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FRAMES, VIDEO_FPS = 832, 480, 33, 16


def walking_corgi_frames() -> list[Image.Image]:
    """The corgi (at 3/4 size) walking left to right across a plain room, bobbing with its steps."""
    size = 0.75
    frames = []
    for index in range(VIDEO_FRAMES):
        image = Image.new("RGB", (VIDEO_WIDTH * SCALE, VIDEO_HEIGHT * SCALE), CORGI_BACKGROUND)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 330 * SCALE, VIDEO_WIDTH * SCALE, VIDEO_HEIGHT * SCALE), fill=(204, 190, 170))  # floor
        left = -40 + index * (VIDEO_WIDTH - 512 * size + 80) / (VIDEO_FRAMES - 1)
        top = 40 - 10 * abs(math.sin(index * math.pi / 4))

        def s(*values: float, left=left, top=top) -> list[float]:  # 512-space (x, y, x, y, ...) -> this frame
            if len(values) == 1:  # a length
                return [values[0] * size * SCALE]
            return [(v * size + (top if i % 2 else left)) * SCALE for i, v in enumerate(values)]

        _draw_corgi(draw, s)
        frames.append(image.resize((VIDEO_WIDTH, VIDEO_HEIGHT), Image.Resampling.BOX))
    return frames


def mp4_bytes(frames: list[Image.Image], fps: int = VIDEO_FPS) -> bytes:
    """The frames as an H.264 MP4 (yuv420p, what every player reads)."""
    import av  # ComfyUI's own requirement; only the video needs it

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.options = {"crf": "23", "preset": "medium"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    return buffer.getvalue()


LAYOUT_VIDEOS: dict[str, Callable[[], list[Image.Image]]] = {"magicmix_walking_corgi.mp4": walking_corgi_frames}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def thumbnail_jpeg(layout: str, caption: str) -> bytes:
    """A 256x256 card for the template browser: the layout (one of LAYOUT_IMAGES, the middle frame of one of
    LAYOUT_VIDEOS, or words) and a caption."""
    if layout in LAYOUT_IMAGES:
        card = LAYOUT_IMAGES[layout]().convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    elif layout in LAYOUT_VIDEOS:
        middle = LAYOUT_VIDEOS[layout]()[VIDEO_FRAMES // 2]
        card = middle.crop(((VIDEO_WIDTH - VIDEO_HEIGHT) // 2, 0, (VIDEO_WIDTH + VIDEO_HEIGHT) // 2, VIDEO_HEIGHT))
        card = card.resize((256, 256), Image.Resampling.LANCZOS)
    else:
        card = Image.new("RGB", (256, 256), (236, 232, 222))
        ImageDraw.Draw(card).text((128, 110), layout, fill=(60, 60, 60), anchor="mm",
                                  font=ImageFont.load_default(size=30))
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 206, 256, 256), fill=(30, 30, 30))
    draw.text((128, 231), caption, fill=(255, 255, 255), anchor="mm", font=ImageFont.load_default(size=20))
    buffer = io.BytesIO()
    card.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()
