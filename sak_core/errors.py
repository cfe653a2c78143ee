"""Exceptions raised by sak; each message says what went wrong and what to do next."""


class SakError(Exception):
    """Base class of every error sak raises on purpose."""


class PluginError(SakError):
    """A plugin could not be loaded or registered something invalid."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name."""


class UnknownNameError(SakError, KeyError):
    """A teacher, task or dataset name that no installed plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingPluginError(SakError):
    """A student head whose task no installed plugin provides."""


class SpecError(SakError):
    """A spec is inconsistent with what it is used with."""


class TargetError(SpecError, ValueError):
    """A task's targets do not hold what the task expects: the dataset's labels are wrong.
    (A ValueError too, as the helpers of :mod:`sak_core.plugin.task_helpers` raised before it existed.)"""


class ConfigError(SakError):
    """A configuration file or override is invalid."""


class CheckpointError(SakError):
    """A checkpoint is missing, corrupt or does not fit the model."""


class RandomWeightsWarning(UserWarning):
    """A teacher was built with random weights (tests, demos): its features teach nothing."""


class ConvertedWeightsWarning(UserWarning):
    """A teacher's weights file was in another library's layout and was converted on the fly."""


class EnvironmentProblem(SakError):
    """The machine refused something sak asked of it (a read-only folder, a full disk, a file-size
    limit, a name too long, a file that is not UTF-8): nothing the user typed was wrong as such,
    and nothing in sak is broken. Built by :func:`sak_core.runtime.files.environment_problem`."""


class ExportError(SakError):
    """A student cannot be exported as asked (missing exporter packages, a bad size or task)."""


class DatasetError(SakError):
    """A dataset cannot be built or read."""


class DataNotFoundError(DatasetError, FileNotFoundError):
    """A data root, split file or sample file is missing."""

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class SplitNotFoundError(DataNotFoundError):
    """A split the dataset has only when its folder holds it (the ``images`` dataset's
    ``root/val/``) is not there; a run without it trains without validating."""


class CorruptFileError(DatasetError):
    """A file exists but cannot be decoded."""
