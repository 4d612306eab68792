"""scpaper: the library behind the book that reads convolutional networks as sparse coding."""

__version__ = "0.1.0"
