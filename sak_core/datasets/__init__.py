"""Built-in datasets: PASCAL-Context, NYUD-v2, ImageNet / image folders and synthetic scenes.

Each dataset is a :class:`~sak_core.plugin.specs.DatasetSpec` registered by :mod:`.plugin` through the
``sak.datasets`` entry point; its factory ``factory(root, split, train, input_size, tasks=None,
**options)`` returns a torch Dataset of samples in the format of docs/concepts.md. See
docs/datasets.md for layouts, environment variables and the ``on_error`` policy.
"""

from sak_core.datasets.errors import CorruptFileError, DatasetError, DataNotFoundError

__all__ = ["CorruptFileError", "DataNotFoundError", "DatasetError"]
