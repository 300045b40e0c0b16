"""What every number in the report means: glossary entries, metric units and N-way.

The report's tables link each metric name to its entry here
(``#glossary-<anchor>``), give it a unit and say against how many test images it
was computed (the N of N-way) and what chance would score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GLOSSARY", "GlossaryEntry", "glossary_anchor", "metric_unit", "n_way_text",
           "data_units_text"]


@dataclass(frozen=True)
class GlossaryEntry:
    """One term of the glossary.

    Attributes
    ----------
    anchor : str
        Fragment id without the ``glossary-`` prefix.
    term : str
    text : str
        Plain text (escaped when rendered).
    """

    anchor: str
    term: str
    text: str


GLOSSARY: tuple[GlossaryEntry, ...] = (
    GlossaryEntry(
        "pixcorr", "PixCorr",
        "Pearson correlation between the pixels (all colour channels, values 0 to 1, both "
        "images resized to the protocol's size) of a reconstruction and the image that was "
        "seen; mean over test images. Range -1 to 1. There is no fixed chance level: "
        "unrelated photographs correlate slightly through shared image statistics, so compare "
        "rows computed under the same protocol."),
    GlossaryEntry(
        "ssim", "SSIM",
        "Structural similarity index of the grayscale images (Gaussian window, sigma 1.5, "
        "data range 1), mean over test images: 1 = identical structure, 0 = none. No fixed "
        "chance level; a flat grey image already scores well above 0 against most photos."),
    GlossaryEntry(
        "two-way", "Two-way identification (AlexNet(2), AlexNet(5), InceptionV3, CLIP, "
        "EffNet-Lite0, latent two-way)",
        "The features of each reconstruction (or each decoded latent) are correlated with "
        "those of all N test images; an image scores the fraction of the N - 1 other images "
        "whose correlation is lower than that of the image that was seen; mean over images. "
        "Chance 0.5 (a coin flip between the seen image and another one), 1 = always closer "
        "to the seen image. Each comparison is between two images, whatever N."),
    GlossaryEntry(
        "retrieval", "Top-k retrieval (zero-shot, N-way)",
        "Each decoded latent ranks the true latents of the N test images by cosine "
        "similarity; a hit when the seen image is among the k most similar (ties count as "
        "misses). The images were never used for training (zero-shot). Chance is k / N, so "
        "the score depends on N: 100-way and 200-way numbers are not comparable. This run "
        "compares latents standardised with the training latents' mean and SD (so that no "
        "dimension wins by its units alone); the published methods compare raw embeddings, "
        "so the comparison table adds rows computed the published way (raw cosine)."),
    GlossaryEntry(
        "latent-r", "latent r",
        "For each latent dimension, the Pearson r across test images between decoded and "
        "true values; mean over dimensions (constant dimensions left out). 0 = no linear "
        "relation, 1 = perfect."),
    GlossaryEntry(
        "latent-r2", "latent R²",
        "For each latent dimension, 1 - (sum of squared errors) / (sum of squares of the "
        "true test values around their mean); mean over dimensions. 1 = perfect, 0 = as good "
        "as predicting each dimension's test mean, below 0 = worse than that. It can be very "
        "negative (e.g. -6.5) while retrieval works: dimensions that hardly vary across the "
        "test images have tiny denominators, so a small offset or the ridge's shrinkage gives "
        "them huge negative values that dominate the mean. Latent r and retrieval are not "
        "affected; read R² per dimension in the CSV."),
    GlossaryEntry(
        "distance", "Correlation distance (EffNet-B1, SwAV)",
        "1 - r between the features of a reconstruction and those of the image that was "
        "seen, mean over images; lower is better (marked ↓), 0 = identical features."),
    GlossaryEntry(
        "n-way", "N-way, chance",
        "N is the number of test images each decoded vector is compared against; chance is "
        "the score of guessing (top-k: k / N; two-way identification: 0.5)."),
    GlossaryEntry(
        "rows", "Rows and distinct images (what N counts)",
        "A row is one input of the decoder: the average of the epochs of one image. With "
        "perceptogram data import --epochs-per-row K, each image's epochs are cut into "
        "groups of up to K, so several rows show the same image (a P300 oddball of 8 images "
        "gives 156 test rows). Retrieval and the latent metrics then compare distinct "
        "images (the decoded latents of one image's rows are averaged, as its epochs are): "
        "their N is the number of distinct images. PixCorr, SSIM and the feature-network "
        "metrics score the reconstruction of every row: their N is the number of rows, and "
        "rows of one image are not independent samples."),
    GlossaryEntry(
        "sem", "mean ± SEM",
        "Mean over subjects and the standard error of that mean (SD over subjects / "
        "square root of their number); no SEM for a single subject."),
    GlossaryEntry(
        "data-units", "Data units",
        "Perceptogram maps are in the units of the EEG they come from. Real recordings "
        "stored in volts are shown in microvolts (µV). The official THINGS-EEG2 files are "
        "MVNN-whitened by the dataset's authors (multivariate noise normalisation: the "
        "channels are multiplied by the inverse square root of the noise covariance), so they "
        "are unitless, 1 being about one noise standard deviation. Simulated data are in the "
        "simulator's units (single-trial noise SD = 1)."),
    GlossaryEntry(
        "partial-effect", "Partial effect, group contrast",
        "A partial effect is the coefficient of one attribute when the EEG at every channel "
        "and time is regressed on all image attributes at once, scaled to a high − low "
        "difference: the attribute's effect with the others held fixed. A group contrast is "
        "the mean of one group of images minus another (marginal: it absorbs the effects of "
        "correlated attributes)."),
    GlossaryEntry(
        "cluster-test", "Cluster permutation test",
        "Channel × time samples whose statistic passes p < 0.05 are joined with their "
        "neighbours in space and time into clusters; each cluster's mass is compared with "
        "the largest cluster masses of permuted data (Freedman-Lane for partial effects: "
        "residuals of the other attributes permuted; group contrasts: image labels "
        "shuffled). A cluster with p < 0.05 is significant, family-wise over the whole map. "
        "Sensors inside a significant cluster are open rings on scalp maps (small dots: the "
        "others); on channel × time maps significant clusters are outlined, and samples "
        "outside them are faded."),
    GlossaryEntry(
        "vif", "VIF, correlation matrix, collinear attributes",
        "The variance inflation factor of an attribute is 1 / (1 - R²) of its design column "
        "regressed on all the other attributes (for hue and semantic, which have several "
        "columns, the generalised VIF of Fox & Monette (1992) raised to 1 / (number of "
        "columns)). 1 = unrelated to the others; the standard error of its partial effect "
        "grows by the square root of the VIF. Attributes with a VIF above 4 are collinear "
        "(interpret.collinearity.VIF_THRESHOLD: above it the standard error is more than "
        "twice that of uncorrelated attributes; see docs/perceptograms.md). The correlation "
        "matrix is the Pearson r between the design columns over the test images."),
    GlossaryEntry(
        "joint-test", "Joint test of collinear attributes",
        "An F test of all the columns of a collinear set together, at every channel and "
        "time, with the other attributes held fixed, and a cluster permutation test of the "
        "F map (Freedman-Lane). It answers the question the pictures can answer: does any "
        "of these attributes change the EEG? When it finds a cluster and no partial map "
        "does, there is an effect and these pictures cannot tell which attribute carries "
        "it; the marginal maps (each attribute alone) show what goes with each."),
    GlossaryEntry(
        "noise-ceiling", "Noise ceiling (latent r ceiling, EEG reliability)",
        "How good a score could be given the noise of the test EEG. The test repetitions of "
        "every picture are split at random into two halves (many times) and the two "
        "half-averages correlated across pictures: the split-half r (the dataset authors' "
        "lower bound), corrected to the reliability of the full average by Spearman-Brown "
        "(2r / (1 + r)). Its square root is the highest r any model can reach against the "
        "observed average. Applied to a decoder's single-trial outputs it gives the latent r "
        "that decoder cannot exceed (latent r ceiling); applied to the EEG, the reliability "
        "of each channel and time sample. Two-way identification and retrieval have no "
        "ceiling derivable this way (rank statistics); the repetition curve shows how they "
        "grow with repetitions instead."),
    GlossaryEntry(
        "leave-one-subject-out", "Within-subject, leave-one-subject-out, alignment",
        "Within-subject: a decoder trained and tested on one subject. Leave-one-subject-out: "
        "trained on the other subjects' training pictures, tested on a subject never seen. "
        "Alignment maps each subject's channels onto a shared space fitted on the training "
        "pictures (the held-out subject's map from its own training data only), since the "
        "same sources reach the electrodes differently in different heads."),
    GlossaryEntry(
        "perceptogram", "Perceptogram",
        "A test image's decoded latent pushed back through an encoding ridge (latents to "
        "EEG): the EEG pattern the decoder reads as that image."),
    GlossaryEntry(
        "perceptogram-test", "Cluster tests of perceptograms",
        "A perceptogram map is the same regression run on the perceptograms instead of the "
        "test EEG. Perceptograms are a low-rank projection: every channel and time is a "
        "weighted sum of the same few decoded latent dimensions, so their residuals are "
        "smooth over channels and time, and when the decoded latents differ at all between "
        "high and low images, nearly every sample differs with them. A significant cluster "
        "there means that the decoder's projection of the test EEG differs between the "
        "images (the decoder reads the attribute), not that the brain's response differs at "
        "those channels and times: for that, read the test-EEG maps."),
)

_TOP_K = re.compile(r"^top-(\d+)\b")
#: Feature-network metrics of the field's tables, by kind.
_NETWORKS = {"AlexNet(2)": "two-way", "AlexNet(5)": "two-way", "InceptionV3": "two-way",
             "CLIP": "two-way", "EffNet-Lite0": "two-way", "EffNet-B1": "distance",
             "SwAV": "distance"}


def _is_two_way(metric: str, chance: float | None) -> bool:
    return chance == 0.5 and not _TOP_K.match(metric)


def glossary_anchor(metric: str, chance: float | None = None,
                    higher_is_better: bool = True) -> str:
    """Glossary anchor of a metric (without the ``glossary-`` prefix), or ``""``."""
    if _TOP_K.match(metric):
        return "retrieval"
    named = {"PixCorr": "pixcorr", "SSIM": "ssim", "latent r": "latent-r",
             "latent R2": "latent-r2", "latent two-way": "two-way", **_NETWORKS,
             "latent r ceiling": "noise-ceiling", "EEG reliability (median)": "noise-ceiling",
             "EEG reliability (max)": "noise-ceiling",
             "EEG split-half r (median)": "noise-ceiling"}
    if metric in named:
        return named[metric]
    if _is_two_way(metric, chance):
        return "two-way"
    if not higher_is_better:
        return "distance"
    return ""


def metric_unit(metric: str, chance: float | None = None,
                higher_is_better: bool = True) -> str:
    """Unit of a metric's values as the tables show them."""
    anchor = glossary_anchor(metric, chance, higher_is_better)
    return {"retrieval": "fraction of images", "pixcorr": "Pearson r", "ssim": "SSIM index",
            "latent-r": "Pearson r", "latent-r2": "R² (≤ 1)", "noise-ceiling": "r (≤ 1)",
            "two-way": "fraction of pairs", "distance": "1 − r"}.get(anchor, "")


def n_way_text(metric: str, n_images: int, chance: float | None = None,
               counted: str = "images") -> str:
    """What N the metric was computed against, e.g. ``"100-way"``.

    Parameters
    ----------
    metric : str
    n_images : int
        N.
    chance : float or None
    counted : str
        What N counts: ``"images"``, or ``"rows"`` / ``"distinct images"`` when
        several test rows show one image.
    """
    if not n_images:
        return "–"
    if _TOP_K.match(metric):
        return f"{n_images}-way" + ("" if counted == "images" else f" ({counted})")
    if _is_two_way(metric, chance):
        return f"2-way, {n_images} {counted}"
    return f"{n_images} {counted}"


def data_units_text(kind: str, unit: str) -> str:
    """One sentence on the data units of this run (``kind``: the dataset kind)."""
    return f"This run's maps ({kind} data) are in: {unit}."
