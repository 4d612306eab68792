"""scpaper: the library behind the book that reads convolutional networks as sparse coding.

Three roles, imports pointing one way (see scpaper/README.md):

- concept modules at the top (thresholds, lasso, fista, pursuit, coherence, dictionary, orthogonal,
  whitening, csc, scnet, mlcsc, rescsc, msdcsc, mlista, sdnet, sensitivity, robustness, distortion, …):
  the papers' mathematics; they import each other and scpaper.data, never the two folders below;
- scpaper.data: the data sets, their sha256 registry and the download command;
- scpaper.book: the book's pipeline (scales and presets, cache, claims and verdicts, glue, plotting
  style, the chapter runner, the command line);
- scpaper.chapters: one module per chapter (chN_<name> for book/0N_<name>.md) holding its experiment
  drivers and figures; they call the concepts and wrap the expensive steps in the book's cache.
"""

__version__ = "0.1.0"
