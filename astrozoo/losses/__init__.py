"""Custom Keras losses of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.losses.galaxy_zoo import (
    DirichletMultinomialLoss,
    MaskedMSE,
    dirichlet_multinomial_log_prob,
    lgamma,
)

__all__ = ["DirichletMultinomialLoss", "MaskedMSE", "dirichlet_multinomial_log_prob", "lgamma"]
