"""Anomaly detection: learn what normal images look like, then score how far new ones are from it."""
