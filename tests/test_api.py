"""The lazy top-level API: ``import perceptogram as pg``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import perceptogram as pg

EXPECTED = {"Ridge", "RidgeCV", "LatentEncoder", "prepare", "load_subject",
            "load_image_metadata", "get_latent_space", "encode_cached", "pixcorr", "ssim",
            "two_way_identification", "retrieval_accuracy", "run_pipeline"}


def test_public_names_resolve_to_their_definitions():
    from perceptogram.linear.ridge import RidgeCV

    assert EXPECTED <= set(pg.__all__)
    assert set(pg.__all__) <= set(dir(pg))
    for name in pg.__all__:
        assert getattr(pg, name) is not None
    assert pg.RidgeCV is RidgeCV


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'RidgeCVV'"):
        pg.RidgeCVV  # noqa: B018


def test_api_does_not_import_torch_or_diffusers():
    code = ("import sys, perceptogram as pg\n"
            "pg.RidgeCV, pg.encode_cached, pg.run_pipeline\n"
            "[getattr(pg, name) for name in pg.__all__]\n"
            "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
