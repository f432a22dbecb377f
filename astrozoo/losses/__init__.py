"""Custom Keras losses of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.losses.galaxy_zoo import (
    DirichletMultinomialLoss,
    MaskedMSE,
    dirichlet_multinomial_log_prob,
    lgamma,
)
from astrozoo.losses.yolo import YoloLoss

__all__ = [
    "dirichlet_multinomial_log_prob",
    "DirichletMultinomialLoss",
    "lgamma",
    "MaskedMSE",
    "YoloLoss",
]
