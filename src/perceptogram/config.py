"""Run configuration: pydantic models, YAML in and out, helpful errors.

One YAML file describes a whole run (dataset, subjects, time window, latent spaces,
decoder, reconstruction, metrics, interpretability maps, output directory). Every
model forbids unknown keys, so a typo is an error that names the offending key
path (``decoder.alphas: ...``) instead of a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perceptogram._hashing import json_digest
from perceptogram.errors import PerceptogramError

__all__ = [
    "ConfigError",
    "Config",
    "DatasetConfig",
    "SimulationConfig",
    "LatentsConfig",
    "DecoderConfig",
    "UnclipConfig",
    "ReconstructionConfig",
    "MetricsConfig",
    "InterpretabilityConfig",
    "load_config",
    "make_config",
    "config_to_dict",
    "save_config",
    "default_config_yaml",
    "settings_hash",
]


class ConfigError(PerceptogramError, ValueError):
    """A configuration file or value is invalid; the message names the key path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class SimulationConfig(_Section):
    """Sizes of a simulated THINGS-EEG2-style dataset."""

    n_subjects: int = Field(2, ge=1, description="Number of simulated subjects.")
    n_train_concepts: int = Field(
        150, ge=2, description="Training concepts (the unit of cross-validation)."
    )
    images_per_concept: int = Field(
        8, ge=1, description="Training images per concept (THINGS-EEG2: 10)."
    )
    n_test_concepts: int = Field(
        50, ge=2, description="Test concepts, one image each (THINGS-EEG2: 200)."
    )
    n_train_repetitions: int = Field(4, ge=1, description="Repetitions per training image.")
    n_test_repetitions: int = Field(20, ge=1, description="Repetitions per test image.")
    image_size: int = Field(
        64, ge=64, description="Side of the square stimuli, pixels (>= 64 so that the "
        "texture pattern is resolved)."
    )
    seed: int = Field(0, description="Seed of the simulation.")


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
        from perceptogram.data.datasets import available_datasets

        names = available_datasets()
        if kind not in names:
            raise ValueError(f"unknown dataset kind {kind!r}; available: simulated, auto, "
                             f"{', '.join(names)}")
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
        description="Latent spaces (effnet, pca, ica, attributes, unclip, unclip-vae).",
    )
    batch_size: int = Field(32, ge=1, description="Images per encoding batch.")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Keyword arguments per latent space, e.g. {pca: {n_components: 64}}.",
    )

    @field_validator("spaces")
    @classmethod
    def _unique(cls, spaces: list[str]) -> list[str]:
        if len(set(spaces)) != len(spaces):
            raise ValueError(f"latent spaces must be unique, got {spaces}")
        return spaces

    @model_validator(mode="after")
    def _options_for_listed(self) -> LatentsConfig:
        extra = sorted(set(self.options) - set(self.spaces))
        if extra:
            raise ValueError(f"options given for latent spaces not in 'spaces': {extra}")
        return self


class DecoderConfig(_Section):
    """The ridge decoder (EEG -> latent), alpha chosen on training data only."""

    alphas: list[float] = Field(
        default_factory=lambda: [10.0 ** k for k in range(-1, 6)],
        min_length=1,
        description="Grid of ridge penalties searched by cross-validation.",
    )
    cv: Literal["loo", "group"] = Field(
        "group",
        description="'group': K-fold keeping each concept in one fold; 'loo': leave-one-out.",
    )
    n_splits: int = Field(5, ge=2, description="Folds for cv: group.")
    alpha_per_target: bool = Field(True, description="Choose one alpha per latent dimension.")
    rescale: Literal["none", "train", "transductive"] = Field(
        "none",
        description=(
            "Rescale decoded latents: 'train' to training-latent statistics; "
            "'transductive' with the test batch's own statistics (as the reference code; "
            "named in the report)."
        ),
    )

    @field_validator("alphas")
    @classmethod
    def _positive(cls, alphas: list[float]) -> list[float]:
        bad = [a for a in alphas if not a > 0]
        if bad:
            raise ValueError(f"alphas must be positive, got {bad}")
        return alphas


