"""Run configuration: validation errors name the key path; YAML round-trips."""

from __future__ import annotations

import pytest
import yaml

from perceptogram.config import (
    Config,
    ConfigError,
    default_config_yaml,
    load_config,
    make_config,
    save_config,
    settings_hash,
)


@pytest.mark.parametrize(
    ("overrides", "key", "what"),
    [
        ({"decoder": {"alphas": "1e3"}}, "decoder.alphas", "valid list"),
        ({"decoder": {"alphas": [1.0, -2.0]}}, "decoder.alphas", "positive"),
        ({"decoder": {"alpha": [1.0]}}, "decoder.alpha", "unknown key"),
        ({"decoder": {"cv": "kfold"}}, "decoder.cv", "'loo' or 'group'"),
        ({"dataset": {"simulation": {"n_subjects": 0}}}, "dataset.simulation.n_subjects",
         "greater than or equal to 1"),
        ({"reconstruction": {"unclip": {"strength": 1.5}}}, "reconstruction.unclip.strength",
         "less than or equal to 1"),
        ({"latent_spaces": ["effnet"]}, "latent_spaces", "unknown key"),
        ({"subjects": [1, 1]}, "subjects", "unique"),
        ({"device": "gpu"}, "device", "'cpu', 'cuda'"),
        ({"dataset": {"kind": "things-eeg2"}}, "dataset", "needs 'path'"),
        ({"latents": {"spaces": ["effnet"], "options": {"pca": {}}}}, "latents",
         "not in 'spaces'"),
    ],
)
def test_errors_name_the_offending_key(overrides, key, what):
    with pytest.raises(ConfigError) as info:
        make_config(**overrides)
    message = str(info.value)
    assert f"{key}: " in message
    assert what in message


def test_cross_field_errors_name_both_keys():
    with pytest.raises(ConfigError, match=r"tmax \(0.1\) must be greater than tmin \(0.2\)"):
        make_config(tmin=0.2, tmax=0.1)
    with pytest.raises(ConfigError, match="reconstruction.retrieval_space 'clip'"):
        make_config(reconstruction={"retrieval_space": "clip"})
    with pytest.raises(ConfigError, match="'pca' needs 'pca' in latents.spaces"):
        make_config(latents={"spaces": ["effnet"]})


def test_several_errors_are_all_reported():
    with pytest.raises(ConfigError) as info:
        make_config(seed="x", decoder={"n_splits": 1})
    assert "seed: " in str(info.value) and "decoder.n_splits: " in str(info.value)


def test_yaml_round_trip(tmp_path):
    config = make_config(subjects=[3, 1], decoder={"alphas": [1.0, 10.0], "cv": "loo"},
                         output=str(tmp_path / "run"))
    path = tmp_path / "c.yaml"
    save_config(config, path)
    again = load_config(path)
    assert again == config
    assert again.subjects == [1, 3]


def test_commented_default_parses_to_the_defaults():
    text = default_config_yaml()
    assert Config.model_validate(yaml.safe_load(text)) == Config()
    # every key of every section carries its description as a comment above it
    from pydantic import BaseModel

    def walk(model):
        for name, field in model.model_fields.items():
            yield name, field
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from walk(field.annotation)

    lines = text.splitlines()
    for name, field in walk(Config):
        key_lines = [i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:")]
        assert key_lines, name
        assert any(lines[i - 1].strip() == f"# {field.description}" for i in key_lines), name


def test_load_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("decoder: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("interpretability:\n  atributes: [hue]\n")
    with pytest.raises(ConfigError, match=r"in .*typo.yaml: interpretability.atributes: unknown"):
        load_config(typo)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(scalar)


def test_settings_hash_ignores_key_order_and_sees_values():
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})


def test_evaluation_section_names_what_the_library_offers():
    import inspect

    from perceptogram.config import CrossSubjectConfig, SimulationConfig
    from perceptogram.data.simulate.dataset import simulate_dataset
    from perceptogram.linear.alignment import METHODS, SPACES

    fields = CrossSubjectConfig.model_fields
    assert set(fields["alignment"].annotation.__args__) == set(METHODS)
    assert set(fields["alignment_space"].annotation.__args__) == set(SPACES)
    # the simulation section is simulate_dataset's keyword arguments
    assert set(SimulationConfig.model_fields) <= set(inspect.signature(simulate_dataset).parameters)
    config = make_config(evaluation={"cross_subject": {"enabled": True, "alignment": "ridge"}},
                         dataset={"simulation": {"n_subjects": 3, "subject_mixing": 2.0}})
    assert config.evaluation.noise_ceilings and config.evaluation.repetition_curve
    assert config.dataset.simulation.subject_mixing == 2.0
    with pytest.raises(ConfigError, match="evaluation.cross_subject.alignment"):
        make_config(evaluation={"cross_subject": {"alignment": "hyper"}})
    with pytest.raises(ConfigError, match="needs at least 2 subjects"):
        make_config(subjects=[3], evaluation={"cross_subject": {"enabled": True}})
