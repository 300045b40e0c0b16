"""Decoding across subjects, against the noise, and against the number of repetitions.

- :mod:`~perceptogram.cross_subject.evaluation`: :func:`evaluate_cross_subject`
  (within, leave-one-subject-out and aligned leave-one-subject-out decoding with
  noise ceilings, mean ± SEM over subjects) on :class:`SubjectEpochs`.
- :mod:`~perceptogram.cross_subject.curves`: :func:`repetition_scores`, one
  subject's decoding and map quality against averaged test repetitions.

This package sits above ``data``, ``linear`` and ``evaluate`` (it uses all three)
and below ``pipeline``; the numerical pieces live there (``linear.pooled``,
``linear.alignment``, ``evaluate.noise_ceiling``, ``evaluate.repetitions``).
"""

from perceptogram.cross_subject.curves import repetition_scores
from perceptogram.cross_subject.evaluation import (
    DEFAULT_ALIGNMENT,
    DEFAULT_ALIGNMENT_SPACE,
    PROTOCOLS,
    CrossSubjectResult,
    SubjectEpochs,
    evaluate_cross_subject,
    method_name,
)

__all__ = [
    "DEFAULT_ALIGNMENT",
    "DEFAULT_ALIGNMENT_SPACE",
    "PROTOCOLS",
    "CrossSubjectResult",
    "SubjectEpochs",
    "evaluate_cross_subject",
    "method_name",
    "repetition_scores",
]
