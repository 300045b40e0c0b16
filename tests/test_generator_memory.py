"""GPU memory options: which get applied (spied on a stand-in pipeline), the auto choice,
the CLI ``list`` command, and generator settings in the configuration."""

from __future__ import annotations

import pytest

from perceptogram.errors import PerceptogramError
from perceptogram.reconstruct.memory import (
    MemoryOptions,
    apply_memory_options,
    auto_memory_options,
    resolve_memory_options,
)

GIB = 1024**3


class SpyPipeline:
    """Records the memory methods a diffusers pipeline would receive."""

    def __init__(self):
        self.calls = []
        self.vae = self

    def __getattr__(self, name):
        if name.startswith(("enable_", "to")):
            return lambda *args, **kwargs: self.calls.append((name, kwargs.get("device", args)))
        raise AttributeError(name)


@pytest.mark.parametrize("options, expected", [
    (MemoryOptions(), ["to"]),
    (MemoryOptions(attention_slicing=True, vae_slicing=True, vae_tiling=True),
     ["enable_attention_slicing", "enable_slicing", "enable_tiling", "to"]),
])
def test_options_applied_on_cpu(options, expected):
    spy = SpyPipeline()
    applied = apply_memory_options(spy, options, "cpu")
    assert [name for name, _ in spy.calls] == expected
    assert len(applied) == len(expected) - 1


@pytest.mark.parametrize("offload, method", [("model", "enable_model_cpu_offload"),
                                             ("sequential", "enable_sequential_cpu_offload")])
def test_offload_replaces_moving_the_pipeline(offload, method):
    torch = pytest.importorskip("torch")
    spy = SpyPipeline()
    apply_memory_options(spy, MemoryOptions(offload=offload), "cuda:1")
    assert spy.calls == [(method, torch.device("cuda:1"))]
    with pytest.raises(PerceptogramError, match="CUDA device"):
        apply_memory_options(SpyPipeline(), MemoryOptions(offload=offload), "cpu")


def test_auto_options_from_free_memory():
    pytest.importorskip("torch")
    assert auto_memory_options("cpu", 4.5, 1.5) == MemoryOptions()
    roomy = auto_memory_options("cuda", 4.5, 1.5, free_bytes=80 * GIB)
    assert roomy == MemoryOptions(batch_size=8)
    mid = auto_memory_options("cuda", 4.5, 1.5, free_bytes=10 * GIB)
    assert mid.attention_slicing and mid.vae_slicing and mid.offload == "none"
    assert mid.batch_size == 4
    small = auto_memory_options("cuda", 4.5, 1.5, free_bytes=4 * GIB)
    assert small.offload == "model" and small.batch_size == 1
    tiny = auto_memory_options("cuda", 4.5, 1.5, free_bytes=1 * GIB)
    assert tiny.offload == "sequential" and tiny.vae_tiling


def test_memory_option_values_are_checked():
    assert resolve_memory_options({"batch_size": 2}, "cpu", 1, 1).batch_size == 2
    with pytest.raises(PerceptogramError, match="unknown memory options"):
        resolve_memory_options({"slicing": True}, "cpu", 1, 1)
    with pytest.raises(PerceptogramError, match="offload must be one of"):
        MemoryOptions(offload="disk")
    with pytest.raises(PerceptogramError, match="batch_size"):
        MemoryOptions(batch_size=0)


def test_generators_apply_their_memory_options(monkeypatch):
    pytest.importorskip("diffusers")
    from perceptogram.reconstruct import memory
    from perceptogram.reconstruct.kandinsky22 import Kandinsky22Generator

    spy = SpyPipeline()
    monkeypatch.setattr(Kandinsky22Generator, "_load", lambda self: spy)
    gen = Kandinsky22Generator(device="cpu", memory={"attention_slicing": True, "batch_size": 2})
    assert gen.pipeline is spy and gen.applied_memory_options == ["attention_slicing"]
    assert gen.memory.batch_size == 2
    seen = {}
    monkeypatch.setattr(memory, "auto_memory_options",
                        lambda device, weights, per_image: seen.setdefault("w", weights) and
                        MemoryOptions())
    assert Kandinsky22Generator(device="cpu", memory="auto").memory == MemoryOptions()
    assert seen["w"] == pytest.approx(2 * Kandinsky22Generator.weights_gib)  # float32 on CPU


def test_auto_leaves_out_what_the_decoder_cannot_do(monkeypatch):
    from perceptogram.reconstruct import memory

    monkeypatch.setattr(memory, "auto_memory_options", lambda *args: MemoryOptions(
        attention_slicing=True, vae_slicing=True, vae_tiling=True))
    auto = resolve_memory_options("auto", "cuda", 1, 1, supported=("attention_slicing",))
    assert auto.attention_slicing and not auto.vae_slicing and not auto.vae_tiling
    with pytest.raises(PerceptogramError, match="does not support the memory options"):
        resolve_memory_options({"vae_slicing": True}, "cpu", 1, 1, supported=())


# ------------------------------------------------------------------------- list
def test_list_prints_every_registry():
    from perceptogram.cli.list import registry_lines

    text = "\n".join(registry_lines())
    for name in ("things-eeg2", "nice", "mne", "unclip", "kandinsky22", "sdxl-ip-adapter",
                 "effnet", "effnet-lite0", "mindeye", "perceptogram", "local", "dask"):
        assert f"  {name}: " in text
    for title in ("datasets", "latent spaces", "generators", "metric networks",
                  "evaluation protocols", "executors"):
        assert f"[bold]{title}[/bold]" in text
    assert "not usable here" in text and "hf download" in text


