# Copyright (c) mmkd contributors. All rights reserved.
"""Drawing shared by the synthetic data sets: textured backgrounds and
coloured geometric shapes.

Everything is drawn from a ``numpy.random.Generator`` only (numpy + Pillow),
so an image is a pure function of its seed. Shapes are placed without
touching each other (a gap of a few pixels is kept between their masks), so
each one's box, area and mask are exactly what was painted.
"""
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

#: Every shape the generators can draw, in label order. A set with
#: ``num_classes=k`` uses the first ``k``.
SHAPE_CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star',
                                  'cross', 'ellipse')

# Hue (degrees) of each shape's paint: well apart so colour helps, with a
# jitter of saturation and value per object so it does not decide alone.
_SHAPE_HUES: Dict[str, float] = {
    'circle': 0.,
    'square': 120.,
    'triangle': 225.,
    'star': 55.,
    'cross': 295.,
    'ellipse': 180.
}
_ROUND_VERTICES = 40  # vertices of the polygons that stand for curves


@dataclass
class ShapeInstance:
    """One painted shape.

    Attributes:
        label: index into the class tuple the shapes were drawn from.
        polygon: (K, 2) float vertices, ``x, y`` in pixels.
        mask: (H, W) bool, the pixels painted.
        bbox: ``[x, y, w, h]`` tight around ``mask`` (in COCO convention:
            ``w = x_max - x_min + 1`` over pixel indices).
        area: number of pixels in ``mask``.
    """
    label: int
    polygon: np.ndarray
    mask: np.ndarray
    bbox: List[int]
    area: int


def rgb_from_hsv(hue: float, sat: float, val: float) -> np.ndarray:
    """Convert one HSV colour (hue in degrees, sat and val in [0, 1]) to RGB
    floats in [0, 255]."""
    h = (hue % 360.) / 60.
    c = val * sat
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c),
           (c, 0, x)][int(h) % 6]
    return (np.asarray(rgb) + (val - c)) * 255.


