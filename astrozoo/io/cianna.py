"""CIANNA binary network files (``.dat``) <-> Keras models.

CIANNA (github.com/Deyht/CIANNA, V-1.0) saves a network as a little-endian
binary file: a header of four int32 ``(W, H, D, C)`` (the input width, height,
depth and channel count), then one record per layer, each starting with a
one-byte type (``C`` conv, ``P`` pool, ``N`` group norm, ``D`` dense). The
layouts below follow the ``*_save`` functions of ``src/*_layer.c``:

* ``C``: int32 nb_filters, f_size[3], stride[3], padding[3], int_padding[3],
  prev_size[3], prev_depth; float32 dropout, bias_value; char[40] activation;
  if the activation is ``YOLO``: int32 nb_box, nb_class, nb_param, fit_dim,
  class_softmax, float32 priors[3][nb_box], slopes_and_maxes[6][3]; then
  nb_filters x (C*D*H*W + 1) float32, each filter ordered (c, d, h, w) with w
  fastest and the bias weight last.
* ``P``: int32 p_size[3], stride[3], padding[3], global; float32 dropout;
  char[40] pool type (``MAX``/``AVG``); char[40] activation.
* ``N``: char[40] ``GN``; int32 group_size, set_off; char[40] activation;
  float32 gamma[nb_group], beta[nb_group] with nb_group = ceil(C / group_size).
* ``D``: int32 nb_neurons; float32 dropout, bias_value; char[40] activation;
  in_size x (nb_neurons + 1) float32 where in_size counts the bias input.

All spatial triplets are (width, height, depth). The char[40] fields are
written from an uninitialised C buffer, so the bytes after the terminating
NUL are arbitrary; they are kept verbatim so that a file read and written back
is byte-identical.

Semantics (CUDA path of CIANNA V-1.0, on which the course networks were
trained): each layer's output is its own activation applied last, so a ``N``
record applies its activation after the normalisation. CIANNA appends a
constant ``bias_value`` input to every layer, so a Keras bias is
``W[f, last] * bias_value``.
"""

import dataclasses
import os
import pathlib
import struct

import numpy as np

__all__ = [
    "ConvRecord",
    "DatFile",
    "DatFormatError",
    "DenseRecord",
    "NormRecord",
    "PoolRecord",
    "YoloSettings",
    "describe",
    "from_channel_planar",
    "load_dat_weights_into",
    "load_model",
    "model_to_dat",
    "preprocess",
    "read_dat",
    "save_model",
    "to_channel_planar",
    "write_dat",
]

STR_LEN = 40
PIXEL_OFFSET = 100.0
PIXEL_SCALE = 155.0
# Largest dimension accepted in a header: guards against reading garbage as a network.
_MAX_DIM = 1 << 16
# CIANNA's default saturations (activ_functions.c, V-1.0).
RELU_DEFAULT = (800.0, 0.05)
LOGI_DEFAULT = (6.0, 1.0)
# Saturation written for Keras activations that have none ("%0.2f" must fit in 40 chars).
_NO_SATURATION = 1.0e9


class DatFormatError(ValueError):
    """A CIANNA ``.dat`` file is truncated, malformed or uses an unsupported record."""


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


class _Record:
    """What every layer record has: its activation name, stored as a C string."""

    @property
    def activation(self):
        return _cstr(self.activation_raw)


@dataclasses.dataclass
class YoloSettings:
    """The YOLO settings a ``C`` record with activation ``YOLO`` carries.

    ``priors`` is (3, nb_box): rows are the width, height and depth priors in
    pixels. ``slopes_and_maxes`` is (6, 3): rows position, size, probability,
    objectness, classes, parameters; columns slope, fmax, fmin.
    """

    nb_box: int
    nb_class: int
    nb_param: int
    fit_dim: int
    class_softmax: int
    priors: np.ndarray
    slopes_and_maxes: np.ndarray

    @property
    def filters_per_box(self):
        return 8 + self.nb_class + self.nb_param


@dataclasses.dataclass
class ConvRecord(_Record):
    """A ``C`` record: convolution (``int_padding > 0`` is a transposed convolution)."""

    offset: int
    nb_filters: int
    f_size: tuple
    stride: tuple
    padding: tuple
    int_padding: tuple
    prev_size: tuple
    prev_depth: int
    dropout: float
    bias_value: float
    activation_raw: bytes
    weights: np.ndarray  # (nb_filters, C*D*H*W + 1) float32
    yolo: YoloSettings = None
    kind = "C"

    @property
    def nb_params(self):
        return int(self.weights.size)


@dataclasses.dataclass
class PoolRecord(_Record):
    """A ``P`` record: max or average pooling (``global_pool=1``: over the whole map)."""

    offset: int
    p_size: tuple
    stride: tuple
    padding: tuple
    global_pool: int
    dropout: float
    pool_type_raw: bytes
    activation_raw: bytes
    kind = "P"

    @property
    def pool_type(self):
        return _cstr(self.pool_type_raw)

    nb_params = 0


@dataclasses.dataclass
class NormRecord(_Record):
    """An ``N`` record: CIANNA group normalisation, one gamma/beta per group."""

    offset: int
    norm_type_raw: bytes
    group_size: int
    set_off: int
    activation_raw: bytes
    gamma: np.ndarray
    beta: np.ndarray
    kind = "N"

    @property
    def norm_type(self):
        return _cstr(self.norm_type_raw)

    @property
    def nb_params(self):
        return int(self.gamma.size + self.beta.size)


@dataclasses.dataclass
class DenseRecord(_Record):
    """A ``D`` record: fully connected layer; ``weights`` is (in_size, nb_neurons + 1)."""

    offset: int
    nb_neurons: int
    dropout: float
    bias_value: float
    activation_raw: bytes
    weights: np.ndarray
    kind = "D"

    @property
    def nb_params(self):
        return int(self.weights.size)


@dataclasses.dataclass
class DatFile:
    """A parsed CIANNA network file.

    Attributes:
        header: ``(W, H, D, C)`` of the input, as stored.
        records: the layer records in file order, each with its byte ``offset``.
        shapes: the output shape of each record, ``(W, H, D, C)`` for maps or
            ``(n,)`` after a dense layer.
        size: the number of bytes parsed (the whole file).
    """

    header: tuple
    records: list
    shapes: list = dataclasses.field(default_factory=list)
    size: int = 0
    path: str = None

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    @property
    def nb_params(self):
        return sum(r.nb_params for r in self.records)

    def to_bytes(self):
        """Serialise back to the CIANNA binary layout."""
        return _encode(self)

    def save(self, path, overwrite=False):
        """Write to ``path`` (refuses to replace an existing file unless ``overwrite``)."""
        return write_dat(self, path, overwrite=overwrite)

    def describe(self):
        return _describe(self)


def _cstr(raw):
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


def _str_field(text):
    data = text.encode("ascii")
    if len(data) >= STR_LEN:
        raise ValueError(f"CIANNA string field {text!r} is longer than {STR_LEN - 1} characters.")
    return data.ljust(STR_LEN, b"\0")


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


