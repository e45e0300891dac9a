"""The tasks the service knows, in page order. A new task adds its module's ``TASK`` here."""

from __future__ import annotations

from sightkit.serve.routes import classify, detect, enhance, faces, inpaint, search
from sightkit.serve.task import ServedTask

TASKS: tuple[ServedTask, ...] = (classify.TASK, faces.TASK, enhance.TASK, inpaint.TASK, detect.TASK, search.TASK)
