"""Core EEG containers and the operations every format shares: channels, montages,
MNE conversion, image files and decoder-input preparation."""
