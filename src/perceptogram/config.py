"""Run configuration: pydantic models, YAML in and out, helpful errors.

One YAML file describes a whole run (dataset, subjects, time window, latent spaces,
decoder, reconstruction, metrics, interpretability maps, output directory). Every
model forbids unknown keys, so a typo is an error that names the offending key
path (``decoder.alphas: ...``) instead of a silently ignored setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perceptogram._hashing import json_digest
from perceptogram._io import write_text_atomic
from perceptogram._registry import PluginError, check_plugins, unknown_name
from perceptogram._yaml import read_strict_yaml
from perceptogram.data.formats.base import available_datasets
from perceptogram.errors import ConfigError, PerceptogramError
from perceptogram.evaluate.metric_registry import DEFAULT_RANKING_METRIC, image_metrics
from perceptogram.evaluate.networks import available_networks
from perceptogram.evaluate.protocols import PROTOCOLS
from perceptogram.latents.base import LATENT_SPACES, available_latent_spaces
from perceptogram.reconstruct.base import DEFAULT_METHODS, MAX_SEED, METHODS, method_spec
from perceptogram.reconstruct.memory import resolve_memory_options

__all__ = [
    "ConfigError",
    "Config",
    "DatasetConfig",
    "SimulationConfig",
    "LatentsConfig",
    "DecoderConfig",
    "ReconstructionConfig",
    "MetricsConfig",
    "InterpretabilityConfig",
    "EvaluationConfig",
    "CrossSubjectConfig",
    "load_config",
    "make_config",
    "config_to_dict",
    "save_config",
    "default_config_yaml",
    "settings_hash",
]


#: Largest configuration file read (a run's configuration is a few kilobytes).
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of YAML collections in a configuration file.
MAX_CONFIG_DEPTH = 32
#: Upper bound of bootstrap resamples and permutations.
MAX_RESAMPLES = 100_000
#: Largest subject number (folders are ``sub-01`` ... ``sub-999``).
MAX_SUBJECT = 999
#: Upper bounds of a simulated dataset, per subject.
MAX_SIMULATED_IMAGES = 200_000
MAX_SIMULATED_TRIALS = 2_000_000
#: Largest ridge penalty (float32 arithmetic overflows beyond ~3e38).
MAX_ALPHA = 1e30
#: Largest topomap time, milliseconds (an epoch is at most seconds long).
MAX_TIME_MS = 1e6

# A registry name becomes a folder name: one path component, no leading dot.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def _latent_space_names() -> list[str]:
    return available_latent_spaces()


def _network_names() -> list[str]:
    return available_networks()


def _protocol_names() -> list[str]:
    return PROTOCOLS.names()


def _method_names() -> list[str]:
    return METHODS.names()


def _image_metric_names() -> list[str]:
    return [metric.name for metric in image_metrics()]


def _method_spec(name: str):
    return method_spec(name)


def _default_methods() -> list[str]:
    return list(DEFAULT_METHODS)


def _default_ranking_metric() -> str:
    return DEFAULT_RANKING_METRIC


def _registered(names: list[str], kind: str, available: Callable[[], list[str]]) -> list[str]:
    """Check that every name is registered (and safe as a folder name) before any use.

    Names from a configuration become folder names in the run directory, so one
    that is not registered (``../../victim``, ``/abs/path``) is refused here, when
    the configuration is loaded, before anything touches the disk.
    """
    bad = [name for name in names if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a valid {kind} name")
    known = sorted(available()) if names else []
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(str(unknown_name(kind, unknown, known)))
    return names


def _latent_space_factory(name: str) -> Callable[..., Any]:
    return LATENT_SPACES.get(name)


def _check_keywords(where: str, factory: Callable[..., Any], options: dict[str, Any]) -> None:
    """Refuse options that ``factory`` does not take (a typo is an error, not a TypeError)."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read: the factory checks itself
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = sorted(n for n, p in parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self")
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{where}: unknown option{'s' * (len(unknown) > 1)} "
                         f"{', '.join(map(repr, unknown))}; it takes: "
                         f"{', '.join(accepted) or 'none'}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              allow_inf_nan=False)


class SimulationConfig(_Section):
    """Sizes of a simulated THINGS-EEG2-style dataset."""

    n_subjects: int = Field(2, ge=1, le=100, description="Number of simulated subjects.")
    n_train_concepts: int = Field(
        150, ge=2, le=20_000, description="Training concepts (the unit of cross-validation)."
    )
    images_per_concept: int = Field(
        8, ge=1, le=100, description="Training images per concept (THINGS-EEG2: 10)."
    )
    n_test_concepts: int = Field(
        50, ge=2, le=10_000, description="Test concepts, one image each (THINGS-EEG2: 200)."
    )
    n_train_repetitions: int = Field(
        4, ge=1, le=1000, description="Repetitions per training image.")
    n_test_repetitions: int = Field(
        20, ge=1, le=1000, description="Repetitions per test image.")
    image_size: int = Field(
        64, ge=64, le=1024, description="Side of the square stimuli, pixels (>= 64 so that "
        "the texture pattern is resolved)."
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the simulation.")
    subject_mixing: float = Field(
        0.0, ge=0.0, le=10.0, description="Each subject's own channel mixing (0: every subject "
        "sees the sources through the same head; 1 keeps about 60 % of each channel; 2 "
        "scrambles the channels): what cross-subject alignment must undo."
    )
    subject_noise_spread: float = Field(
        0.0, ge=0.0, le=2.0, description="Spread of the subjects' noise levels (each "
        "subject's noise is multiplied by exp(N(0, spread^2)))."
    )

    @model_validator(mode="after")
    def _bounded_totals(self) -> SimulationConfig:
        images = self.n_train_concepts * self.images_per_concept + self.n_test_concepts
        trials = (self.n_train_concepts * self.images_per_concept * self.n_train_repetitions
                  + self.n_test_concepts * self.n_test_repetitions)
        if images > MAX_SIMULATED_IMAGES or trials > MAX_SIMULATED_TRIALS:
            raise ValueError(
                f"the simulation is too large ({images:,} images, {trials:,} trials per "
                f"subject; at most {MAX_SIMULATED_IMAGES:,} and {MAX_SIMULATED_TRIALS:,}); "
                "THINGS-EEG2 itself has 16,740 images and 82,160 trials per subject"
            )
        return self


class DatasetConfig(_Section):
    """Where the EEG and images come from."""

    kind: str = Field(
        "simulated",
        description=(
            "'simulated' (offline, planted ground truth), 'auto' (detect the format of "
            "'path'), or a dataset format: things-eeg2, nice, mne (perceptogram list)."
        ),
    )
    path: Path | None = Field(
        None,
        description=(
            "Data folder. Required unless simulated; for simulated, where to write the "
            "dataset (default: <output>/data/things)."
        ),
    )
    images_path: Path | None = Field(
        None,
        description=(
            "Folder of image_metadata.npy and the image folders when they are not found "
            "from 'path' (the dataset authors' two-root layout: image_set/)."
        ),
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the dataset format, e.g. {image_table: my.csv} for mne.",
    )
    simulation: SimulationConfig = Field(
        default_factory=SimulationConfig, description="Sizes of the simulated dataset."
    )

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, kind: str) -> str:
        if kind in ("simulated", "auto"):
            return kind

        names = available_datasets()
        if kind not in names:
            raise ValueError(str(unknown_name("dataset kind", kind,
                                              ["simulated", "auto", *names])))
        return kind

    @model_validator(mode="after")
    def _path_for_real_data(self) -> DatasetConfig:
        if self.kind != "simulated" and self.path is None:
            raise ValueError(f"a {self.kind} dataset needs 'path' (the data folder)")
        return self


class LatentsConfig(_Section):
    """Latent spaces the EEG is decoded into."""

    spaces: list[str] = Field(
        default_factory=lambda: ["effnet", "pca", "attributes"],
        min_length=1,
        description="Latent spaces (`perceptogram list` names them, with what each needs).",
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Images per encoding batch.")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Keyword arguments per latent space, e.g. {pca: {n_components: 64}}.",
    )

    @field_validator("spaces")
    @classmethod
    def _unique(cls, spaces: list[str]) -> list[str]:
        if len(set(spaces)) != len(spaces):
            raise ValueError(f"latent spaces must be unique, got {spaces}")
        return _registered(spaces, "latent space", _latent_space_names)

    @model_validator(mode="after")
    def _options_for_listed(self) -> LatentsConfig:
        extra = sorted(set(self.options) - set(self.spaces))
        if extra:
            raise ValueError(f"options given for latent spaces not in 'spaces': {extra}")
        for name, options in self.options.items():
            _check_keywords(f"latents.options.{name}", _latent_space_factory(name), options)
        return self


class DecoderConfig(_Section):
    """The ridge decoder (EEG -> latent), alpha chosen on training data only."""

    alphas: list[float] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Grid of ridge penalties searched by cross-validation (null: the default "
        "grid, 1e-1 to 1e7 one per decade, extended and searched again once when more "
        "than 5 % of the latent dimensions choose its smallest or largest value).",
    )
    cv: Literal["loo", "group"] = Field(
        "group",
        description="'group': K-fold keeping each concept in one fold; 'loo': leave-one-out.",
    )
    n_splits: int = Field(5, ge=2, le=1000, description="Folds for cv: group.")
    alpha_per_target: bool = Field(True, description="Choose one alpha per latent dimension.")
    rescale: Literal["none", "train", "transductive"] = Field(
        "none",
        description=(
            "Rescale decoded latents: 'none' (default) keeps the ridge's predictions as "
            "they are; 'train' to training-latent statistics; "
            "'transductive' with the test batch's own statistics (as the reference code; "
            "named in the report)."
        ),
    )

    @field_validator("alphas")
    @classmethod
    def _positive(cls, alphas: list[float] | None) -> list[float] | None:
        if alphas is None:
            return None
        bad = [a for a in alphas if not 0 < a <= MAX_ALPHA]
        if bad:
            raise ValueError(f"alphas must be positive and at most {MAX_ALPHA:g}, got {bad[:5]}")
        return alphas


class ReconstructionConfig(_Section):
    """How decoded latents become images."""

    methods: list[str] = Field(
        default_factory=_default_methods,
        description=(
            "Reconstruction methods: offline ones and generators (`perceptogram list` names "
            "them, with what each needs)."
        ),
    )
    retrieval_space: str = Field(
        "effnet", description="Latent space of the training-image gallery: it drives "
        "nearest-image retrieval, and the report headlines its zero-shot retrieval."
    )
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "Options per method, e.g. {kandinsky22: {steps: 50}} (each method's options and "
            "defaults: `perceptogram list`); a section named after a method directly under "
            "reconstruction (older configurations) is read as its options."
        ),
    )
    memory: Literal["auto"] | dict[str, Any] = Field(
        "auto",
        description=(
            "GPU memory options of the generators: 'auto' (from free GPU memory; none on "
            "CPU) or {attention_slicing, vae_slicing, vae_tiling, offload: none|model|"
            "sequential, batch_size}."
        ),
    )

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        return _registered(methods, "reconstruction method", _method_names)

    @field_validator("memory")
    @classmethod
    def _memory(cls, memory: str | dict[str, Any]) -> str | dict[str, Any]:
        if memory != "auto":
            try:
                resolve_memory_options(memory, "cpu", 0.0, 0.0)
            except PerceptogramError as exc:
                raise ValueError(str(exc)) from None
        return memory

    def method_options(self, name: str) -> dict[str, Any]:
        """Options of method ``name`` as its factory takes them (validated, defaults filled).

        Raises
        ------
        pydantic.ValidationError
        """
        return _method_spec(name).options(self.options.get(name, {}))

    #: The former name of :meth:`method_options`.
    generator_options = method_options

    def method_space(self, name: str) -> str:
        """The latent space whose decoded vectors drive method ``name``."""
        return _method_spec(name).space(self.options.get(name, {}), self.retrieval_space)


