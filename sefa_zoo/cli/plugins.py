"""sefa-zoo CLI commands (placeholder: being written)."""


def _todo():
    raise NotImplementedError
plugins = _todo