class _Cursor:
    def __init__(self, data, name):
        self.data = data
        self.pos = 0
        self.name = name

    def take(self, n, what):
        if self.pos + n > len(self.data):
            raise DatFormatError(
                f"{self.name}: truncated file: expected {what} ({n} bytes) at byte offset "
                f"{self.pos}, but only {len(self.data) - self.pos} bytes remain "
                f"(file size {len(self.data)})."
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def ints(self, n, what):
        return struct.unpack(f"<{n}i", self.take(4 * n, what))

    def floats(self, n, what):
        return struct.unpack(f"<{n}f", self.take(4 * n, what))

    def array(self, count, what):
        return np.frombuffer(self.take(4 * count, what), dtype="<f4").astype(np.float32)

    def error(self, offset, message):
        return DatFormatError(f"{self.name}: record at byte offset {offset}: {message}")


def _conv_out(size, f, pad, int_pad, stride):
    return (size + (size - 1) * int_pad + 2 * pad - f) // stride + 1


def _read_header(cur):
    header = cur.ints(4, "the header int32[4] (W, H, D, C)")
    if any(d < 1 or d > _MAX_DIM for d in header):
        raise DatFormatError(
            f"{cur.name}: invalid header (W, H, D, C) = {header} at byte offset 0: each "
            f"dimension must lie in [1, {_MAX_DIM}]. This is not a CIANNA binary network file."
        )
    return header


def read_dat(path_or_bytes):
    """Parse a CIANNA binary ``.dat`` network file, every byte of it.

    Args:
        path_or_bytes: a path, or the file's ``bytes``.

    Returns:
        A :class:`DatFile` whose ``records`` (with their byte offsets) hold all
        the fields and weights of the file.

    Raises:
        DatFormatError: on a truncated file, an invalid header, an unknown record
            type, inconsistent layer dimensions or trailing bytes; the message
            names the byte offset and what was expected there.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, name = bytes(path_or_bytes), "<bytes>"
    else:
        path = pathlib.Path(path_or_bytes)
        if not path.is_file():
            raise FileNotFoundError(f"CIANNA network file not found: {str(path)!r}")
        data, name = path.read_bytes(), str(path)
    cur = _Cursor(data, name)
    header = _read_header(cur)
    shape = ("map", tuple(header[:3]), header[3])
    records, shapes = [], []
    prev = None
    while cur.pos < len(data):
        offset = cur.pos
        kind = cur.take(1, "a record type byte").decode("latin-1")
        if kind == "C":
            rec, shape = _read_conv(cur, offset, shape)
        elif kind == "P":
            rec, shape = _read_pool(cur, offset, shape)
        elif kind == "N":
            rec, shape = _read_norm(cur, offset, shape, prev)
        elif kind == "D":
            rec, shape = _read_dense(cur, offset, shape)
        else:
            raise DatFormatError(
                f"{name}: unknown record type {kind!r} (byte 0x{ord(kind):02x}) at byte offset "
                f"{offset}: expected 'C' (conv), 'P' (pool), 'N' (group norm) or 'D' (dense). "
                "CIANNA V-1.0 binary files are supported (LRN and merge layers are not)."
            )
        records.append(rec)
        shapes.append(shape[1] + (shape[2],) if shape[0] == "map" else (shape[1],))
        prev = rec
    if not records:
        raise DatFormatError(
            f"{name}: the file holds a header but no layer record (expected one at byte offset 16)."
        )
    return DatFile(
        header=tuple(header),
        records=records,
        shapes=shapes,
        size=len(data),
        path=None if name == "<bytes>" else name,
    )


def _read_conv(cur, offset, shape):
    v = cur.ints(17, "the conv fields int32[17]")
    nb_filters, f_size, stride, pad, int_pad = v[0], v[1:4], v[4:7], v[7:10], v[10:13]
    prev_size, prev_depth = v[13:16], v[16]
    dropout, bias_value = cur.floats(2, "the conv dropout and bias floats")
    act = cur.take(STR_LEN, "the conv activation char[40]")
    if shape[0] != "map":
        raise cur.error(offset, "a conv record after a dense layer is not supported by CIANNA.")
    size, channels = shape[1], shape[2]
    if nb_filters < 1 or any(x < 1 for x in f_size + stride) or any(x < 0 for x in pad + int_pad):
        raise cur.error(
            offset,
            f"invalid conv fields nb_filters={nb_filters}, f_size={f_size}, stride={stride}, "
            f"padding={pad}, int_padding={int_pad}.",
        )
    if prev_depth != channels:
        raise cur.error(
            offset,
            f"the conv record expects {prev_depth} input channels but the previous layer outputs {channels}.",
        )
    yolo = None
    if _cstr(act).startswith("YOLO"):
        nb_box, nb_class, nb_param, fit_dim, class_softmax = cur.ints(5, "the YOLO int32[5]")
        if not 0 < nb_box < 4096 or nb_class < 0 or nb_param < 0:
            raise cur.error(
                offset, f"invalid YOLO settings nb_box={nb_box}, nb_class={nb_class}, nb_param={nb_param}."
            )
        priors = cur.array(3 * nb_box, "the YOLO priors float32[3][nb_box]").reshape(3, nb_box)
        slopes = cur.array(18, "the YOLO slopes_and_maxes float32[6][3]").reshape(6, 3)
        yolo = YoloSettings(nb_box, nb_class, nb_param, fit_dim, class_softmax, priors, slopes)
        if nb_box * yolo.filters_per_box != nb_filters:
            raise cur.error(
                offset,
                f"YOLO layer with {nb_filters} filters, expected nb_box*(8+nb_class+nb_param) = "
                f"{nb_box}*(8+{nb_class}+{nb_param}) = {nb_box * yolo.filters_per_box}.",
            )
    out = tuple(_conv_out(s, f, p, ip, st) for s, f, p, ip, st in zip(size, f_size, pad, int_pad, stride))
    if any(o < 1 for o in out):
        raise cur.error(offset, f"the conv of input {size} (W, H, D) gives an empty output {out}.")
    flat = f_size[0] * f_size[1] * f_size[2] * channels + 1
    weights = cur.array(nb_filters * flat, f"{nb_filters} x {flat} conv weights float32").reshape(
        nb_filters, flat
    )
    rec = ConvRecord(
        offset,
        nb_filters,
        tuple(f_size),
        tuple(stride),
        tuple(pad),
        tuple(int_pad),
        tuple(prev_size),
        prev_depth,
        dropout,
        bias_value,
        act,
        weights,
        yolo,
    )
    return rec, ("map", out, nb_filters)


def _read_pool(cur, offset, shape):
    v = cur.ints(10, "the pool fields int32[10]")
    (dropout,) = cur.floats(1, "the pool dropout float")
    ptype = cur.take(STR_LEN, "the pool type char[40]")
    act = cur.take(STR_LEN, "the pool activation char[40]")
    if shape[0] != "map":
        raise cur.error(offset, "a pool record after a dense layer is not supported.")
    p_size, stride, pad, global_pool = v[0:3], v[3:6], v[6:9], v[9]
    if _cstr(ptype) not in ("MAX", "AVG"):
        raise cur.error(offset, f"unknown pool type {_cstr(ptype)!r}: expected 'MAX' or 'AVG'.")
    if any(x < 1 for x in p_size + stride) or any(x < 0 for x in pad) or global_pool not in (0, 1):
        raise cur.error(
            offset,
            f"invalid pool fields p_size={p_size}, stride={stride}, padding={pad}, global={global_pool}.",
        )
    size = shape[1]
    if global_pool:
        out = (1, 1, 1)
    else:
        out = tuple((s + 2 * p - k) // st + 1 for s, k, p, st in zip(size, p_size, pad, stride))
        if any(o < 1 for o in out):
            raise cur.error(offset, f"the pool of input {size} (W, H, D) gives an empty output {out}.")
    rec = PoolRecord(offset, tuple(p_size), tuple(stride), tuple(pad), global_pool, dropout, ptype, act)
    return rec, ("map", out, shape[2])


def _read_norm(cur, offset, shape, prev):
    ntype = cur.take(STR_LEN, "the norm type char[40]")
    group_size, set_off = cur.ints(2, "the norm group_size and set_off int32")
    act = cur.take(STR_LEN, "the norm activation char[40]")
    if _cstr(ntype) != "GN":
        raise cur.error(offset, f"unsupported normalisation {_cstr(ntype)!r}: expected 'GN'.")
    if shape[0] != "map" or prev is None or prev.kind == "N":
        raise cur.error(offset, "a group norm must follow a conv or pool layer.")
    channels = shape[2]
    if group_size < 1:
        raise cur.error(offset, f"group_size must be >= 1, got {group_size}.")
    nb_group = -(-channels // group_size)
    if not 0 <= set_off <= nb_group:
        raise cur.error(offset, f"set_off={set_off} must lie in [0, {nb_group}].")
    gamma = cur.array(nb_group, f"{nb_group} gamma float32")
    beta = cur.array(nb_group, f"{nb_group} beta float32")
    return NormRecord(offset, ntype, group_size, set_off, act, gamma, beta), shape


def _read_dense(cur, offset, shape):
    (nb_neurons,) = cur.ints(1, "the dense nb_neurons int32")
    dropout, bias_value = cur.floats(2, "the dense dropout and bias floats")
    act = cur.take(STR_LEN, "the dense activation char[40]")
    if nb_neurons < 1:
        raise cur.error(offset, f"nb_neurons must be >= 1, got {nb_neurons}.")
    if shape[0] == "map":
        in_size = int(np.prod(shape[1])) * shape[2] + 1
    else:
        in_size = shape[1] + 1
    weights = cur.array(in_size * (nb_neurons + 1), f"{in_size} x {nb_neurons + 1} dense weights float32")
    rec = DenseRecord(offset, nb_neurons, dropout, bias_value, act, weights.reshape(in_size, nb_neurons + 1))
    return rec, ("flat", nb_neurons, None)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _encode(dat):
    out = [struct.pack("<4i", *dat.header)]
    for rec in dat.records:
        out.append(rec.kind.encode())
        if rec.kind == "C":
            out.append(
                struct.pack(
                    "<17i2f",
                    rec.nb_filters,
                    *rec.f_size,
                    *rec.stride,
                    *rec.padding,
                    *rec.int_padding,
                    *rec.prev_size,
                    rec.prev_depth,
                    rec.dropout,
                    rec.bias_value,
                )
            )
            out.append(_raw40(rec.activation_raw))
            if rec.yolo is not None:
                y = rec.yolo
                out.append(struct.pack("<5i", y.nb_box, y.nb_class, y.nb_param, y.fit_dim, y.class_softmax))
                out.append(np.asarray(y.priors, "<f4").reshape(3, y.nb_box).tobytes())
                out.append(np.asarray(y.slopes_and_maxes, "<f4").reshape(6, 3).tobytes())
            out.append(np.ascontiguousarray(rec.weights, "<f4").tobytes())
        elif rec.kind == "P":
            out.append(
                struct.pack("<10if", *rec.p_size, *rec.stride, *rec.padding, rec.global_pool, rec.dropout)
            )
            out.append(_raw40(rec.pool_type_raw))
            out.append(_raw40(rec.activation_raw))
        elif rec.kind == "N":
            out.append(_raw40(rec.norm_type_raw))
            out.append(struct.pack("<2i", rec.group_size, rec.set_off))
            out.append(_raw40(rec.activation_raw))
            out.append(np.asarray(rec.gamma, "<f4").tobytes())
            out.append(np.asarray(rec.beta, "<f4").tobytes())
        elif rec.kind == "D":
            out.append(struct.pack("<i2f", rec.nb_neurons, rec.dropout, rec.bias_value))
            out.append(_raw40(rec.activation_raw))
            out.append(np.ascontiguousarray(rec.weights, "<f4").tobytes())
        else:
            raise ValueError(f"Unknown record kind {rec.kind!r}.")
    return b"".join(out)


def _raw40(raw):
    if len(raw) != STR_LEN:
        raise ValueError(f"CIANNA string fields are {STR_LEN} bytes, got {len(raw)}: {raw!r}")
    return raw


def write_dat(dat, path, overwrite=False):
    """Write a :class:`DatFile` to ``path`` in CIANNA's binary layout.

    The bytes are checked by parsing them back before anything is written.
    ``overwrite=False`` refuses to replace an existing file.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it.")
    data = dat.to_bytes()
    read_dat(data)
    _write_bytes(path, data)
    return path


def _write_bytes(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


def _parse_activation(text, where):
    """``(kind, params)`` from a CIANNA activation string such as ``RELU_S800.00_L0.05``."""
    name = text.split("_", 1)[0]
    params = {}
    for part in text.split("_")[1:]:
        if len(part) > 1:
            try:
                params[part[0]] = float(part[1:])
            except ValueError:
                pass
    if name.startswith("RELU"):
        return "RELU", (params.get("S", RELU_DEFAULT[0]), params.get("L", RELU_DEFAULT[1]))
    if name.startswith("LOGI"):
        return "LOGI", (params.get("S", LOGI_DEFAULT[0]), params.get("B", LOGI_DEFAULT[1]))
    if name.startswith("SMAX"):
        return "SMAX", ()
    if name.startswith("YOLO"):
        return "YOLO", ()
    if name.startswith("LIN") or name == "":
        return "LIN", ()
    raise DatFormatError(f"{where}: unsupported activation {text!r}: expected LIN, RELU, LOGI, SMAX or YOLO.")


def _activation_layer(text, name, where, spatial_rank=None, dtype=None):
    import keras

    from astrozoo.layers import CiannaLeakyReLU, CiannaLogistic

    kind, params = _parse_activation(text, where)
    kw = {"name": name}
    if dtype is not None:
        kw["dtype"] = dtype
    if kind == "RELU":
        return CiannaLeakyReLU(negative_slope=params[1], saturation=params[0], **kw)
    if kind == "LOGI":
        return CiannaLogistic(beta=params[1], saturation=params[0], **kw)
    if kind == "SMAX":
        # CIANNA's softmax on maps runs over every filter and position of an image.
        axis = -1 if not spatial_rank else tuple(range(1, spatial_rank + 2))
        return keras.layers.Softmax(axis=axis, **kw)
    if dtype is not None:
        return keras.layers.Activation("linear", **kw)
    return None


# --------------------------------------------------------------------------------------
# Building a Keras model
# --------------------------------------------------------------------------------------


def _rank(dat):
    """Spatial rank of the network: 1 (spectra), 2 (images) or 3 (cubes)."""
    W, H, D, _ = dat.header
    if D > 1 or any(
        getattr(r, "f_size", (1, 1, 1))[2] > 1 or getattr(r, "p_size", (1, 1, 1))[2] > 1 for r in dat
    ):
        return 3
    if (
        H == 1
        and all(getattr(r, "f_size", (1, 1, 1))[1] == 1 for r in dat)
        and all(getattr(r, "p_size", (1, 1, 1))[1] == 1 for r in dat)
    ):
        return 1
    return 2


def _keras_tuple(whd, rank):
    """CIANNA (w, h, d) -> Keras spatial axes order: (w,), (h, w) or (d, h, w)."""
    w, h, d = whd
    return {1: (w,), 2: (h, w), 3: (d, h, w)}[rank]


def _conv_kernel(rec, channels, rank):
    fw, fh, fd = rec.f_size
    w = rec.weights[:, :-1].reshape(rec.nb_filters, channels, fd, fh, fw)
    # (F, C, D, H, W) -> Keras (D, H, W, C, F) with the unused axes squeezed.
    k = w.transpose(2, 3, 4, 1, 0)
    if rank == 2:
        k = k[0]
    elif rank == 1:
        k = k[0, 0]
    return np.ascontiguousarray(k)


def _bias(col, bias_value):
    return (np.asarray(col, np.float32) * np.float32(bias_value)).astype(np.float32)


def load_model(path, input_shape=None, name=None, yolo_head=True):
    """Build the Keras model equivalent to a CIANNA ``.dat`` network, weights included.

    The model takes channels-last inputs already normalised as CIANNA expects
    them (see :func:`preprocess`) and reproduces CIANNA's forward pass (CUDA
    semantics): convolutions with stride and zero padding, transposed
    convolutions (``int_padding``), max/average/global pooling, CIANNA's group
    normalisation, dense layers, dropout (inverted dropout followed by CIANNA's
    ``1 - rate`` inference scaling), and the activations ``LIN``, ``RELU``
    (:class:`~astrozoo.layers.CiannaLeakyReLU`), ``LOGI``
    (:class:`~astrozoo.layers.CiannaLogistic`) and ``SMAX``. A ``YOLO`` last
    layer becomes the convolution followed by :class:`~astrozoo.layers.YoloHead`
    with the file's priors, classes, parameters and slopes (the head of
    :func:`~astrozoo.applications.yolo_cianna`); its settings are also in
    ``model.cianna_dat[-1].yolo``.

    Args:
        path: the ``.dat`` file, or a :class:`DatFile` from :func:`read_dat`.
        input_shape: channels-last input shape; by default the one in the file.
            Fully convolutional networks accept other sizes.
        name: model name (default: the file name).
        yolo_head: map a ``YOLO`` layer onto ``YoloHead`` (output
            ``(batch, H, W, nb_box, 8 + classes + params)``); ``False`` keeps
            the raw convolution output, channels box by box as in CIANNA.

    Returns:
        A ``keras.Model``; ``model.cianna_dat`` keeps the parsed file so that
        :func:`save_model` writes identical bytes while the weights are unchanged.
    """
    import keras

    dat = path if isinstance(path, DatFile) else read_dat(path)
    rank = _rank(dat)
    W, H, D, C = dat.header
    default = _keras_tuple((W, H, D), rank) + (C,)
    if input_shape is None:
        input_shape = default
    input_shape = tuple(input_shape)
    if len(input_shape) != rank + 1 or input_shape[-1] != C:
        raise ValueError(
            f"input_shape={input_shape} does not fit the network of {dat.path or 'the file'}: "
            f"expected {rank} spatial dimensions and {C} channels, like {default}."
        )
    if name is None:
        name = "cianna_" + (pathlib.Path(dat.path).stem if dat.path else "model")
        name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    prev = None
    n = len(dat.records)
    for i, rec in enumerate(dat.records, start=1):
        where = f"record {i} ({rec.kind!r} at byte offset {rec.offset})"
        last = i == n
        tag = f"L{i}"
        if rec.kind == "C":
            if rec.yolo is not None and not last:
                raise DatFormatError(f"{where}: a YOLO layer must be the last layer of the network.")
            x = _build_conv(x, rec, tag, rank, first=prev is None, where=where)
            if rec.yolo is not None and yolo_head:
                x = _yolo_head(x, rec, input_shape, rank, tag, where)
                prev = rec
                continue
        elif rec.kind == "P":
            x = _build_pool(x, rec, tag, rank, where)
        elif rec.kind == "N":
            from astrozoo.layers import CiannaGroupNorm

            channels = x.shape[-1]
            if channels % rec.group_size:
                raise DatFormatError(
                    f"{where}: group_size={rec.group_size} does not divide the {channels} channels; "
                    "CIANNA's partial last group is not supported."
                )
            layer = CiannaGroupNorm(rec.group_size, epsilon=1e-3, set_off=rec.set_off, name=f"{tag}_norm")
            x = layer(x)
            layer.set_weights([rec.gamma, rec.beta])
        elif rec.kind == "D":
            x = _build_dense(x, rec, prev, tag, rank, where)
        spatial = None if rec.kind == "D" else rank
        if rec.kind == "P" and rec.global_pool:
            spatial = None
        act = _activation_layer(
            rec.activation, f"{tag}_act", where, spatial_rank=spatial, dtype="float32" if last else None
        )
        if act is not None:
            x = act(x)
        prev = rec
    model = keras.Model(inputs, x, name=name)
    model.cianna_dat = dat
    return model


def _yolo_head(x, rec, input_shape, rank, tag, where):
    from astrozoo.layers.yolo import YoloHead

    y = rec.yolo
    if rank != 2 or y.fit_dim != 2:
        raise DatFormatError(
            f"{where}: only 2D YOLO layers (fit_dim=2) map onto YoloHead, got fit_dim={y.fit_dim} in a "
            f"{rank}D network; load it with yolo_head=False for the raw output."
        )
    (in_h, in_w), (grid_h, grid_w) = input_shape[:2], x.shape[1:3]
    if in_w % grid_w or in_h % grid_h or in_w // grid_w != in_h // grid_h:
        raise DatFormatError(
            f"{where}: the {grid_h}x{grid_w} grid does not split the {in_h}x{in_w} input into square cells."
        )
    priors = [(float(y.priors[0, j]), float(y.priors[1, j])) for j in range(y.nb_box)]
    head = YoloHead(
        y.nb_box,
        y.nb_class,
        y.nb_param,
        priors=priors,
        cell_size=in_w // grid_w,
        slopes_and_maxes=y.slopes_and_maxes.tolist(),
        class_softmax=bool(y.class_softmax),
        name=f"{tag}_yolo",
    )
    return head(x)


def _build_conv(x, rec, tag, rank, first, where):
    import keras

    if rec.yolo is None and _parse_activation(rec.activation, where)[0] == "SMAX":
        raise DatFormatError(f"{where}: CIANNA does not allow a softmax on a conv layer.")
    channels = x.shape[-1]
    if channels != rec.prev_depth:
        raise DatFormatError(f"{where}: expects {rec.prev_depth} input channels, got {channels}.")
    kernel = _conv_kernel(rec, channels, rank)
    bias = _bias(rec.weights[:, -1], rec.bias_value)
    ks = _keras_tuple(rec.f_size, rank)
    st = _keras_tuple(rec.stride, rank)
    pad = _keras_tuple(rec.padding, rank)
    ipad = _keras_tuple(rec.int_padding, rank)
    Pad = {1: keras.layers.ZeroPadding1D, 2: keras.layers.ZeroPadding2D, 3: keras.layers.ZeroPadding3D}[rank]
    if any(ipad):
        # Zeros inserted between the inputs, padding, then a plain convolution: a
        # transposed convolution of stride int_padding+1 with the kernel flipped,
        # cropped from its implicit k-1 padding down to CIANNA's padding.
        if any(s != 1 for s in st) or any(p > k - 1 for p, k in zip(pad, ks)):
            raise DatFormatError(
                f"{where}: a transposed conv (int_padding={rec.int_padding}) needs stride 1 and "
                f"padding <= f_size-1; got stride={rec.stride}, padding={rec.padding}."
            )
        Tr = {
            1: keras.layers.Conv1DTranspose,
            2: keras.layers.Conv2DTranspose,
            3: keras.layers.Conv3DTranspose,
        }[rank]
        conv = Tr(rec.nb_filters, ks, strides=tuple(i + 1 for i in ipad), padding="valid", name=f"{tag}_conv")
        x = conv(x)
        flip = tuple(slice(None, None, -1) for _ in range(rank))
        tkernel = np.ascontiguousarray(np.swapaxes(kernel[flip], -1, -2))
        conv.set_weights([tkernel, bias])
        crop = tuple(k - 1 - p for k, p in zip(ks, pad))
        if any(crop):
            Crop = {1: keras.layers.Cropping1D, 2: keras.layers.Cropping2D, 3: keras.layers.Cropping3D}[rank]
            x = Crop(crop[0] if rank == 1 else crop, name=f"{tag}_crop")(x)
    else:
        if any(pad):
            x = Pad(pad[0] if rank == 1 else pad, name=f"{tag}_pad")(x)
        Conv = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[rank]
        # A YOLO layer's raw output feeds float32 box decoding, even under mixed precision.
        dtype = "float32" if rec.yolo is not None else None
        conv = Conv(rec.nb_filters, ks, strides=st, padding="valid", name=f"{tag}_conv", dtype=dtype)
        x = conv(x)
        conv.set_weights([kernel, bias])
    return _dropout(x, rec.dropout, tag)


def _dropout(x, rate, tag):
    import keras

    # CIANNA drops without rescaling in training and multiplies by (1 - rate) at
    # inference; Keras' inverted dropout then this constant scale is the same in both.
    if rate > 0.01:
        x = keras.layers.Dropout(float(rate), name=f"{tag}_dropout")(x)
        x = keras.layers.Rescaling(float(1.0 - rate), name=f"{tag}_dropscale")(x)
    return x


def _build_pool(x, rec, tag, rank, where):
    import keras

    if rec.global_pool:
        layer = {
            ("MAX", 1): keras.layers.GlobalMaxPooling1D,
            ("MAX", 2): keras.layers.GlobalMaxPooling2D,
            ("MAX", 3): keras.layers.GlobalMaxPooling3D,
            ("AVG", 1): keras.layers.GlobalAveragePooling1D,
            ("AVG", 2): keras.layers.GlobalAveragePooling2D,
            ("AVG", 3): keras.layers.GlobalAveragePooling3D,
        }[(rec.pool_type, rank)]
        x = layer(name=f"{tag}_pool")(x)
    else:
        ps = _keras_tuple(rec.p_size, rank)
        st = _keras_tuple(rec.stride, rank)
        pad = _keras_tuple(rec.padding, rank)
        padding = "valid"
        if any(pad):
            # CIANNA skips padded positions; Keras "same" does the same for max and
            # average when its split equals CIANNA's symmetric padding.
            sizes = x.shape[1:-1]
            for n, k, s, p in zip(sizes, ps, st, pad):
                out = (n + 2 * p - k) // s + 1
                total = max((out - 1) * s + k - n, 0)
                if n is None or -(-n // s) != out or total // 2 != p:
                    raise DatFormatError(
                        f"{where}: pool padding {rec.padding} with size {rec.p_size} and stride "
                        f"{rec.stride} has no Keras equivalent for an input of {tuple(sizes)}."
                    )
            padding = "same"
        Pool = {
            ("MAX", 1): keras.layers.MaxPooling1D,
            ("MAX", 2): keras.layers.MaxPooling2D,
            ("MAX", 3): keras.layers.MaxPooling3D,
            ("AVG", 1): keras.layers.AveragePooling1D,
            ("AVG", 2): keras.layers.AveragePooling2D,
            ("AVG", 3): keras.layers.AveragePooling3D,
        }[(rec.pool_type, rank)]
        x = Pool(
            ps[0] if rank == 1 else ps,
            strides=st[0] if rank == 1 else st,
            padding=padding,
            name=f"{tag}_pool",
        )(x)
    return _dropout(x, rec.dropout, tag)


def _build_dense(x, rec, prev, tag, rank, where):
    import keras

    if len(x.shape) > 2:
        # CIANNA flattens channel-planar: all of channel 0, then channel 1, ...
        perm = (rank + 1,) + tuple(range(1, rank + 1))
        x = keras.layers.Permute(perm, name=f"{tag}_planar")(x)
        x = keras.layers.Flatten(name=f"{tag}_flatten")(x)
        bias_in = rec.bias_value
    elif prev is not None and prev.kind == "D":
        kind = _parse_activation(prev.activation, where)[0]
        if kind == "LIN":
            raise DatFormatError(
                f"{where}: a dense layer after a linear dense layer (its bias input is a learnt "
                "combination in CIANNA) is not supported."
            )
        # CIANNA's activations zero the bias neuron of the previous dense layer.
        bias_in = 0.0
    else:
        bias_in = rec.bias_value
    n_in = rec.weights.shape[0] - 1
    if x.shape[-1] != n_in:
        raise DatFormatError(f"{where}: expects {n_in} inputs, got {x.shape[-1]}.")
    use_bias = bias_in != 0.0
    dense = keras.layers.Dense(rec.nb_neurons, use_bias=use_bias, name=f"{tag}_dense")
    x = dense(x)
    kernel = np.ascontiguousarray(rec.weights[:-1, :-1])
    dense.set_weights([kernel, _bias(rec.weights[-1, :-1], bias_in)] if use_bias else [kernel])
    return _dropout(x, rec.dropout, tag)


# --------------------------------------------------------------------------------------
# Keras model -> .dat
# --------------------------------------------------------------------------------------


def _fmt_relu(layer):
    s = _NO_SATURATION if layer.saturation is None else layer.saturation
    return _checked_fmt("RELU_S{:.2f}_L{:.2f}", (s, layer.negative_slope), layer.name)


def _checked_fmt(fmt, values, lname):
    text = fmt.format(*values)
    for v in values:
        if abs(round(v, 2) - v) > 1e-6 * max(1.0, abs(v)):
            raise ValueError(
                f"Layer {lname!r}: CIANNA stores activation parameters with 2 decimals "
                f"({text!r}); {v} cannot be written exactly."
            )
    return text


def _activation_text(layer):
    """CIANNA activation string for a Keras activation layer, or None if not one."""
    import keras

    from astrozoo.layers import CiannaLeakyReLU, CiannaLogistic

    if type(layer).__name__ == "YoloHead":
        return "YOLO"
    if isinstance(layer, CiannaLeakyReLU):
        return _fmt_relu(layer)
    if isinstance(layer, CiannaLogistic):
        s = _NO_SATURATION if layer.saturation is None else layer.saturation
        return _checked_fmt("LOGI_S{:.2f}_B{:.2f}", (s, layer.beta), layer.name)
    if isinstance(layer, keras.layers.Softmax):
        return "SMAX"
    if isinstance(layer, keras.layers.LeakyReLU):
        return _checked_fmt("RELU_S{:.2f}_L{:.2f}", (_NO_SATURATION, float(layer.negative_slope)), layer.name)
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None or float(layer.threshold) != 0.0:
            raise ValueError(f"Layer {layer.name!r}: ReLU with max_value/threshold has no CIANNA equivalent.")
        return _checked_fmt("RELU_S{:.2f}_L{:.2f}", (_NO_SATURATION, float(layer.negative_slope)), layer.name)
    if isinstance(layer, keras.layers.Activation):
        return _function_text(layer.activation, layer.name)
    return None


def _function_text(fn, lname):
    """CIANNA activation string for a Keras activation function (``layer.activation``)."""
    import keras

    name = keras.activations.serialize(fn)
    name = name if isinstance(name, str) else name.get("config", {}).get("name", str(name))
    table = {
        "linear": "LIN",
        "softmax": "SMAX",
        "sigmoid": "LOGI_S1000000000.00_B1.00",
        "relu": "RELU_S1000000000.00_L0.00",
    }
    if name in table:
        return table[name]
    raise ValueError(
        f"Layer {lname!r}: activation {name!r} has no CIANNA equivalent (linear, softmax, sigmoid, relu)."
    )


def _chain(model):
    """The model's layers as a single chain, input first (CIANNA networks are sequential).

    Nested models (e.g. a backbone inside a detector) are expanded in place.
    """
    import keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"save_model needs a model with one input and one output; {model.name!r} has "
            f"{len(model.inputs)} and {len(model.outputs)}."
        )
    layers = []
    for lyr in model.layers:
        if isinstance(lyr, keras.layers.InputLayer):
            continue
        if len(lyr._inbound_nodes) != 1 or len(keras.tree.flatten(lyr._inbound_nodes[0].input_tensors)) != 1:
            raise ValueError(
                f"Layer {lyr.name!r} is not part of a single chain: CIANNA files hold sequential networks only."
            )
        if isinstance(lyr, keras.Model) and hasattr(lyr, "inputs"):
            layers.extend(_chain(lyr))
        else:
            layers.append(lyr)
    return layers


def model_to_dat(model, template=None):
    """Convert a sequential Keras model of supported layers to a :class:`DatFile`.

    Supported: (ZeroPadding +) Conv1D/2D/3D (``padding="valid"``, or ``"same"``
    with stride 1 and odd kernels), the Conv*Transpose + Cropping pair written
    by :func:`load_model`, Max/Average pooling (``valid``, or ``same`` when it
    equals a symmetric padding) and their global versions, CiannaGroupNorm,
    Dense (after Flatten, in CIANNA's channel-planar order via Permute, or
    after another dense layer with a non-linear activation, whose bias CIANNA
    discards), Dropout (+ Rescaling), the activations of :func:`load_model`
    plus Keras' linear/relu/leaky_relu/sigmoid/softmax, and a ``YoloHead``
    after the last convolution (a ``YOLO`` record). Nested models (a backbone
    inside a detector) are expanded in place.

    Args:
        model: the Keras model.
        template: a :class:`DatFile` whose fields that Keras does not hold (the
            bias input values, the raw string bytes, a dense layer's bias
            neuron) are reused record by record; defaults to
            ``model.cianna_dat`` when :func:`load_model` built the model.
    """
    import keras

    from astrozoo.layers import CiannaGroupNorm

    if template is None:
        template = getattr(model, "cianna_dat", None)
    in_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in in_shape):
        raise ValueError(f"save_model needs a static input shape; {model.name!r} has {in_shape}.")
    rank = len(in_shape) - 1
    if rank not in (1, 2, 3):
        raise ValueError(f"Only 1D, 2D and 3D inputs can be written to CIANNA; got {in_shape}.")
    whd = tuple(reversed(in_shape[:-1])) + (1,) * (3 - rank)
    header = whd + (in_shape[-1],)

    def to_whd(t, fill):
        t = tuple(int(v) for v in (t if isinstance(t, (tuple, list)) else (t,) * rank))
        return tuple(reversed(t)) + (fill,) * (3 - rank)

    layers = _chain(model)
    records = []
    i = 0
    pending_pad = None
    flatten_seen = False
    planar = False
    shape = ("map", whd, in_shape[-1])

    def attach_activation(owner, j):
        # The owner's own activation, or an activation layer right after it,
        # becomes the record's activation.
        fn = getattr(owner, "activation", None)
        text = "LIN" if fn is None else _function_text(fn, owner.name)
        while j < len(layers):
            lyr = layers[j]
            if isinstance(lyr, keras.layers.Dropout):
                j += 1
                continue
            if isinstance(lyr, keras.layers.Rescaling):
                j += 1
                continue
            t = _activation_text(lyr)
            if t is None:
                break
            if t != "LIN":
                if text != "LIN":
                    raise ValueError(
                        f"Layer {lyr.name!r}: two activations in a row cannot be written to CIANNA."
                    )
                text = t
            j += 1
        return text, j

    while i < len(layers):
        lyr = layers[i]
        tmpl = (
            template.records[len(records)]
            if template is not None and len(records) < len(template.records)
            else None
        )
        if isinstance(
            lyr, (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D)
        ):
            pad = lyr.padding
            pad = (pad,) if rank == 1 else pad
            pairs = [tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in pad]
            if any(a != b for a, b in pairs):
                raise ValueError(f"Layer {lyr.name!r}: CIANNA pads symmetrically; got {lyr.padding}.")
            pending_pad = to_whd([a for a, _ in pairs], 0)
            i += 1
            continue
        if isinstance(
            lyr, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
        ) and not isinstance(
            lyr, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
        ):
            rec, shape, i = _conv_from_keras(
                lyr, layers, i, shape, pending_pad, rank, to_whd, tmpl, attach_activation
            )
            pending_pad = None
            records.append(rec)
            continue
        if isinstance(
            lyr, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
        ):
            rec, shape, i = _tconv_from_keras(lyr, layers, i, shape, rank, to_whd, tmpl, attach_activation)
            records.append(rec)
            continue
        if pending_pad is not None:
            raise ValueError(f"Layer {layers[i - 1].name!r}: zero padding must be followed by a convolution.")
        pool_types = {
            keras.layers.MaxPooling1D: "MAX",
            keras.layers.MaxPooling2D: "MAX",
            keras.layers.MaxPooling3D: "MAX",
            keras.layers.AveragePooling1D: "AVG",
            keras.layers.AveragePooling2D: "AVG",
            keras.layers.AveragePooling3D: "AVG",
        }
        global_types = {
            keras.layers.GlobalMaxPooling1D: "MAX",
            keras.layers.GlobalMaxPooling2D: "MAX",
            keras.layers.GlobalMaxPooling3D: "MAX",
            keras.layers.GlobalAveragePooling1D: "AVG",
            keras.layers.GlobalAveragePooling2D: "AVG",
            keras.layers.GlobalAveragePooling3D: "AVG",
        }
        if type(lyr) in pool_types or type(lyr) in global_types:
            if shape[0] != "map":
                raise ValueError(
                    f"Layer {lyr.name!r}: pooling after a dense layer cannot be written to CIANNA."
                )
            size = shape[1]
            if type(lyr) in global_types:
                if getattr(lyr, "keepdims", False):
                    raise ValueError(f"Layer {lyr.name!r}: keepdims=True is not supported.")
                ptype, p_size, stride, pad, glob = global_types[type(lyr)], size, size, (0, 0, 0), 1
                out = (1, 1, 1)
            else:
                ptype = pool_types[type(lyr)]
                p_size = to_whd(lyr.pool_size, 1)
                stride = to_whd(lyr.strides, 1)
                if lyr.padding == "valid":
                    pad = (0, 0, 0)
                else:
                    pad = []
                    for n, k, s in zip(size, p_size, stride):
                        out_n = -(-n // s)
                        total = max((out_n - 1) * s + k - n, 0)
                        if total % 2:
                            raise ValueError(
                                f"Layer {lyr.name!r}: 'same' pooling pads asymmetrically here; CIANNA cannot."
                            )
                        pad.append(total // 2)
                    pad = tuple(pad)
                out = tuple((n + 2 * p - k) // s + 1 for n, k, p, s in zip(size, p_size, pad, stride))
                glob = 0
            text, j = attach_activation(lyr, i + 1)
            rec = PoolRecord(
                0,
                tuple(p_size),
                tuple(stride),
                tuple(pad),
                glob,
                0.0,
                _keep_raw(tmpl, "P", "pool_type_raw", ptype),
                _keep_raw(tmpl, "P", "activation_raw", text),
            )
            rec.dropout = _dropout_in(layers, i + 1, j)
            shape = ("map", out, shape[2])
            records.append(rec)
            i = j
            continue
        if isinstance(lyr, CiannaGroupNorm):
            if records and records[-1].kind == "N":
                raise ValueError(
                    f"Layer {lyr.name!r}: CIANNA cannot stack two group norms (the previous layer is a "
                    "group norm too); drop one of them."
                )
            if shape[0] != "map":
                raise ValueError(
                    f"Layer {lyr.name!r}: group norm after a dense layer cannot be written to CIANNA."
                )
            if abs(lyr.epsilon - 1e-3) > 1e-9:
                raise ValueError(
                    f"Layer {lyr.name!r}: CIANNA's group norm uses epsilon=1e-3, got {lyr.epsilon}."
                )
            gamma, beta = (np.asarray(w, np.float32) for w in lyr.get_weights())
            text, j = attach_activation(lyr, i + 1)
            rec = NormRecord(
                0,
                _keep_raw(tmpl, "N", "norm_type_raw", "GN"),
                lyr.group_size,
                lyr.set_off,
                _keep_raw(tmpl, "N", "activation_raw", text),
                gamma,
                beta,
            )
            records.append(rec)
            i = j
            continue
        if isinstance(lyr, keras.layers.Permute):
            if tuple(lyr.dims) != (rank + 1,) + tuple(range(1, rank + 1)):
                raise ValueError(
                    f"Layer {lyr.name!r}: only the channel-planar Permute before Flatten is supported."
                )
            planar = True
            i += 1
            continue
        if isinstance(lyr, keras.layers.Flatten):
            if shape[0] == "map" and not planar and (np.prod(shape[1]) > 1):
                raise ValueError(
                    f"Layer {lyr.name!r}: Keras flattens channels-last, CIANNA channel-planar; put "
                    f"keras.layers.Permute({(rank + 1,) + tuple(range(1, rank + 1))}) before Flatten."
                )
            flatten_seen = True
            i += 1
            continue
        if isinstance(lyr, keras.layers.Dense):
            rec, shape, i = _dense_from_keras(
                lyr, layers, i, shape, records, tmpl, attach_activation, flatten_seen
            )
            flatten_seen = planar = False
            records.append(rec)
            continue
        if (
            isinstance(lyr, (keras.layers.Dropout, keras.layers.Rescaling))
            or _activation_text(lyr) is not None
        ):
            raise ValueError(
                f"Layer {lyr.name!r} ({type(lyr).__name__}) does not follow a conv, pool, norm or dense "
                "layer: CIANNA attaches activations and dropout to a layer."
            )
        raise ValueError(
            f"Layer {lyr.name!r} ({type(lyr).__name__}) has no CIANNA equivalent. Supported: Conv, "
            "ZeroPadding, pooling, CiannaGroupNorm, Dense, Flatten, Dropout and activations."
        )
    if not records:
        raise ValueError(f"Model {model.name!r} has no layer that CIANNA can store.")
    dat = DatFile(header=header, records=records)
    # Offsets and shapes come from parsing the bytes: one source of truth.
    return read_dat(dat.to_bytes())


def _dropout_in(layers, start, stop):
    import keras

    for lyr in layers[start:stop]:
        if isinstance(lyr, keras.layers.Dropout):
            return float(lyr.rate)
    return 0.0


def _keep_raw(tmpl, kind, field, text):
    """The template's raw 40 bytes when its text is the same, else a zero-padded field."""
    if tmpl is not None and tmpl.kind == kind and _cstr(getattr(tmpl, field)) == text:
        return getattr(tmpl, field)
    return _str_field(text)


def _default_bias_value(text, first):
    if first:
        return 0.1  # CIANNA's input_bias
    kind = text.split("_", 1)[0]
    return {"RELU": 0.1, "LOGI": -1.0, "SMAX": 0.1, "YOLO": 0.01}.get(kind, 0.5)


def _bias_column(keras_bias, bias_value, tmpl_col):
    """File bias weights w with float32(w * bias_value) == keras_bias, exactly when possible."""
    keras_bias = np.asarray(keras_bias, np.float32)
    b = np.float32(bias_value)
    if tmpl_col is not None and tmpl_col.shape == keras_bias.shape:
        if np.array_equal((tmpl_col * b).astype(np.float32), keras_bias):
            return tmpl_col.astype(np.float32)
    if b == 0:
        return np.zeros_like(keras_bias)
    w = (keras_bias.astype(np.float64) / float(b)).astype(np.float32)
    # Nudge by one ulp where the rounded quotient does not multiply back exactly.
    for _ in range(2):
        bad = (w * b).astype(np.float32) != keras_bias
        if not bad.any():
            break
        up = np.nextafter(w, np.float32(np.inf))
        down = np.nextafter(w, np.float32(-np.inf))
        w = np.where(bad & ((up * b).astype(np.float32) == keras_bias), up, w)
        w = np.where(bad & ((down * b).astype(np.float32) == keras_bias), down, w)
    return w


def _conv_from_keras(lyr, layers, i, shape, pending_pad, rank, to_whd, tmpl, attach_activation):
    if shape[0] != "map":
        raise ValueError(f"Layer {lyr.name!r}: a conv after a dense layer cannot be written to CIANNA.")
    if lyr.groups != 1 or any(d != 1 for d in np.atleast_1d(lyr.dilation_rate)):
        raise ValueError(f"Layer {lyr.name!r}: grouped or dilated convolutions have no CIANNA equivalent.")
    if lyr.data_format != "channels_last":
        raise ValueError(f"Layer {lyr.name!r}: only channels_last convolutions are supported.")
    f_size = to_whd(lyr.kernel_size, 1)
    stride = to_whd(lyr.strides, 1)
    pad = pending_pad or (0, 0, 0)
    if lyr.padding == "same":
        if pending_pad is not None or any(s != 1 for s in stride) or any(k % 2 == 0 for k in f_size):
            raise ValueError(
                f"Layer {lyr.name!r}: padding='same' is supported with stride 1 and odd kernels only."
            )
        pad = tuple((k - 1) // 2 for k in f_size)
    elif lyr.padding != "valid":
        raise ValueError(f"Layer {lyr.name!r}: padding={lyr.padding!r} has no CIANNA equivalent.")
    weights = lyr.get_weights()
    kernel = np.asarray(weights[0], np.float32)
    keras_bias = np.asarray(weights[1], np.float32) if lyr.use_bias else np.zeros(lyr.filters, np.float32)
    channels = shape[2]
    text, j = attach_activation(lyr, i + 1)
    if text == "SMAX":
        raise ValueError(f"Layer {lyr.name!r}: CIANNA does not allow a softmax on a conv layer.")
    flat = int(np.prod(f_size)) * channels + 1
    use_tmpl = tmpl is not None and tmpl.kind == "C" and tmpl.weights.shape == (lyr.filters, flat)
    yolo = None
    act_raw = _keep_raw(tmpl, "C", "activation_raw", text)
    if use_tmpl and tmpl.yolo is not None and text == "LIN":
        # load_model(yolo_head=False) gives a YOLO layer's raw output: write its settings back.
        yolo, act_raw = tmpl.yolo, tmpl.activation_raw
    elif text == "YOLO":
        head = next(lay for lay in layers[i + 1 : j] if type(lay).__name__ == "YoloHead")
        yolo = _yolo_settings(head, lyr, tmpl.yolo if tmpl is not None and tmpl.kind == "C" else None)
    bias_value = tmpl.bias_value if use_tmpl else _default_bias_value(text, first=_is_first(layers, i))
    # Keras (D, H, W, C, F) -> (F, C, D, H, W).
    full = kernel
    while full.ndim < 5:
        full = full[None]
    w = full.transpose(4, 3, 0, 1, 2).reshape(lyr.filters, -1)
    col = _bias_column(keras_bias, bias_value, tmpl.weights[:, -1] if use_tmpl else None)
    weights_arr = np.concatenate([w, col[:, None]], axis=1).astype(np.float32)
    out = tuple(_conv_out(s, f, p, 0, st) for s, f, p, st in zip(shape[1], f_size, pad, stride))
    rec = ConvRecord(
        0,
        lyr.filters,
        f_size,
        stride,
        tuple(pad),
        (0, 0, 0),
        tuple(shape[1]),
        channels,
        _dropout_in(layers, i + 1, j),
        bias_value,
        act_raw,
        weights_arr,
        yolo,
    )
    return rec, ("map", out, lyr.filters), j


def _yolo_settings(head, conv, tmpl_yolo):
    """CIANNA's YOLO fields for a YoloHead; the template's when they describe the same head."""
    if conv.filters != head.filters:
        raise ValueError(
            f"Layer {conv.name!r}: {conv.filters} filters, but {head.name!r} expects {head.filters}."
        )
    wh = np.array(head.priors, np.float32).T
    slopes = np.array(head.slopes_and_maxes, np.float32)
    if (
        tmpl_yolo is not None
        and (tmpl_yolo.nb_box, tmpl_yolo.nb_class, tmpl_yolo.nb_param)
        == (head.nb_box, head.nb_class, head.nb_param)
        and np.array_equal(tmpl_yolo.priors[:2], wh)
        and np.array_equal(tmpl_yolo.slopes_and_maxes, slopes)
        and bool(tmpl_yolo.class_softmax) == head.class_softmax
    ):
        return tmpl_yolo
    priors = np.concatenate([wh, np.ones((1, head.nb_box), np.float32)])  # depth priors of 2D boxes
    return YoloSettings(head.nb_box, head.nb_class, head.nb_param, 2, int(head.class_softmax), priors, slopes)


def _is_first(layers, i):
    import keras

    return all(
        isinstance(lyr, (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D))
        for lyr in layers[:i]
    )


def _tconv_from_keras(lyr, layers, i, shape, rank, to_whd, tmpl, attach_activation):
    import keras

    if lyr.padding != "valid" or lyr.data_format != "channels_last":
        raise ValueError(
            f"Layer {lyr.name!r}: only padding='valid', channels_last transposed convs are supported."
        )
    if any(d != 1 for d in np.atleast_1d(lyr.dilation_rate)) or getattr(lyr, "output_padding", None) not in (
        None,
    ):
        raise ValueError(f"Layer {lyr.name!r}: dilation/output_padding have no CIANNA equivalent.")
    f_size = to_whd(lyr.kernel_size, 1)
    int_pad = tuple(s - 1 for s in to_whd(lyr.strides, 1))
    crop = (0, 0, 0)
    j = i + 1
    if j < len(layers) and isinstance(
        layers[j], (keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.Cropping3D)
    ):
        c = layers[j].cropping
        c = (c,) if rank == 1 else c
        pairs = [tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in c]
        if any(a != b for a, b in pairs):
            raise ValueError(f"Layer {layers[j].name!r}: only symmetric cropping is supported.")
        crop = to_whd([a for a, _ in pairs], 0)
        j += 1
    pad = tuple(k - 1 - c for k, c in zip(f_size, crop))
    if any(p < 0 for p in pad):
        raise ValueError(f"Layer {lyr.name!r}: cropping larger than kernel-1 has no CIANNA equivalent.")
    weights = lyr.get_weights()
    tkernel = np.asarray(weights[0], np.float32)  # (..., F, C)
    keras_bias = np.asarray(weights[1], np.float32) if lyr.use_bias else np.zeros(lyr.filters, np.float32)
    flip = tuple(slice(None, None, -1) for _ in range(rank))
    kernel = np.swapaxes(tkernel, -1, -2)[flip]  # (..., C, F), unflipped
    full = kernel
    while full.ndim < 5:
        full = full[None]
    w = full.transpose(4, 3, 0, 1, 2).reshape(lyr.filters, -1)
    text, j2 = attach_activation(lyr, j)
    use_tmpl = (
        tmpl is not None
        and tmpl.kind == "C"
        and tmpl.yolo is None
        and tmpl.weights.shape == (lyr.filters, w.shape[1] + 1)
    )
    bias_value = tmpl.bias_value if use_tmpl else _default_bias_value(text, first=_is_first(layers, i))
    col = _bias_column(keras_bias, bias_value, tmpl.weights[:, -1] if use_tmpl else None)
    weights_arr = np.concatenate([w, col[:, None]], axis=1).astype(np.float32)
    out = tuple(_conv_out(s, f, p, ip, 1) for s, f, p, ip in zip(shape[1], f_size, pad, int_pad))
    rec = ConvRecord(
        0,
        lyr.filters,
        f_size,
        (1, 1, 1),
        pad,
        int_pad,
        tuple(shape[1]),
        shape[2],
        _dropout_in(layers, j, j2),
        bias_value,
        _keep_raw(tmpl, "C", "activation_raw", text),
        weights_arr,
    )
    return rec, ("map", out, lyr.filters), j2


def _dense_from_keras(lyr, layers, i, shape, records, tmpl, attach_activation, flatten_seen):
    if shape[0] == "map" and not flatten_seen and np.prod(shape[1]) * shape[2] != lyr.kernel.shape[0]:
        raise ValueError(f"Layer {lyr.name!r}: a dense layer on a feature map needs a Flatten first.")
    kernel = np.asarray(lyr.get_weights()[0], np.float32)
    keras_bias = np.asarray(lyr.get_weights()[1], np.float32) if lyr.use_bias else None
    n_in, n_out = kernel.shape
    text, j = attach_activation(lyr, i + 1)
    use_tmpl = tmpl is not None and tmpl.kind == "D" and tmpl.weights.shape == (n_in + 1, n_out + 1)
    after_dense = bool(records) and records[-1].kind == "D"
    if after_dense:
        prev_kind = _parse_activation(records[-1].activation, lyr.name)[0]
        if prev_kind == "LIN":
            raise ValueError(
                f"Layer {lyr.name!r}: a dense layer after a linear dense layer cannot be written exactly."
            )
        if keras_bias is not None and np.any(keras_bias != 0):
            raise ValueError(
                f"Layer {lyr.name!r}: CIANNA discards the bias of a dense layer that follows a non-linear "
                "dense layer; build it with use_bias=False."
            )
    bias_value = (
        tmpl.bias_value if use_tmpl else _default_bias_value(text, first=not records and not after_dense)
    )
    w = np.zeros((n_in + 1, n_out + 1), np.float32)
    w[:n_in, :n_out] = kernel
    if use_tmpl:
        w[:, n_out] = tmpl.weights[:, n_out]
    else:
        # CIANNA's bias neuron: passes the next layer's bias input along.
        w[n_in, n_out] = 1.0
    if after_dense:
        w[n_in, :n_out] = tmpl.weights[n_in, :n_out] if use_tmpl else 0.0
    elif keras_bias is not None:
        w[n_in, :n_out] = _bias_column(
            keras_bias, bias_value, tmpl.weights[n_in, :n_out] if use_tmpl else None
        )
    rec = DenseRecord(
        0, n_out, _dropout_in(layers, i + 1, j), bias_value, _keep_raw(tmpl, "D", "activation_raw", text), w
    )
    return rec, ("flat", n_out, None), j


def save_model(model, path, overwrite=False, template=None):
    """Write a Keras model of supported layers as a CIANNA binary ``.dat`` file.

    A model from :func:`load_model` whose weights were not changed is written
    back byte for byte. See :func:`model_to_dat` for the supported layers.

    Args:
        model: the Keras model.
        path: destination file.
        overwrite: replace an existing file (default: refuse).
        template: optional :class:`DatFile` giving the fields Keras does not keep.

    Returns:
        The parsed :class:`DatFile` that was written.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it.")
    dat = model_to_dat(model, template=template)
    # model_to_dat already parsed these bytes back: write them as they are.
    _write_bytes(path, dat.to_bytes())
    dat.path = str(path)
    return dat


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def preprocess(images, offset=PIXEL_OFFSET, scale=PIXEL_SCALE):
    """CIANNA's input normalisation for 8-bit images: ``(x - 100) / 155`` as float32.

    The course networks (ASIRRA, ImageNet Darknet-19, the YOLO detectors) were
    trained on inputs normalised this way; the result stays channels-last, as the
    models of :func:`load_model` expect. CIANNA itself takes the same values
    channel-planar: see :func:`to_channel_planar`.

    Args:
        images: array-like of pixels in [0, 255], shape ``(..., H, W, C)``.
        offset, scale: the normalisation constants (CIANNA's course values by default).
    """
    x = np.asarray(images)
    if x.dtype.kind not in "uif":
        raise TypeError(f"images must be numeric, got dtype {x.dtype}.")
    return ((x.astype(np.float32) - np.float32(offset)) / np.float32(scale)).astype(np.float32)


def to_channel_planar(x):
    """Channels-last images ``(N, H, W, C)`` -> CIANNA's flat rows ``(N, C*H*W)``.

    Each row holds channel 0 (row-major, width fastest), then channel 1, ... as
    CIANNA's input arrays do.
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"Expected (N, ..., C) channels-last data, got shape {x.shape}.")
    n, c = x.shape[0], x.shape[-1]
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)).reshape(n, -1) if c else x.reshape(n, -1)


def from_channel_planar(flat, spatial_shape, channels):
    """CIANNA's flat channel-planar rows -> channels-last ``(N, *spatial_shape, C)``."""
    flat = np.asarray(flat)
    n = flat.shape[0]
    expected = int(np.prod(spatial_shape)) * channels
    if flat.ndim != 2 or flat.shape[1] != expected:
        raise ValueError(
            f"Expected flat rows of {expected} values ({channels} x {tuple(spatial_shape)}), got shape {flat.shape}."
        )
    return np.moveaxis(flat.reshape((n, channels) + tuple(spatial_shape)), 1, -1)


# --------------------------------------------------------------------------------------
# Darknet-19 and description
# --------------------------------------------------------------------------------------


def _darknet19_spec(include_top, classes, keep_last_norm=True):
    """(kind, layer name, detail) of each record of a CIANNA Darknet-19 file."""
    from astrozoo.applications.darknet19 import DARKNET19_BLOCKS

    spec = []
    for b, block in enumerate(DARKNET19_BLOCKS, start=1):
        for i, (filters, kernel, _) in enumerate(block, start=1):
            spec.append(("C", f"block{b}_conv{i}", dict(filters=filters, kernel=kernel, act="RELU")))
            spec.append(("N", f"block{b}_conv{i}_norm", None))
        if b < len(DARKNET19_BLOCKS):
            spec.append(("P", f"block{b}_pool", dict(pool="MAX", global_pool=0)))
    if not keep_last_norm:
        spec.pop()
    if include_top:
        spec.append(("C", "predictions_conv", dict(filters=classes, kernel=1, act="LIN")))
        spec.append(("P", "avg_pool", dict(pool="AVG", global_pool=1)))
    return spec


def _check_conv(rec, layer, lname, detail, head, get_layer, net):
    filters, kernel, want = detail["filters"], detail["kernel"], detail["act"]
    cin = layer.input.shape[-1]
    act = _parse_activation(rec.activation, head)[0]
    if (
        (rec.nb_filters, rec.f_size[:2], rec.stride[:2], rec.prev_depth)
        != (filters, (kernel, kernel), (1, 1), cin)
        or any(rec.int_padding)
        or rec.padding[:2] != ((kernel - 1) // 2,) * 2
        or act != want
    ):
        raise ValueError(
            f"{head} does not match {net} layer {lname!r}: the file has {rec.nb_filters} "
            f"filters {rec.f_size[0]}x{rec.f_size[1]} on {rec.prev_depth} channels, stride "
            f"{rec.stride[:2]}, padding {rec.padding[:2]}, activation {rec.activation!r}; "
            f"expected {filters} filters {kernel}x{kernel} on {cin} channels, stride (1, 1), "
            f"'same' padding, activation {want}."
        )
    if want == "RELU":
        sat, slope = _parse_activation(rec.activation, head)[1]
        act_name = detail.get("act_layer", lname + "_act")
        act_layer = get_layer(act_name)
        if (getattr(act_layer, "negative_slope", None), getattr(act_layer, "saturation", None)) != (
            slope,
            sat,
        ):
            raise ValueError(f"{head}: activation {rec.activation!r} does not match layer {act_name!r}.")
    if want == "YOLO":
        yolo_head = get_layer(detail["yolo_layer"])
        y = rec.yolo
        priors = tuple((float(y.priors[0, j]), float(y.priors[1, j])) for j in range(y.nb_box))
        ours = (yolo_head.nb_box, yolo_head.nb_class, yolo_head.nb_param, bool(yolo_head.class_softmax))
        if (y.nb_box, y.nb_class, y.nb_param, bool(y.class_softmax)) != ours or y.fit_dim != 2:
            raise ValueError(
                f"{head}: YOLO layer with {y.nb_box} boxes, {y.nb_class} classes, {y.nb_param} parameters, "
                f"class_softmax={y.class_softmax}, fit_dim={y.fit_dim}; the model's head has "
                f"{ours[0]} boxes, {ours[1]} classes, {ours[2]} parameters, class_softmax={int(ours[3])}."
            )
        if not np.allclose(priors, yolo_head.priors, rtol=1e-6):
            raise ValueError(f"{head}: priors {priors} differ from the model's {yolo_head.priors}.")
    weights = [_conv_kernel(rec, cin, 2)]
    if layer.use_bias:
        weights.append(_bias(rec.weights[:, -1], rec.bias_value))
    elif np.any(rec.weights[:, -1] != 0):
        raise ValueError(f"{head}: the file has conv biases but layer {lname!r} has use_bias=False.")
    return weights


def _assign_records(dat, spec, get_layer, net, exact_length):
    """Check every record of ``dat`` against ``spec`` first, then set the weights."""
    src = dat.path or "the file"
    assignments = []
    for k, (kind, lname, detail) in enumerate(spec):
        if k >= len(dat.records):
            raise ValueError(
                f"{src} is not a {net} of this layout: it ends after {len(dat.records)} records, "
                f"expected a {kind!r} record for layer {lname!r} next."
            )
        rec = dat.records[k]
        head = f"{src}: record {k + 1} ({rec.kind!r} at byte offset {rec.offset})"
        if rec.kind != kind:
            raise ValueError(f"{head} does not match {net} layer {lname!r}: expected a {kind!r} record.")
        try:
            layer = get_layer(lname) if kind != "P" else None
        except ValueError:
            raise ValueError(f"{head}: the model has no layer {lname!r} for it.") from None
        if kind == "C":
            assignments.append((layer, _check_conv(rec, layer, lname, detail, head, get_layer, net)))
        elif kind == "N":
            if getattr(layer, "group_size", None) is None:
                raise ValueError(
                    f"{head}: layer {lname!r} is not a CiannaGroupNorm (build it with norm='group')."
                )
            if (
                rec.group_size != layer.group_size
                or rec.set_off != layer.set_off
                or _parse_activation(rec.activation, head)[0] != "LIN"
            ):
                raise ValueError(
                    f"{head} does not match {net} layer {lname!r}: group_size {rec.group_size}, "
                    f"set_off {rec.set_off}, activation {rec.activation!r}; expected group_size "
                    f"{layer.group_size}, set_off {layer.set_off}, activation LIN."
                )
            assignments.append((layer, [rec.gamma, rec.beta]))
        elif kind == "P":
            if rec.pool_type != detail["pool"] or rec.global_pool != detail["global_pool"]:
                raise ValueError(
                    f"{head} does not match {net} layer {lname!r}: {rec.pool_type} pool "
                    f"(global={rec.global_pool}), expected {detail['pool']} (global={detail['global_pool']})."
                )
            if not rec.global_pool and (rec.p_size[:2], rec.stride[:2]) != ((2, 2), (2, 2)):
                raise ValueError(
                    f"{head} does not match {net} layer {lname!r}: expected a 2x2 max-pool, stride 2."
                )
    if exact_length and len(dat.records) != len(spec):
        extra = dat.records[len(spec)]
        raise ValueError(
            f"{src}: record {len(spec) + 1} ({extra.kind!r} at byte offset {extra.offset}) follows "
            f"the last layer of {net}; the file holds more layers than the model."
        )
    for layer, weights in assignments:
        layer.set_weights(weights)


def load_dat_weights_into(model, path):
    """Load a CIANNA ``.dat`` Darknet-19 or YOLO-CIANNA detector into an astrozoo model.

    * :func:`astrozoo.applications.darknet19` (``norm="group"``,
      ``activation="cianna"``): the file's records must follow its layout, a
      RELU conv then a linear group norm for each ``block{b}_conv{i}``, max-pools
      between the blocks, then (with ``include_top``) the 1x1 ``predictions_conv``
      and a global average pool with a softmax. Without the top, the file may go
      on (a detector's head is ignored).
    * :func:`astrozoo.applications.yolo_cianna` with the darknet19 backbone and
      group-norm head: the backbone records, then for each head unit a linear
      group norm and a 3x3 RELU conv, the output group norm and the 1x1 ``YOLO``
      conv whose boxes, classes, parameters and priors must be the model's.

    Every record is checked before any weight is assigned; the first mismatch is
    named with its byte offset.
    """
    dat = path if isinstance(path, DatFile) else read_dat(path)
    names = {layer.name for layer in model.layers}
    if "yolo_head" in names:
        backbone = model.backbone
        if "block6_conv5" not in {layer.name for layer in backbone.layers}:
            raise ValueError(f"{model.name!r}: only the darknet19 backbone can be loaded from a CIANNA file.")

        def get_layer(name):
            return model.get_layer(name) if name in names else backbone.get_layer(name)

        # CIANNA's detector keeps Darknet-19 up to block6_conv5 without its norm
        # (cnn.load(..., nb_layers=40)); a backbone that keeps it cannot match.
        keep_last_norm = "block6_conv5_norm" in {layer.name for layer in backbone.layers}
        spec = _darknet19_spec(include_top=False, classes=None, keep_last_norm=keep_last_norm)
        n_head = len(model.head_filters)
        for i in range(1, n_head + 1):
            spec.append(("N", f"head_norm{i}", None))
            filters = model.get_layer(f"head_conv{i}").filters
            spec.append(
                ("C", f"head_conv{i}", dict(filters=filters, kernel=3, act="RELU", act_layer=f"head_act{i}"))
            )
        spec.append(("N", "head_norm_out", None))
        spec.append(
            (
                "C",
                "yolo_conv",
                dict(filters=model.yolo_head.filters, kernel=1, act="YOLO", yolo_layer="yolo_head"),
            )
        )
        try:
            _assign_records(dat, spec, get_layer, "yolo_cianna", exact_length=True)
        except ValueError as err:
            if keep_last_norm:
                raise ValueError(
                    f"{err} Note: the backbone of {model.name!r} keeps 'block6_conv5_norm', which "
                    "CIANNA's detectors drop (two group norms cannot follow each other in CIANNA)."
                ) from None
            raise
        return model
    include_top = "predictions_conv" in names
    classes = model.get_layer("predictions_conv").filters if include_top else None
    _assign_records(dat, _darknet19_spec(include_top, classes), model.get_layer, "darknet19", include_top)
    return model


def _describe(dat):
    lines = [
        f"CIANNA network {dat.path or ''}".rstrip(),
        f"  input (W, H, D, C) = {dat.header}, {len(dat.records)} layers, "
        f"{dat.nb_params:,} parameters, {dat.size:,} bytes",
        f"  {'#':>3} {'offset':>9} type  {'output (W,H,D,C)':<22} details",
    ]
    for i, (rec, shape) in enumerate(zip(dat.records, dat.shapes), start=1):
        if rec.kind == "C":
            d = (
                f"conv {rec.nb_filters} x {'x'.join(map(str, rec.f_size))} s{rec.stride} p{rec.padding}"
                + (f" ip{rec.int_padding}" if any(rec.int_padding) else "")
                + f" bias={rec.bias_value:g} drop={rec.dropout:g} {rec.activation}"
            )
            if rec.yolo is not None:
                y = rec.yolo
                d += (
                    f" [boxes={y.nb_box} classes={y.nb_class} params={y.nb_param} fit_dim={y.fit_dim}"
                    f" softmax={y.class_softmax} priors w={y.priors[0].tolist()} h={y.priors[1].tolist()}]"
                )
        elif rec.kind == "P":
            d = (
                f"{rec.pool_type} pool {'global' if rec.global_pool else 'x'.join(map(str, rec.p_size))}"
                f" s{rec.stride} p{rec.padding} {rec.activation}"
            )
        elif rec.kind == "N":
            d = f"group norm size {rec.group_size} ({rec.gamma.size} groups) set_off {rec.set_off} {rec.activation}"
        else:
            d = f"dense {rec.nb_neurons} bias={rec.bias_value:g} drop={rec.dropout:g} {rec.activation}"
        lines.append(f"  {i:>3} {rec.offset:>9} {rec.kind:<5} {str(shape):<22} {d}")
    return "\n".join(lines)


def describe(path):
    """A human-readable table of a CIANNA ``.dat`` file's records (for ``astrozoo cianna-info``)."""
    dat = path if isinstance(path, DatFile) else read_dat(path)
    return _describe(dat)
