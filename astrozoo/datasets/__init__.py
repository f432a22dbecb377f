"""tf.data pipelines for the datasets of the course."""

from astrozoo.datasets._idx import read_idx

__all__ = ["read_idx"]

from astrozoo.datasets.digits import load_digits_28  # noqa: E402

__all__ += ["load_digits_28"]
