"""Within- and across-subject decoding on the Muse P300 recordings (real EEG, 5 subjects).

The recordings (NeuroTechX eeg-notebooks, BSD-3-Clause; 4 channels TP9, AF7,
AF8, TP10 at 256 Hz, reference Fpz) show 4 cat (target) and 4 dog (non-target)
pictures, but which picture each trial showed was not logged: only the class.
So what cross-subject tools can do here is limited to the class:

- the decoded "latent" is the class (+1 target, -1 non-target) of each trial,
  scored by latent r (point-biserial r of decoded value and class) and AUC;
- within-subject: a subject's earlier recording files train, its last ~30 %
  test (folds group trials by recording file); across-subject: the pooled
  ridge of the other subjects (all their files), tested on the same test trials;
- alignment needs responses to stimuli every subject saw: the only ones are the
  two class-average ERPs of each subject's *training* trials, so the channel
  Procrustes map (4 x 4, 2 classes x time samples as observations, identity
  prior chosen by 2-fold CV over the classes) is fitted on those;
- noise ceilings, retrieval and two-way identification need several pictures
  with repetitions: impossible without picture identities (only 2 classes).

Usage::

    python scripts/muse_cross_subject.py <folder with P300/subjectN/sessionM/*.csv>
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from perceptogram._progress import set_quiet
from perceptogram.cross_subject import SubjectEpochs, evaluate_cross_subject
from perceptogram.cross_subject.evaluation import FeatureMap
from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.prepare import prepare
from perceptogram.linear.alignment import SharedSpace
from perceptogram.linear.pooled import PooledRidgeCV
from perceptogram.linear.ridge import AlphaGridEdgeWarning

CHANNELS = ("TP9", "AF7", "AF8", "TP10")
SFREQ = 256.0
TMIN, TMAX = -0.1, 0.8
WINDOW = (0.1, 0.6)


def read_subject(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Epochs (n, 4, n_times) in volts and classes (+1/-1) of every recording file, in time order."""
    import mne

    out = []
    for path in sorted(folder.glob("session*/*.csv")):
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        eeg = table[:, 1:5].T * 1e-6
        marker = table[:, 6]
        info = mne.create_info(list(CHANNELS), SFREQ, "eeg")
        raw = mne.io.RawArray(eeg, info, verbose=False)
        raw.filter(1.0, 30.0, method="iir", verbose=False)
        onsets = np.flatnonzero(marker != 0)
        events = np.column_stack([onsets, np.zeros_like(onsets), marker[onsets].astype(int)])
        epochs = mne.Epochs(raw, events, {"non-target": 1, "target": 2}, TMIN, TMAX,
                            baseline=(TMIN, 0.0), reject={"eeg": 100e-6}, preload=True,
                            verbose=False, on_missing="ignore")
        if len(epochs):
            out.append((epochs.get_data(copy=True),
                        np.where(epochs.events[:, 2] == 2, 1.0, -1.0)))
    return out


