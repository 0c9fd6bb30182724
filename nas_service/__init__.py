"""nas-service: platform-aware neural architecture search as a service.

The core library. It never imports torch or ray at import time: the API process stays small and starts fast.
"""

__version__ = "0.1.0"
