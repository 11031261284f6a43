"""FER+ votes against the real FER2013: the image-folder form is refused, the CSV form aligns."""
from __future__ import annotations

import pytest

from ferviz.data import ferplus as fp
from ferviz.data.splits import align_votes
from ferviz.data.splits import source_kind
from ferviz.errors import DataError

pytestmark = pytest.mark.data


def test_alignment_to_the_real_data(fer_path, private_test):
    if source_kind(fer_path) in ("zip", "folder"):
        with pytest.raises(DataError) as e:
            align_votes(private_test)
        assert fp.REFUSAL in str(e.value)
        assert "FER+ votes need the original fer2013.csv, whose rows they follow" in str(e.value)
        assert "Facial Expression Recognition Challenge" in str(e.value) and "FERVIZ_DATA" in str(e.value)
    else:  # fer2013.csv: row numbers, and FER+'s Usage matches every row
        a = align_votes(private_test)
        assert len(a) == len(private_test) == 3589