def textured_background(
    rng: np.random.Generator, height: int, width: int, low: float = 30.,
    high: float = 220., noise_std: Tuple[float,
                                         float] = (4., 14.)) -> np.ndarray:
    """A float (H, W, 3) background: a linear gradient between two random
    colours, plus sinusoidal stripes, low-frequency blotches and pixel noise.

    Args:
        rng: the random generator (consumed).
        height, width: size in pixels.
        low, high: range each channel of the two gradient colours is drawn
            from (narrow it to tint a region, e.g. a sky).
        noise_std: range of the per-pixel Gaussian noise's std.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    yy /= max(height - 1, 1)
    xx /= max(width - 1, 1)
    # gradient along a random direction
    theta = rng.uniform(0, 2 * np.pi)
    t = np.cos(theta) * xx + np.sin(theta) * yy
    t = (t - t.min()) / max(np.ptp(t), 1e-6)
    c0, c1 = rng.uniform(low, high, size=(2, 3))
    img = c0 + t[..., None] * (c1 - c0)
    # stripes of random frequency, orientation and tint
    phi = rng.uniform(0, np.pi)
    cycles = rng.uniform(2., 9.)
    wave = np.sin(2 * np.pi * cycles * (np.cos(phi) * xx + np.sin(phi) * yy) +
                  rng.uniform(0, 2 * np.pi))
    img += wave[..., None] * rng.uniform(-25., 25., size=3)
    # blotches: a coarse random grid, bilinearly upsampled
    coarse = rng.uniform(-1., 1., size=(4, 4)).astype(np.float32)
    blot = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
    img += blot[..., None] * rng.uniform(5., 25.)
    img += rng.normal(0., rng.uniform(*noise_std), size=img.shape)
    return img


def shape_polygon(name: str, cx: float, cy: float, radius: float, angle: float,
                  aspect: float = 0.5) -> np.ndarray:
    """Vertices (K, 2) of a shape centred at ``(cx, cy)`` that fits in the
    circle of ``radius``, rotated by ``angle`` radians.

    ``aspect`` is the minor/major axis ratio of an ellipse.
    """
    if name in ('circle', 'ellipse'):
        a = np.linspace(0, 2 * np.pi, _ROUND_VERTICES, endpoint=False)
        minor = radius * (aspect if name == 'ellipse' else 1.)
        pts = np.stack([radius * np.cos(a), minor * np.sin(a)], 1)
    elif name in ('square', 'triangle'):
        n = 4 if name == 'square' else 3
        a = np.pi / n + 2 * np.pi * np.arange(n) / n
        pts = radius * np.stack([np.cos(a), np.sin(a)], 1)
    elif name == 'star':
        a = -np.pi / 2 + np.pi * np.arange(10) / 5
        r = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif name == 'cross':
        w = 0.32 * radius / np.sqrt(1 + 0.32**2)
        L = radius / np.sqrt(1 + 0.32**2)
        pts = np.array([(w, -L), (w, -w), (L, -w), (L, w), (w, w), (w, L),
                        (-w, L), (-w, w), (-L, w), (-L, -w), (-w, -w),
                        (-w, -L)])
    else:
        raise ValueError(f'Unknown shape {name!r}; expected one of '
                         f'{SHAPE_CLASSES}.')
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T + np.array([cx, cy])


def polygon_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise a polygon into an (H, W) bool mask with Pillow."""
    canvas = Image.new('L', (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon.tolist()],
                                   fill=1)
    return np.asarray(canvas, dtype=bool)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of ``mask`` by a (2r+1)^2 square."""
    if radius <= 0:
        return mask.copy()
    h, w = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy:dy + h, dx:dx + w]
    return out


def _random_angle(rng: np.random.Generator, name: str) -> float:
    # squares and crosses stay near upright so their boxes stay tight
    if name in ('square', 'cross'):
        return rng.uniform(-np.pi / 12, np.pi / 12)
    return rng.uniform(0, 2 * np.pi)


def place_shapes(rng: np.random.Generator, height: int, width: int,
                 class_names: Sequence[str], num_objects: int, min_size: float,
                 max_size: float, allowed: Optional[np.ndarray] = None,
                 gap: int = 2, max_tries: int = 40) -> List[ShapeInstance]:
    """Draw up to ``num_objects`` non-touching shapes on an (H, W) canvas.

    Sizes (circumscribed diameters) are log-uniform in
    ``[min_size, max_size]``. A shape whose mask would come within ``gap``
    pixels of another, or leave ``allowed``, is redrawn up to ``max_tries``
    times and then dropped; the first shape always fits when ``allowed``
    holds the whole canvas, since ``max_size`` must fit in the image.
    """
    blocked = (
        np.zeros((height, width), dtype=bool) if allowed is None else ~allowed)
    instances: List[ShapeInstance] = []
    for _ in range(num_objects):
        label = int(rng.integers(len(class_names)))
        name = class_names[label]
        for _ in range(max_tries):
            size = float(
                np.exp(rng.uniform(np.log(min_size), np.log(max_size))))
            r = size / 2.
            cx = rng.uniform(r, width - 1 - r)
            cy = rng.uniform(r, height - 1 - r)
            poly = shape_polygon(name, cx, cy, r, _random_angle(rng, name),
                                 aspect=rng.uniform(0.4, 0.65))
            mask = polygon_mask(poly, height, width)
            if mask.any() and not (mask & blocked).any():
                break
        else:
            continue
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        bbox = [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]
        instances.append(
            ShapeInstance(label, poly, mask, bbox, int(mask.sum())))
        blocked |= dilate(mask, gap)
    return instances


def paint_shapes(rng: np.random.Generator, image: np.ndarray,
                 instances: Iterable[ShapeInstance],
                 class_names: Sequence[str]) -> np.ndarray:
    """Paint each instance onto the float (H, W, 3) ``image`` in place: its
    class's hue with a random saturation/value, a shading gradient across
    the shape, and pixel noise."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    for inst in instances:
        colour = rgb_from_hsv(
            _SHAPE_HUES[class_names[inst.label]] + rng.uniform(-12, 12),
            rng.uniform(0.55, 1.), rng.uniform(0.6, 1.))
        theta = rng.uniform(0, 2 * np.pi)
        x0, y0, bw, bh = inst.bbox
        t = (np.cos(theta) * (xx - x0) / bw + np.sin(theta) *
             (yy - y0) / bh)[inst.mask]
        shade = 1. + rng.uniform(0., 0.25) * (t - t.mean())
        pixels = colour * shade[:, None] + rng.normal(0., 5., size=(t.size, 3))
        image[inst.mask] = pixels
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def save_png(array: np.ndarray, path: Path) -> None:
    """Write an RGB (H, W, 3) or single-channel (H, W) uint8 array as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format='PNG')


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one image: depends on the set's seed, the split and
    the image's index only, so adding images leaves the others unchanged."""
    split_key = {'train': 0, 'val': 1, 'test': 2}[split]
    return np.random.default_rng([seed, split_key, index])


