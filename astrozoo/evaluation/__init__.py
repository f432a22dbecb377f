"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.confusion import ConfusionMatrix, confusion_matrix
from astrozoo.evaluation.detection_map import average_precision, coco_map, voc_map
from astrozoo.evaluation.occlusion import occlusion_map, plot_occlusion
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
from astrozoo.evaluation.sliding_window import sliding_window_detect, window_grid

__all__ = [
    "average_precision",
    "class_histogram_entropy",
    "classifier_confidence",
    "coco_map",
    "confusion_matrix",
    "ConfusionMatrix",
    "feature_extractor",
    "frechet_distance",
    "latent_generation_grid",
    "latent_grid_points",
    "latent_scatter",
    "occlusion_map",
    "plot_occlusion",
    "quality_table",
    "sample_grid",
    "sample_quality",
    "SampleGridCallback",
    "sliding_window_detect",
    "train_reference_classifier",
    "voc_map",
    "window_grid",
]
