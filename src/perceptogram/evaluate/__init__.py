"""Evaluation with the field's metrics: reconstructions, decoded latents, statistics, tables.

>>> rows = evaluate_reconstructions(recons, ground_truths, subject=1, method="unclip",
...                                 protocol="perceptogram")
>>> rows += evaluate_latents(decoded, true, subject=1, method="ridge / unclip",
...                          train_mean=Y_train.mean(0), train_std=Y_train.std(0))
>>> print_table(rows); save_table(rows, "run/metrics")
>>> print_comparison(comparison_table(all_subject_rows))
"""

from perceptogram.evaluate.features import FeatureCache
from perceptogram.evaluate.metric_registry import (
    METRICS,
    ImageMetric,
    LatentMetric,
    register_metric,
)
from perceptogram.evaluate.metrics import (
    correlation_distance,
    latent_correlation,
    latent_r2,
    latent_r2_per_image,
    latent_statistics,
    pixcorr,
    pixcorr_and_ssim,
    retrieval_accuracy,
    ssim,
    standardize_latents,
    two_way_identification,
)
from perceptogram.evaluate.networks import (
    DEFAULT_NETWORKS,
    NETWORKS,
    FeatureNetwork,
    Preprocess,
    available_networks,
    get_network,
    register_network,
)
from perceptogram.evaluate.protocols import (
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    EvaluationProtocol,
    available_protocols,
    get_protocol,
    register_protocol,
)
from perceptogram.evaluate.suite import (
    ReconstructionScores,
    evaluate_latents,
    evaluate_reconstructions,
    score_reconstructions,
)
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
    "DEFAULT_PROTOCOL",
    "METRICS",
    "NETWORKS",
    "PROTOCOLS",
    "EvaluationProtocol",
    "FeatureCache",
    "FeatureNetwork",
    "ImageMetric",
    "LatentMetric",
    "MetricRow",
    "Preprocess",
    "ReconstructionScores",
    "available_networks",
    "available_protocols",
    "comparison_table",
    "correlation_distance",
    "evaluate_latents",
    "evaluate_reconstructions",
    "get_network",
    "get_protocol",
    "latent_correlation",
    "latent_r2",
    "latent_r2_per_image",
    "latent_statistics",
    "load_table",
    "pixcorr",
    "pixcorr_and_ssim",
    "print_comparison",
    "print_table",
    "published_results",
    "register_metric",
    "register_network",
    "register_protocol",
    "retrieval_accuracy",
    "save_comparison",
    "save_table",
    "score_reconstructions",
    "ssim",
    "standardize_latents",
    "summarize_subjects",
    "two_way_identification",
]
