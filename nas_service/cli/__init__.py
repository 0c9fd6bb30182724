"""The ``nas`` command line; each command group lives in its own module and registers itself in ``main``."""