def check_common_args(num_train: int, num_val: int, img_size: Sequence[int],
                      min_objects: int, max_objects: int,
                      min_size: float) -> Tuple[int, int]:
    """Validate the arguments both generators share; return ``(H, W)``."""
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if int(value) != value or value < 0:
            raise ValueError(f'{name} must be a non-negative integer, got '
                             f'{value!r}.')
    if num_train + num_val == 0:
        raise ValueError('num_train + num_val is 0: nothing to generate.')
    if len(img_size) != 2 or any(int(s) != s for s in img_size):
        raise ValueError(f'img_size must be (height, width) integers, got '
                         f'{img_size!r}.')
    height, width = int(img_size[0]), int(img_size[1])
    if min_size < 4:
        raise ValueError(f'min_size must be >= 4 pixels, got {min_size}.')
    if min(height, width) < 2 * min_size:
        raise ValueError(
            f'img_size {img_size} is too small: both sides must be at least '
            f'2 * min_size = {2 * min_size} pixels (shapes are up to half the '
            'shorter side); use a larger img_size or a smaller min_size.')
    if not 1 <= min_objects <= max_objects:
        raise ValueError(
            f'Need 1 <= min_objects <= max_objects, got min_objects='
            f'{min_objects}, max_objects={max_objects}.')
    return height, width


class GeneratedSet:
    """Bookkeeping of an output folder the generators own: ``meta.json``
    records the parameters of the set inside, so a second call with the same
    parameters is a no-op, and a call with other ones replaces the set.

    Only the folders in ``owned`` and ``meta.json`` are ever removed; a
    non-empty folder without ``meta.json`` is refused rather than mixed.
    """
    META = 'meta.json'

    def __init__(self, out_dir, kind: str, params: dict, owned: Sequence[str]):
        self.root = Path(out_dir).expanduser().resolve()
        self.kind = kind
        self.params = json.loads(json.dumps(params))  # tuples -> lists
        self.owned = owned

    def _read_meta(self) -> Optional[dict]:
        path = self.root / self.META
        if not path.is_file():
            return None
        with open(path) as f:
            return json.load(f)

    def existing(self) -> Optional[dict]:
        """The stored meta when the folder already holds this exact set."""
        meta = self._read_meta()
        if (meta is not None and meta.get('kind') == self.kind
                and meta.get('params') == self.params and all(
                    (self.root / d).exists() for d in self.owned)):
            return meta
        return None

    def prepare(self) -> None:
        """Empty the owned folders (of a set with other parameters) before
        writing; refuse folders this class did not write."""
        meta = self._read_meta()
        if meta is None:
            if self.root.exists() and any(self.root.iterdir()):
                raise FileExistsError(
                    f'{self.root} is not empty and has no {self.META}: it was '
                    'not written by this generator. Pick an empty or new '
                    'folder.')
        elif meta.get('kind') != self.kind:
            raise FileExistsError(
                f'{self.root} holds a {meta.get("kind")!r} set, not a '
                f'{self.kind!r} one. Pick another folder.')
        else:
            (self.root / self.META).unlink()
            for d in self.owned:
                if (self.root / d).exists():
                    shutil.rmtree(self.root / d)
        self.root.mkdir(parents=True, exist_ok=True)

    def finish(self, stats: dict) -> dict:
        """Write ``meta.json`` last, so an interrupted run is redone."""
        meta = dict(kind=self.kind, params=self.params, stats=stats)
        write_json(meta, self.root / self.META)
        return meta


def write_json(obj, path: Path) -> None:
    """Write JSON deterministically (sorted keys, fixed separators)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, sort_keys=True, separators=(',', ':'))
