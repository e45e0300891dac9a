"""Explanations of classifier predictions: attribution maps, overlays and faithfulness scores.

Start with :func:`sightkit.explain.api.explain_images` or ``Classifier.explain``; the
modules beneath are ``layers`` (which layer Grad-CAM reads), ``methods`` (the captum
attribution methods), ``baselines``, ``faithfulness`` (deletion / insertion curves and the
weight-randomisation sanity check), ``overlay`` and ``html`` (the browsable index).
"""
