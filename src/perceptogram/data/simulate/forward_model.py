"""EEG forward model of the simulator: dipoles in a spherical head seen by 17 electrodes.

A three-shell sphere (:func:`mne.make_sphere_model`) is fitted to the full
``easycap-M1`` montage; dipoles are placed in it as a discrete volume source
space (:func:`mne.setup_volume_source_space` with ``pos=dict(rr=..., nn=...)``)
and :func:`mne.make_forward_solution` gives their lead fields at the 17
posterior THINGS-EEG2 channels. All dipoles of a subject are solved in one call
and the lead fields are cached in memory, keyed by the dipole positions, so each
head is solved once per process.

Source positions are written as directions from the sphere centre in head
coordinates (+x right, +y nose, +z up) and a distance from the centre; planted
sources point radially outward (before a subject's small tilt), so a positive
source amplitude gives a positivity on the scalp above the source. The 1/f
background comes from many randomly oriented dipoles spread through the head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from perceptogram.data.core.montage import get_montage, make_info
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS as CHANNELS

SFREQ = 100.0
"""Sampling frequency of the THINGS-EEG2 release, Hz."""

TIMES: np.ndarray = np.round(np.arange(-20, 80) / SFREQ, 2)
"""Sample times of a THINGS-EEG2 epoch, seconds: -0.2 to 0.79 in 10 ms steps."""

SOURCE_DEPTH = 0.07
"""Default distance of a cortical source from the sphere centre, metres."""


@dataclass(frozen=True)
class Dipole:
    """A current dipole in head coordinates.

    Parameters
    ----------
    position : ndarray, shape (3,)
        Metres, head coordinates.
    orientation : ndarray, shape (3,)
        Unit vector.
    """

    position: np.ndarray
    orientation: np.ndarray


@lru_cache(maxsize=4)
def _head(ch_names: tuple[str, ...]):
    import mne

    montage = get_montage()
    full = mne.create_info(montage.ch_names, SFREQ, "eeg")
    full.set_montage(montage)
    sphere = mne.make_sphere_model(r0="auto", head_radius="auto", info=full, verbose=False)
    return make_info(ch_names, SFREQ), sphere


def sphere_centre(ch_names: tuple[str, ...] = CHANNELS) -> np.ndarray:
    """Centre of the sphere head model fitted to the whole easycap-M1 montage.

    Returns
    -------
    r0 : ndarray, shape (3,)
        Metres, head coordinates.
    """
    return np.asarray(_head(tuple(ch_names))[1]["r0"], dtype=float).copy()


def radial_dipole(direction: tuple[float, float, float], depth: float = SOURCE_DEPTH,
                  ch_names: tuple[str, ...] = CHANNELS) -> Dipole:
    """A radially oriented dipole at ``depth`` from the sphere centre.

    Parameters
    ----------
    direction : tuple of 3 float
        Direction from the sphere centre (need not be normalised).
    depth : float
        Distance from the centre, metres.
    """
    unit = np.asarray(direction, dtype=float)
    unit = unit / np.linalg.norm(unit)
    return Dipole(sphere_centre(ch_names) + depth * unit, unit)


@lru_cache(maxsize=16)
def _free_gain(ch_names: tuple[str, ...], positions: bytes) -> np.ndarray:
    import mne

    info, sphere = _head(ch_names)
    rr = np.frombuffer(positions, dtype=float).reshape(-1, 3)
    src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=np.tile([0.0, 0.0, 1.0], (len(rr), 1))),
                                        sphere=sphere, verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True,
                                    meg=False, verbose=False)
    n_used = len(fwd["src"][0]["vertno"])
    if n_used != len(rr):
        raise ValueError(f"{len(rr) - n_used} dipoles lie outside the inner skull sphere")
    gain = fwd["sol"]["data"].reshape(len(ch_names), len(rr), 3)
    gain.setflags(write=False)
    return gain


def lead_field(dipoles: list[Dipole], ch_names: tuple[str, ...] = CHANNELS) -> np.ndarray:
    """EEG lead field of fixed-orientation dipoles.

    Parameters
    ----------
    dipoles : list of Dipole, length n_sources
    ch_names : tuple of str, length n_channels

    Returns
    -------
    gain : ndarray, shape (n_channels, n_sources)
        Volts per ampere-metre, average reference not applied.
    """
    positions = np.ascontiguousarray([d.position for d in dipoles], dtype=float)
    orientations = np.array([d.orientation for d in dipoles], dtype=float)
    gain = _free_gain(tuple(ch_names), positions.tobytes())
    return np.einsum("csk,sk->cs", gain, orientations)


def waveform(times: np.ndarray, latency: float, width: float,
             rebound: float = 0.3) -> np.ndarray:
    """Evoked time course: a Gaussian peak at ``latency`` and a smaller late rebound.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Seconds.
    latency : float
        Time of the main peak, seconds; the absolute maximum is there.
    width : float
        Standard deviation of the main peak, seconds.
    rebound : float
        Relative size of the opposite-signed lobe 2.5 widths later (1.5 times wider).

    Returns
    -------
    course : ndarray, shape (n_times,)
        Peak value 1 near ``latency``.
    """
    main = np.exp(-0.5 * ((times - latency) / width) ** 2)
    late = np.exp(-0.5 * ((times - latency - 2.5 * width) / (1.5 * width)) ** 2)
    return main - rebound * late


def _covariance_root(covariance: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor ``L`` with ``L @ L.T == covariance`` (plus a tiny ridge)."""
    ridge = 1e-10 * np.trace(covariance) / len(covariance)
    return np.linalg.cholesky(covariance + ridge * np.eye(len(covariance)))


