"""sefa-zoo CLI commands (placeholder: being written)."""


def _todo():
    raise NotImplementedError
download = _todo
