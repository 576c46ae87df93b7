"""Hand-made hostile checkpoints: a pickle payload wrapped as each container sefa-zoo reads.

Payloads are raw pickle opcodes, so a test can say exactly what a file asks for.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
CONTAINERS = ("pickle", "torch-zip", "torch-legacy")


def text(value: str) -> bytes:
    data = value.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def global_(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def proto(body: bytes, version: int = 2) -> bytes:
    return pickle.PROTO + bytes([version]) + body + pickle.STOP


def in_dict(key: str, value: bytes) -> bytes:
    """``{key: value}``, ``value`` being the opcodes that push it."""
    return pickle.EMPTY_DICT + text(key) + value + pickle.SETITEM


def write(path: Path, payload: bytes, container: str) -> Path:
    """``payload`` (a whole pickle) as a plain pickle, the data.pkl of a torch zip, the object
    tree of a legacy torch file, or an item of Gs's state in a TensorFlow pickle (``tf-pickle``)."""
    if container == "pickle":
        path.write_bytes(payload)
    elif container == "torch-zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("archive/data.pkl", payload)
            archive.writestr("archive/version", "3\n")
    elif container == "torch-legacy":
        legacy_file(path, payload, [], b"")
    elif container == "tf-pickle":  # the payload's object as an item of Gs's state
        path.write_bytes(tf_pickle(tf_state(text("payload") + payload[2:-1] + pickle.SETITEM), payload[1]))
    else:
        raise ValueError(container)
    return path


def legacy_file(path: Path, tree: bytes, keys: list[str], storages: bytes) -> Path:
    head = b"".join(pickle.dumps(v, protocol=2) for v in (
        LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True, "type_sizes": {}}))
    path.write_bytes(head + tree + pickle.dumps(keys, protocol=2) + storages)
    return path


# NVIDIA's TensorFlow pickles: (G, D, Gs), each a dnnlib.tflib.network.Network made by NEWOBJ and filled by BUILD.

TF_NETWORK = global_("dnnlib.tflib.network", "Network")


def tf_state(extra: bytes = b"", *, variables: bytes = pickle.EMPTY_LIST) -> bytes:
    """A Network's state dict: version 4, name, no static kwargs or components, ``variables``
    (opcodes pushing the list), then ``extra`` (opcodes that set more items on the dict)."""
    fields = (
        text("version") + pickle.BININT1 + b"\x04" + text("name") + text("Gs")
        + text("static_kwargs") + pickle.EMPTY_DICT + text("components") + pickle.EMPTY_DICT
        + text("variables") + variables
    )
    return pickle.EMPTY_DICT + pickle.MARK + fields + pickle.SETITEMS + extra


def tf_network(state: bytes) -> bytes:
    return TF_NETWORK + pickle.EMPTY_TUPLE + pickle.NEWOBJ + state + pickle.BUILD


def tf_pickle(gs_state: bytes, version: int = 2) -> bytes:
    """A whole TensorFlow pickle: G and D plain, Gs with ``gs_state``."""
    plain = tf_network(tf_state())
    return proto(plain + plain + tf_network(gs_state) + pickle.TUPLE3, version)
