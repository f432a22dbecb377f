"""CIANNA .dat interop: parsing, Keras conversion, writing, errors (issue 5)."""

import io
import struct
import zipfile

import keras
import numpy as np
import pytest

from astrozoo.io import cianna
from astrozoo.layers import CiannaGroupNorm, CiannaLeakyReLU, CiannaLogistic
from tests.helpers import roundtrip_keras
from tests.io import cianna_numpy

FILES = {
    "arch1_res128": ("arch1_res128_err1.81_ms79.dat", 17, 393_330, (128, 128, 1, 3)),
    "arch1_res192": ("arch1_res192_err1.2_ms174.dat", 17, 393_330, (192, 192, 1, 3)),
    "arch2_res128": ("arch2_res128_err1.76_ms89.dat", 21, 586_114, (128, 128, 1, 3)),
}


def _path(shared_data, key):
    return shared_data / "cianna" / FILES[key][0]


def _str40(text):
    return text.encode().ljust(40, b"\0")


def _conv(
    rng,
    nb_filters,
    f_size,
    cin,
    stride=(1, 1, 1),
    padding=(0, 0, 0),
    int_padding=(0, 0, 0),
    act="LIN",
    bias=0.5,
    dropout=0.0,
    yolo=None,
    prev=(0, 0, 0),
):
    flat = f_size[0] * f_size[1] * f_size[2] * cin + 1
    w = rng.normal(0, 0.3, (nb_filters, flat)).astype(np.float32)
    return cianna.ConvRecord(
        0, nb_filters, f_size, stride, padding, int_padding, prev, cin, dropout, bias, _str40(act), w, yolo
    )


def _fix_prev_sizes(dat):
    """Fill in each conv record's prev_size, as CIANNA writes it, then reparse."""
    size = dat.header[:3]
    for rec in dat.records:
        if rec.kind == "C":
            rec.prev_size = tuple(size)
            size = tuple(
                cianna._conv_out(s, f, p, ip, st)
                for s, f, p, ip, st in zip(size, rec.f_size, rec.padding, rec.int_padding, rec.stride)
            )
        elif rec.kind == "P":
            size = (
                (1, 1, 1)
                if rec.global_pool
                else tuple(
                    (s + 2 * p - k) // st + 1
                    for s, k, p, st in zip(size, rec.p_size, rec.padding, rec.stride)
                )
            )
    return cianna.read_dat(dat.to_bytes())


# ----------------------------------------------------------------------------- real files


def test_real_files_parse_completely_and_write_back_identically(shared_data):
    for key, (_, n_layers, n_params, header) in FILES.items():
        path = _path(shared_data, key)
        raw = path.read_bytes()
        dat = cianna.read_dat(path)
        assert dat.header == header
        assert len(dat) == n_layers
        assert dat.nb_params == n_params
        assert dat.size == len(raw)
        offsets = [r.offset for r in dat]
        assert offsets[0] == 16 and offsets == sorted(offsets)
        assert dat.to_bytes() == raw
        assert [r.kind for r in dat][-2:] == ["C", "P"]
        assert dat[-1].global_pool == 1 and dat[-1].activation == "SMAX"
    text = cianna.describe(_path(shared_data, "arch2_res128"))
    assert "21 layers" in text and "586,114 parameters" in text
    assert "RELU_S800.00_L0.05" in text and "2346712" in text  # last record's offset
    assert len(text.splitlines()) == 3 + 21


@pytest.mark.parametrize("key", ["arch1_res128", "arch2_res128"])
def test_keras_model_reproduces_cianna_outputs(shared_data, key):
    ref = np.load(shared_data / "cianna" / f"reference_{key}.npz")
    model = cianna.load_model(_path(shared_data, key))
    y = model.predict(cianna.preprocess(ref["x_uint8"]), verbose=0)
    assert y.dtype == np.float32 and y.shape == ref["y"].shape
    np.testing.assert_allclose(y, ref["y"], atol=1e-4, rtol=0)
    # The last reference image is the scikit-image "chelsea" cat photo.
    assert "chelsea" in str(ref["names"][-1])
    assert y[-1, 0] >= 0.9999
    if key == "arch2_res128":
        # The test's own NumPy forward pass (CUDA semantics) agrees with CIANNA too.
        y_np = cianna_numpy.forward(model.cianna_dat, cianna.preprocess(ref["x_uint8"][-1]))
        np.testing.assert_allclose(y_np.reshape(-1), ref["y"][-1], atol=1e-5)
        # Real photos, unseen by the reference: CIFAR-10 test cats and dogs (see the
        # slow test for all 2,000), well above chance.
        x, labels = _cifar_cats_dogs(shared_data, per_class=50)
        acc = (model.predict(cianna.preprocess(x), verbose=0).argmax(1) == labels).mean()
        assert acc > 0.6, acc


