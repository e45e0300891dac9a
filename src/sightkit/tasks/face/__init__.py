"""Face recognition: detect, align, embed, enroll, identify, verify, calibrate, evaluate.

The facade is :class:`sightkit.tasks.face.api.FaceGallery`; see ``docs/faces.md``.
"""
