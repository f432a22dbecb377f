"""tf.data pipelines for the datasets of the course."""

from astrozoo.datasets._idx import read_idx

__all__ = ["read_idx"]