def _toeplitz_root(autocovariance: np.ndarray) -> np.ndarray:
    """Mixing matrix of a stationary process with the given autocovariance."""
    from scipy.linalg import toeplitz

    return _covariance_root(toeplitz(autocovariance))


def pink_temporal_root(n_times: int, sfreq: float = SFREQ, exponent: float = 1.0,
                       knee: float = 1.0) -> np.ndarray:
    """Temporal mixing matrix of unit-variance 1/f noise.

    ``white @ root.T`` turns white noise of shape ``(..., n_times)`` into a
    stationary process with power spectrum ``1 / (knee**exponent + f**exponent)``
    (flat below ``knee`` Hz, 1/f above) and unit variance.

    Parameters
    ----------
    n_times : int
    sfreq : float
        Hz.
    exponent : float
        Power-law exponent of the spectrum.
    knee : float
        Hz.

    Returns
    -------
    root : ndarray, shape (n_times, n_times)
        Lower triangular; ``root @ root.T`` is the Toeplitz covariance.
    """
    n_fft = 64 * n_times
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sfreq)
    autocovariance = np.fft.irfft(1.0 / (knee ** exponent + freqs ** exponent), n_fft)[:n_times]
    return _toeplitz_root(autocovariance / autocovariance[0])


def alpha_temporal_root(n_times: int, sfreq: float = SFREQ, frequency: float = 10.0,
                        decay: float = 0.3) -> np.ndarray:
    """Temporal mixing matrix of a unit-variance narrow-band (alpha) rhythm.

    The process has autocovariance ``cos(2 pi frequency tau) exp(-|tau| / decay)``:
    a rhythm at ``frequency`` Hz whose phase and amplitude drift over about
    ``decay`` seconds (bandwidth about ``1 / (pi decay)`` Hz).

    Parameters
    ----------
    n_times : int
    sfreq : float
        Hz.
    frequency : float
        Hz.
    decay : float
        Seconds.

    Returns
    -------
    root : ndarray, shape (n_times, n_times)
    """
    lags = np.arange(n_times) / sfreq
    return _toeplitz_root(np.cos(2.0 * np.pi * frequency * lags) * np.exp(-lags / decay))


@dataclass(frozen=True)
class PlantedEffect:
    """One attribute's planted source: where, when, how strong.

    Parameters
    ----------
    name : str
        Attribute name (``"hue"``, ...).
    description : str
        One sentence for people reading the ground truth.
    side : str
        ``"medial"``, ``"lateral"`` (bilateral) or ``"right"``.
    directions : tuple of 3-tuples
        Source directions from the sphere centre (head coordinates).
    weights : tuple of float
        Relative signed dipole moments, one per direction.
    latency : float
        Peak time, seconds.
    width : float
        Standard deviation of the peak, seconds.
    amplitude : float
        Peak absolute value of the pattern for a one-unit feature, in units of
        the single-trial noise standard deviation (before ``signal_scale``).
    """

    name: str
    description: str
    side: str
    directions: tuple[tuple[float, float, float], ...]
    weights: tuple[float, ...]
    latency: float
    width: float
    amplitude: float


