"""The end-to-end pipeline: stages over (subject, latent space) units in a run directory.

``run_pipeline(config, PIPELINE)`` runs data -> features -> fit -> predict ->
reconstruct -> evaluate -> interpret -> report, skipping every unit whose settings
and inputs did not change; see :mod:`perceptogram.pipeline.rundir` for the
bookkeeping and :mod:`perceptogram.pipeline.stages` for what each stage does.
"""

from perceptogram.pipeline.rundir import RunDir, Unit
from perceptogram.pipeline.runner import Pipeline, RunSummary, Stage, run_pipeline

__all__ = ["Pipeline", "RunDir", "RunSummary", "Stage", "Unit", "run_pipeline"]
