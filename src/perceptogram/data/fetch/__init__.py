"""Fetching THINGS-EEG2 from OSF: bounded HTTP, resumable downloads, safe unzipping."""
