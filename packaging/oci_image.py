"""Writes the plugin as an OCI image layout (Istio's Wasm image spec, compat variant: one layer
holding plugin.wasm), without a container engine.

    python packaging/oci_image.py target/wasm32-wasip1/release/meshguard.wasm dist/oci 0.1.0

Push it with any OCI tool, e.g. `skopeo copy oci:dist/oci:0.1.0 docker://ghcr.io/you/meshguard:0.1.0`
or `crane push dist/oci ...`. The layer is reproducible: fixed timestamps and ownership.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}"


def layer_tar(wasm: bytes) -> bytes:
    """A tar with plugin.wasm at its root, deterministic (mtime 0, root ownership)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size, info.mode, info.mtime = len(wasm), 0o444, 0
        tar.addfile(info, io.BytesIO(wasm))
    return raw.getvalue()


def write_layout(wasm_path: Path, layout: Path, tag: str) -> dict:
    wasm = wasm_path.read_bytes()
    tar = layer_tar(wasm)
    gz = gzip.compress(tar, mtime=0)
    layout.mkdir(parents=True, exist_ok=True)
    layer_digest = _blob(layout, gz)
    config = {
        "architecture": "wasm",
        "os": "wasip1",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}"]},
        "config": {},
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = _blob(layout, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": len(gz)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = _blob(layout, manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{"mediaType": MANIFEST_TYPE, "digest": manifest_digest, "size": len(manifest_bytes),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (layout / "index.json").write_text(json.dumps(index, sort_keys=True))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return {"manifest": manifest_digest, "layer": layer_digest, "wasm_sha256": hashlib.sha256(wasm).hexdigest()}


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    out = write_layout(Path(argv[1]), Path(argv[2]), argv[3])
    print(f"OCI layout {argv[2]} (tag {argv[3]}): manifest {out['manifest']}, plugin.wasm sha256 {out['wasm_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
