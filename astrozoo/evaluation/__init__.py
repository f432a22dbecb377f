"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.plots import (
    SampleGridCallback,
    latent_generation_grid,
    latent_grid_points,
    latent_scatter,
    sample_grid,
)
from astrozoo.evaluation.sample_quality import (
    class_histogram_entropy,
    classifier_confidence,
    feature_extractor,
    frechet_distance,
    quality_table,
    sample_quality,
    train_reference_classifier,
)

__all__ = [
    "SampleGridCallback",
    "class_histogram_entropy",
    "classifier_confidence",
    "feature_extractor",
    "frechet_distance",
    "latent_generation_grid",
    "latent_grid_points",
    "latent_scatter",
    "quality_table",
    "sample_grid",
    "sample_quality",
    "train_reference_classifier",
]
