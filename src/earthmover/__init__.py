"""earthmover: train GANs that work, and understand why they work."""
__version__ = "0.1.0"
from earthmover.errors import EarthmoverError  # noqa: E402,F401
