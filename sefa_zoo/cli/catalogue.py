"""sefa-zoo CLI commands (placeholder: being written)."""


def _todo():
    raise NotImplementedError

list_models = info = _todo