class UnclipConfig(_Section):
    """Stable unCLIP generation settings (only used when 'unclip' is a method)."""

    model: str = Field(
        "stabilityai/stable-diffusion-2-1-unclip",
        description=(
            "Hugging Face model id or local folder (never downloaded implicitly); also the "
            "default model of the unclip and unclip-vae latent spaces."
        ),
    )
    steps: int = Field(20, ge=1, description="Denoising steps.")
    guidance: float = Field(7.5, ge=0.0, description="Classifier-free guidance scale.")
    strength: float = Field(
        0.75, gt=0.0, le=1.0, description="How far to noise the decoded VAE latent (img2img)."
    )
    size: int = Field(
        768, ge=8,
        description=(
            "Output side, pixels (a multiple of the VAE's downsampling factor); also the "
            "default image_size of the unclip-vae latent space."
        ),
    )
    seed: int = Field(0, description="Seed; one generator per image.")


class ReconstructionConfig(_Section):
    """How decoded latents become images."""

    methods: list[Literal["pca", "retrieval", "unclip"]] = Field(
        default_factory=lambda: ["pca", "retrieval"],
        description="'pca': linear pixel decoding; 'retrieval': nearest gallery image; 'unclip'.",
    )
    retrieval_space: str = Field(
        "effnet", description="Latent space whose decoded vectors drive retrieval."
    )
    unclip: UnclipConfig = Field(default_factory=UnclipConfig, description="unCLIP settings.")


class MetricsConfig(_Section):
    """Evaluation settings."""

    networks: list[str] = Field(
        default_factory=lambda: ["effnet-lite0"],
        description="Feature networks for high-level metrics; unavailable ones are skipped.",
    )
    image_size: int = Field(
        425, ge=16, description="Both images are resized to this side for PixCorr/SSIM."
    )
    best_worst_metric: Literal["pixcorr", "ssim"] = Field(
        "pixcorr", description="Per-image metric that orders the best/median/worst grid."
    )
    center_latents: bool = Field(
        True,
        description="Centre decoded and candidate latents on the TRAINING latents' mean before "
        "cosine retrieval (non-negative CNN features are otherwise dominated by their mean).",
    )
    n_boot: int = Field(1000, ge=10, description="Bootstrap resamples for confidence intervals.")
    n_permutations: int = Field(
        1000, ge=10, description="Permutations for p-values against chance."
    )


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
    n_clusters: int = Field(2, ge=2, description="Clusters of the semantic grouping.")
    times_ms: list[float] = Field(
        default_factory=lambda: [float(t) for t in range(0, 600, 20)],
        min_length=1,
        description="Topomap times in milliseconds.",
    )
    n_permutations: int = Field(
        0, ge=0, description="Permutations for cluster significance (0: no test)."
    )
    figure_formats: list[Literal["png", "svg", "pdf"]] = Field(
        default_factory=lambda: ["png", "svg"],
        description="Formats of the figures (the report embeds the PNG, always written).",
    )
    encoder_alpha: float = Field(
        1e3, gt=0.0, description="Ridge penalty of the latent -> EEG encoder."
    )

    @field_validator("figure_formats")
    @classmethod
    def _png_first(cls, formats: list[str]) -> list[str]:
        return ["png", *[f for f in dict.fromkeys(formats) if f != "png"]]


