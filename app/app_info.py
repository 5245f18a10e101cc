"""What the program's start and the window share: the app's title and the bundled sample
(found through importlib.resources, resources/__init__.py: a checkout, a wheel and a bundle)."""
from __future__ import annotations

import resources

APP_TITLE = "DIP Studio"
SAMPLE_IMAGE = resources.path(resources.SAMPLE_NOISY)
SAMPLE_REFERENCE = resources.path(resources.SAMPLE_CLEAN)
RESOURCES = SAMPLE_IMAGE.parent
