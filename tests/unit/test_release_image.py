"""The release image without an engine agrees with the Dockerfile, and its OCI layout is sound.

The builder reads the Dockerfile (dockerfile.Recipe) for the base, the packages, the build steps, the user,
the environment, the labels, the entrypoint and the command; these tests hold the reading to the recipe,
and the layout writer to the image-spec (digests, sizes, diff_ids)."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from graphsync_dev.release import labels, layer, layout, rootfs
from graphsync_dev.release.dockerfile import DEBIAN_PATH, Recipe, apt_packages
from graphsync_dev.release.image import config, contents
from graphsync_dev.release.version import Release
from graphsync_operator.build import workloads
from tests.dockerfile import ROOT, env, stages

RECIPE = Recipe.read(ROOT / "Dockerfile")
RELEASE = Release(version="1.2.3", revision="abc123", created="2026-12-01T00:00:00Z")


def test_the_builder_reads_the_stages_the_dockerfile_has() -> None:
    assert RECIPE.build == [(word, " ".join(rest.split())) for word, rest in stages()[0]]
    assert RECIPE.final == [(word, " ".join(rest.split())) for word, rest in stages()[1]]


def test_the_builder_makes_the_base_the_dockerfile_names_with_its_pinned_packages() -> None:
    assert RECIPE.base() in rootfs.BASES
    packages = RECIPE.packages()
    assert all("=" in package for package in packages), packages
    assert {package.split("=")[0] for package in packages} >= {"python3.11", "python3.11-venv", "git"}
    # One root serves both stages: they install the same packages.
    assert apt_packages(RECIPE.build) == packages
    argv = rootfs.mmdebstrap_argv(packages, Path("/target"))
    assert f"--include={','.join(packages)}" in argv
    assert argv[argv.index(rootfs.SUITE) + 1] == "/target"
    assert set(rootfs.MIRRORS) <= set(argv)


def test_the_build_stage_compiles_the_bytecode_the_read_only_root_needs() -> None:
    runs = [command for _, command in RECIPE.build_runs()]
    compile_steps = [command for command in runs if "compileall" in command]
    assert len(compile_steps) == 1
    assert "--invalidation-mode unchecked-hash /opt/graphsync" in compile_steps[0]
    # After the install, so everything installed is compiled.
    assert compile_steps[0].index("uv pip install") < compile_steps[0].index("compileall")
    assert RECIPE.build_runs()[0][0] == "/src"


def test_the_config_carries_the_final_stage_settings() -> None:
    made = config(RECIPE, RELEASE, ["sha256:a", "sha256:b", "sha256:c"])
    settings = made["config"]
    assert settings["User"] == f"{workloads.UID}:{workloads.UID}"
    assert settings["Entrypoint"] == ["graphsync-operator"]
    assert settings["Cmd"] == ["--help"]
    variables = dict(item.split("=", 1) for item in settings["Env"])
    expected = env(stages()[1])
    assert variables["PATH"] == expected["PATH"].replace("$PATH", DEBIAN_PATH)
    assert {k: v for k, v in variables.items() if k != "PATH"} == {k: v for k, v in expected.items() if k != "PATH"}
    assert made["rootfs"] == {"type": "layers", "diff_ids": ["sha256:a", "sha256:b", "sha256:c"]}
    # One history entry per layer, each saying which step of the Dockerfile made it.
    assert [entry["created_by"].split()[0] for entry in made["history"]] == ["mmdebstrap", "RUN", "COPY"]
    assert "useradd --system --uid 65532" in made["history"][1]["created_by"]
    assert (made["architecture"], made["os"], made["created"]) == ("amd64", "linux", RELEASE.created)


def test_the_labels_are_the_dockerfiles_filled_from_the_release() -> None:
    found = labels.image(RECIPE, RELEASE)
    assert set(labels.REQUIRED) <= set(found)
    assert found["org.opencontainers.image.version"] == "1.2.3"
    assert found["org.opencontainers.image.revision"] == "abc123"
    assert found["org.opencontainers.image.created"] == RELEASE.created
    assert found["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert "Version 2.0" in (ROOT / "LICENSE").read_text()[:200]
    notes = labels.manifest_annotations(RECIPE, RELEASE, base_digest="sha256:f00")
    assert notes["org.opencontainers.image.base.name"] == RECIPE.base()
    assert notes["org.opencontainers.image.ref.name"] == "1.2.3"
    assert {key: notes[key] for key in found} == found


def test_a_recipe_without_a_required_label_is_refused() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("org.opencontainers.image.licenses", "x.licenses")
    with pytest.raises(ValueError, match="licenses"):
        labels.image(Recipe.parse(text), RELEASE)


def tree(root: Path) -> Path:
    (root / "opt" / "app").mkdir(parents=True)
    (root / "opt" / "app" / "run").write_text("#!/bin/sh\n")
    (root / "opt" / "app" / "link").symlink_to("run")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "proc").mkdir()
    (root / "proc" / "leftover").write_text("never in a layer")
    return root


def test_a_layer_is_a_gzipped_tar_addressed_by_both_digests(tmp_path: Path) -> None:
    root = tree(tmp_path / "root")
    written = layer.write(root, tmp_path / "layer.tar.gz")
    data = (tmp_path / "layer.tar.gz").read_bytes()
    assert written.digest == f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert written.diff_id == f"sha256:{hashlib.sha256(gzip.decompress(data)).hexdigest()}"
    assert written.size == len(data)
    with tarfile.open(tmp_path / "layer.tar.gz") as tar:
        names = tar.getnames()
        assert tar.getmember("opt/app/link").issym()
        assert tar.getmember("opt/app/run").uname == ""
    # Parents first, kernel filesystems empty.
    assert all(str(Path(name).parent) in names[:at] for at, name in enumerate(names) if "/" in name)
    assert "proc" in names
    assert "proc/leftover" not in names
    again = layer.write(root, tmp_path / "again.tar.gz")
    assert again == written  # the same tree, the same layer


def test_a_layer_takes_only_what_it_keeps(tmp_path: Path) -> None:
    root = tree(tmp_path / "root")
    layer.write(root, tmp_path / "opt.tar.gz", lambda path: path == "opt" or path.startswith("opt/app"))
    with tarfile.open(tmp_path / "opt.tar.gz") as tar:
        assert set(tar.getnames()) == {"opt", "opt/app", "opt/app/link", "opt/app/run"}


def write_image(tmp_path: Path) -> Path:
    root = tree(tmp_path / "root")
    target = layout.Layout(tmp_path / "layout")
    written = layer.write(root, tmp_path / "l.tar.gz")
    blob = target.add_file(tmp_path / "l.tar.gz", layout.LAYER, written.digest)
    image_config = target.add_json(config(RECIPE, RELEASE, [written.diff_id]), layout.CONFIG)
    target.write_index(target.add_manifest(image_config, [blob], {"a": "b"}), "1.2.3")
    return tmp_path / "layout"


def test_the_layout_is_sound_and_its_archive_starts_with_the_layout_files(tmp_path: Path) -> None:
    path = write_image(tmp_path)
    assert layout.check(path) == []
    index = json.loads((path / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {layout.REF_NAME: "1.2.3"}
    manifest = json.loads((path / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    assert manifest["mediaType"] == layout.MANIFEST
    assert manifest["annotations"] == {"a": "b"}
    layout.archive(path, tmp_path / "image.tar")
    with tarfile.open(tmp_path / "image.tar") as tar:
        names = tar.getnames()
        assert names[:2] == ["oci-layout", "index.json"]
        assert {member.mtime for member in tar.getmembers()} == {0}
    assert len([n for n in names if n.startswith("blobs/sha256/")]) == 3


def test_the_check_finds_a_changed_or_missing_blob(tmp_path: Path) -> None:
    path = write_image(tmp_path)
    blobs = sorted((path / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    blobs[-1].write_bytes(blobs[-1].read_bytes() + b"x")
    blobs[0].unlink()
    found = layout.check(path)
    assert any("another digest" in problem for problem in found), found
    assert any("missing blob" in problem for problem in found), found


def test_the_contents_list_names_what_is_installed(tmp_path: Path) -> None:
    status = tmp_path / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: git\nStatus: install ok installed\nVersion: 1:2.39.5-0+deb12u3\nDescription: fast\n more text\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
        "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b9\n"
    )
    site = tmp_path / "opt" / "graphsync" / "lib" / "python3.11" / "site-packages"
    for name in ("kopf-1.45.2.dist-info", "graphsync-1.2.3.dist-info"):
        (site / name).mkdir(parents=True)
    assert contents(tmp_path).splitlines() == [
        "debian bash=5.2.15-2+b9",
        "debian git=1:2.39.5-0+deb12u3",
        "python graphsync=1.2.3",
        "python kopf=1.45.2",
    ]