PLANTED_EFFECTS: tuple[PlantedEffect, ...] = (
    PlantedEffect("brightness", "global luminance: medial parieto-occipital positivity at "
                  "80 ms for brighter images", "medial", ((0.0, -0.95, 0.3),), (1.0,), 0.08,
                  0.018, 0.5),
    PlantedEffect("hue", "warm-cool hue axis cos(hue - 30 deg): medial occipital negativity "
                  "at 100 ms for red, positivity for blue", "medial", ((0.0, -1.0, -0.45),),
                  (-1.0,), 0.10, 0.015, 0.45),
    PlantedEffect("texture", "high spatial-frequency energy: bilateral lateral occipital "
                  "positivity at 120 ms for textured images (negativity for smooth)",
                  "lateral", ((-0.6, -0.85, -0.45), (0.6, -0.85, -0.45)), (1.0, 1.0),
                  0.12, 0.018, 0.40),
    PlantedEffect("size", "object size: medial parietal-occipital positivity at 140 ms for "
                  "larger objects", "medial", ((0.0, -0.8, 0.55),), (1.0,), 0.14, 0.025, 0.35),
    PlantedEffect("superclass", "animate (+1) vs food (-1): right occipito-temporal "
                  "negativity at 180 ms for animate objects", "right",
                  ((0.75, -0.55, -0.45), (-0.75, -0.55, -0.45)), (-1.0, -0.15),
                  0.18, 0.025, 0.45),
)
"""The attribute effects every simulated subject carries."""

CATEGORY_DIRECTIONS: tuple[tuple[float, float, float], ...] = (
    (0.8, -0.45, -0.4), (-0.8, -0.45, -0.4), (0.5, -0.75, -0.5), (-0.5, -0.75, -0.5),
    (0.3, -0.9, -0.2), (-0.3, -0.9, -0.2),
)
"""Ventral occipito-temporal sources mixed differently by each object class."""

CATEGORY_AMPLITUDE = 0.25
CATEGORY_LATENCY_RANGE = (0.15, 0.25)
CATEGORY_WIDTH = 0.03
IDIOSYNCRATIC_AMPLITUDE = 0.12
IDIOSYNCRATIC_LATENCY_RANGE = (0.2, 0.4)
IDIOSYNCRATIC_WIDTH = 0.04
ALPHA_DIRECTIONS: tuple[tuple[float, float, float], ...] = (
    (-0.45, -0.8, 0.35), (0.45, -0.8, 0.35), (0.0, -0.9, 0.25),
)
N_BACKGROUND_SOURCES = 200


@dataclass(frozen=True)
class SourceDesign:
    """Random parts of the source model shared by every subject of a dataset.

    Parameters
    ----------
    categories : tuple of str, length n_classes
    superclasses : tuple of str, length n_classes
    category_weights : ndarray, shape (n_classes, len(CATEGORY_DIRECTIONS))
        Moment of each ventral source in each class's response.
    category_latencies : ndarray, shape (n_classes,)
        Seconds.
    idiosyncratic_dipoles : tuple of Dipole, length n_idiosyncratic
        Sources of the image-specific components.
    idiosyncratic_latencies : ndarray, shape (n_idiosyncratic,)
        Seconds.
    """

    categories: tuple[str, ...]
    superclasses: tuple[str, ...]
    category_weights: np.ndarray
    category_latencies: np.ndarray
    idiosyncratic_dipoles: tuple[Dipole, ...]
    idiosyncratic_latencies: np.ndarray


