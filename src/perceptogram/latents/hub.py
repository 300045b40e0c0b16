"""Local-only access to pretrained weights: lookup, download hints, precision arguments.

Every model is read from the local Hugging Face cache or from a folder the user
names; nothing here downloads. A missing model raises
:class:`~perceptogram.errors.MissingWeightsError` naming the repository and a
``hf download REPO --include ...`` command that fetches only the
files Perceptogram loads (see ``docs/generation.md`` for sizes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perceptogram.errors import MissingWeightsError, require

__all__ = ["download_command", "is_local_path", "missing_weights", "dtype_kwargs",
           "local_availability", "weights_missing"]


def is_local_path(model: str) -> bool:
    """Whether ``model`` names a folder (rather than a Hugging Face repository id)."""
    if not model:
        return False
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or "\\" in model


def download_command(repo: str, include: tuple[str, ...] = (),
                     exclude: tuple[str, ...] = ()) -> str:
    """The ``hf download`` command that fetches only ``include`` of ``repo``.

    ``hf`` is huggingface_hub's command line (>= 0.34; it replaced
    ``huggingface-cli``, removed in 1.0); each pattern takes its own flag.
    """
    command = f"hf download {repo}"
    for flag, patterns in (("--include", include), ("--exclude", exclude)):
        command += "".join(f" {flag} '{pattern}'" for pattern in patterns)
    return command


def missing_weights(repo: str, include: tuple[str, ...] = (), reason: Any = "",
                    revision: str | None = None,
                    exclude: tuple[str, ...] = ()) -> MissingWeightsError:
    """The error raised when ``repo`` is not in the local cache.

    Parameters
    ----------
    repo : str
        Hugging Face repository id.
    include, exclude : tuple of str
        File patterns that Perceptogram needs from it / that it does not need.
    reason : object
        The underlying error, shown in parentheses.
    revision : str or None
        The revision that was asked for.
    """
    at = f" at revision {revision!r}" if revision else ""
    why = f" ({reason})" if reason and not _hub_offline_advice(reason) else ""
    return MissingWeightsError(
        f"the weights of {repo!r}{at} are not in the local Hugging Face cache{why}. "
        f"Get them on a machine with internet access with "
        f"`{download_command(repo, include, exclude)}` "
        "and copy the cache (~/.cache/huggingface, or $HF_HOME) here, or pass the path of a "
        "local folder holding the same files."
    )


def _hub_offline_advice(reason: Any) -> bool:
    """Whether ``reason`` is Hugging Face's own "not cached" error, whose advice
    (set ``local_files_only`` to False) a user of Perceptogram cannot follow."""
    text = str(reason)
    return "local_files_only" in text or "outgoing traffic has been disabled" in text


def weights_missing(model: str, files: tuple[str, ...], *, include: tuple[str, ...] = (),
                    exclude: tuple[str, ...] = (),
                    extras: tuple[str, ...] = ("diffusers", "transformers", "torch")
                    ) -> str | None:
    """What is missing to load ``files`` of ``model`` here (a repository or a folder).

    Checked before a run starts, so that missing weights are named before any stage
    runs, with the command that fetches them.

    Parameters
    ----------
    model : str
        Hugging Face repository id (looked up in the local cache) or a local folder.
    files : tuple of str
        Paths inside the repository / folder that loading reads first.
    include, exclude : tuple of str
        Patterns of the download hint.
    extras : tuple of str
        Modules that must be importable.

    Returns
    -------
    missing : str or None
        None when everything is here, else one sentence saying what to get.
    """
    if not is_local_path(model):
        return local_availability(model, files, extras, include=include, exclude=exclude)
    import importlib.util

    absent = [module for module in extras if importlib.util.find_spec(module) is None]
    if absent:
        return f"needs {', '.join(absent)}: pip install 'perceptogram[diffusion]'"
    folder = Path(model).expanduser()
    lacking = [name for name in files if not (folder / name).is_file()]
    if lacking:
        return f"the model folder {folder} has no {', '.join(lacking)}"
    return None


def local_availability(repo: str, files: tuple[str, ...], extras: tuple[str, ...] = (
        "diffusers", "transformers", "torch"), include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = ()) -> str | None:
    """None when the extras are installed and ``files`` of ``repo`` are cached locally.

    Parameters
    ----------
    repo : str
        Hugging Face repository id.
    files : tuple of str
        Paths inside the repository whose presence marks the weights as available.
    extras : tuple of str
        Modules that must be importable.
    include, exclude : tuple of str
        Patterns for the download hint.

    Returns
    -------
    missing : str or None
        One sentence saying what is missing and how to get it.
    """
    import importlib.util

    absent = [module for module in extras if importlib.util.find_spec(module) is None]
    if absent:
        return f"needs {', '.join(absent)}: pip install 'perceptogram[diffusion]'"
    from huggingface_hub import try_to_load_from_cache

    for name in files:
        if not isinstance(try_to_load_from_cache(repo, name), str):
            return (f"{repo}/{name} not in the local cache: "
                    f"{download_command(repo, include, exclude)}")
    return None


def dtype_kwargs(loader: Any, torch_dtype: Any) -> dict[str, Any]:
    """``{"dtype": ...}`` where the installed library takes it, else ``{"torch_dtype": ...}``.

    diffusers >= 0.36 and transformers >= 4.56 renamed ``torch_dtype`` to ``dtype``
    in ``from_pretrained`` (the old name is deprecated).

    Parameters
    ----------
    loader : class
        A diffusers pipeline / model class or a transformers model class.
    torch_dtype : torch.dtype
    """
    module = getattr(loader, "__module__", "")
    if module.startswith("diffusers"):
        takes_dtype = hasattr(require("diffusers.utils"), "_resolve_dtype")
    else:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("transformers").split(".")[:2])
        takes_dtype = (major, minor) >= (4, 56)
    return {"dtype" if takes_dtype else "torch_dtype": torch_dtype}
