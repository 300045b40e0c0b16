"""Simulators with planted ground truth: THINGS-EEG2-style datasets (stimuli drawn in
code, EEG from a dipole forward model) and a second, confounded simulator."""
