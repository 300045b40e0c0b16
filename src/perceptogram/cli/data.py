"""``perceptogram data ...``: download THINGS-EEG2 and inspect any registered dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from perceptogram._text import for_rich
from perceptogram.cli._common import EXIT_USAGE, console, err_console, friendly_errors

data_app = typer.Typer(help="Download THINGS-EEG2 and inspect what a data folder holds.",
                       no_args_is_help=True)


def _size(n_bytes: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.1f} {unit}"
    return f"{n_bytes} B"


@data_app.command("info")
@friendly_errors
def info_command(
    path: Path = typer.Argument(..., help="Data folder (any registered dataset format)."),
    kind: str = typer.Option("auto", "--kind", "-k",
                             help="Dataset format (perceptogram list); auto: detect it."),
    images: Path | None = typer.Option(
        None, "--images", help="Folder of image_metadata.npy and the images, when not "
        "found from PATH (two-root layout)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON document instead."),
) -> None:
    """Show the format, subjects, arrays, channels, times and images a data folder holds.

    Every EEG file is read through the safe loader (from the native cache when it is
    current; nothing is written); a corrupt or unsafe file makes the command fail
    (exit code 1) with the reason.
    """
    import inspect

    from perceptogram.data.formats.base import DATASETS, detect, open_dataset, summarize
    from perceptogram.data.core.mne_convert import sampling_frequency

    if kind == "auto":
        kind = detect(path, images).kind
    options = ({"cache": "read"} if "cache" in inspect.signature(DATASETS.get(kind)).parameters
               else {})
    info = summarize(open_dataset(kind, path, images, **options))
    if as_json:
        console.print_json(json.dumps(info))
        return
    console.print(f"[bold]{for_rich(info['root'])}[/bold] ({for_rich(info['kind'])} format)")
    if info["images_root"] != info["root"]:
        console.print(f"Images and metadata in {for_rich(info['images_root'])}")
    table = Table("subject", "split", "shape",
                  caption="shape: images x repetitions x channels x times")
    for subject in info["subjects"]:
        for split, split_info in subject["splits"].items():
            table.add_row(f"sub-{subject['subject']:02d}", split,
                          " x ".join(str(n) for n in split_info["shape"]))
    console.print(table)
    first = info["subjects"][0]
    console.print(f"Channels ({len(first['ch_names'])}): "
                  f"{for_rich(', '.join(first['ch_names']))}")
    times = first["times"]
    console.print(f"Times: {times[0]:.3f} to {times[-1]:.3f} s, {len(times)} samples at "
                  f"{sampling_frequency(times):.4g} Hz")
    console.print(f"Images: {info['n_train_images']} training ({info['n_train_concepts']} "
                  f"concepts), {info['n_test_images']} test ({info['n_test_concepts']} "
                  "concepts)")
    console.print(f"Image files on disk: {info['n_train_image_files']} training, "
                  f"{info['n_test_image_files']} test")
    for line in info["notes"]:
        console.print(f"Note: {for_rich(line)}")


@data_app.command("download")
@friendly_errors
def download_command(
    root: Path = typer.Argument(..., help="Destination folder (THINGS-EEG2 layout)."),
    what: str = typer.Option("all", "--what", help="eeg | images | all."),
    subject: list[int] = typer.Option(
        [], "--subject", "-s", min=1,
        help="Subject number (1-10); repeat for several. None: every subject on OSF."),
    keep_archives: bool = typer.Option(False, "--keep-archives",
                                       help="Keep the .zip files after unpacking."),
    osf_api: str = typer.Option("https://api.osf.io/v2", "--osf-api",
                                help="OSF API base URL (https; for a mirror)."),
) -> None:
    """Download preprocessed EEG and images from OSF (resumable, checksummed).

    Prints the total size first. Busy servers and dropped connections are retried;
    run the same command again after an interruption: finished files are skipped
    and a partial download continues where it stopped.
    """
    from perceptogram.data.fetch.download import default_policy, install, plan_download

    if what not in ("eeg", "images", "all"):
        err_console.print(f"--what must be eeg, images or all, not {what!r}.", markup=False)
        raise typer.Exit(EXIT_USAGE)
    policy = default_policy(osf_api)
    plan = plan_download(subject or None, what=what, api_url=osf_api, policy=policy)
    total = sum(f.size for f in plan)
    console.print(f"{len(plan)} file{'s' * (len(plan) != 1)} to get, {_size(total)} in total "
                  "(files already here are skipped).", highlight=False)
    paths = install(plan, root, policy=policy, keep_archives=keep_archives)
    for path in paths:
        console.print(str(path), highlight=False, markup=False)
