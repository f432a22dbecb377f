import csv

import numpy as np
import pytest
from PIL import Image

import astrozoo.datasets as D
from astrozoo.datasets.gz2 import GZ2_QUESTIONS, gz2_class_index, gz2_columns


def test_gz_rings_real(shared_data):
    seen, counts = set(), []
    for split in ("train", "validation", "test"):
        ds, info = D.gz_rings(split, batch_size=512, data_dir=shared_data / "galaxy_zoo", with_info=True)
        ids = set(info["ids"].tolist())
        assert not ids & seen
        seen |= ids
        x, y = next(iter(ds))
        assert x.shape[1:] == (96, 96, 3) and x.dtype == "float32"
        counts.append(np.bincount(y.numpy(), minlength=2))
    assert len(seen) == 470
    assert (np.sum(counts, axis=0) == [235, 235]).all()
    assert all(abs(int(c[0]) - int(c[1])) <= 1 for c in counts)  # stratified: balanced in every split
    assert info["class_names"] == ["not_ring", "ring"]


def test_gz_rings_augment_resize(shared_data):
    ds = D.gz_rings("test", batch_size=8, image_size=64, augment=True, seed=0, label_mode="categorical",
                    data_dir=shared_data / "galaxy_zoo")
    x, y = next(iter(ds))
    assert x.shape == (8, 64, 64, 3) and y.shape == (8, 2)


def test_gz2_class_prefix_match():
    assert [gz2_class_index(c) for c in ("Ei", "Ec", "Sc", "Sb?t", "SBc2m", "SBb", "Ser", "A", "")] == \
        [0, 0, 1, 1, 2, 2, 1, -1, -1]
    cols = gz2_columns()
    assert len(cols) == 37 and cols[0] == "t01_smooth_or_features_a01_smooth_debiased"
    assert cols[-1] == "t11_arms_number_a37_cant_tell_debiased"


@pytest.fixture
def gz2_files(shared_data, tmp_path):
    """A Hart-style catalogue of 24 galaxies (real DECaLS images, synthetic votes), 2 without images."""
    with np.load(shared_data / "galaxy_zoo" / "gz_decals_rings_zoobot_96px.npz") as d:
        x = d["x"][:22]
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    classes = ["Ei", "Sc", "SBc", "Er", "Sb?t", "SBb2m", "A", "Ser"] * 3
    header = ["dr7objid", "asset_id", "gz2_class"] + gz2_columns("debiased") + gz2_columns("count")
    rows = []
    for i, c in enumerate(classes):
        asset = 1000 + i
        if i < 22:
            Image.fromarray(x[i]).save(img_dir / f"{asset}.png")
        frac = [v for q in GZ2_QUESTIONS.values() for v in rng.dirichlet(np.ones(len(q)))]
        counts = [int(v) for v in rng.integers(0, 40, 37)]
        rows.append([587700000 + i, asset, c] + [f"{v:.4f}" for v in frac] + counts)
    cat = tmp_path / "gz2_hart16.csv"
    with open(cat, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)
    return cat, img_dir, classes, rows


def test_gz2_classes(gz2_files):
    cat, img_dir, classes, _ = gz2_files
    got = []
    for split in ("train", "validation", "test"):
        ds, info = D.gz2(cat, img_dir, split, batch_size=64, image_size=32, val_fraction=0.2, test_fraction=0.2,
                         with_info=True)
        # 23 ("Ser") has no image; 22 has none either but is an artefact ("A"), left out anyway
        assert info["missing_images"] == 1 and info["class_names"] == ["E", "S", "SB"]
        x, y = next(iter(ds))
        assert x.shape[1:] == (32, 32, 3) and len(y) == len(info["ids"])
        got += info["ids"]
    assert len(got) == len(set(got)) == 24 - 3 - 1
    assert all(classes[int(a) - 1000] != "A" for a in got)


def test_gz2_labels_follow_ids(gz2_files):
    cat, img_dir, classes, _ = gz2_files
    ds, info = D.gz2(cat, img_dir, "train", batch_size=64, shuffle=False, test_fraction=0.0, val_fraction=0.0,
                     with_info=True)
    _, y = next(iter(ds))
    expected = [gz2_class_index(classes[int(a) - 1000]) for a in info["ids"]]
    assert y.numpy().tolist() == expected and set(expected) == {0, 1, 2}


def test_gz2_fractions_and_counts(gz2_files):
    cat, img_dir, _, rows = gz2_files
    ds, info = D.gz2(cat, img_dir, "train", target="fractions", batch_size=64, shuffle=False, test_fraction=0,
                     val_fraction=0, with_info=True)
    _, y = next(iter(ds))
    y = y.numpy()
    assert y.shape == (22, 37)
    for q, (a, b) in info["question_slices"].items():
        np.testing.assert_allclose(y[:, a:b].sum(1), 1.0, atol=1e-3)  # each question's fractions sum to 1
    ds = D.gz2(cat, img_dir, "train", target="fractions", group_by_question=True, batch_size=4, test_fraction=0,
               val_fraction=0)
    _, yd = next(iter(ds))
    assert list(yd) == list(GZ2_QUESTIONS) and yd["t08_odd_feature"].shape == (4, 7)
    dsc, cinfo = D.gz2(cat, img_dir, "train", target="counts", batch_size=64, shuffle=False, test_fraction=0,
                       val_fraction=0, with_info=True)
    counts = next(iter(dsc))[1].numpy()
    by_id = {str(r[1]): r for r in rows}
    np.testing.assert_array_equal(counts[0], [float(v) for v in by_id[cinfo["ids"][0]][-37:]])


def test_gz2_errors(gz2_files, tmp_path):
    cat, img_dir, _, _ = gz2_files
    lines = cat.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines[:5] + [lines[5] + ",extra"] + lines[6:]) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 6: .* fields where the header has"):
        D.gz2(bad, img_dir)
    nan = tmp_path / "nan.csv"
    nan.write_text("\n".join(lines[:3] + [lines[3].replace(",0.", ",zero", 1)] + lines[4:]) + "\n")
    with pytest.raises(ValueError, match=r"nan.csv, line 4: column .* cannot parse 'zero"):
        D.gz2(nan, img_dir, target="fractions")
    short = tmp_path / "short.csv"
    short.write_text("asset_id,gz2_class\n1000,Ei\n")
    with pytest.raises(ValueError, match="missing 37 of the 37 GZ2 columns"):
        D.gz2(short, img_dir, target="counts")
    with pytest.raises(FileNotFoundError, match="nope.csv.*galaxyzoo"):
        D.gz2(tmp_path / "nope.csv", img_dir)
    with pytest.raises(ValueError, match="target"):
        D.gz2(cat, img_dir, target="morphology")
