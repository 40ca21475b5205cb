"""Draw the integration's brand images into custom_components/basix_cti/brand/.

    .venv/bin/python scripts/draw_brand.py

The mark is our own: a telephone handset with a signal (a dot and two arcs), and for the logo
the letters "PBX" built from the same strokes. Everything is drawn from geometry (no fonts, no
third-party artwork), four times larger than needed and scaled down for smooth edges, then trimmed to the
drawing so no transparent margin is left, as Home Assistant's brand rules ask:
icons 256x256 and 512x512, logos with a shortest side of 128 and 256, transparent background,
and dark variants for dark themes.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path

from PIL import Image, ImageDraw

BRAND_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "basix_cti" / "brand"

SUPERSAMPLE = 4  # drawn this many times larger than the largest image, then scaled down


@dataclass(frozen=True)
class Palette:
    """The two colours of the mark: the handset and the signal arcs (and the letters)."""

    handset: tuple[int, int, int, int]
    signal: tuple[int, int, int, int]


LIGHT = Palette(handset=(13, 71, 161, 255), signal=(3, 155, 229, 255))  # for light themes
DARK = Palette(handset=(144, 202, 249, 255), signal=(79, 195, 247, 255))  # for dark themes


def _polar(center: tuple[float, float], radius: float, degrees: float) -> tuple[float, float]:
    """A point at `degrees` (clockwise from 3 o'clock, as PIL draws arcs) around `center`."""
    angle = math.radians(degrees)
    return center[0] + radius * math.cos(angle), center[1] + radius * math.sin(angle)


def _disc(draw: ImageDraw.ImageDraw, center: tuple[float, float], radius: float, fill) -> None:
    x, y = center
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


def _round_arc(
    draw: ImageDraw.ImageDraw,
    *,
    center: tuple[float, float],
    radius: float,
    start: float,
    end: float,
    width: float,
    fill,
) -> None:
    """An arc stroke with round caps, `radius` measured to the middle of the stroke."""
    outer = radius + width / 2
    box = (center[0] - outer, center[1] - outer, center[0] + outer, center[1] + outer)
    draw.arc(box, start, end, fill=fill, width=round(width))
    for angle in (start, end):
        _disc(draw, _polar(center, radius, angle), width / 2, fill)


def _round_line(
    draw: ImageDraw.ImageDraw,
    start: tuple[float, float],
    end: tuple[float, float],
    width: float,
    fill,
) -> None:
    """A straight stroke with round caps."""
    draw.line((start, end), fill=fill, width=round(width))
    for point in (start, end):
        _disc(draw, point, width / 2, fill)


def _pad(
    draw: ImageDraw.ImageDraw,
    *,
    center: tuple[float, float],
    arc_radius: float,
    angle: float,
    length: float,
    depth: float,
    fill,
) -> None:
    """An ear or mouth piece: a rounded block across the handle, bulging towards the centre."""
    # Local frame at the end of the handle: `t` along the arc's tangent, `n` towards its centre.
    ox, oy = _polar(center, arc_radius, angle)
    nx, ny = (center[0] - ox) / arc_radius, (center[1] - oy) / arc_radius
    tx, ty = -ny, nx
    corner = min(length, depth) * 0.42
    outline: list[tuple[float, float]] = []
    # Corners of a rounded rectangle spanning t in [-length/2, length/2], n in [-depth/3, depth].
    for (ct, cn), first in (
        ((length / 2 - corner, depth - corner), 0),
        ((-length / 2 + corner, depth - corner), 90),
        ((-length / 2 + corner, -depth / 3 + corner), 180),
        ((length / 2 - corner, -depth / 3 + corner), 270),
    ):
        for step in range(13):
            a = math.radians(first + step * 90 / 12)
            lt, ln = ct + corner * math.cos(a), cn + corner * math.sin(a)
            outline.append((ox + lt * tx + ln * nx, oy + lt * ty + ln * ny))
    draw.polygon(outline, fill=fill)


def draw_mark(draw: ImageDraw.ImageDraw, origin: tuple[float, float], size: float, palette):
    """The handset and its signal inside the square at `origin` with side `size`."""
    x0, y0 = origin
    center = (x0 + 0.56 * size, y0 + 0.44 * size)
    handle_radius = 0.40 * size
    handle_width = 0.13 * size
    start, end = 45.0, 225.0  # from the mouth piece (lower right) round to the ear (upper left)
    _round_arc(
        draw,
        center=center,
        radius=handle_radius,
        start=start + 6,
        end=end - 6,
        width=handle_width,
        fill=palette.handset,
    )
    for angle in (start + 8, end - 8):
        _pad(
            draw,
            center=center,
            arc_radius=handle_radius,
            angle=angle,
            length=0.22 * size,
            depth=0.17 * size,
            fill=palette.handset,
        )
    # The signal: three quarter arcs opening towards the upper right, inside the handset's curve.
    _disc(draw, _polar(center, 0.05 * size, 315), 0.05 * size, palette.signal)
    for radius in (0.19, 0.31):
        _round_arc(
            draw,
            center=center,
            radius=radius * size,
            start=275,
            end=355,
            width=0.07 * size,
            fill=palette.signal,
        )


def draw_letters(draw: ImageDraw.ImageDraw, origin: tuple[float, float], height: float, palette):
    """The letters P, B and X in strokes of the mark's width; returns the right edge."""
    x, y = origin
    stroke = 0.14 * height
    half = stroke / 2
    top, bottom, middle = y + half, y + height - half, y + height / 2
    fill = palette.handset
    bowl = (middle - top) / 2  # radius of a bowl of P and of B's upper bowl

    def letter_p(left: float) -> float:
        _round_line(draw, (left + half, top), (left + half, bottom), stroke, fill)
        _bowl(left + half, top, middle, 0.30 * height)
        return left + half + 0.30 * height + bowl + half

    def _bowl(stem: float, upper: float, lower: float, straight: float) -> None:
        radius = (lower - upper) / 2
        _round_line(draw, (stem, upper), (stem + straight, upper), stroke, fill)
        _round_line(draw, (stem, lower), (stem + straight, lower), stroke, fill)
        _round_arc(
            draw,
            center=(stem + straight, upper + radius),
            radius=radius,
            start=270,
            end=90,
            width=stroke,
            fill=fill,
        )

    def letter_b(left: float) -> float:
        _round_line(draw, (left + half, top), (left + half, bottom), stroke, fill)
        _bowl(left + half, top, middle, 0.26 * height)
        _bowl(left + half, middle, bottom, 0.30 * height)
        return left + half + 0.30 * height + (bottom - middle) / 2 + half

    def letter_x(left: float) -> float:
        width = 0.62 * height
        _round_line(draw, (left + half, top), (left + width - half, bottom), stroke, palette.signal)
        _round_line(draw, (left + half, bottom), (left + width - half, top), stroke, palette.signal)
        return left + width

    gap = 0.16 * height
    right = letter_p(x)
    right = letter_b(right + gap)
    return letter_x(right + gap)


def _trimmed(image: Image.Image) -> Image.Image:
    box = image.getchannel("A").getbbox()
    if box is None:
        raise RuntimeError("nothing was drawn")
    return image.crop(box)


def _square(image: Image.Image) -> Image.Image:
    side = max(image.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


def icon(palette: Palette) -> Image.Image:
    """The mark alone, trimmed and centred in a square, drawn large: scale it down to use it."""
    size = 512 * SUPERSAMPLE
    image = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
    draw_mark(ImageDraw.Draw(image), (size / 2, size / 2), size, palette)
    return _square(_trimmed(image))


def logo(palette: Palette) -> Image.Image:
    """The mark and the letters PBX side by side, trimmed, drawn large: scale it down to use it."""
    size = 256 * SUPERSAMPLE
    image = Image.new("RGBA", (size * 5, size * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw_mark(draw, (size / 2, size / 2), size, palette)
    draw_letters(draw, (size * 1.55, size * 0.5 + size * 0.2), size * 0.6, palette)
    return _trimmed(image)


def _scaled(image: Image.Image, height: int, scale: int) -> Image.Image:
    """`image` `height` x `scale` pixels high; an @2x image is exactly twice its plain sibling."""
    width = round(image.width * height / image.height)
    return image.resize((width * scale, height * scale), Image.Resampling.LANCZOS)


def main() -> None:
    """Write the eight images."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    for prefix, palette in (("", LIGHT), ("dark_", DARK)):
        images = {"icon": (icon(palette), 256), "logo": (logo(palette), 128)}
        for name, (image, height) in images.items():
            for suffix, scale in (("", 1), ("@2x", 2)):
                path = BRAND_DIR / f"{prefix}{name}{suffix}.png"
                _scaled(image, height, scale).save(path, optimize=True)
    for path in sorted(BRAND_DIR.glob("*.png")):
        with Image.open(path) as image:
            print(
                f"{path.relative_to(BRAND_DIR.parent.parent.parent)}: {image.size[0]}x{image.size[1]}"
            )


if __name__ == "__main__":
    main()
