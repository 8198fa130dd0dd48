"""Where the bytes of a .wasm go: code size per crate (from the `name` section's function names),
plus data and other sections. Needs a build that keeps names (the release profile strips them):

    CARGO_TARGET_DIR=/tmp/meshguard-names CARGO_PROFILE_RELEASE_STRIP=false \\
        cargo build --release --target wasm32-wasip1 --lib
    .venv/bin/python -m bench.wasm_size /tmp/meshguard-names/wasm32-wasip1/release/meshguard.wasm [--top 40]

The sizes are before `wasm-opt -Os` (which `make build` runs on cargo's output), so they add up to more than
the shipped file; the proportions are what matter.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path


def _leb(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


SECTIONS = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
            7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount"}


def parse(path: Path):
    data = path.read_bytes()
    if data[:4] != b"\0asm":
        raise ValueError(f"{path}: not a wasm module")
    i = 8
    sections: Counter = Counter()
    imported_funcs = 0
    bodies: list[int] = []
    names: dict[int, str] = {}
    while i < len(data):
        sid = data[i]
        size, j = _leb(data, i + 1)
        body = data[j:j + size]
        label = SECTIONS.get(sid, str(sid))
        if sid == 0:
            n, k = _leb(body, 0)
            label = f"custom:{body[k:k + n].decode(errors='replace')}"
            if body[k:k + n] == b"name":
                k += n
                while k < len(body):
                    sub, k = _leb(body, k)
                    sub_size, k = _leb(body, k)
                    if sub == 1:
                        count, m = _leb(body, k)
                        for _ in range(count):
                            idx, m = _leb(body, m)
                            ln, m = _leb(body, m)
                            names[idx] = body[m:m + ln].decode(errors="replace")
                            m += ln
                    k += sub_size
        elif sid == 2:
            count, k = _leb(body, 0)
            for _ in range(count):
                for _ in range(2):
                    ln, k = _leb(body, k)
                    k += ln
                kind = body[k]
                k += 1
                if kind == 0:
                    _, k = _leb(body, k)
                    imported_funcs += 1
                elif kind == 1:
                    k += 1
                    flags = body[k]
                    _, k = _leb(body, k + 1)
                    if flags & 1:
                        _, k = _leb(body, k)
                elif kind == 2:
                    flags = body[k]
                    _, k = _leb(body, k + 1)
                    if flags & 1:
                        _, k = _leb(body, k)
                elif kind == 3:
                    k += 2
        elif sid == 10:
            count, k = _leb(body, 0)
            for _ in range(count):
                sz, k2 = _leb(body, k)
                bodies.append(sz + (k2 - k))
                k = k2 + sz
        sections[label] += size
        i = j + size
    return data, sections, imported_funcs, bodies, names


_LEGACY = re.compile(r"^_ZN(\d+)(.*)")
_V0_CRATE = re.compile(r"C[sR]?[0-9A-Za-z]*_(\d+)([A-Za-z_][0-9A-Za-z_]*)")


def crate_of(name: str) -> str:
    """The crate a function's code comes from, roughly: the first path segment of a legacy-mangled
    Rust symbol; for `<impl Trait for Type>` the crate of Type (derived code lands with its type);
    for v0-mangled symbols the first crate named."""
    m = _LEGACY.match(name)
    if m:
        seg = m.group(2)[:int(m.group(1))]
        if seg.startswith("_$LT$"):
            inner = seg[5:]
            if "$u20$for$u20$" in inner:
                inner = inner.split("$u20$for$u20$", 1)[1]
            inner = inner.lstrip("$RF$").removeprefix("mut$u20$").removeprefix("dyn$u20$")
            return re.split(r"\.\.|\$", inner, maxsplit=1)[0] or "?"
        return seg.split("..")[0]
    if name.startswith("_R"):
        m = _V0_CRATE.search(name)
        if m:
            return m.group(2)[:int(m.group(1))]
    return name.split("::")[0].split("(")[0][:40]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wasm", type=Path)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    data, sections, imported, bodies, names = parse(args.wasm)
    print(f"{args.wasm}: {len(data):,} bytes\n\nsection            bytes")
    for label, size in sections.most_common():
        print(f"{label:18s} {size:9,}")
    if not names:
        print("\n(no name section: build with CARGO_PROFILE_RELEASE_STRIP=false)")
        return 0
    by_crate: Counter = Counter()
    funcs: list[tuple[int, str]] = []
    for i, size in enumerate(bodies):
        name = names.get(imported + i, f"func{imported + i}")
        by_crate[crate_of(name)] += size
        funcs.append((size, name))
    total = sum(bodies)
    print(f"\ncode by crate ({len(bodies)} functions, {total:,} bytes)")
    for crate, size in by_crate.most_common(args.top):
        print(f"{size:9,}  {100 * size / total:5.1f}%  {crate}")
    print(f"\nlargest functions")
    for size, name in sorted(funcs, reverse=True)[:args.top]:
        print(f"{size:9,}  {name[:130]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
