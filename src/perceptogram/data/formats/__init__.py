"""Dataset formats: the dataset registry and protocol, the on-disk layouts, the readers
of each registered format (official THINGS-EEG2, NICE, MNE/BIDS epochs), the restricted
unpickler and the float32 EEG cache."""
