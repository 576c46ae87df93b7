"""Writers of checkpoints in real third-party layouts, for tests, benchmarks and plugin authors.

Nothing here runs when sefa-zoo loads a model: these make fixture files that the loaders
must then read, without the original projects' code.
"""

from .nvidia_pickle import PersistentModule, save_nvidia_pickle
from .tf_pickle import TFNetworkSpec, save_tf_pickle, tf_pickle_bytes

__all__ = ["PersistentModule", "TFNetworkSpec", "save_nvidia_pickle", "save_tf_pickle", "tf_pickle_bytes"]