class MetricsConfig(_Section):
    """Evaluation settings."""

    networks: list[str] = Field(
        default_factory=lambda: ["effnet-lite0"],
        description="Feature networks for high-level metrics; unavailable ones are skipped.",
    )
    image_size: int | None = Field(
        None, ge=16, le=4096, description="Override of the protocol's side for the image metrics (None: "
        "the protocol's, 425 px for mindeye, 512 px for perceptogram)."
    )
    protocol: str = Field(
        "mindeye", description="Evaluation protocol (mindeye: image metrics at 425 px, AlexNet 256, "
        "Inception 342; perceptogram: 512 px, networks at 224); named in every metrics row."
    )
    n_seeds: int = Field(
        1, ge=1, le=100, description="Generation seeds whose reconstructions are scored and "
        "averaged per image (each generator writes one seed-<k> folder per seed when > 1; "
        "offline methods are deterministic)."
    )
    standardize_latents: bool = Field(
        True, description="Z-score every latent dimension with the TRAINING latents' mean and "
        "SD (constant ones dropped) before retrieval and latent two-way identification."
    )
    best_worst_metric: str = Field(
        default_factory=_default_ranking_metric,
        description="Per-image metric that orders the best/median/worst grid (an image "
        "metric: `perceptogram list`).",
    )
    center_latents: bool = Field(
        True,
        description="Centre decoded and candidate latents on the TRAINING latents' mean before "
        "cosine retrieval (non-negative CNN features are otherwise dominated by their mean).",
    )
    n_boot: int = Field(1000, ge=10, le=MAX_RESAMPLES,
                        description="Bootstrap resamples for confidence intervals.")
    n_permutations: int = Field(
        1000, ge=10, le=MAX_RESAMPLES, description="Permutations for p-values against chance."
    )

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, protocol: str) -> str:
        return _registered([protocol], "evaluation protocol", _protocol_names)[0]

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, networks: list[str]) -> list[str]:
        return _registered(networks, "feature network", _network_names)

    @field_validator("best_worst_metric")
    @classmethod
    def _known_image_metric(cls, metric: str) -> str:
        return _registered([metric], "image metric", _image_metric_names)[0]