def as_epochs(parts, name: str, first_file: int):
    data = np.concatenate([d for d, _ in parts])[:, None].astype(np.float32) * 1e6
    labels = np.concatenate([y for _, y in parts])
    files = [f"{name}-{i:05d}" for i in range(len(labels))]
    if len(parts) >= 5:  # cross-validation folds keep a recording file together
        groups = np.concatenate([np.full(len(y), f"{name}-file{first_file + k}")
                                 for k, (_, y) in enumerate(parts)])
    else:  # fewer files than folds: five contiguous blocks of trials
        groups = np.array([f"{name}-block{5 * i // len(labels)}" for i in range(len(labels))])
    times = np.linspace(TMIN, TMAX, data.shape[-1])
    return EEGEpochs(data, CHANNELS, times, files, groups), labels


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels > 0, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    args = parser.parse_args()
    set_quiet(True)
    warnings.simplefilter("ignore", AlphaGridEdgeWarning)
    subjects, train_lat, test_lat, train_files, test_files, test_labels = [], [], [], [], [], {}
    for folder in sorted((args.root / "P300").glob("subject*")):
        parts = read_subject(folder)
        name = folder.name
        if len(parts) >= 2:
            n_test = max(1, round(0.3 * len(parts)))
            train_parts, test_parts = parts[:-n_test], parts[-n_test:]
        else:  # one recording: its last 30 % of trials test
            data, y = parts[0]
            cut = int(0.7 * len(y))
            train_parts, test_parts = [(data[:cut], y[:cut])], [(data[cut:], y[cut:])]
        train, y_train = as_epochs(train_parts, f"{name}-train", 0)
        test, y_test = as_epochs(test_parts, f"{name}-test", len(train_parts))
        subjects.append(SubjectEpochs(name, train, test))
        train_lat.append(y_train)
        test_lat.append(y_test)
        train_files += train.image_files
        test_files += test.image_files
        test_labels[name] = y_test
        print(f"{name}: {len(parts)} files, train {len(y_train)} trials "
              f"({int((y_train > 0).sum())} targets), test {len(y_test)} trials")
    train_y = np.concatenate(train_lat)[:, None]
    test_y = np.concatenate(test_lat)[:, None]
    result = evaluate_cross_subject(
        subjects, train_y, test_y, train_files=train_files, test_files=test_files,
        protocols=("within", "across"), tmin=WINDOW[0], tmax=WINDOW[1], ceilings=False,
        n_boot=200, n_perm=200, keep_models=True, standardize=False)
    print("\nlatent r (point-biserial r of decoded value and class), per subject:")
    for row in result.rows:
        if row.metric == "latent r":
            print(f"  {row.subject:<9s} {row.method:<32s} {row.value:6.3f} "
                  f"[{row.ci_low:6.3f}, {row.ci_high:6.3f}]")
    # Alignment on the class-average ERPs of the training trials (the only shared stimuli).
    prepared = [prepare(s.train, s.test, tmin=WINDOW[0], tmax=WINDOW[1], zscore=False)
                for s in subjects]
    classes = [np.where(y > 0, 1, 0) for y in train_lat]
    offsets = np.cumsum([0] + [len(y) for y in train_lat])
    print("\nAUC of the decoded value (test trials):")
    for h, s in enumerate(subjects):
        others = [k for k in range(len(subjects)) if k != h]
        mean = {k: prepared[k][0].X.mean(axis=0) for k in range(len(subjects))}
        erps = {k: np.stack([prepared[k][0].X[classes[k] == c].mean(axis=0) - mean[k]
                             for c in (0, 1)]) for k in range(len(subjects))}
        space = SharedSpace("procrustes", "channels", n_channels=4, n_splits=2,
                            min_pictures=2).fit([erps[k] for k in others],
                                                [np.arange(2)] * len(others))
        maps = [FeatureMap.fit(prepared[k][0].X, m) for m, k in zip(space.maps_, others)]
        own = FeatureMap.fit(prepared[h][0].X, space.map_subject(erps[h], np.arange(2)))
        pooled = PooledRidgeCV(n_splits=5).fit(
            (m(prepared[k][0].X) for m, k in zip(maps, others)), train_y,
            pictures=[np.arange(offsets[k], offsets[k + 1]) for k in others],
            groups=np.concatenate([s_.train.concepts for s_ in subjects]))
        aligned = pooled.predict(own(prepared[h][1].X))[:, 0]
        y = test_labels[s.subject]
        scores = {"aligned (class ERPs)": aligned}
        for protocol in ("within", "across"):
            model = result.models[(protocol, s.subject)]
            scores[protocol] = model.predict(FeatureMap.fit(prepared[h][0].X)(
                prepared[h][1].X))[:, 0]
        weight = float(space.map_subject(erps[h], np.arange(2)).alpha[0])
        print(f"  {s.subject:<9s} " + "  ".join(f"{k} {auc(v, y):.3f}" for k, v in scores.items())
              + f"   (held-out identity-prior weight {weight:g})")


if __name__ == "__main__":
    main()
