"""Keras functional builders of the astrozoo zoo, with keras.applications conventions.

Every builder takes ``include_top, weights, input_tensor, input_shape, pooling,
classes, classifier_activation, name`` (where they apply) and returns a
``keras.Model``. ``list_models()`` and ``get_model(name)`` describe the zoo.
"""

from astrozoo.applications.autoencoder import VAE, Autoencoder, autoencoder, vae
from astrozoo.applications.darknet19 import darknet19
from astrozoo.applications.ddpm import DDPM, ddpm, noise_schedule
from astrozoo.applications.gan import GAN, gan
from astrozoo.applications.lenet5 import lenet5
from astrozoo.applications.registry import ModelInfo, create_model, get_model, list_models, register_model
from astrozoo.applications.resnet import resnet, resnet18, resnet34, resnet50
from astrozoo.applications.spectra1d import spectra1d
from astrozoo.applications.unet import unet

__all__ = [
    "Autoencoder",
    "DDPM",
    "GAN",
    "VAE",
    "autoencoder",
    "ddpm",
    "gan",
    "noise_schedule",
    "unet",
    "vae",
    "ModelInfo",
    "create_model",
    "darknet19",
    "get_model",
    "lenet5",
    "list_models",
    "register_model",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "spectra1d",
]