class InterpretabilityConfig(_Section):
    """Perceptograms: latent-filtered EEG patterns per attribute."""

    space: str = Field(
        "effnet", description="Latent space whose decoded vectors are read back as EEG maps."
    )
    attributes: list[Literal["hue", "texture", "brightness", "semantic"]] = Field(
        default_factory=lambda: ["hue", "texture", "brightness", "semantic"],
        min_length=1,
        description="Attributes to map (groupings of the test images).",
    )
    n_clusters: int = Field(2, ge=2, le=1000, description="Clusters of the semantic grouping.")
    times_ms: list[float] = Field(
        default_factory=lambda: [float(t) for t in range(0, 600, 20)],
        min_length=1,
        max_length=1000,
        description="Topomap times in milliseconds.",
    )

    @field_validator("times_ms")
    @classmethod
    def _bounded_times(cls, times: list[float]) -> list[float]:
        bad = [t for t in times if abs(t) > MAX_TIME_MS]
        if bad:
            raise ValueError(f"times_ms must lie within +-{MAX_TIME_MS:g} ms, got {bad[:5]}")
        return times
    n_permutations: int = Field(
        1000, ge=0, le=MAX_RESAMPLES,
        description="Permutations for cluster significance (0: no test, and no peak is "
        "reported).",
    )
    figure_formats: list[Literal["png", "svg", "pdf"]] = Field(
        default_factory=lambda: ["png", "svg"],
        description="Formats of the figures (the report embeds the PNG, always written).",
    )
    encoder_alpha: float = Field(
        1e3, gt=0.0, description="Ridge penalty of the latent -> EEG encoder."
    )
    method: Literal["partial", "contrast"] = Field(
        "partial",
        description="'partial': every attribute's effect estimated jointly (regression of "
        "the test EEG and of the perceptograms on all attributes); 'contrast': marginal "
        "group contrasts (one attribute at a time, confounded by correlated attributes).",
    )
    preset: Literal["default", "paper"] = Field(
        "default",
        description="'paper': the published recipe (transductive rescaling of decoded "
        "latents, groups from decoded latents, Ward clusters for semantics, group "
        "contrasts); marked transductive in the report. 'default' is leakage-free.",
    )
    attribute_spaces: dict[str, str] = Field(
        default_factory=dict,
        description="Latent space of each attribute's perceptogram map, e.g. {semantic: "
        "effnet}; default: attributes/pca for low-level attributes, unclip/effnet for "
        "semantic, else 'space'.",
    )
    labels: Path | None = Field(
        None,
        description="CSV/TSV of image file or concept -> category (long format, or the "
        "THINGS 0/1 wide format) for the semantic groups; null: EfficientNet-Lite0 "
        "ImageNet classifier -> animal/food/other.",
    )
    semantic_groups: list[str] = Field(
        default_factory=lambda: ["animal", "food"], min_length=1,
        description="Label groups mapped against the rest ('other').",
    )
    semantic_source: Literal["labels", "cluster"] = Field(
        "labels",
        description="'labels' (table or classifier) or 'cluster' (unsupervised Ward "
        "clusters of the semantic space's test latents, named 'unsupervised cluster').",
    )
    covariates: Path | None = Field(
        None,
        description="CSV/TSV of image file or concept -> numeric columns, added to the "
        "design and mapped 'high − low' (partial method).",
    )

    @field_validator("figure_formats")
    @classmethod
    def _png_first(cls, formats: list[str]) -> list[str]:
        return ["png", *[f for f in dict.fromkeys(formats) if f != "png"]]

    @field_validator("semantic_groups")
    @classmethod
    def _plain_group_names(cls, groups: list[str]) -> list[str]:
        import re

        bad = [g for g in groups if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_ .\-]{0,63}", g)]
        if bad or len({g.lower() for g in groups}) != len(groups) or "other" in {
                g.lower() for g in groups}:
            raise ValueError(f"semantic_groups must be distinct plain names (letters, digits, "
                             f"spaces, '_', '-', '.'; not 'other'), got {groups}")
        return groups

    @field_validator("attribute_spaces")
    @classmethod
    def _known_attributes(cls, spaces: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(spaces) - {"hue", "texture", "brightness", "semantic"})
        if unknown:
            raise ValueError(f"attribute_spaces: unknown attributes {unknown} (hue, texture, "
                             "brightness, semantic)")
        return spaces


