"""``perceptogram data ...``: download THINGS-EEG2, import a recording, inspect any dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from perceptogram._text import for_rich
from perceptogram.cli._common import EXIT_USAGE, console, err_console, friendly_errors

data_app = typer.Typer(help="Download THINGS-EEG2, import your own recordings, and inspect "
                       "what a data folder holds.", no_args_is_help=True)


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

    # What a command does (data, numpy) loads when it runs: `perceptogram --help`
    # starts without it (docs/contracts.md, "Lazy imports").
    from perceptogram.data.core.mne_convert import sampling_frequency
    from perceptogram.data.formats.base import DATASETS, detect, open_dataset, summarize

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
    table = Table("subject", "split", "shape", "epochs per picture",
                  caption="shape: images x repetitions (the most) x channels x times")
    for subject in info["subjects"]:
        for split, split_info in subject["splits"].items():
            reps = split_info["repetitions"]
            missing = split_info["n_missing_images"]
            table.add_row(f"sub-{subject['subject']:02d}", split,
                          " x ".join(str(n) for n in split_info["shape"]),
                          (f"{reps['min']}" if reps["min"] == reps["max"] else
                           f"{reps['min']}-{reps['max']}") + f" ({reps['total']} in all)"
                          + (f", {missing} pictures without any" if missing else ""))
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
    console.print(f"Unit: {for_rich(info['unit_label'])}")
    for line in info["montage"].values():
        console.print(f"Montage: {for_rich(line)}", highlight=False)
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


def _floats(text: str | None, what: str, n: int) -> tuple[float | None, ...] | None:
    """``"a,b"`` -> (a, b); ``none`` for an item -> None; ``none`` alone -> None."""
    if text is None or text.strip().lower() == "none":
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != n:
        raise typer.BadParameter(f"{what} takes {n} comma-separated numbers (or none), got "
                                 f"{text!r}")
    try:
        return tuple(None if p.lower() in ("none", "") else float(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{what}: {text!r} is not a list of numbers") from None


@data_app.command("import")
@friendly_errors
def import_command(
    out: Path = typer.Argument(..., help="Folder to write (new, empty, or an earlier import)."),
    recordings: list[Path] = typer.Argument(
        ..., help="One subject's recordings in the order they were made: anything MNE reads "
        "(.set, .vhdr, .edf, .bdf, .fif, ...) or a CSV of samples with a marker column."),
    pictures: Path = typer.Option(..., "--pictures", "-p",
                                  help="Picture table: event,image[,concept][,split]."),
    images: Path | None = typer.Option(
        None, "--images", help="Folder the table's image paths are relative to (default: "
        "the table's folder)."),
    subject: int = typer.Option(1, "--subject", "-s", min=1, max=999,
                                help="Subject number of the files written."),
    events: list[Path] = typer.Option(
        [], "--events", help="Events file per recording (onset or sample, value or "
        "trial_type), repeated in the recordings' order; default: the recordings' own "
        "events (stim channel, annotations or marker column)."),
    l_freq: float | None = typer.Option(None, "--l-freq", help="High-pass edge, Hz (MNE)."),
    h_freq: float | None = typer.Option(None, "--h-freq", help="Low-pass edge, Hz (MNE)."),
    filter_method: str = typer.Option("fir", "--filter-method", help="fir | iir (MNE)."),
    tmin: float = typer.Option(-0.2, "--tmin", help="Epoch start, s."),
    tmax: float = typer.Option(0.8, "--tmax", help="Epoch end, s."),
    baseline: str = typer.Option(
        "none,0", "--baseline", help="Baseline interval 'a,b' in s ('none' for an end: from "
        "the start / to the end; MNE's meaning); 'none': no baseline correction."),
    reject: float | None = typer.Option(
        None, "--reject", help="Reject epochs whose peak-to-peak EEG amplitude exceeds this, "
        "in volts (MNE reject=dict(eeg=...)), e.g. 100e-6."),
    flat: float | None = typer.Option(
        None, "--flat", help="Reject epochs with a channel flatter than this, in volts."),
    test_fraction: float = typer.Option(
        0.2, "--test-fraction", help="For images in both splits: the last fraction of each "
        "image's events used for testing."),
    epochs_per_row: int | None = typer.Option(
        None, "--epochs-per-row", min=1, help="Cut each image's events into pictures (rows "
        "for the decoder) of at most this many; default: one picture per image and split."),
    unlogged: str = typer.Option(
        "refuse", "--unlogged", help="refuse | cycle: when several images share an event "
        "value, assign the events to them in turn."),
    channels: str | None = typer.Option(
        None, "--channels", help="Comma-separated channels to keep (default: every EEG "
        "channel; CSV: every column but time and marker)."),
    stim_channel: str | None = typer.Option(None, "--stim-channel",
                                            help="Stim channel with the event codes."),
    sfreq: float | None = typer.Option(None, "--sfreq",
                                       help="CSV: sampling rate, Hz (default: from time)."),
    csv_unit: str = typer.Option("uV", "--csv-unit", help="CSV: unit of the samples "
                                 "(uV, mV, V, nV)."),
    marker_column: str | None = typer.Option(None, "--marker-column",
                                             help="CSV: the marker column."),
    time_column: str | None = typer.Option(None, "--time-column",
                                           help="CSV: the time column."),
    copy_images: bool = typer.Option(False, "--copy-images",
                                     help="Copy the images into OUT/images/."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Import this subject again (an earlier import)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Build the mne format (sub-N_{train,test}-epo.fif + images.csv) from a recording.

    MNE reads, filters and epochs the recording (MNE's meaning for every option);
    the picture table says which image each event value shows. Prints how many
    epochs of each image were kept and why the others were rejected.
    """
    from dataclasses import asdict

    from perceptogram.data.formats.mne_import import ImportOptions, import_recordings, report_text

    window = _floats(baseline, "--baseline", 2)
    options = ImportOptions(
        l_freq=l_freq, h_freq=h_freq, filter_method=filter_method, tmin=tmin, tmax=tmax,
        baseline=window, reject=reject, flat=flat, test_fraction=test_fraction,
        epochs_per_row=epochs_per_row, unlogged=unlogged,
        channels=None if channels is None else tuple(c.strip() for c in channels.split(",")
                                                     if c.strip()),
        stim_channel=stim_channel, sfreq=sfreq, csv_unit=csv_unit,
        marker_column=marker_column, time_column=time_column)
    report = import_recordings(recordings, pictures, out, subject=subject, options=options,
                               images=images, events=events or None,
                               copy_images=copy_images, overwrite=overwrite)
    if as_json:
        console.print_json(json.dumps(asdict(report)))
        return
    table = Table("image", "split", "events", "kept", "rejected", "pictures",
                  caption="rejected: amplitude (over --reject or under --flat), outside the "
                  "recording, or an annotation (BAD_*); each event: sub-N_<split>-events.csv")
    for row in report.images:
        rejected = ", ".join(f"{reason}: {n}" for reason, n in row["rejected"].items())
        table.add_row(for_rich(row["image"]), row["split"], str(row["events"]),
                      str(row["kept"]), for_rich(rejected or "-"),
                      f"{row['rows']}" + (f" ({row['empty_rows']} empty)"
                                          if row["empty_rows"] else ""))
    console.print(table)
    for line in report_text(report):
        console.print(for_rich(line), highlight=False)
    written = ", ".join(report.files.values())
    console.print(f"Wrote {for_rich(written)} and import-sub-{subject:02d}.json in "
                  f"{for_rich(out)}", highlight=False)
    where = "" if copy_images else (f", images_path: {report.settings['images']}")
    console.print(f"Run it with dataset: {{kind: mne, path: {for_rich(out)}{for_rich(where)}}}",
                  highlight=False)