def make_source_design(categories: tuple[str, ...], superclasses: tuple[str, ...],
                       n_idiosyncratic: int, rng: np.random.Generator) -> SourceDesign:
    """Draw the class-specific and image-specific sources of a dataset.

    Parameters
    ----------
    categories, superclasses : tuple of str, length n_classes
    n_idiosyncratic : int
        Number of image-specific components.
    rng : numpy.random.Generator
    """
    n_classes = len(categories)
    weights = rng.normal(size=(n_classes, len(CATEGORY_DIRECTIONS)))
    latencies = rng.uniform(*CATEGORY_LATENCY_RANGE, n_classes)
    dipoles = []
    for _ in range(n_idiosyncratic):
        direction = rng.normal(size=3)
        direction[1] = -abs(direction[1]) - 0.5  # posterior half of the head
        dipoles.append(radial_dipole(tuple(direction), rng.uniform(0.06, 0.075)))
    return SourceDesign(tuple(categories), tuple(superclasses), weights, latencies,
                        tuple(dipoles),
                        rng.uniform(*IDIOSYNCRATIC_LATENCY_RANGE, n_idiosyncratic))


@dataclass(frozen=True)
class NoiseModel:
    """Trial noise: spatially correlated 1/f background, alpha rhythm, sensor noise.

    Each component is white Gaussian noise mixed in space and in time by fixed
    matrices, so a batch of epochs costs three matrix products.

    Parameters
    ----------
    pink_mixing : ndarray, shape (n_channels, n_channels)
        Cholesky factor of the channel covariance of the 1/f background (which comes
        from many random dipoles), scaled to its share of the variance.
    pink_temporal : ndarray, shape (n_times, n_times)
        See :func:`pink_temporal_root`.
    alpha_gain : ndarray, shape (n_channels, n_alpha)
        Lead fields of the alpha generators, scaled to their share.
    alpha_temporal : ndarray, shape (n_times, n_times)
        See :func:`alpha_temporal_root`.
    alpha_envelope : ndarray, shape (n_times,)
        Alpha amplitude over the epoch (1 before the stimulus, lower after it:
        event-related desynchronisation).
    sensor_sd : float
        Standard deviation of white, independent sensor noise.
    alpha_frequency : float
        Peak frequency of the alpha rhythm, Hz (recorded for the ground truth).
    """

    pink_mixing: np.ndarray
    pink_temporal: np.ndarray
    alpha_gain: np.ndarray
    alpha_temporal: np.ndarray
    alpha_envelope: np.ndarray
    sensor_sd: float
    alpha_frequency: float

    def sample(self, n_trials: int, rng: np.random.Generator) -> np.ndarray:
        """Draw independent noise epochs.

        Before the stimulus the variance per channel, averaged over channels,
        is 1.

        Parameters
        ----------
        n_trials : int
        rng : numpy.random.Generator

        Returns
        -------
        noise : ndarray of float32, shape (n_trials, n_channels, n_times)
        """
        n_channels, n_alpha = self.alpha_gain.shape
        n_times = len(self.alpha_envelope)
        f32 = np.float32
        white = rng.standard_normal((n_trials * n_channels, n_times), dtype=f32)
        pink = (white @ self.pink_temporal.T.astype(f32)).reshape(n_trials, n_channels, n_times)
        noise = np.matmul(self.pink_mixing.astype(f32), pink)
        rhythm = rng.standard_normal((n_trials * n_alpha, n_times), dtype=f32)
        rhythm = (rhythm @ self.alpha_temporal.T.astype(f32)).reshape(n_trials, n_alpha, n_times)
        noise += np.matmul(self.alpha_gain.astype(f32), rhythm * self.alpha_envelope.astype(f32))
        noise += f32(self.sensor_sd) * rng.standard_normal(noise.shape, dtype=f32)
        return noise


def _unit_mean_power(gain: np.ndarray) -> np.ndarray:
    return gain / np.sqrt(np.mean(np.sum(gain ** 2, axis=1)))


