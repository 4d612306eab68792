"""Make the class-balanced CIFAR-10 subset committed in data/cifar10_subset/.

Usage: python scripts/make_cifar10_subset.py SOURCE_DIR
SOURCE_DIR holds the full CIFAR-10 `.npy` shards (cifar10/train_images_00.npy ... test_labels.npy),
for instance the folder that `python -m scpaper download` fills. The selection is deterministic:
500 training and 100 test images per class, drawn without replacement with numpy's PCG64 seeded
by 20240601, then shuffled so that no class is contiguous. The row indices into the full arrays are
saved beside the images, so the subset can be traced back to the original file names.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

PER_CLASS = {"train": 500, "test": 100}
SEED = 20240601


def _load(source: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the full uint8 images (N, 32, 32, 3) and labels of one split."""
    if split == "train":
        images = np.concatenate([np.load(source / f"cifar10/train_images_{i:02d}.npy") for i in range(5)])
    else:
        images = np.load(source / "cifar10/test_images.npy")
    return images, np.load(source / f"cifar10/{split}_labels.npy")


def main(source: Path, dest: Path) -> None:
    """Write the subset's images, labels and indices to dest and print their sha256."""
    rng = np.random.default_rng(SEED)
    dest.mkdir(parents=True, exist_ok=True)
    for split, per_class in PER_CLASS.items():
        images, labels = _load(source, split)
        index = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)])
        index = rng.permutation(index)
        for name, array in (("images", images[index]), ("labels", labels[index]), ("index", index.astype(np.int64))):
            path = dest / f"{split}_{name}.npy"
            np.save(path, array)
            print(f"{path.name} {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/make_cifar10_subset.py SOURCE_DIR")
    main(Path(sys.argv[1]), Path(__file__).resolve().parents[1] / "data" / "cifar10_subset")