class CrossSubjectConfig(_Section):
    """Leave-one-subject-out decoding: train on the other subjects, test on one never seen."""

    enabled: bool = Field(
        False, description="Decode every subject with a decoder pooled over the other subjects "
        "(needs at least 2 subjects who saw the same training pictures), without and with "
        "alignment, beside the within-subject decoder."
    )
    alignment: Literal["procrustes", "ridge", "none"] = Field(
        "procrustes", description="Map of each subject onto a shared space, fitted on the "
        "training pictures (the held-out subject's from its own training data only): "
        "'procrustes' (orthogonal, pulled towards the identity; won on held-out simulated "
        "subjects), 'ridge' (any linear map), 'none' (only the unaligned decoder)."
    )
    alignment_space: Literal["channels", "features"] = Field(
        "channels", description="'channels': one channel x channel map at every time sample "
        "(default); 'features': a full map of the flattened features (needs many more "
        "pictures than features; slow)."
    )


class EvaluationConfig(_Section):
    """Noise ceilings, repetition curves and decoding across subjects."""

    noise_ceilings: bool = Field(
        True, description="Split-half reliability of every subject's test EEG over its "
        "repetitions, and the latent-r ceiling it implies for each decoder, beside every score."
    )
    ceiling_splits: int = Field(
        100, ge=2, le=10_000, description="Random split halves of the test repetitions "
        "averaged by the noise ceilings."
    )
    repetition_curve: bool = Field(
        True, description="Decoding and map quality against the number of averaged test "
        "repetitions (1, 2, 4, ... all), with bootstrap bands."
    )
    repetition_draws: int = Field(
        10, ge=1, le=1000, description="Random draws of the repetitions at each level of the "
        "repetition curve."
    )
    cross_subject: CrossSubjectConfig = Field(
        default_factory=CrossSubjectConfig, description="Leave-one-subject-out decoding."
    )