class Config(_Section):
    """A whole run."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Data source.")
    subjects: list[int] | None = Field(
        None, description="Subjects to process (1-based); null for all on disk."
    )
    tmin: float = Field(0.0, description="Window start, seconds (inclusive).")
    tmax: float = Field(0.8, description="Window end, seconds (exclusive).")
    repetitions: int | None = Field(
        None, ge=1, description="Average only the first N repetitions (null: all)."
    )
    channels: list[str] | None = Field(None, description="Channel subset by name (null: all).")
    latents: LatentsConfig = Field(default_factory=LatentsConfig, description="Latent spaces.")
    decoder: DecoderConfig = Field(default_factory=DecoderConfig, description="Ridge decoder.")
    reconstruction: ReconstructionConfig = Field(
        default_factory=ReconstructionConfig, description="Reconstruction."
    )
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Metrics.")
    interpretability: InterpretabilityConfig = Field(
        default_factory=InterpretabilityConfig, description="Perceptograms."
    )
    output: Path = Field(Path("perceptogram-run"), description="Run directory.")
    device: str = Field("cpu", description="'cpu' or 'cuda' (or 'cuda:N').")
    seed: int = Field(0, description="Seed of every random step.")
    jobs: int | None = Field(
        None, ge=1, description="Subjects in parallel processes (null: memory-aware default)."
    )

    @field_validator("subjects")
    @classmethod
    def _subjects(cls, subjects: list[int] | None) -> list[int] | None:
        if subjects is None:
            return None
        if not subjects:
            raise ValueError("give at least one subject, or null for all")
        if any(s < 1 for s in subjects) or len(set(subjects)) != len(subjects):
            raise ValueError(f"subjects must be unique positive integers, got {subjects}")
        return sorted(subjects)

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        return device

    @model_validator(mode="after")
    def _window_and_methods(self) -> Config:
        if not self.tmax > self.tmin:
            raise ValueError(f"tmax ({self.tmax}) must be greater than tmin ({self.tmin})")
        methods = self.reconstruction.methods
        if "pca" in methods and "pca" not in self.latents.spaces:
            raise ValueError("reconstruction method 'pca' needs 'pca' in latents.spaces")
        if "retrieval" in methods and self.reconstruction.retrieval_space not in self.latents.spaces:
            raise ValueError(
                f"reconstruction.retrieval_space {self.reconstruction.retrieval_space!r} "
                "is not in latents.spaces"
            )
        if self.interpretability.space not in self.latents.spaces:
            raise ValueError(
                f"interpretability.space {self.interpretability.space!r} is not in "
                "latents.spaces"
            )
        if "unclip" in methods:
            if "unclip" not in self.latents.spaces:
                raise ValueError("reconstruction method 'unclip' needs 'unclip' in latents.spaces")
            self._check_unclip_options()
        return self

    def _check_unclip_options(self) -> None:
        """The unCLIP latent spaces must be those of the reconstruction's model and size."""
        unclip = self.reconstruction.unclip
        for space in ("unclip", "unclip-vae"):
            options = self.latents.options.get(space, {})
            if "model" in options and str(options["model"]) != unclip.model:
                raise ValueError(
                    f"latents.options.{space}.model ({options['model']!r}) differs from "
                    f"reconstruction.unclip.model ({unclip.model!r}); the decoded latents "
                    "must come from the model that reconstructs (leave the option out to "
                    "use reconstruction.unclip.model)"
                )
        size = self.latents.options.get("unclip-vae", {}).get("image_size", unclip.size)
        if size != unclip.size:
            raise ValueError(
                f"latents.options.unclip-vae.image_size ({size}) differs from "
                f"reconstruction.unclip.size ({unclip.size}); the decoded VAE latent is "
                "the start of generation at that size (leave the option out to use "
                "reconstruction.unclip.size)"
            )

    def data_root(self) -> Path:
        """Folder of the THINGS-EEG2-layout dataset this run reads."""
        if self.dataset.path is not None:
            return Path(self.dataset.path)
        return Path(self.output) / "data" / "things"


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
    relative to the current working directory, as on the command line.

    Raises
    ------
    ConfigError
        If the YAML does not parse or a setting is invalid; the message names the
        offending key path.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return _validate(data, f" in {path}")


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain, JSON/YAML-serialisable dictionary of ``config``."""
    return config.model_dump(mode="json")


def save_config(config: Config, path: str | Path) -> None:
    """Write ``config`` as YAML (atomically)."""
    from perceptogram._io import write_text_atomic

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
