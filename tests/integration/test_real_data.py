"""The real FER2013 (FERVIZ_DATA): split sizes, and zip, folder and CSV forms agree."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from ferviz.data.splits import load_all
from ferviz.labels import EMOTIONS

COUNTS = {  # per class in FER2013 order, from the dataset's documentation
    "Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "PublicTest": [467, 56, 496, 895, 653, 415, 607],
    "PrivateTest": [491, 55, 528, 879, 594, 416, 626],
}


def test_split_sizes_and_class_counts(fer_splits):
    assert {s: len(v) for s, v in fer_splits.items()} == {"Training": 28709, "PublicTest": 3589,
                                                         "PrivateTest": 3589}
    for split, counts in COUNTS.items():
        assert np.bincount(fer_splits[split].labels, minlength=7).tolist() == counts
        assert fer_splits[split].images.shape[1:] == (48, 48)
        assert len(set(fer_splits[split].ids)) == len(fer_splits[split])


@pytest.mark.slow
def test_zip_folder_and_csv_forms_agree(fer_path, fer_splits, tmp_path):
    if not zipfile.is_zipfile(fer_path):
        pytest.skip("FERVIZ_DATA is not the image-folder archive")
    folder = tmp_path / "fer2013"
    with zipfile.ZipFile(fer_path) as z:
        z.extractall(folder)
    from_folder = load_all(folder)
    # the original CSV form, written from the decoded images (kept in tmp, never committed)
    usage_order = []
    rows = ["emotion,pixels,Usage"]
    for split in ("Training", "PublicTest", "PrivateTest"):
        s = fer_splits[split]
        for img, lab in zip(s.images, s.labels):
            rows.append(f"{lab},{' '.join(map(str, img.ravel()))},{split}")
        usage_order.append(split)
    csv = tmp_path / "fer2013.csv"
    csv.write_text("\n".join(rows) + "\n")
    from_csv = load_all(csv)
    for split in usage_order:
        z, f, c = fer_splits[split], from_folder[split], from_csv[split]
        np.testing.assert_array_equal(z.ids, f.ids)
        np.testing.assert_array_equal(z.labels, f.labels)
        np.testing.assert_array_equal(z.images, f.images)
        np.testing.assert_array_equal(z.labels, c.labels)
        assert np.abs(z.images.astype(int) - c.images.astype(int)).max() <= 0  # lossless CSV copy
        assert len(c) == len(z)
    assert EMOTIONS[from_csv["PrivateTest"].labels[0]] == EMOTIONS[fer_splits["PrivateTest"].labels[0]]
