"""Datasets: IDX reading, the MNIST download cache, and the bundled offline sample."""
from digitnet.data.download import default_cache_dir
from digitnet.data.idx import read_idx, read_images, read_labels
from digitnet.data.mnist import Dataset, load_dataset, load_mnist, load_sample, resolve_dataset

__all__ = ["load_mnist", "load_dataset", "load_sample", "resolve_dataset", "Dataset",
           "read_idx", "read_images", "read_labels", "default_cache_dir"]
