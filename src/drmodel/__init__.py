"""drmodel: move trained AWS DeepRacer models between accounts and platforms, safely and verifiably."""

__version__ = "0.1.0"
