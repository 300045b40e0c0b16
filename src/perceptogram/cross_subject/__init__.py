"""Decoding across subjects, against the noise, and against the number of repetitions.

- :mod:`~perceptogram.cross_subject.evaluation`: :func:`evaluate_cross_subject`
  (within, leave-one-subject-out and aligned leave-one-subject-out decoding with
  noise ceilings, mean ± SEM over subjects) on :class:`SubjectEpochs`;
  :func:`fit_held_out`, the decoders of one held-out subject (what the
  pipeline's ``cross-subject`` stage fits).
- :mod:`~perceptogram.cross_subject.ceilings`: noise ceilings of the test EEG
  and of a decoder, as metric rows.
- :mod:`~perceptogram.cross_subject.curves`: :func:`repetition_scores`, one
  subject's decoding and map quality against averaged test repetitions
  (:func:`decoded_repetition_curve` from single-trial decoded latents).
- :mod:`~perceptogram.cross_subject.trials`: single test trials prepared like
  the averaged features, averaged and decoded.

This package sits above ``data``, ``linear`` and ``evaluate`` (it uses all three)
and below ``pipeline``; the numerical pieces live there (``linear.pooled``,
``linear.alignment``, ``evaluate.noise_ceiling``, ``evaluate.repetitions``).
"""

from perceptogram.cross_subject.ceilings import (
    ceiling_row,
    decoder_ceiling,
    eeg_reliability,
    eeg_rows,
)
from perceptogram.cross_subject.curves import (
    decoded_repetition_curve,
    repetition_scores,
)
from perceptogram.cross_subject.evaluation import (
    DEFAULT_ALIGNMENT,
    DEFAULT_ALIGNMENT_SPACE,
    PROTOCOLS,
    CrossSubjectResult,
    FeatureMap,
    HeldOutFit,
    SubjectEpochs,
    evaluate_cross_subject,
    fit_held_out,
    method_name,
)

__all__ = [
    "DEFAULT_ALIGNMENT",
    "DEFAULT_ALIGNMENT_SPACE",
    "PROTOCOLS",
    "CrossSubjectResult",
    "FeatureMap",
    "HeldOutFit",
    "SubjectEpochs",
    "ceiling_row",
    "decoded_repetition_curve",
    "decoder_ceiling",
    "eeg_reliability",
    "eeg_rows",
    "evaluate_cross_subject",
    "fit_held_out",
    "method_name",
    "repetition_scores",
]
