"""Keras functional builders of the astrozoo zoo, with keras.applications conventions.

Every builder takes ``include_top, weights, input_tensor, input_shape, pooling,
classes, classifier_activation, name`` (where they apply) and returns a
``keras.Model``. ``list_models()`` and ``get_model(name)`` describe the zoo.
"""

from astrozoo.applications.autoencoder import VAE, Autoencoder, autoencoder, vae
from astrozoo.applications.cianna_cnn import asirra_cnn, cianna_cnn, cifar10_cnn
from astrozoo.applications.darknet19 import darknet19
from astrozoo.applications.ddpm import DDPM, ddpm, noise_schedule
from astrozoo.applications.gan import GAN, gan
from astrozoo.applications.lenet5 import lenet5
from astrozoo.applications.priors import kmeans_priors, mean_best_iou
from astrozoo.applications.registry import ModelInfo, create_model, get_model, list_models, register_model
from astrozoo.applications.resnet import resnet, resnet18, resnet34, resnet50
from astrozoo.applications.spectra1d import spectra1d
from astrozoo.applications.unet import unet
from astrozoo.applications.yolo_cianna import YoloCianna, darknet_tiny, yolo_cianna

__all__ = [
    "asirra_cnn",
    "Autoencoder",
    "autoencoder",
    "cianna_cnn",
    "cifar10_cnn",
    "create_model",
    "darknet19",
    "darknet_tiny",
    "ddpm",
    "DDPM",
    "gan",
    "GAN",
    "get_model",
    "kmeans_priors",
    "lenet5",
    "list_models",
    "mean_best_iou",
    "ModelInfo",
    "noise_schedule",
    "register_model",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "spectra1d",
    "unet",
    "vae",
    "VAE",
    "yolo_cianna",
    "YoloCianna",
]