def test_load_then_save_is_byte_identical_and_keeps_fine_tuning(shared_data, tmp_path):
    src = _path(shared_data, "arch1_res128")
    model = cianna.load_model(src)
    out = tmp_path / "copy.dat"
    dat = cianna.save_model(model, out)
    assert out.read_bytes() == src.read_bytes()
    assert dat.path == str(out)
    with pytest.raises(FileExistsError, match="already exists"):
        cianna.save_model(model, out)
    # Without the parsed file as template, the network is still written exactly
    # enough to give the same predictions.
    bare = cianna.model_to_dat(model, template=cianna.DatFile(header=(1, 1, 1, 1), records=[]))
    again = cianna.load_model(bare)
    x = cianna.preprocess(np.load(shared_data / "cianna" / "reference_arch1_res128.npz")["x_uint8"][:4])
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    # Changed weights are written.
    conv = model.get_layer("L16_conv")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 1.5, bias + 0.25])
    cianna.save_model(model, tmp_path / "tuned.dat")
    rec = cianna.read_dat(tmp_path / "tuned.dat")[15]
    np.testing.assert_array_equal(rec.weights[:, :-1].T, (kernel * 1.5).reshape(-1, 2))
    np.testing.assert_allclose(rec.weights[:, -1] * rec.bias_value, bias + 0.25, rtol=1e-6)


def test_other_input_size_and_keras_roundtrip(shared_data, tmp_path):
    model = cianna.load_model(_path(shared_data, "arch1_res192"), input_shape=(64, 96, 3))
    x = np.random.default_rng(0).normal(size=(2, 64, 96, 3)).astype("float32")
    reloaded = roundtrip_keras(model, x, tmp_path)
    assert reloaded.output_shape == (None, 2)
    types = {type(layer) for layer in model.layers}
    assert {CiannaGroupNorm, CiannaLeakyReLU} <= types
    with pytest.raises(ValueError, match="3 channels"):
        cianna.load_model(_path(shared_data, "arch1_res192"), input_shape=(64, 64, 1))


# ----------------------------------------------------------------------------- errors


def test_truncated_and_malformed_files_name_the_offset(shared_data):
    raw = _path(shared_data, "arch1_res128").read_bytes()
    for cut, what in [
        (10, "header"),
        (16 + 40, "conv fields"),
        (1925 - 8, "conv weights"),
        (2050 + 60, "norm activation"),
        (len(raw) - 3, "pool activation"),
    ]:
        with pytest.raises(cianna.DatFormatError, match=f"truncated.*{what}.*byte offset"):
            cianna.read_dat(raw[:cut])
    with pytest.raises(cianna.DatFormatError, match=r"invalid header.*\(0, 128, 1, 3\)"):
        cianna.read_dat(struct.pack("<4i", 0, 128, 1, 3) + raw[16:])
    with pytest.raises(cianna.DatFormatError, match="not a CIANNA"):
        cianna.read_dat(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(cianna.DatFormatError, match=r"unknown record type 'X'.*byte offset 16"):
        cianna.read_dat(raw[:16] + b"X" + raw[17:])
    with pytest.raises(cianna.DatFormatError, match=f"unknown record type.*byte offset {len(raw)}"):
        cianna.read_dat(raw + b"\x07")
    # A conv whose declared input depth disagrees with the previous layer.
    bad = bytearray(raw)
    struct.pack_into("<i", bad, 2203 + 1 + 16 * 4, 17)
    with pytest.raises(cianna.DatFormatError, match="byte offset 2203.*17 input channels.*outputs 16"):
        cianna.read_dat(bytes(bad))
    with pytest.raises(cianna.DatFormatError, match="no layer record"):
        cianna.read_dat(raw[:16])
    with pytest.raises(FileNotFoundError):
        cianna.read_dat(shared_data / "cianna" / "missing.dat")


def test_unsupported_layers_are_refused(tmp_path):
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization()]
    )
    with pytest.raises(ValueError, match="BatchNormalization.*no CIANNA equivalent"):
        cianna.save_model(model, tmp_path / "bn.dat")
    assert not (tmp_path / "bn.dat").exists()
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    with pytest.raises(ValueError, match="Permute"):
        cianna.save_model(model, tmp_path / "flat.dat")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="tanh")])
    with pytest.raises(ValueError, match="no CIANNA equivalent"):
        cianna.save_model(model, tmp_path / "tanh.dat")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), CiannaLeakyReLU(0.125)])
    with pytest.raises(ValueError, match="2 decimals"):
        cianna.save_model(model, tmp_path / "slope.dat")


