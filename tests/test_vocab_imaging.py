import io

import numpy as np
import pytest
from PIL import Image

from shoplens import ShopLensError
from shoplens.imaging import ImageLimits, ImageRejected, decode_image, hamming, pairwise_within, perceptual_hash
from shoplens.sample import jpeg_bytes
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