@dataclass(frozen=True)
class SubjectModel:
    """Everything needed to simulate one subject's epochs.

    Parameters
    ----------
    ch_names : tuple of str, length n_channels
    times : ndarray, shape (n_times,)
    patterns : dict of str to ndarray, shape (n_channels, n_times)
        EEG change for a one-unit increase of each attribute feature.
    category_patterns : dict of str to ndarray, shape (n_channels, n_times)
        Response specific to each object class, zero-mean within each superclass.
    idiosyncratic_patterns : ndarray, shape (n_idiosyncratic, n_channels, n_times)
        Components weighted by each image's own random coefficients.
    latencies : dict of str to float
        Peak time of each attribute effect in this subject, seconds.
    gains : dict of str to float
        Multiplicative gain of each attribute effect in this subject.
    noise : NoiseModel
    """

    ch_names: tuple[str, ...]
    times: np.ndarray
    patterns: dict[str, np.ndarray]
    category_patterns: dict[str, np.ndarray]
    idiosyncratic_patterns: np.ndarray
    latencies: dict[str, float]
    gains: dict[str, float]
    noise: NoiseModel

    def evoked(self, features: dict[str, np.ndarray], categories: np.ndarray,
               idiosyncratic: np.ndarray) -> np.ndarray:
        """Noise-free response to each image.

        Parameters
        ----------
        features : dict of str to ndarray, shape (n_images,)
            One entry per key of :attr:`patterns`.
        categories : ndarray of str, shape (n_images,)
            Class name of each image.
        idiosyncratic : ndarray, shape (n_images, n_idiosyncratic)
            Image-specific coefficients.

        Returns
        -------
        evoked : ndarray, shape (n_images, n_channels, n_times)
        """
        names = list(self.patterns)
        classes = list(self.category_patterns)
        design = np.column_stack(
            [np.asarray(features[n], dtype=float) for n in names]
            + [(np.asarray(categories) == c).astype(float) for c in classes]
            + [np.asarray(idiosyncratic, dtype=float)]
        )
        stacked = np.concatenate([np.stack([self.patterns[n] for n in names]),
                                  np.stack([self.category_patterns[c] for c in classes]),
                                  self.idiosyncratic_patterns])
        n_channels, n_times = stacked.shape[1:]
        return (design @ stacked.reshape(len(stacked), -1)).reshape(-1, n_channels, n_times)

    def trials(self, evoked: np.ndarray, n_repetitions: int,
               rng: np.random.Generator) -> np.ndarray:
        """Add independent noise per repetition and baseline-correct.

        Parameters
        ----------
        evoked : ndarray, shape (n_images, n_channels, n_times)
        n_repetitions : int
        rng : numpy.random.Generator

        Returns
        -------
        epochs : ndarray, shape (n_images, n_repetitions, n_channels, n_times)
            Baseline (``times < 0``) mean removed per epoch and channel.
        """
        n_images, n_channels, n_times = evoked.shape
        noise = self.noise.sample(n_images * n_repetitions, rng)
        epochs = noise.reshape(n_images, n_repetitions, n_channels, n_times) + evoked[:, None]
        epochs -= epochs[..., self.times < 0].mean(axis=-1, keepdims=True)
        return epochs


def _jitter_dipole(dipole: Dipole, rng: np.random.Generator | None) -> Dipole:
    if rng is None:
        return dipole
    orientation = dipole.orientation + rng.normal(0.0, 0.15, 3)
    return Dipole(dipole.position + rng.normal(0.0, 0.004, 3),
                  orientation / np.linalg.norm(orientation))