class Config(_Section):
    """A whole run."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Data source.")
    subjects: list[int] | None = Field(
        None, description="Subjects to process (1-based); null for all on disk."
    )
    tmin: float = Field(0.0, description="Window start, seconds (inclusive).")
    tmax: float = Field(0.8, description="Window end, seconds (exclusive).")
    repetitions: int | None = Field(
        None, ge=1, le=10_000, description="Average only the first N repetitions (null: all)."
    )
    channels: list[str] | None = Field(None, min_length=1, max_length=4096,
                                       description="Channel subset by name (null: all).")
    latents: LatentsConfig = Field(default_factory=LatentsConfig, description="Latent spaces.")
    decoder: DecoderConfig = Field(default_factory=DecoderConfig, description="Ridge decoder.")
    reconstruction: ReconstructionConfig = Field(
        default_factory=ReconstructionConfig, description="Reconstruction."
    )
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Metrics.")
    interpretability: InterpretabilityConfig = Field(
        default_factory=InterpretabilityConfig, description="Perceptograms."
    )
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig,
        description="Noise ceilings, repetition curves, decoding across subjects.",
    )
    output: Path = Field(Path("perceptogram-run"), description="Run directory.")
    device: str = Field("cpu", description="'cpu' or 'cuda' (or 'cuda:N').")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of every random step.")
    jobs: int | None = Field(
        None, ge=1, le=1024,
        description="Subjects in parallel processes (null: memory-aware default).",
    )
    plugins: list[str] = Field(
        default_factory=list, max_length=100,
        description="Installed plugins this run needs (packages declaring perceptogram.* "
        "entry points, e.g. [my-lab-spaces]); checked, never imported by name.",
    )

    @field_validator("subjects")
    @classmethod
    def _subjects(cls, subjects: list[int] | None) -> list[int] | None:
        if subjects is None:
            return None
        if not subjects:
            raise ValueError("give at least one subject, or null for all")
        if any(not 1 <= s <= MAX_SUBJECT for s in subjects) or len(set(subjects)) != len(subjects):
            raise ValueError(
                f"subjects must be unique integers from 1 to {MAX_SUBJECT}, got {subjects}")
        return sorted(subjects)

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugins(cls, plugins: Any) -> list[str]:
        """Installed plugins the run needs: checked against metadata, nothing imported."""
        if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
            raise ValueError("plugins must be a list of names of installed plugins")

        try:
            return check_plugins(plugins)
        except PluginError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d{1,3})?", device):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device[:40]!r}")
        return device

    @model_validator(mode="before")
    @classmethod
    def _method_sections(cls, data: Any) -> Any:
        """Read ``reconstruction.<method>:`` sections (older configurations) as options.

        A section named after a registered method is that method's options: merged
        into ``reconstruction.options.<method>`` when the method runs; otherwise only
        the values the method shares with latent spaces (e.g. the model) are kept,
        as those spaces' option defaults, as before.
        """
        reconstruction = data.get("reconstruction") if isinstance(data, dict) else None
        if not isinstance(reconstruction, dict):
            return data
        sections = [key for key in reconstruction if isinstance(key, str)
                    and key not in ReconstructionConfig.model_fields
                    and _SAFE_NAME.fullmatch(key) and key in _method_names()]
        if not sections:
            return data
        data = {**data, "reconstruction": dict(reconstruction)}
        methods = data["reconstruction"].get("methods", _default_methods())
        for method in sections:
            section = data["reconstruction"].pop(method)
            options = _legacy_options(method, section)
            if isinstance(methods, list) and method in methods:
                _merge_options(data["reconstruction"], method, options)
            else:
                _shared_defaults(data, method, options)
        return data

    @model_validator(mode="after")
    def _subjects_to_leave_out(self) -> Config:
        if self.evaluation.cross_subject.enabled and self.subjects is not None \
                and len(self.subjects) < 2:
            raise ValueError("evaluation.cross_subject needs at least 2 subjects (it trains on "
                             "the others and tests on one never seen); list 2 or more in "
                             "'subjects', or null for all")
        return self

    @model_validator(mode="after")
    def _window_and_methods(self) -> Config:
        if not self.tmax > self.tmin:
            raise ValueError(f"tmax ({self.tmax}) must be greater than tmin ({self.tmin})")
        if self.interpretability.space not in self.latents.spaces:
            raise ValueError(
                f"interpretability.space {self.interpretability.space!r} is not in "
                "latents.spaces"
            )
        # Checked whether or not a method uses it: a name is never kept unchecked.
        _registered([self.reconstruction.retrieval_space], "reconstruction.retrieval_space",
                    _latent_space_names)
        bad = {a: s for a, s in self.interpretability.attribute_spaces.items()
               if s not in self.latents.spaces}
        if bad:
            raise ValueError(f"interpretability.attribute_spaces names latent spaces that "
                             f"are not in latents.spaces: {bad}")
        self._check_methods()
        return self

    def _check_methods(self) -> None:
        """Every method's options are valid, its latent spaces decoded and in agreement."""
        reconstruction = self.reconstruction
        extra = sorted(set(reconstruction.options) - set(reconstruction.methods))
        if extra:
            raise ValueError(f"reconstruction.options given for methods not in 'methods': {extra}")
        for method in reconstruction.methods:
            try:
                options = reconstruction.method_options(method)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                raise ValueError(f"reconstruction.options.{method}: {problems}") from None
            space = reconstruction.method_space(method)
            if space not in self.latents.spaces:
                raise ValueError(
                    f"reconstruction method {method!r} needs {space!r} in latents.spaces"
                )
            for space, pairs in _method_spec(method).shared_options.items():
                for latent_key, method_key in pairs.items():
                    given = self.latents.options.get(space, {}).get(latent_key)
                    if given is not None and str(given) != str(options[method_key]):
                        raise ValueError(
                            f"latents.options.{space}.{latent_key} ({given!r}) differs from the "
                            f"{method} method's {method_key} ({options[method_key]!r}); "
                            "the decoded latents must come from the encoder it expects (leave "
                            "the latent option out: it follows the method's)"
                        )

    def latent_options(self, space: str) -> dict[str, Any]:
        """Keyword arguments of latent space ``space`` in this run.

        ``latents.options.<space>`` over the values the run's reconstruction methods
        share with the space (e.g. the unCLIP model and image size), so that the
        decoded latents are those the method reconstructs from.
        """
        defaults: dict[str, Any] = {}
        for method in self.reconstruction.methods:
            pairs = _method_spec(method).shared_options.get(space, {})
            if pairs:
                options = self.reconstruction.method_options(method)
                defaults.update({key: options[option] for key, option in pairs.items()})
        return {**defaults, **self.latents.options.get(space, {})}

    def data_root(self) -> Path:
        """Folder of the THINGS-EEG2-layout dataset this run reads."""
        if self.dataset.path is not None:
            return Path(self.dataset.path)
        return Path(self.output) / "data" / "things"


