"""The picture store: each picture's bytes kept once, named by their SHA-1, so a correction
stays trainable after the shop changes or removes its page.

A folder now (``<root>/<first two hex digits>/<sha1>.<ext>``, written atomically); the
location it answers is what the database records, so an object-store URL can take its
place later without a schema change.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from shoplens.imaging import ImageLimits, decode_image, perceptual_hash

SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "AVIF": ".avif",
            "HEIF": ".heic"}


@dataclass(frozen=True)
class StoredPicture:
    sha1: str
    location: str  # the file's absolute path
    byte_size: int
    width: int
    height: int
    perceptual_hash: str  # 16 hex digits


class PictureStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def put(self, picture: bytes, limits: ImageLimits | None = None) -> StoredPicture:
        """Keeps `picture` (decoded first: raises shoplens.imaging.ImageRejected for what is not a usable
        picture) unless a picture with its SHA-1 is kept already."""
        image = decode_image(picture, limits or ImageLimits())
        sha1 = hashlib.sha1(picture).hexdigest()
        path = self.root / sha1[:2] / (sha1 + SUFFIXES.get(_format(picture), ".bin"))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(picture)
            os.replace(handle.name, path)  # readers never see half a picture
        return StoredPicture(sha1, str(path), len(picture), image.width, image.height,
                             f"{perceptual_hash(image):016x}")


def _format(picture: bytes) -> str:
    """The picture's file format, from its header (decode_image's RGB copy has lost it)."""
    with Image.open(io.BytesIO(picture)) as image:
        return image.format or ""
