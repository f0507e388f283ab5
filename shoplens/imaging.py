"""Decoding untrusted pictures with safety limits, and perceptual hashing.

Every picture ShopLens reads (crawled, uploaded, or from a dataset folder) goes
through `decode_image`, so one set of limits guards training, crawling and serving.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageFile, ImageOps
from scipy.fft import dctn

# AVIF is Pillow's own (built in since Pillow 11.3); HEIC/HEIF, what phones and some shop
# CDNs serve, comes from pillow-heif. Other formats Pillow knows (TIFF, PSD, ...) are refused
# by name: their parsers are a larger attack surface than product pictures need.
pillow_heif.register_heif_opener()
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF", "HEIF")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif", ".heic", ".heif"})

# A truncated file must fail loudly rather than decode as a grey half-picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejected(ValueError):
    """The bytes are not a picture ShopLens accepts; ``reason`` is a short machine key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class ImageLimits:
    min_side: int = 32
    max_pixels: int = 40_000_000
    max_bytes: int = 20 * 1024 * 1024


DEFAULT_LIMITS = ImageLimits()


def decode_image(source: bytes | str | Path, limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    """Decode `source` (bytes or a path) to an RGB picture, or raise `ImageRejected`.

    Reasons: empty, too_large_file, not_an_image, unsupported_format, too_many_pixels,
    too_small, truncated.
    The pixel count is checked from the header before any pixel is decoded, so a
    decompression bomb costs nothing.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if not data:
        raise ImageRejected("empty", "zero bytes")
    if len(data) > limits.max_bytes:
        raise ImageRejected("too_large_file", f"{len(data)} bytes > {limits.max_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except Image.UnidentifiedImageError:
            raise _unidentified(data) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, ValueError) as exc:
            raise ImageRejected("not_an_image", str(exc)) from None
        return _load_checked(image, limits)


def _unidentified(data: bytes) -> ImageRejected:
    """Names the format of a picture that is not among ALLOWED_FORMATS (Pillow's own message
    would only show a BytesIO repr); only its header is read, no pixels."""
    accepted = ", ".join(ALLOWED_FORMATS)
    try:
        with Image.open(io.BytesIO(data)) as other:
            name = other.format
    except Exception:  # any parser failure means: not a picture we can name
        name = None
    if name:
        return ImageRejected("unsupported_format", f"{name} pictures are not accepted (accepted: {accepted})")
    return ImageRejected("not_an_image", f"not a picture in a known format (accepted: {accepted})")


def _load_checked(image: Image.Image, limits: ImageLimits) -> Image.Image:
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageRejected("too_many_pixels", f"{width}x{height} > {limits.max_pixels} pixels")
    if min(width, height) < limits.min_side:
        raise ImageRejected("too_small", f"{width}x{height}, shorter side < {limits.min_side}")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("P", "LA", "RGBA", "PA"):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected("truncated", str(exc)) from None


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    """`image` encoded as JPEG."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def local_path(source: str) -> Path:
    """A picture's source as a local path: a path, or a ``file:`` URI (the batch job's inputs)."""
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(source).path) if source.startswith("file:") else source).resolve()


def save_thumbnail(source: str | Path, target: Path, side: int = 120) -> bool:
    """A square `side`-pixel JPEG of the picture at `source` (a report's thumbnail); False where
    it cannot be read (gone, not a picture)."""
    try:
        image = decode_image(Path(source))
    except (ImageRejected, OSError):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").resize((side, side)).save(target, "JPEG", quality=85)
    return True


def perceptual_hash(image: Image.Image) -> int:
    """64-bit DCT perceptual hash (pHash): low-frequency structure survives re-encoding."""
    small = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    low = dctn(np.asarray(small, dtype=np.float64), norm="ortho")[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def colour_hash(image: Image.Image) -> int:
    """imagehash's colour hash (42 bits: shares of black, grey and each hue, faint and bright):
    beside the greyscale pHash it keeps a red and a blue shot of one product apart."""
    import imagehash

    return int(str(imagehash.colorhash(image, binbits=3)), 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def pairwise_within(hashes: list[int], max_distance: int) -> list[tuple[int, int]]:
    """All index pairs (i < j) whose hashes differ in at most `max_distance` bits."""
    values = np.array(hashes, dtype=np.uint64)
    pairs: list[tuple[int, int]] = []
    for i in range(len(values) - 1):  # one row at a time keeps memory linear in n
        distances = np.bitwise_count(values[i + 1:] ^ values[i])
        pairs.extend((i, i + 1 + int(j)) for j in np.flatnonzero(distances <= max_distance))
    return pairs