def _legacy_options(method: str, section: Any) -> dict[str, Any]:
    """A ``reconstruction.<method>`` section, validated by the method's options model."""
    if not isinstance(section, dict):
        raise ValueError(f"reconstruction.{method} must be a mapping of {method} options")
    try:
        _method_spec(method).options(section)
    except ValidationError as exc:
        raise ValueError("; ".join(
            f"reconstruction.{method}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors())) from None
    return section


def _merge_options(reconstruction: dict[str, Any], method: str, section: dict[str, Any]) -> None:
    """Put a method's section into ``reconstruction.options.<method>``."""
    options = reconstruction.get("options")
    options = dict(options) if isinstance(options, dict) else {}
    given = options.get(method) if isinstance(options.get(method), dict) else {}
    clash = sorted(set(section) & set(given))
    if clash:
        raise ValueError(f"reconstruction.{method} and reconstruction.options.{method} both "
                         f"set {', '.join(clash)}; set each once, in "
                         f"reconstruction.options.{method}")
    options[method] = {**section, **given}
    reconstruction["options"] = options


def _shared_defaults(data: dict[str, Any], method: str, section: dict[str, Any]) -> None:
    """The values of an unused method's section that its latent spaces share, as their
    option defaults (what the section meant for those spaces)."""
    latents = data.get("latents") if isinstance(data.get("latents"), dict) else {}
    spaces = latents.get("spaces", LatentsConfig.model_fields["spaces"].default_factory())
    if not isinstance(spaces, list):
        return
    options = latents.get("options") if isinstance(latents.get("options"), dict) else {}
    options = {space: dict(values) if isinstance(values, dict) else values
               for space, values in options.items()}
    for space, pairs in _method_spec(method).shared_options.items():
        if space not in spaces:
            continue
        shared = {key: section[option] for key, option in pairs.items() if option in section}
        if shared:
            options[space] = {**shared, **options.get(space, {})}
    data["latents"] = {**latents, "options": options}


def _format_errors(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `perceptogram config` prints every key)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"invalid configuration{source}: " + "; ".join(parts)


def _validate(data: Any, source: str = "") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration{source}: the top level must be a mapping")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def make_config(**overrides: Any) -> Config:
    """Build a validated :class:`Config` from nested keyword overrides.

    Raises
    ------
    ConfigError
        Naming the key path of every invalid or unknown setting.
    """
    return _validate(overrides)


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML configuration file.

    Relative paths inside the file (``output``, ``dataset.path``) are taken
    relative to the current working directory, as on the command line. The file
    must be at most :data:`MAX_CONFIG_BYTES` long, without YAML anchors/aliases,
    duplicate keys, or nesting deeper than :data:`MAX_CONFIG_DEPTH`; every name
    (latent spaces, feature networks, methods, attributes) must be registered.

    Raises
    ------
    ConfigError
        If the YAML does not parse or a setting is invalid; the message names the
        offending key path.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"configuration file {path} is not a regular file")
    return _validate(read_strict_yaml(path, max_bytes=MAX_CONFIG_BYTES,
                                      max_depth=MAX_CONFIG_DEPTH), f" in {path}")


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain, JSON/YAML-serialisable dictionary of ``config``.

    The ``dataset.simulation`` block is left out unless the dataset is simulated.
    """
    data = config.model_dump(mode="json")
    if config.dataset.kind != "simulated":
        data["dataset"].pop("simulation", None)
    return data


def save_config(config: Config, path: str | Path) -> None:
    """Write ``config`` as YAML (atomically)."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def settings_hash(settings: Any) -> str:
    """SHA-256 of a JSON-serialisable value (sorted keys): identifies a set of settings."""
    return json_digest(settings)


def default_config_yaml() -> str:
    """The default configuration as YAML with a comment above every key."""
    lines = [
        "# Perceptogram run configuration. Unknown keys are errors.",
        "# Run it with: perceptogram run this-file.yaml",
    ]
    _emit(Config, config_to_dict(Config()), lines, indent=0)
    return "\n".join(lines) + "\n"


def _emit(model: type[BaseModel], values: dict[str, Any], lines: list[str], indent: int) -> None:
    pad = " " * indent
    for name, field in model.model_fields.items():
        if field.description:
            lines.append(f"{pad}# {field.description}")
        value = values[name]
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            lines.append(f"{pad}{name}:")
            _emit(sub, value, lines, indent + 2)
            continue
        flow = None if isinstance(value, (list, dict)) else False
        dumped = yaml.safe_dump({name: value}, default_flow_style=flow, sort_keys=False,
                                width=88).rstrip("\n")
        lines.extend(pad + line for line in dumped.splitlines())
