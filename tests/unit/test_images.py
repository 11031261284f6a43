"""Safe photo decoding: every accepted format and orientation, and every refused input."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ferviz.faces.images import PhotoError, load_photo

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def quadrants(w: int = 80, h: int = 48) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right (a lossy-safe layout)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = RED
    a[: h // 2, w // 2:] = GREEN
    a[h // 2:, : w // 2] = BLUE
    a[h // 2:, w // 2:] = WHITE
    return Image.fromarray(a)


def near(pixel, colour, tol=40) -> bool:
    return bool(np.all(np.abs(np.asarray(pixel, int) - np.asarray(colour, int)) <= tol))


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (its pixel data is a stub): a bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ accepted

@pytest.mark.parametrize("fmt,kw", [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True}),
                                    ("BMP", {}), ("TIFF", {}), ("GIF", {})])
def test_formats_decode_to_rgb(fmt, kw):
    rgb = load_photo(encode(quadrants(), fmt, **kw))
    assert rgb.shape == (48, 80, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    assert near(rgb[5, 5], RED) and near(rgb[5, 75], GREEN) and near(rgb[40, 5], BLUE) and near(rgb[40, 75], WHITE)


def test_lossless_formats_are_exact():
    src = np.asarray(quadrants())
    for fmt, kw in [("PNG", {}), ("BMP", {}), ("WEBP", {"lossless": True})]:
        np.testing.assert_array_equal(load_photo(encode(quadrants(), fmt, **kw)), src)


@pytest.mark.parametrize("orientation,corners", [
    # stored red top-left; after the EXIF rotation the image is 48 wide, 80 high
    (1, None),
    (6, {"top_right": RED, "top_left": BLUE, "bottom_right": GREEN, "bottom_left": WHITE}),
    (8, {"bottom_left": RED, "bottom_right": BLUE, "top_left": GREEN, "top_right": WHITE}),
    (3, {"bottom_right": RED, "top_left": WHITE}),
])
def test_exif_orientation_is_applied(orientation, corners):
    exif = Image.Exif()
    exif[0x0112] = orientation
    rgb = load_photo(encode(quadrants(), "JPEG", quality=95, exif=exif.tobytes()))
    if orientation == 1:
        assert rgb.shape == (48, 80, 3) and near(rgb[5, 5], RED)
        return
    h, w = rgb.shape[:2]
    assert (h, w) == ((80, 48) if orientation in (6, 8) else (48, 80))
    at = {"top_left": rgb[5, 5], "top_right": rgb[5, w - 6], "bottom_left": rgb[h - 6, 5],
          "bottom_right": rgb[h - 6, w - 6]}
    for where, colour in corners.items():
        assert near(at[where], colour), (where, at[where], colour)


def test_rgba_is_composited_on_white():
    a = np.zeros((40, 40, 4), np.uint8)
    a[:, :20] = (255, 0, 0, 255)  # opaque red
    a[:, 20:30] = (0, 0, 0, 0)  # fully transparent
    a[:, 30:] = (0, 0, 0, 128)  # half-transparent black
    rgb = load_photo(encode(Image.fromarray(a, "RGBA"), "PNG"))
    assert tuple(rgb[5, 5]) == RED
    assert tuple(rgb[5, 25]) == WHITE
    assert all(abs(int(v) - 127) <= 2 for v in rgb[5, 35])


def test_la_mode_is_composited_on_white():
    a = np.zeros((40, 40, 2), np.uint8)
    a[:, 20:] = (0, 0)
    a[:, :20] = (50, 255)
    rgb = load_photo(encode(Image.fromarray(a, "LA"), "PNG"))
    assert tuple(rgb[5, 5]) == (50, 50, 50) and tuple(rgb[5, 30]) == WHITE


def test_16bit_png_is_scaled_not_clipped():
    a = np.zeros((40, 40), np.uint16)
    a[:, :10], a[:, 10:20], a[:, 20:30], a[:, 30:] = 0, 257 * 64, 32896, 65535
    im = Image.fromarray(a)
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    rgb = load_photo(data)
    assert [int(rgb[0, c, 0]) for c in (5, 15, 25, 35)] == [0, 64, 128, 255]
    assert np.all(rgb[..., 0] == rgb[..., 2])


def test_32bit_int_tiff_with_16bit_values_is_scaled():
    a = np.full((40, 40), 65535, np.int32)
    a[:, :20] = 257 * 100
    rgb = load_photo(encode(Image.fromarray(a, "I"), "TIFF"))
    assert int(rgb[0, 5, 0]) == 100 and int(rgb[0, 30, 0]) == 255


def test_palette_images_with_and_without_transparency():
    p = quadrants().convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    rgb = load_photo(encode(p, "PNG"))
    assert near(rgb[5, 5], RED, 10) and near(rgb[40, 5], BLUE, 10)
    p.info["transparency"] = p.getpixel((5, 5))  # red becomes transparent -> white
    rgb = load_photo(encode(p, "PNG", transparency=p.getpixel((5, 5))))
    assert tuple(rgb[5, 5]) == WHITE and near(rgb[40, 5], BLUE, 10)


def test_grayscale_and_bilevel():
    g = np.tile(np.arange(0, 240, 5, dtype=np.uint8), (40, 1))
    rgb = load_photo(encode(Image.fromarray(g, "L"), "PNG"))
    assert rgb.shape == (40, 48, 3) and np.array_equal(rgb[..., 1], g)
    b = Image.fromarray(g > 100).convert("1")
    rgb = load_photo(encode(b, "PNG"))
    assert set(np.unique(rgb)) <= {0, 255}


def test_cmyk_jpeg():
    im = Image.new("CMYK", (48, 48), (0, 255, 255, 0))  # red in CMYK
    rgb = load_photo(encode(im, "JPEG", quality=95))
    assert rgb.shape == (48, 48, 3) and near(rgb[20, 20], RED)


def test_single_frame_gif_is_fine():
    assert load_photo(encode(quadrants(), "GIF")).shape == (48, 80, 3)


# ------------------------------------------------------------------ refused

@pytest.mark.parametrize("data,message", [
    (b"", "empty file"),
    (b"hello, this is not an image at all" * 4, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
])
def test_not_images(data, message):
    with pytest.raises(PhotoError, match=message):
        load_photo(data)


def test_other_formats_are_not_decoded():
    for fmt in ("PPM", "TGA", "ICO"):
        with pytest.raises(PhotoError, match="not an image"):
            load_photo(encode(quadrants(), fmt))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(fmt):
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(PhotoError, match="truncated or corrupt"):
        load_photo(data[: len(data) // 2])


def test_decompression_bomb_over_our_pixel_cap():
    with pytest.raises(PhotoError, match=r"too large: 8000x8000 .*decompression bomb"):
        load_photo(png_header(8000, 8000))


def test_pillow_bomb_warning_is_an_error():
    # above Pillow's own MAX_IMAGE_PIXELS (~89 MP) even when our cap is lifted
    with pytest.raises(PhotoError, match="decompression bomb"):
        load_photo(png_header(10_000, 10_000), max_pixels=10**12)
    with pytest.raises(PhotoError, match="decompression bomb"):
        load_photo(png_header(20_000, 20_000), max_pixels=10**12)


def test_byte_cap():
    data = encode(quadrants(), "PNG")
    with pytest.raises(PhotoError, match="file too large"):
        load_photo(data, max_bytes=len(data) - 1)
    assert load_photo(data, max_bytes=len(data)).shape == (48, 80, 3)


def test_animated_gif_is_refused():
    frames = [quadrants(), quadrants().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(PhotoError, match=r"animated .*2 frames"):
        load_photo(data)


def test_animated_webp_is_refused():
    frames = [quadrants(), quadrants().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(PhotoError, match="animated"):
        load_photo(data)


@pytest.mark.parametrize("size", [(10, 10), (31, 200)])
def test_too_small(size):
    with pytest.raises(PhotoError, match=f"too small: {size[0]}x{size[1]}"):
        load_photo(encode(Image.new("RGB", size, RED), "PNG"))


def test_not_bytes():
    with pytest.raises(PhotoError, match="expected image bytes"):
        load_photo("photo.jpg")


def test_photo_error_is_a_value_error():
    assert issubclass(PhotoError, ValueError)