# ----------------------------------------------------------------------------- layer kinds


def test_synthetic_networks_match_numpy_cianna_semantics(tmp_path):
    """Strides, padding, transposed conv, avg/max pooling, logistic, dense, dropout."""
    rng = np.random.default_rng(1)
    records = [
        _conv(rng, 6, (3, 3, 1), 2, stride=(2, 2, 1), padding=(1, 1, 0), act="RELU_S800.00_L0.05", bias=0.1),
        cianna.NormRecord(
            0,
            _str40("GN"),
            2,
            1,
            _str40("LOGI_S6.00_B1.00"),
            rng.uniform(0.5, 1.5, 3).astype("f4"),
            rng.normal(0, 0.2, 3).astype("f4"),
        ),
        _conv(rng, 4, (4, 4, 1), 6, padding=(2, 2, 0), int_padding=(1, 1, 0), act="RELU_S1.50_L0.10"),
        cianna.PoolRecord(0, (3, 3, 1), (1, 1, 1), (1, 1, 0), 0, 0.0, _str40("AVG"), _str40("LIN")),
        cianna.PoolRecord(0, (2, 2, 1), (2, 2, 1), (0, 0, 0), 0, 0.0, _str40("MAX"), _str40("LIN")),
    ]
    dat = cianna.DatFile(header=(10, 8, 1, 2), records=records)
    dat = _fix_prev_sizes(dat)
    # Dense layers: after the flatten, then after a non-linear dense layer.
    n_in = int(np.prod(dat.shapes[-1]))
    dense1 = cianna.DenseRecord(
        0, 5, 0.25, 0.5, _str40("LOGI_S6.00_B2.00"), rng.normal(0, 0.3, (n_in + 1, 6)).astype("f4")
    )
    dense2 = cianna.DenseRecord(0, 3, 0.0, 0.1, _str40("SMAX"), rng.normal(0, 0.5, (6, 4)).astype("f4"))
    dat = cianna.read_dat(cianna.DatFile(dat.header, dat.records + [dense1, dense2]).to_bytes())
    assert dat.shapes[2] == (10, 8, 1, 4)  # transposed conv doubled (5, 4)

    model = cianna.load_model(dat)
    x = rng.normal(size=(3, 8, 10, 2)).astype("float32")
    y = model.predict(x, verbose=0)
    ref = np.stack([cianna_numpy.forward(dat, xi) for xi in x])
    np.testing.assert_allclose(y, ref, atol=2e-5)
    assert isinstance(model.get_layer("L6_dense"), keras.layers.Dense)
    assert not model.get_layer("L7_dense").use_bias
    assert isinstance(model.get_layer("L2_act"), CiannaLogistic)

    # Keras -> .dat -> bytes identical, and without template same predictions.
    path = tmp_path / "synthetic.dat"
    cianna.save_model(model, path)
    assert path.read_bytes() == dat.to_bytes()
    model.cianna_dat = None
    bare = cianna.load_model(cianna.model_to_dat(model))
    np.testing.assert_allclose(bare.predict(x, verbose=0), y, atol=1e-6)

    # A 1D (spectra) network: W x 1 x 1 inputs become Conv1D.
    records = [
        _conv(rng, 4, (8, 1, 1), 1, stride=(4, 1, 1), padding=(2, 0, 0), act="RELU_S800.00_L0.05", bias=0.1),
        cianna.PoolRecord(0, (2, 1, 1), (2, 1, 1), (0, 0, 0), 0, 0.0, _str40("MAX"), _str40("LIN")),
    ]
    dat = _fix_prev_sizes(cianna.DatFile(header=(64, 1, 1, 1), records=records))
    model = cianna.load_model(dat)
    assert model.input_shape == (None, 64, 1)
    assert isinstance(model.get_layer("L1_conv"), keras.layers.Conv1D)
    x = rng.normal(size=(2, 64, 1)).astype("float32")
    ref = np.stack([cianna_numpy.forward(dat, xi.reshape(1, 64, 1)) for xi in x])
    np.testing.assert_allclose(
        model.predict(x, verbose=0), np.moveaxis(ref, 1, -1).reshape(2, 8, 4), atol=1e-5
    )
    assert cianna.model_to_dat(model).to_bytes() == dat.to_bytes()