def build_subject_model(design: SourceDesign, rng: np.random.Generator | None, *,
                        signal_scale: float = 1.0, noise_fractions: tuple[float, float, float]
                        = (0.55, 0.3, 0.15), ch_names: tuple[str, ...] = CHANNELS,
                        times: np.ndarray = TIMES) -> SubjectModel:
    """Place one subject's sources, solve the forward model and set up its noise.

    With ``rng=None`` the nominal head is returned: no jitter of positions,
    orientations, latencies or gains. A subject drawn with an ``rng`` has every
    source moved by about 4 mm and tilted by about 9 degrees, every latency
    shifted by about 6 ms, every gain scaled by about 10 %, its own alpha
    frequency and its own background sources. Amplitudes are calibrated on the
    nominal head, so the jitter changes them as moving a real source would.

    Parameters
    ----------
    design : SourceDesign
    rng : numpy.random.Generator or None
    signal_scale : float
        Multiplies every planted amplitude.
    noise_fractions : tuple of 3 float
        Shares of the noise variance from the 1/f background, alpha and
        sensor noise; normalised to sum to 1.
    ch_names : tuple of str
    times : ndarray, shape (n_times,)

    Returns
    -------
    model : SubjectModel
    """
    times = np.asarray(times, dtype=float)
    # Every dipole once; specs refer to them by index, so that a subject's jitter
    # moves a source shared by several responses (the ventral class sources) once.
    dipoles: list[Dipole] = []
    specs: list[tuple[str, list[int], np.ndarray, float, float]] = []

    def add(new: list[Dipole]) -> list[int]:
        dipoles.extend(new)
        return list(range(len(dipoles) - len(new), len(dipoles)))

    for effect in PLANTED_EFFECTS:
        index = add([radial_dipole(d, ch_names=ch_names) for d in effect.directions])
        specs.append((effect.name, index, np.asarray(effect.weights), effect.latency,
                      effect.width))
    category_index = add([radial_dipole(d, ch_names=ch_names) for d in CATEGORY_DIRECTIONS])
    for name, weights, latency in zip(design.categories, design.category_weights,
                                      design.category_latencies):
        specs.append((f"category:{name}", category_index, weights, float(latency),
                      CATEGORY_WIDTH))
    for k, (dipole, latency) in enumerate(zip(design.idiosyncratic_dipoles,
                                              design.idiosyncratic_latencies)):
        specs.append((f"idiosyncratic:{k}", add([dipole]), np.ones(1), float(latency),
                      IDIOSYNCRATIC_WIDTH))

    def raw_patterns(jitter: np.random.Generator | None) -> dict[str, np.ndarray]:
        gain = lead_field([_jitter_dipole(d, jitter) for d in dipoles], ch_names)
        out = {}
        for name, index, weights, latency, width in specs:
            shift = 0.0 if jitter is None else jitter.normal(0.0, 0.006)
            out[name] = np.outer(gain[:, index] @ weights,
                                 waveform(times, latency + shift, width))
        return out

    nominal = _centre_categories(raw_patterns(None), design)
    subject = nominal if rng is None else _centre_categories(raw_patterns(rng), design)

    amplitudes = {e.name: e.amplitude for e in PLANTED_EFFECTS}
    category_peak = max((np.abs(nominal[f"category:{c}"]).max() for c in design.categories),
                        default=0.0)
    category_scale = CATEGORY_AMPLITUDE / category_peak if category_peak > 0 else 0.0
    patterns, category_patterns, idiosyncratic, latencies, gains = {}, {}, [], {}, {}
    for name, *_ in specs:
        gain = 1.0 if rng is None else float(np.exp(rng.normal(0.0, 0.1)))
        if name.startswith("category:"):
            category_patterns[name.split(":", 1)[1]] = (
                signal_scale * gain * category_scale * subject[name])
            continue
        if name.startswith("idiosyncratic:"):
            scale = IDIOSYNCRATIC_AMPLITUDE / np.abs(nominal[name]).max()
            idiosyncratic.append(signal_scale * gain * scale * subject[name])
            continue
        scale = amplitudes[name] / np.abs(nominal[name]).max()
        patterns[name] = signal_scale * gain * scale * subject[name]
        gains[name] = gain
        latencies[name] = float(times[np.argmax(np.abs(patterns[name]).max(axis=0))])
    n_channels = len(ch_names)
    idiosyncratic_array = (np.stack(idiosyncratic) if idiosyncratic
                           else np.zeros((0, n_channels, len(times))))
    noise = _make_noise(rng, noise_fractions, ch_names, times)
    return SubjectModel(tuple(ch_names), times, patterns, category_patterns,
                        idiosyncratic_array, latencies, gains, noise)


def _centre_categories(patterns: dict[str, np.ndarray], design: SourceDesign
                       ) -> dict[str, np.ndarray]:
    """Remove from each class pattern the mean pattern of its superclass."""
    out = dict(patterns)
    for superclass in set(design.superclasses):
        members = [f"category:{c}" for c, s in zip(design.categories, design.superclasses)
                   if s == superclass]
        mean = np.mean([patterns[m] for m in members], axis=0)
        for m in members:
            out[m] = patterns[m] - mean
    return out


