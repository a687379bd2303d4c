"""An OCI image layout written by hand: blobs named by their sha256, a manifest, a config, an index.

The format is small (tar layers plus JSON, each addressed by digest; opencontainers/image-spec), so the
release needs no daemon or registry tool to write it; `check` reads a layout back and verifies every
digest and size, as a registry does on push. The layout's tar (an `oci-archive`) is what
`skopeo copy oci-archive:...`, `crane push` or `podman load` take.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# The name a tool gives the image when it reads the layout (`oci:DIR:TAG`).
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def canonical(document: Mapping[str, Any]) -> bytes:
    """JSON with sorted keys and no spaces: the same document always has the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """A directory being filled as an OCI image layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def add_bytes(self, data: bytes, media_type: str) -> Descriptor:
        digest = hashlib.sha256(data).hexdigest()
        (self.blobs / digest).write_bytes(data)
        return Descriptor(media_type, f"sha256:{digest}", len(data))

    def add_file(self, path: Path, media_type: str, digest: str) -> Descriptor:
        """Move a file whose sha256 the caller computed while writing it into the blobs."""
        target = self.blobs / digest.removeprefix("sha256:")
        shutil.move(path, target)
        return Descriptor(media_type, digest, target.stat().st_size)

    def add_json(self, document: Mapping[str, Any], media_type: str) -> Descriptor:
        return self.add_bytes(canonical(document), media_type)

    def add_manifest(
        self, config: Descriptor, layers: list[Descriptor], annotations: Mapping[str, str], artifact: str | None = None
    ) -> Descriptor:
        document: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.json(),
            "layers": [layer.json() for layer in layers],
            "annotations": dict(annotations),
        }
        if artifact:
            document["artifactType"] = artifact
        return self.add_json(document, MANIFEST)

    def write_index(self, manifest: Descriptor, ref: str) -> None:
        tagged = Descriptor(manifest.media_type, manifest.digest, manifest.size, {REF_NAME: ref})
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [tagged.json()]}
        (self.root / "index.json").write_bytes(canonical(index))


def archive(layout: Path, target: Path) -> None:
    """The layout as one tar (an oci-archive): oci-layout and index.json first, blobs sorted."""
    names = ["oci-layout", "index.json", *sorted(str(p.relative_to(layout)) for p in layout.rglob("*") if p.is_file())]
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in dict.fromkeys(names):
            info = tar.gettarinfo(layout / name, arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with (layout / name).open("rb") as data:
                tar.addfile(info, data)


def check(layout: Path) -> list[str]:
    """What is wrong with a layout: a blob whose digest or size differs from what refers to it, a missing blob,
    a manifest without a config or layers, a config whose diff_ids do not match its layers (empty: sound)."""
    problems: list[str] = []

    def blob(descriptor: Mapping[str, Any]) -> bytes | None:
        path = layout / "blobs" / "sha256" / str(descriptor["digest"]).removeprefix("sha256:")
        if not path.is_file():
            problems.append(f"missing blob {descriptor['digest']}")
            return None
        data = path.read_bytes()
        if len(data) != descriptor["size"]:
            problems.append(f"blob {descriptor['digest']} is {len(data)} bytes, not {descriptor['size']}")
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != descriptor["digest"]:
            problems.append(f"blob {descriptor['digest']} has another digest")
            return None  # not what was referred to: nothing in it can be trusted
        return data

    if json.loads((layout / "oci-layout").read_text()).get("imageLayoutVersion") != "1.0.0":
        problems.append("oci-layout names no imageLayoutVersion 1.0.0")
    for entry in json.loads((layout / "index.json").read_text())["manifests"]:
        raw = blob(entry)
        if raw is None:
            continue
        manifest = json.loads(raw)
        if manifest.get("mediaType") != MANIFEST or not manifest.get("layers"):
            problems.append(f"manifest {entry['digest']} is not an image manifest with layers")
        config = blob(manifest["config"])
        layers = [blob(layer) for layer in manifest["layers"]]
        if config is not None and manifest["config"]["mediaType"] == CONFIG:
            diff_ids = json.loads(config)["rootfs"]["diff_ids"]
            if len(diff_ids) != len(layers):
                problems.append(f"config lists {len(diff_ids)} diff_ids for {len(layers)} layers")
    return problems
