"""FER2013 loading: a cached load (decoded arrays from the disk cache, in a process that has not
hashed the file yet) vs the first load that decodes every image."""
from __future__ import annotations

import time

from _common import emit, fresh_cache, parser


def main() -> None:
    args = parser(__doc__).parse_args()
    fresh_cache()
    from ferviz.cache import file_hash
    from ferviz.data.splits import load_all

    def timed() -> float:
        file_hash.__kwdefaults__["_memo"].clear()  # as in a new process: the file is hashed again
        t = time.perf_counter()
        splits = load_all(args.data)
        assert len(splits) > 0
        return time.perf_counter() - t

    cold = timed()
    warm = sorted(timed() for _ in range(max(3, args.repeats)))[1]
    emit({"benchmark": "data", "first_load_s": cold, "cached_load_s": warm, "cached_vs_first": warm / cold,
          "note": "first = decode every image and write the cache; cached = hash the file, read the npz"})


if __name__ == "__main__":
    main()
