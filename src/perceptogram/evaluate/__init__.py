"""Evaluation with the field's metrics: reconstructions, decoded latents, statistics, tables.

>>> rows = evaluate_reconstructions(recons, ground_truths, subject=1, method="unclip")
>>> rows += evaluate_latents(decoded, true, subject=1, method="ridge / unclip")
>>> print_table(rows); save_table(rows, "run/metrics")
>>> print_comparison(comparison_table(all_subject_rows))
"""

from perceptogram.evaluate.features import FeatureCache
from perceptogram.evaluate.metrics import (
    correlation_distance,
    latent_correlation,
    latent_r2,
    pixcorr,
    pixcorr_and_ssim,
    retrieval_accuracy,
    ssim,
    two_way_identification,
)
from perceptogram.evaluate.networks import (
    DEFAULT_NETWORKS,
    FeatureNetwork,
    Preprocess,
    available_networks,
    get_network,
    register_network,
)
from perceptogram.evaluate.suite import evaluate_latents, evaluate_reconstructions
from perceptogram.evaluate.tables import (
    MetricRow,
    comparison_table,
    load_table,
    print_comparison,
    print_table,
    published_results,
    save_comparison,
    save_table,
    summarize_subjects,
)

__all__ = [
    "DEFAULT_NETWORKS",
    "FeatureCache",
    "FeatureNetwork",
    "MetricRow",
    "Preprocess",
    "available_networks",
    "comparison_table",
    "correlation_distance",
    "evaluate_latents",
    "evaluate_reconstructions",
    "get_network",
    "latent_correlation",
    "latent_r2",
    "load_table",
    "pixcorr",
    "pixcorr_and_ssim",
    "print_comparison",
    "print_table",
    "published_results",
    "register_network",
    "retrieval_accuracy",
    "save_comparison",
    "save_table",
    "ssim",
    "summarize_subjects",
    "two_way_identification",
]
