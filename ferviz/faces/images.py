"""Safe decoding of user photos (uploads, camera shots, CLI files) to RGB arrays.

Everything happens in memory: uploads are never written anywhere. Only common still-image
formats are decoded (Pillow's other plugins stay off), sizes are checked from the header
before any pixel is decoded, and Pillow's decompression-bomb warning is an error.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from ..errors import PhotoError

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 32
#: Pillow format names accepted (MPO is what Pillow calls many phone-camera JPEGs).
FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF")
_FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")



def load_photo(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
               min_side: int = MIN_SIDE) -> np.ndarray:
    """Decode image bytes to an upright (H, W, 3) uint8 RGB array.

    EXIF orientation is applied; transparency is composited on white; 16-bit images are
    scaled to 8 bits; palette, grayscale and CMYK images become RGB. Raises PhotoError for
    empty, oversized, non-image, truncated, animated or too-small input.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PhotoError(f"expected image bytes, got {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise PhotoError("empty file")
    if n > max_bytes:
        raise PhotoError(f"file too large: {n / 2**20:.1f} MiB (limit {max_bytes / 2**20:.0f} MiB)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(bytes(data)), formats=_formats())
        except Image.DecompressionBombError as e:
            raise PhotoError(f"image too large, possible decompression bomb ({e})") from None
        except Image.DecompressionBombWarning:
            raise PhotoError("image too large, possible decompression bomb") from None
        except Exception:  # UnidentifiedImageError and malformed headers
            raise PhotoError(f"not an image (expected {_FORMAT_NAMES})") from None
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise PhotoError(f"image too large: {w}x{h} pixels (limit {max_pixels / 1e6:g} MP; "
                                 "possible decompression bomb)")
            if min(w, h) < min_side:
                raise PhotoError(f"too small: {w}x{h} (at least {min_side}x{min_side} needed)")
            frames = _frame_count(im)
            if frames > 1 and im.format != "MPO":  # MPO's extra frames are previews/depth maps
                raise PhotoError(f"animated or multi-page image ({frames} frames); upload a single still image")
            try:
                im.load()
            except Exception as e:
                raise PhotoError(f"truncated or corrupt {im.format or 'image'} file ({_short(e)})") from None
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:  # malformed EXIF: keep the image as stored
                pass
            return _to_rgb(im)


def _formats() -> list[str]:
    """FORMATS whose plugins Pillow has (MPO is registered only by Image.init())."""
    Image.init()
    return [f for f in FORMATS if f in Image.OPEN]


def _frame_count(im: Image.Image) -> int:
    try:
        return int(getattr(im, "n_frames", 1))
    except Exception as e:  # counting frames parses the whole file
        raise PhotoError(f"truncated or corrupt {im.format or 'image'} file ({_short(e)})") from None


def _short(e: Exception) -> str:
    s = str(e).splitlines()[0][:120] if str(e) else ""
    return s or type(e).__name__


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        gray = _scale_to_uint8(np.asarray(im), sixteen_bit=mode in _SIXTEEN_BIT, unit_float=mode == "F")
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=-1))
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX
    return np.array(im, dtype=np.uint8)


def _scale_to_uint8(a: np.ndarray, *, sixteen_bit: bool, unit_float: bool = False) -> np.ndarray:
    """16-bit samples -> 8 bits by /257 (65535 -> 255); 32-bit int/float: by their range."""
    a = a.astype(np.float64)
    if sixteen_bit:
        return np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    if unit_float and lo >= 0 and hi <= 1.0:  # float image in [0, 1]
        return np.round(a * 255.0).astype(np.uint8)
    if lo >= 0 and hi <= 255:  # already 8-bit values stored wide
        return np.round(a).astype(np.uint8)
    if lo >= 0 and hi <= 65535:
        return np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return np.round((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)
