"""Reading the linear model back into EEG space.

- :mod:`~perceptogram.interpret.design`: attributes measured on the images'
  pixels and the design matrix of the partial-effect maps ("high − low");
- :mod:`~perceptogram.interpret.effects`: partial-effect maps (joint
  regression per channel × time, optionally weighted) and their Freedman-Lane
  cluster test;
- :mod:`~perceptogram.interpret.collinearity`: how far the pictures separate
  their attributes (correlation, VIF, collinear sets);
- :mod:`~perceptogram.interpret.joint`: the F-type Freedman-Lane cluster test
  of several attributes together;
- :mod:`~perceptogram.interpret.labels`: semantic labels from a user table
  (keyed by image path, file name or concept) or the offline ImageNet
  classifier (animal / food / other, with their confidence);
- :mod:`~perceptogram.interpret.groupings`: groups of images by attribute
  (for marginal group contrasts; unsupervised clusters on request);
- :mod:`~perceptogram.interpret.perceptogram`: group means and contrasts,
  negative-part and winner-take-all views, latent directions between groups,
  EEG units, subject averages of the channel × time maps that
  :mod:`perceptogram.linear.patterns` computes (latent-filtered EEG patterns with
  :class:`~perceptogram.linear.patterns.LatentEncoder`, Haufe patterns with
  :func:`~perceptogram.linear.patterns.haufe_patterns`);
- :mod:`~perceptogram.interpret.significance`: cluster permutation tests over
  channel × time;
- :mod:`~perceptogram.interpret.electrodes` and
  :mod:`~perceptogram.interpret.perturb`: mirroring, channel subsets, channel
  importance;
- :mod:`~perceptogram.interpret.timecourse`: time windows and the time-swap
  probe;
- :mod:`~perceptogram.interpret.rsa`: representational similarity over time.
"""

from perceptogram.interpret.collinearity import Collinearity, diagnose
from perceptogram.interpret.design import AttributeDesign, MapSpec, build_design, pixel_attributes
from perceptogram.interpret.clusters import find_clusters
from perceptogram.interpret.effects import EffectFit, fit_effects, freedman_lane_test
from perceptogram.interpret.electrodes import (
    CHANNEL_SUBSETS,
    channel_indices,
    mirror_permutation,
    pattern_energy,
)
from perceptogram.interpret.groupings import (
    Grouping,
    categorical_grouping,
    grouping_from_csv,
    hue_grouping,
    semantic_grouping,
    split_grouping,
)
from perceptogram.interpret.joint import f_map, joint_freedman_lane_test
from perceptogram.interpret.labels import (
    ClassifierLabels,
    LabelTrust,
    classifier_labels,
    covariates_from_table,
    label_trust,
    labels_from_table,
    map_to_groups,
    match_table_keys,
)
from perceptogram.interpret.perceptogram import (
    average_subjects,
    contrast,
    group_means,
    latent_direction,
    negative_part,
    to_eeg_units,
    winner_take_all,
)
from perceptogram.interpret.perturb import (
    ChannelImportance,
    channel_removal_importance,
    channel_scramble_importance,
    mirror_features,
    scramble_channel,
    select_channels,
    subset_quality,
)
from perceptogram.interpret.quality import (
    column_correlation,
    dimension_correlation,
    fit_ridge,
    mean_correlation,
)
from perceptogram.interpret.rsa import rdm, rsa_timecourse
from perceptogram.interpret.significance import (
    ClusterResult,
    channel_time_adjacency,
    group_cluster_test,
    subjects_cluster_test,
)
from perceptogram.interpret.timecourse import (
    QualityCurve,
    TimeSwapResult,
    select_times,
    sliding_window_curve,
    time_swap_probe,
    window_length_curve,
)

__all__ = [
    "AttributeDesign",
    "CHANNEL_SUBSETS",
    "ClassifierLabels",
    "Collinearity",
    "EffectFit",
    "LabelTrust",
    "MapSpec",
    "build_design",
    "classifier_labels",
    "covariates_from_table",
    "diagnose",
    "f_map",
    "find_clusters",
    "fit_effects",
    "freedman_lane_test",
    "joint_freedman_lane_test",
    "label_trust",
    "labels_from_table",
    "map_to_groups",
    "match_table_keys",
    "pixel_attributes",
    "ChannelImportance",
    "ClusterResult",
    "Grouping",
    "QualityCurve",
    "TimeSwapResult",
    "average_subjects",
    "categorical_grouping",
    "channel_indices",
    "channel_removal_importance",
    "channel_scramble_importance",
    "channel_time_adjacency",
    "column_correlation",
    "contrast",
    "dimension_correlation",
    "fit_ridge",
    "group_cluster_test",
    "group_means",
    "grouping_from_csv",
    "hue_grouping",
    "latent_direction",
    "mean_correlation",
    "mirror_features",
    "mirror_permutation",
    "negative_part",
    "pattern_energy",
    "rdm",
    "rsa_timecourse",
    "scramble_channel",
    "select_channels",
    "select_times",
    "semantic_grouping",
    "sliding_window_curve",
    "split_grouping",
    "subjects_cluster_test",
    "subset_quality",
    "time_swap_probe",
    "to_eeg_units",
    "window_length_curve",
    "winner_take_all",
]
