"""Nexsets (data sets): derived nexsets and transforms, samples, docs."""
