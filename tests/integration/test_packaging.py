"""packaging/: the OCI image layout (Istio's Wasm image spec, compat variant) holds the very .wasm
the tests run, under the digests its manifest names."""

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile

from .harness.envoy import REPO, WASM


def blob(layout, digest):
    algo, hexd = digest.split(":")
    assert algo == "sha256"
    data = (layout / "blobs" / "sha256" / hexd).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexd, f"blob {digest} does not hash to its name"
    return data


def test_oci_layout_holds_plugin_wasm(tmp_path):
    layout = tmp_path / "oci"
    subprocess.run([sys.executable, str(REPO / "packaging" / "oci_image.py"), str(WASM), str(layout), "9.9.9"],
                   check=True, capture_output=True)
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "9.9.9"
    manifest = json.loads(blob(layout, entry["digest"]))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    tar_bytes = gzip.decompress(blob(layout, layer["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}"]
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert tar.getnames() == ["plugin.wasm"]
        assert tar.extractfile("plugin.wasm").read() == WASM.read_bytes()


def test_layout_is_reproducible(tmp_path):
    digests = []
    for name in ("a", "b"):
        subprocess.run([sys.executable, str(REPO / "packaging" / "oci_image.py"), str(WASM), str(tmp_path / name), "1"],
                       check=True, capture_output=True)
        digests.append(json.loads((tmp_path / name / "index.json").read_text())["manifests"][0]["digest"])
    assert digests[0] == digests[1]


def wasm_exports(data: bytes) -> set[str]:
    """The names in a wasm module's export section."""

    def leb(i: int) -> tuple[int, int]:
        n = shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n, i

    assert data[:8] == b"\0asm\1\0\0\0", "not a wasm module"
    i = 8
    while i < len(data):
        section, i = data[i], i + 1
        size, i = leb(i)
        if section == 7:
            count, j = leb(i)
            names = set()
            for _ in range(count):
                length, j = leb(j)
                names.add(data[j:j + length].decode())
                j += length + 1  # the kind byte
                _, j = leb(j)  # the index
            return names
        i += size
    return set()


def test_module_exports_only_the_callbacks_meshguard_implements():
    # Envoy enters the VM for every callback the module exports; those meshguard leaves to the
    # SDK's defaults are removed by the build's size pass (Makefile: UNUSED_EXPORTS).
    assert wasm_exports(WASM.read_bytes()) == {
        "memory", "_initialize", "proxy_abi_version_0_2_1", "proxy_on_memory_allocate",
        "proxy_on_vm_start", "proxy_on_configure", "proxy_on_tick", "proxy_on_context_create",
        "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
        "proxy_on_http_call_response", "proxy_on_log", "proxy_on_done", "proxy_on_delete",
    }, f"{WASM}: built without the size pass (make build WASM_OPT=), or the SDK exports more callbacks"