def test_list_escapes_plugin_text():
    from perceptogram._registry import Registry
    from perceptogram.cli import list as list_cmd

    registry = Registry("thing", "perceptogram.tests.things")
    registry.add("evil", object, summary="[red]boom\x1b[2J", availability=lambda: "[/bold]")
    list_cmd.EVIL = registry
    try:
        lines = list_cmd.registry_lines((("things", "perceptogram.cli.list", "EVIL"),))
    finally:
        del list_cmd.EVIL
    assert "\x1b" not in lines[1] and "\\[red]" in lines[1] and "\\[/bold]" in lines[1]


def test_list_command_runs():
    from typer.testing import CliRunner

    from perceptogram.cli.app import app

    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "sdxl-ip-adapter" in result.output and "latent spaces" in result.output


# ----------------------------------------------------------------------- config
def test_reconstruction_methods_and_options_are_validated():
    from perceptogram.config import ConfigError, make_config

    spaces = {"latents": {"spaces": ["effnet", "pca", "kandinsky22"]}}
    config = make_config(**spaces, reconstruction={
        "methods": ["kandinsky22"], "options": {"kandinsky22": {"steps": 7}},
        "memory": {"attention_slicing": True}})
    assert config.reconstruction.generator_options("kandinsky22")["steps"] == 7
    with pytest.raises(ConfigError, match="unknown reconstruction method 'dalle'; available"):
        make_config(reconstruction={"methods": ["dalle"]})
    with pytest.raises(ConfigError, match="needs 'kandinsky22' in latents.spaces"):
        make_config(reconstruction={"methods": ["kandinsky22"]})
    with pytest.raises(ConfigError, match="options.kandinsky22.*stepz"):
        make_config(**spaces, reconstruction={
            "methods": ["kandinsky22"], "options": {"kandinsky22": {"stepz": 7}}})
    with pytest.raises(ConfigError, match="not in 'methods'"):
        make_config(reconstruction={"options": {"kandinsky22": {}}})
    with pytest.raises(ConfigError, match="offload"):
        make_config(reconstruction={"memory": {"offload": "disk"}})
    with pytest.raises(ConfigError, match="must come from the encoder it expects"):
        make_config(latents={"spaces": ["sdxl-ip-adapter"],
                             "options": {"sdxl-ip-adapter": {"model": "/data/other"}}},
                    reconstruction={"methods": ["sdxl-ip-adapter"],
                                    "retrieval_space": "sdxl-ip-adapter"},
                    interpretability={"space": "sdxl-ip-adapter"})
    unclip = {"latents": {"spaces": ["effnet", "pca", "unclip"]}}
    # The section of older configurations is the method's options; a key set twice is refused.
    with pytest.raises(ConfigError, match="both set steps; set each once"):
        make_config(**unclip, reconstruction={
            "methods": ["unclip"], "unclip": {"steps": 3}, "options": {"unclip": {"steps": 4}}})
    config = make_config(**unclip, reconstruction={
        "methods": ["unclip"], "unclip": {"steps": 3}, "options": {"unclip": {"noise_level": 5}}})
    assert config.reconstruction.generator_options("unclip")["steps"] == 3
    assert config.reconstruction.generator_options("unclip")["noise_level"] == 5


def test_precision_goes_in_as_dtype_where_supported(monkeypatch):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    transformers = pytest.importorskip("transformers")
    from perceptogram.latents.hub import dtype_kwargs

    # diffusers >= 0.36 and transformers >= 4.56 renamed torch_dtype (older ones, such as
    # the minimum versions CI installs, only take torch_dtype).
    new_diffusers = hasattr(diffusers.utils, "_resolve_dtype")
    new_transformers = tuple(int(p) for p in transformers.__version__.split(".")[:2]) >= (4, 56)
    assert dtype_kwargs(diffusers.KandinskyV22Pipeline, torch.float16) == {
        "dtype" if new_diffusers else "torch_dtype": torch.float16}
    assert dtype_kwargs(transformers.CLIPVisionModelWithProjection, torch.float16) == {
        "dtype" if new_transformers else "torch_dtype": torch.float16}
    monkeypatch.delattr(diffusers.utils, "_resolve_dtype", raising=False)
    assert dtype_kwargs(diffusers.KandinskyV22Pipeline, torch.float16) == {
        "torch_dtype": torch.float16}


def test_generators_load_fp16_variants_with_dtype(monkeypatch):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    from perceptogram.reconstruct.kandinsky22 import Kandinsky22Generator

    seen = {}

    def fake(source, **kwargs):
        seen.update(kwargs, source=source)
        return SpyPipeline()

    monkeypatch.setattr(diffusers.KandinskyV22Pipeline, "from_pretrained", fake)
    gen = Kandinsky22Generator(device="cpu", dtype="float16", variant="fp16",
                               memory={"batch_size": 1})
    assert isinstance(gen.pipeline, SpyPipeline)
    from perceptogram.latents.hub import dtype_kwargs

    (key,) = dtype_kwargs(diffusers.KandinskyV22Pipeline, torch.float16)  # dtype where taken
    assert seen[key] == torch.float16 and seen["variant"] == "fp16"
    assert seen["local_files_only"] is True and not {"dtype", "torch_dtype"} - {key} & set(seen)
