import io

import numpy as np
import pytest
from PIL import Image

from shoplens import ShopLensError
from shoplens.imaging import (
    ImageLimits,
    ImageRejected,
    decode_image,
    hamming,
    jpeg_bytes,
    pairwise_within,
    perceptual_hash,
)
from shoplens.vocab import parse_term, term


@pytest.mark.parametrize("text, expected", [
    ("red dress", ("dress", "red")), ("Dress  RED", ("dress", "red")), ("gray t-shirt", ("t-shirt", "grey")),
    ("jeans", ("pants", None)), ("navy sweater", ("pullover", "blue")),
])
def test_parse_term(text, expected):
    assert parse_term(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "red blue dress", "red"])
def test_parse_term_rejects(text):
    with pytest.raises(ShopLensError):
        parse_term(text)


def test_term_round_trip():
    assert parse_term(term("dress", "red")) == ("dress", "red")



def test_decode_accepts_a_picture(drawn):
    image = decode_image(jpeg_bytes(drawn()))
    assert image.mode == "RGB" and image.size == (96, 128)


def test_decode_flattens_transparency_on_white():
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    assert decode_image(buffer.getvalue()).getpixel((5, 5)) == (255, 255, 255)


def encoded(image: Image.Image, format_name: str) -> bytes:
    """`image` written by Pillow's own AVIF/TIFF writers or pillow-heif's HEIF writer."""
    buffer = io.BytesIO()
    image.save(buffer, format_name)
    return buffer.getvalue()


@pytest.mark.parametrize("format_name", ["AVIF", "HEIF"])
def test_decode_accepts_avif_and_heic(format_name, drawn):
    picture = drawn("dress", "red", seed=2)
    image = decode_image(encoded(picture, format_name))
    assert image.mode == "RGB" and image.size == picture.size
    # lossy, but still the red dress: the mean colour stays close to the original's
    original, decoded = np.asarray(picture, dtype=float), np.asarray(image, dtype=float)
    assert np.abs(original.mean(axis=(0, 1)) - decoded.mean(axis=(0, 1))).max() < 12


@pytest.mark.parametrize("format_name", ["TIFF", "PPM"])
def test_unsupported_formats_are_named_never_an_object_repr(format_name, drawn):
    picture = drawn(seed=2)
    with pytest.raises(ImageRejected) as error:
        decode_image(encoded(picture, format_name))
    message = str(error.value)
    assert error.value.reason == "unsupported_format" and f"{format_name} pictures are not accepted" in message
    assert "AVIF" in message and "object at 0x" not in message and "BytesIO" not in message


def test_unknown_bytes_say_which_formats_are_accepted():
    with pytest.raises(ImageRejected) as error:
        decode_image(b"\x00\x01 definitely not a picture" * 4)
    assert error.value.reason == "not_an_image" and "accepted: JPEG" in str(error.value)
    assert "object at 0x" not in str(error.value)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"this is text, not a picture", "not_an_image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not_an_image"),
])
def test_decode_rejects_non_pictures(data, reason):
    with pytest.raises(ImageRejected) as error:
        decode_image(data)
    assert error.value.reason == reason


def test_decode_rejects_truncated(drawn):
    data = jpeg_bytes(drawn())
    with pytest.raises(ImageRejected) as error:
        decode_image(data[: len(data) // 2])
    assert error.value.reason == "truncated"


def test_decode_rejects_tiny_and_bombs():
    with pytest.raises(ImageRejected) as error:
        decode_image(jpeg_bytes(Image.new("RGB", (10, 200))))
    assert error.value.reason == "too_small"
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")  # 81 Mpx in a few kB
    with pytest.raises(ImageRejected) as error:
        decode_image(buffer.getvalue(), ImageLimits(max_pixels=40_000_000))
    assert error.value.reason == "too_many_pixels"


def test_perceptual_hash_survives_reencoding_but_not_another_picture(drawn):
    original = drawn(seed=3)
    copy = decode_image(jpeg_bytes(original.resize((72, 96)), quality=40))
    other = drawn("pants", "blue", seed=4)
    assert hamming(perceptual_hash(original), perceptual_hash(copy)) <= 4
    assert hamming(perceptual_hash(original), perceptual_hash(other)) > 10


def test_pairwise_within_matches_brute_force():
    rng = np.random.default_rng(0)
    hashes = [int(h) for h in rng.integers(0, 2**63, 60)] + [5, 4, 7]
    expected = [(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
                if hamming(hashes[i], hashes[j]) <= 2]
    assert pairwise_within(hashes, 2) == expected
    assert (60, 61) in expected
