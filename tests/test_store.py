"""Stores of encoded images: one block function, in process and on a local Ray, resumed runs,
damaged stores, images by reference, and the fine shapes grid behind ``shapes:1000000``.

One small store (2,000 generated shapes, 4 blocks, the shipped shapes-vae) is written once in
process and once on Ray (one Ray start for the whole file: it costs seconds)."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from explorer import blocks, bulk, folders, shapes
from explorer.__main__ import main
from explorer.engine import InferenceEngine
from explorer.bulk import EncodeConfig, encode_to_store
from explorer.data import UnitImages
from explorer.sources import open_model
from explorer.store import StoreError, open_store
from explorer.store_format import block_path

MODEL = Path(__file__).resolve().parents[1] / "checkpoints" / "shapes-vae"
DATASET, SIZE, BLOCK = "shapes:2000", 2000, 500


def quiet(**kwargs) -> EncodeConfig:
    return EncodeConfig(block_size=BLOCK, progress=False, **kwargs)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stores") / "in-process"
    summary = encode_to_store(MODEL, DATASET, out, quiet())
    assert (summary.rows, len(summary.reports), summary.failed, summary.resumed) == (SIZE, 4, [], 0)
    return out


def block_tables(store: Path) -> list:
    return [pq.read_table(block_path(store, b)) for b in range(4)]


def test_store_holds_the_engines_scores_labels_factors_and_thumbnails(in_process):
    store = open_store(in_process)
    factors = shapes.sample_factors(SIZE, 0)
    images = shapes.render(factors)
    scored = InferenceEngine(open_model(MODEL)).score(UnitImages(images))
    assert store.problems == [] and len(store) == SIZE
    np.testing.assert_array_equal(store.index, np.arange(SIZE))
    np.testing.assert_allclose(store.codes, scored.codes, atol=1e-5)
    np.testing.assert_allclose(store.logvar, scored.logvar, atol=1e-5)
    np.testing.assert_allclose(store.errors, scored.errors, rtol=1e-4)
    np.testing.assert_array_equal(store.factors, factors)
    np.testing.assert_array_equal(store.y, factors[:, 0])
    assert store.classes == list(shapes.SHAPES) and store.factor_names == shapes.FACTOR_NAMES
    assert store.dataset_codes().codes is store.codes
    assert store.factor_text(0) == " · ".join(f"{n} {v[f]}" for n, v, f in
                                              zip(shapes.FACTOR_NAMES, shapes.factor_values(), factors[0]))
    # images come back by reference (rendered again from their factors), thumbnails are PNGs
    np.testing.assert_array_equal(store.images([3, 1999]), images[[3, 1999]] / np.float32(255))
    thumb = Image.open(io.BytesIO(store.thumbnails([1999])[0]))
    assert thumb.size == (32, 32) and thumb.mode == "RGB"
    small = np.asarray(Image.fromarray(np.moveaxis(images[1999], 0, 2)).reduce(2))
    np.testing.assert_array_equal(np.asarray(thumb), small)


def test_store_reads_with_pandas_and_pyarrow_alone(in_process):
    frame = pd.read_parquet(in_process / "blocks")
    assert len(frame) == SIZE
    assert {"index", "code", "logvar", "error", "label", "factor_x", "thumbnail"} <= set(frame.columns)
    assert np.stack(frame.sort_values("index")["code"]).shape == (SIZE, 10)
    manifest = json.loads((in_process / "manifest.json").read_text())
    assert manifest["model"]["content_hash"] == open_model(MODEL).content_hash
    assert (manifest["dataset"]["spec"], manifest["block_size"], manifest["num_blocks"]) == (DATASET, BLOCK, 4)
    assert manifest["schema_version"] == 1


def test_ray_writes_the_same_store_with_the_same_block_function(in_process, tmp_path):
    out = tmp_path / "ray"
    summary = encode_to_store(MODEL, DATASET, out, quiet(ray=True, actors=2, threads=1))
    assert summary.failed == [] and summary.rows == SIZE and summary.engine.startswith("local Ray: 2 actors")
    assert len(summary.extra["actor_load_seconds"]) == 2 and summary.extra["stopped"] is None
    for ray_table, local_table in zip(block_tables(out), block_tables(in_process)):
        assert ray_table.schema.equals(local_table.schema)
        for name in ("index", "label", "factor_x", "thumbnail"):
            assert ray_table.column(name).equals(local_table.column(name))
        ray_frame, local_frame = ray_table.to_pandas(), local_table.to_pandas()
        np.testing.assert_allclose(np.stack(ray_frame.code), np.stack(local_frame.code), atol=1e-5)
        np.testing.assert_allclose(ray_frame.error, local_frame.error, rtol=1e-4)
    assert (out / "manifest.json").read_text() == (in_process / "manifest.json").read_text()


def test_a_stopped_run_resumes_and_writes_the_same_store(in_process, tmp_path):
    out = tmp_path / "resumed"

    def stop_after_two(report):
        if report.block == 1:
            raise KeyboardInterrupt  # Ctrl-C after the second block's file was written

    with pytest.raises(KeyboardInterrupt):
        encode_to_store(MODEL, DATASET, out, quiet(), on_report=stop_after_two)
    assert sorted(p.name for p in (out / "blocks").glob("*.parquet")) == ["block-000000.parquet", "block-000001.parquet"]
    # a run killed while writing leaves its temporary file, never a block file
    (out / "blocks" / ".block-000002.parquet.x.tmp").write_bytes(b"half a file")
    summary = encode_to_store(MODEL, DATASET, out, quiet())
    assert summary.resumed == 2 and [r.block for r in summary.reports] == [2, 3]
    for resumed, whole in zip(block_tables(out), block_tables(in_process)):
        assert resumed.equals(whole)


def test_a_failed_block_is_reported_and_the_rerun_writes_it(tmp_path, capsys, monkeypatch):
    out = tmp_path / "failing"
    read = blocks.read_block

    def broken(record, rows):
        if rows.start == BLOCK:
            raise OSError("disk hiccup")
        return read(record, rows)

    monkeypatch.setattr(blocks, "read_block", broken)
    code = main(["encode", str(MODEL), "shapes:1200", "--out", str(out), "--block-size", str(BLOCK)])
    err = capsys.readouterr().err
    assert code == 1
    assert "block 1 failed: OSError: disk hiccup" in err and "run the same command again" in err
    assert not block_path(out, 1).exists() and block_path(out, 2).exists()
    monkeypatch.setattr(blocks, "read_block", read)
    assert main(["encode", str(MODEL), "shapes:1200", "--out", str(out), "--block-size", str(BLOCK)]) == 0
    assert "2 blocks were already there" in capsys.readouterr().out
    assert len(open_store(out, strict=True)) == 1200


def test_a_store_with_a_missing_or_corrupt_block_opens_with_a_message_naming_it(in_process, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(in_process, damaged)
    block_path(damaged, 1).unlink()
    data = block_path(damaged, 2).read_bytes()
    block_path(damaged, 2).write_bytes(data[: len(data) // 2])  # truncated: no footer
    store = open_store(damaged)
    assert len(store) == 1000 and set(store.index // BLOCK) == {0, 3}
    assert len(store.problems) == 2
    assert "block-000001.parquet is missing (rows 500-999)" in store.problems[0]
    assert "block-000002.parquet cannot be read" in store.problems[1]
    with pytest.raises(StoreError, match="block-000001.parquet is missing.*block-000002.parquet cannot be read"):
        open_store(damaged, strict=True)
    (damaged / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="manifest.json: not a readable store manifest"):
        open_store(damaged)
    with pytest.raises(StoreError, match="not a store"):
        open_store(tmp_path)


def test_another_run_into_the_same_store_is_refused(in_process, capsys):
    code = main(["encode", str(MODEL), "shapes:2400", "--out", str(in_process), "--block-size", str(BLOCK)])
    assert code == 2
    assert "already holds a store of another run (another dataset" in capsys.readouterr().err


def test_a_folder_store_refers_to_its_files_and_names_a_missing_one(tmp_path, mnist):
    folder = tmp_path / "digits"
    for k in range(12):
        (folder / str(k % 3)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((mnist.x[k, 0] * 255).astype(np.uint8)).save(folder / str(k % 3) / f"{k:02d}.png")
    (folder / "1" / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "store"
    summary = encode_to_store(Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-ae", str(folder), out,
                              EncodeConfig(block_size=5, progress=False))
    assert summary.failed == [] and summary.rows == 12 and sum(r.skipped for r in summary.reports) == 1
    store = open_store(out, strict=True)
    assert store.classes == ["0", "1", "2"] and len(store) == 12
    assert store.skipped[0].startswith("1/broken.png:")
    row = int(np.flatnonzero(store.files == "2/05.png")[0])
    assert store.y[row] == 2
    np.testing.assert_allclose(store.images([row])[0], folders.decode_file(folder / "2/05.png", 28, 1, "digit")
                               / 255.0, atol=1e-6)
    (folder / "2" / "05.png").unlink()
    with pytest.raises(StoreError, match="2/05.png: the image is no longer in"):
        store.images([row])
    store.files[row] = "../outside.png"  # as a tampered block file would name it
    with pytest.raises(StoreError, match="not a file under the store's folder"):
        store.images([row])


def test_without_ray_the_cli_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert main(["encode", str(MODEL), "shapes:100", "--out", str(tmp_path / "s"), "--ray"]) == 2
    assert "pip install -r requirements-scale.txt" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # refused before anything was written


# --- the fine grid -------------------------------------------------------------------------------
def test_shapes_names_pick_the_grid():
    assert blocks.shapes_grid("shapes:1000000") == ("1px", 1_000_000)
    assert blocks.shapes_grid("shapes:144000") == ("4px", 144_000)
    assert blocks.shapes_grid("shapes-fine:full") == ("1px", 1_971_360) == ("1px", shapes.FINE_GRID_SIZE)
    assert blocks.shapes_grid("shapes-fine:500") == ("1px", 500)
    with pytest.raises(ValueError, match="from 1 to the fine grid's 1,971,360"):
        blocks.shapes_grid("shapes:1971361")
    record = blocks.describe_dataset("shapes:1000000", (3, 64, 64))
    assert (record.grid, record.size, len(record.factor_values[4])) == ("1px", 1_000_000, 37)


def test_the_fine_grid_moves_sprites_one_pixel_and_agrees_with_the_4px_grid():
    coarse = np.array([[2, 1, 3, 4, 5, 6]])  # x = POSITIONS[5] = 34, y = POSITIONS[6] = 38
    fine = coarse.copy()
    fine[0, 4:] = [34 - 14, 38 - 14]
    np.testing.assert_array_equal(shapes.render(fine, grid="1px"), shapes.render(coarse))
    right = fine.copy()
    right[0, 4] += 1
    np.testing.assert_array_equal(shapes.render(right, grid="1px"), np.roll(shapes.render(fine, grid="1px"), 1, axis=3))


def test_a_block_of_a_million_is_generated_alone():
    record = blocks.describe_dataset("shapes:1000000", (3, 64, 64))
    block = blocks.read_block(record, range(990_000, 990_100))
    factors = shapes.sample_factors(1_000_000, 0, "1px")[990_000: 990_100]
    np.testing.assert_array_equal(block.factors, factors)
    np.testing.assert_array_equal(block.images.pixels, shapes.render(factors, grid="1px"))
    assert bulk.make_manifest(open_model(MODEL), MODEL, "shapes:1000000", EncodeConfig()).num_blocks == 100


def test_ray_actors_are_sized_to_what_ray_has():
    from explorer.ray_runner import plan_actors

    assert plan_actors(EncodeConfig(), cores=2, gpus=0, cpus=2, local=True) == (2, 1, 0.0)
    assert plan_actors(EncodeConfig(actors=1), cores=2, gpus=0, cpus=2, local=True) == (1, 2, 0.0)
    assert plan_actors(EncodeConfig(), cores=2, gpus=0, cpus=32, local=False) == (8, 4, 0.0)
    assert plan_actors(EncodeConfig(), cores=2, gpus=4, cpus=32, local=False) == (4, 8, 1.0)  # one GPU per actor
    assert plan_actors(EncodeConfig(gpus_per_actor=0.5), cores=2, gpus=1, cpus=8, local=False) == (2, 4, 0.5)
