"""Face recognition: detect, align, embed, enroll, identify, verify, calibrate, evaluate.

The facade is :class:`sightkit.tasks.face.api.FaceGallery`; :mod:`sightkit.faces` is the
public find/compare API on top of the same pipeline. See ``docs/faces.md``.
"""