def test_yolo_record_is_parsed_kept_and_written_back(tmp_path):
    rng = np.random.default_rng(3)
    nb_box, nb_class = 2, 3
    priors = np.array([[32, 92], [32, 150], [1, 1]], np.float32)
    slopes = np.tile(np.array([1, 6, -6], np.float32), (6, 1))
    yolo = cianna.YoloSettings(nb_box, nb_class, 0, 2, 1, priors, slopes)
    records = [
        _conv(rng, 8, (3, 3, 1), 3, padding=(1, 1, 0), act="RELU_S800.00_L0.05", bias=0.1),
        cianna.PoolRecord(0, (2, 2, 1), (2, 2, 1), (0, 0, 0), 0, 0.0, _str40("MAX"), _str40("LIN")),
        _conv(rng, nb_box * (8 + nb_class), (1, 1, 1), 8, act="YOLO", bias=0.01, yolo=yolo),
    ]
    dat = _fix_prev_sizes(cianna.DatFile(header=(16, 16, 1, 3), records=records))
    rec = dat[-1]
    assert rec.yolo.nb_box == 2 and rec.yolo.class_softmax == 1
    np.testing.assert_array_equal(rec.yolo.priors, priors)
    assert "boxes=2 classes=3" in cianna.describe(dat)
    model = cianna.load_model(dat, yolo_head=False)
    assert model.output_shape == (None, 8, 8, 22)
    assert model.cianna_dat[-1].yolo.nb_class == 3
    path = tmp_path / "yolo.dat"
    cianna.save_model(model, path)
    assert path.read_bytes() == dat.to_bytes()
    # A YOLO layer whose filters do not fit its settings is an error.
    bad = dat.to_bytes()
    yolo_off = rec.offset + 1 + 76 + 40
    with pytest.raises(cianna.DatFormatError, match="YOLO layer with 22 filters"):
        cianna.read_dat(bad[:yolo_off] + struct.pack("<i", 3) + bad[yolo_off + 4 :])


def test_yolo_layer_maps_onto_yolo_head(tmp_path):
    yolo_layers = pytest.importorskip("astrozoo.layers.yolo")
    rng = np.random.default_rng(4)
    priors = np.array([[24, 60], [40, 30], [1, 1]], np.float32)
    slopes = np.array(
        [[1, 6, -6], [0.5, 1.6, -1.6], [1, 6, -6], [1, 6, -6], [1, 6, -6], [1, 1.2, -0.2]], np.float32
    )
    yolo = cianna.YoloSettings(2, 3, 1, 2, 1, priors, slopes)
    records = [
        _conv(rng, 8, (3, 3, 1), 3, stride=(2, 2, 1), padding=(1, 1, 0), act="RELU_S800.00_L0.05", bias=0.1),
        _conv(rng, 2 * 12, (1, 1, 1), 8, act="YOLO", bias=0.01, yolo=yolo),
    ]
    dat = _fix_prev_sizes(cianna.DatFile(header=(32, 32, 1, 3), records=records))
    model = cianna.load_model(dat)
    head = model.get_layer("L2_yolo")
    assert isinstance(head, yolo_layers.YoloHead)
    assert model.output_shape == (None, 16, 16, 2, 12)
    assert head.cell_size == 2 and head.class_softmax and head.priors == ((24.0, 40.0), (60.0, 30.0))
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    raw = cianna.load_model(dat, yolo_head=False).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(head(raw)), atol=1e-6)
    path = tmp_path / "yolo.dat"
    cianna.save_model(model, path)
    assert path.read_bytes() == dat.to_bytes()
    # A Keras-built detector head is written with its own settings.
    model.cianna_dat = None
    rec = cianna.model_to_dat(model)[-1]
    assert rec.activation == "YOLO" and (rec.yolo.nb_box, rec.yolo.nb_class, rec.yolo.nb_param) == (2, 3, 1)
    np.testing.assert_array_equal(rec.yolo.priors[:2], priors[:2])
    np.testing.assert_array_equal(rec.yolo.slopes_and_maxes, slopes)


# ----------------------------------------------------------------------------- darknet19


