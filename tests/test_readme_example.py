"""The README's Python example runs as written on a tiny simulated dataset.

The example is the ```python block of README.md that carries the line
``# tested by tests/test_readme_example.py``. The dataset root is
replaced by a simulated THINGS-EEG2 folder, its cache folder by a temporary one
(the example must write nothing into the current folder), and the example is run
once for every latent space named on its ``get_latent_space`` line ("unclip"
needs real weights and is only run with ``-m weights``).
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

from perceptogram.errors import MissingWeightsError

REPO = Path(__file__).resolve().parents[1]
MARKER = "# tested by tests/test_readme_example.py"
WEIGHTS_SPACES = {"unclip"}


def example_source() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if MARKER in b]
    assert len(blocks) == 1, f"README.md must hold one python block marked {MARKER!r}"
    return blocks[0]


def named_spaces(source: str) -> list[str]:
    line = next(ln for ln in source.splitlines() if "get_latent_space(" in ln)
    return list(dict.fromkeys(re.findall(r'"([a-z0-9-]+)"', line)))


SOURCE = example_source()
SPACES = [pytest.param(name, marks=pytest.mark.weights) if name in WEIGHTS_SPACES else name
          for name in named_spaces(SOURCE)]


@pytest.fixture(scope="module")
def mini_things(tmp_path_factory):
    """6 training concepts x 2 images, 6 test images, 64 px: the smallest that runs."""
    from perceptogram.data.simulate.dataset import simulate_dataset

    return simulate_dataset(
        tmp_path_factory.mktemp("mini") / "things", n_subjects=1, n_train_concepts=6,
        images_per_concept=2, n_test_concepts=6, n_train_repetitions=2,
        n_test_repetitions=4, image_size=64, seed=0,
    )


def test_example_names_several_latent_spaces():
    assert {"effnet", "pca"} <= set(named_spaces(SOURCE))


@pytest.mark.parametrize("space", SPACES)
def test_readme_example_runs(space, mini_things, tmp_path, monkeypatch):
    code, n_root = re.subn(r'^root = "[^"]*"', f"root = {str(mini_things)!r}", SOURCE,
                           flags=re.M)
    assert n_root == 1, "the example must set root = \"...\" on one line"
    cache = tmp_path / "demo" / "cache" / "latents"
    code, n_cache = re.subn(r'^cache = "[^"]*"', f"cache = {str(cache)!r}", code, flags=re.M)
    assert n_cache == 1, "the example must set cache = \"...\" on one line"
    first = named_spaces(SOURCE)[0]
    code, n_space = re.subn(rf'get_latent_space\("{first}"\)',
                            f'get_latent_space("{space}")', code)
    assert n_space == 1
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. alphas on the grid's edge
        try:
            exec(compile(code, "README example", "exec"), {"__name__": "__readme__"})
        except MissingWeightsError as exc:  # only with -m weights, on a machine without them
            pytest.skip(str(exc))
    accuracy = float(out.getvalue().strip().splitlines()[-1])
    assert 0.0 <= accuracy <= 1.0
    assert any(cache.iterdir())  # the latents are cached where the example says
    assert not any(cwd.iterdir())  # and nothing is left in the current folder