def _make_noise(rng: np.random.Generator | None, fractions: tuple[float, float, float],
                ch_names: tuple[str, ...], times: np.ndarray) -> NoiseModel:
    fractions_array = np.asarray(fractions, dtype=float)
    if fractions_array.shape != (3,) or np.any(fractions_array < 0) or fractions_array.sum() == 0:
        raise ValueError("noise_fractions must be three non-negative shares "
                         f"(1/f background, alpha, sensor); got {fractions}")
    pink, alpha, sensor = fractions_array / fractions_array.sum()
    # The nominal head (rng=None) gets a fixed background so it is reproducible.
    background_rng = np.random.default_rng(0) if rng is None else rng
    directions = background_rng.normal(size=(N_BACKGROUND_SOURCES, 3))
    depths = background_rng.uniform(0.03, 0.075, N_BACKGROUND_SOURCES)
    orientations = background_rng.normal(size=(N_BACKGROUND_SOURCES, 3))
    centre = sphere_centre(ch_names)
    background = [
        Dipole(centre + depth * d / np.linalg.norm(d), o / np.linalg.norm(o))
        for d, depth, o in zip(directions, depths, orientations)
    ]
    gain = _unit_mean_power(lead_field(background, ch_names))
    root = _covariance_root(gain @ gain.T)
    alpha_dipoles = [_jitter_dipole(radial_dipole(d, 0.065, ch_names), rng)
                     for d in ALPHA_DIRECTIONS]
    alpha_gain = _unit_mean_power(lead_field(alpha_dipoles, ch_names))
    frequency = 10.0 if rng is None else float(rng.normal(10.0, 0.7))
    sfreq = 1.0 / float(times[1] - times[0])
    envelope = 1.0 - 0.5 / (1.0 + np.exp(-(times - 0.25) / 0.05))
    return NoiseModel(np.sqrt(pink) * root, pink_temporal_root(len(times), sfreq),
                      np.sqrt(alpha) * alpha_gain,
                      alpha_temporal_root(len(times), sfreq, frequency), envelope,
                      float(np.sqrt(sensor)), frequency)


def channel_mixing(n_channels: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal channel mixing, from the identity (0) to a full scramble (>= 2).

    ``M = expm(strength * A)`` with ``A`` antisymmetric, its entries above the
    diagonal ``N(0, 1 / n_channels)``: a random rotation of the sensor space.
    ``trace(M) / n_channels``, how much each channel keeps of itself, is about
    0.97 at strength 0.25, 0.9 at 0.5, 0.6 at 1 and about 0 from 2 on.

    Parameters
    ----------
    n_channels : int
    strength : float
        ``>= 0``.
    rng : numpy.random.Generator

    Returns
    -------
    mixing : ndarray, shape (n_channels, n_channels)
        Orthogonal; a subject's sensor signal is ``mixing @ signal``.
    """
    from scipy.linalg import expm

    g = rng.standard_normal((n_channels, n_channels))
    return expm(strength * (g - g.T) / np.sqrt(2.0 * n_channels))


def mix_subject(model: SubjectModel, mixing: np.ndarray | None = None,
                noise_scale: float = 1.0) -> SubjectModel:
    """The same subject seen through another head's channel mixing, and/or noisier.

    Everything that comes from the brain passes through ``mixing``: every
    planted pattern (attribute, class and image-specific) becomes
    ``mixing @ pattern`` and so do the 1/f background and alpha generators'
    lead fields (the same sources reaching the electrodes through another head).
    Sensor noise, white and independent per channel, is unchanged by an
    orthogonal mixing. ``noise_scale`` multiplies the noise standard deviation.

    Parameters
    ----------
    model : SubjectModel
    mixing : ndarray, shape (n_channels, n_channels), or None
        Orthogonal (:func:`channel_mixing`); ``None`` keeps the head.
    noise_scale : float
        Multiplies the noise standard deviation.

    Returns
    -------
    SubjectModel
    """
    patterns, categories = model.patterns, model.category_patterns
    idiosyncratic = model.idiosyncratic_patterns
    noise = model.noise
    if mixing is not None:
        patterns = {k: mixing @ v for k, v in patterns.items()}
        categories = {k: mixing @ v for k, v in categories.items()}
        idiosyncratic = np.einsum("dc,kct->kdt", mixing, idiosyncratic)
        noise = replace(noise, pink_mixing=mixing @ noise.pink_mixing,
                        alpha_gain=mixing @ noise.alpha_gain)
    if noise_scale != 1.0:
        noise = replace(noise, pink_mixing=noise_scale * noise.pink_mixing,
                        alpha_gain=noise_scale * noise.alpha_gain,
                        sensor_sd=noise_scale * noise.sensor_sd)
    return replace(model, patterns=patterns, category_patterns=categories,
                   idiosyncratic_patterns=idiosyncratic, noise=noise)