def test_darknet19_accepts_a_cianna_file(tmp_path, shared_data):
    from astrozoo.applications import darknet19

    keras.utils.set_random_seed(0)
    model = darknet19(input_shape=(32, 32, 3), classes=3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, CiannaGroupNorm):
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, layer.groups).astype("f4"),
                    rng.normal(0, 0.1, layer.groups).astype("f4"),
                ]
            )
        elif isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([layer.get_weights()[0], rng.normal(0, 0.1, layer.filters).astype("f4")])
    path = tmp_path / "darknet19.dat"
    dat = cianna.save_model(model, path)
    assert len(dat) == 43  # 19 convs + 18 norms + 5 max-pools + global pool
    assert [r.kind for r in dat][:3] == ["C", "N", "P"] and dat[0].activation.startswith("RELU")
    # A different input size: weights do not depend on it.
    loaded = darknet19(weights=str(path), input_shape=(64, 64, 3), classes=3)
    for layer in model.layers:
        for a, b in zip(layer.get_weights(), loaded.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=layer.name)
    with pytest.raises(ValueError, match=r"record 1 \('C' at byte offset 16\).*block1_conv1.*16 filters"):
        darknet19(weights=str(_path(shared_data, "arch1_res128")), input_shape=(128, 128, 3), classes=2)


# ----------------------------------------------------------------------------- inputs


def test_preprocess_and_channel_planar_layout():
    img = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    x = cianna.preprocess(img)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (img.astype(np.float64) - 100) / 155, rtol=1e-6)
    flat = cianna.to_channel_planar(img)
    assert flat.shape == (2, 36)
    # Channel 0 of image 0 comes first, row-major with the width fastest.
    np.testing.assert_array_equal(flat[0, :4], img[0, 0, :, 0])
    np.testing.assert_array_equal(flat[0, 12:16], img[0, 0, :, 1])
    np.testing.assert_array_equal(cianna.from_channel_planar(flat, (3, 4), 3), img)
    with pytest.raises(ValueError, match="36"):
        cianna.from_channel_planar(flat, (3, 4), 2)
    with pytest.raises(TypeError):
        cianna.preprocess(np.array(["a"]))


def _cifar_cats_dogs(shared_data, per_class, size=128):
    from PIL import Image

    zf = zipfile.ZipFile(shared_data / "cifar10" / "cifar10_test_jpg.zip")
    images, labels = [], []
    for label, cls in enumerate(("cat", "dog")):
        names = sorted(n for n in zf.namelist() if n.startswith(f"test/{cls}/"))[:per_class]
        for n in names:
            im = Image.open(io.BytesIO(zf.read(n))).convert("RGB").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(im))
            labels.append(label)
    return np.stack(images), np.array(labels)


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(FILES))
def test_cifar_cats_and_dogs_all_2000(shared_data, key):
    x, labels = _cifar_cats_dogs(shared_data, per_class=1000, size=FILES[key][3][0])
    model = cianna.load_model(_path(shared_data, key))
    acc = (model.predict(cianna.preprocess(x), batch_size=64, verbose=0).argmax(1) == labels).mean()
    print(f"{key}: {acc:.4f} on {len(labels)} CIFAR-10 test cats/dogs")
    # 32-pixel thumbnails upscaled 4-6x, unlike the 128-pixel ASIRRA training photos.
    assert acc > 0.6, acc


def test_yolo_cianna_reads_and_writes_the_cianna_detector_layout(tmp_path):
    from astrozoo.applications import darknet19, yolo_cianna

    def build(weights=None):
        # CIANNA's detector keeps Darknet-19 up to block6_conv5, without its group norm.
        full = darknet19(include_top=False, input_shape=(64, 64, 3))
        backbone = keras.Model(full.input, full.get_layer("block6_conv5_act").output, name="darknet19")
        return yolo_cianna(
            backbone=backbone,
            num_classes=3,
            priors=((32, 32), (92, 150)),
            head_filters=(32,),
            head_norm="group",
            class_softmax=True,
            weights=weights,
        )

    keras.utils.set_random_seed(0)
    model = build()
    rng = np.random.default_rng(0)
    for layer in model.backbone.layers + model.layers:
        if isinstance(layer, CiannaGroupNorm):
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, layer.groups).astype("f4"),
                    rng.normal(0, 0.1, layer.groups).astype("f4"),
                ]
            )
    path = tmp_path / "detector.dat"
    dat = cianna.save_model(model, path)
    assert [r.kind for r in dat][-5:] == ["C", "N", "C", "N", "C"] and dat[-1].yolo.class_softmax == 1
    x = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    expected = np.asarray(model(x))
    loaded = build(weights=str(path))
    np.testing.assert_array_equal(np.asarray(loaded(x)), expected)
    # yolo_cianna's default darknet19 backbone keeps block6_conv5_norm: named mismatch.
    default = yolo_cianna(
        backbone="darknet19",
        num_classes=3,
        priors=((32, 32), (92, 150)),
        input_shape=(64, 64, 3),
        head_filters=(32,),
    )
    with pytest.raises(ValueError, match=r"record 41 \('N'.*block6_conv5_norm.*CIANNA's detectors drop"):
        cianna.load_dat_weights_into(default, path)
