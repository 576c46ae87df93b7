"""What an architecture plugin declares: layouts it reads, its projection layers, its generator.

The core never looks inside a generator. It asks an ``Architecture`` which layers
project the latent code, for the weight matrix A_i (outputs x latent_dim) of each,
and — for rendering — for a ``Generator`` that maps and synthesizes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from .checkpoint import Checkpoint
from .errors import LayoutError, SefaZooError, SynthesisUnavailableError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ProjectionLayer:
    """One affine map from the latent code, in the architecture's layer order.

    ``index`` is the layer's position in the latent-code table (the W+ index for
    the StyleGAN family, 0 for a single first layer); ``name`` is a logical,
    layout-independent name; ``level`` is the resolution the layer works at.

    ``latent_part`` is empty when the layer's whole input is the latent code. A layer fed
    cat(z, something) — BigGAN's cat(z, class embedding), a one-hot label concatenated to z —
    is factorized on its z columns only: ``latent_dim`` counts those, and ``latent_part``
    says which they are, e.g. "z = input columns 0-127 of 256 (128-255: class embedding)".
    Banks record it.
    """

    index: int
    name: str
    outputs: int
    latent_dim: int
    level: int
    kind: str = "conv"
    latent_part: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return (self.outputs, self.latent_dim)


@runtime_checkable
class Generator(Protocol):
    """A generator ready to render: latent codes in, images in [-1, 1] (N, C, H, W) out.

    ``codes`` are per-layer latent codes of shape (N, num_layers, latent_dim): W+
    for the StyleGAN family, z repeated once (num_layers = 1) for z-space models.

    Class-conditional generators also have ``num_classes`` (> 0; unconditional ones may
    leave it out or set 0) and may have ``class_names`` (one name per class index, or None). The
    core then passes the classes, a long tensor of N class indices, to both calls:
    ``map(z, truncation_psi=..., truncation_cutoff=..., classes=...)`` and
    ``synthesize(codes, classes=..., truncation_psi=...)`` — the class may enter the
    mapping (StyleGAN2-ADA), every block (BigGAN), or both, and a generator whose
    synthesis depends on the truncation (BigGAN's batch-norm statistics) gets it there
    too. Unconditional generators are called exactly as the two signatures below.
    A conditional generator raises a one-line SefaZooError when ``classes`` is missing
    or out of range; the core refuses a class for an unconditional one. The core resolves
    a class given by name against ``class_names`` (case-insensitive), so generators only
    ever see indices.

    A generator may also have ``default_truncation_psi``, the truncation it is meant to be
    rendered at when the user gives none (BigGAN's samples are made at 0.4, say); without
    it, the core's default is 0.7 for per-layer codes and 1 (none) for one code
    (``sefa_zoo.editing.default_truncation_psi``).
    """

    z_dim: int
    latent_dim: int
    num_layers: int

    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor: ...

    def synthesize(self, codes: torch.Tensor) -> torch.Tensor: ...


class Architecture(ABC):
    """Base class for an architecture plugin. Subclass it and register an instance.

    Class attributes:
      name: unique registry name (``"stylegan2"``).
      layouts: the checkpoint layouts it reads, each name -> one-line description.
      latent_space: the space its projection layers act on (``"z"``, ``"w"``).
      options: architecture-specific options for ``layers``/``projection``,
        name -> one-line help; values arrive as strings from the CLI.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    layouts: ClassVar[Mapping[str, str]] = {}
    latent_space: ClassVar[str] = "z"
    options: ClassVar[Mapping[str, str]] = {}

    @abstractmethod
    def detect(self, checkpoint: Checkpoint) -> str | None:
        """The layout ``checkpoint`` is in, or None when this architecture cannot read it."""

    @abstractmethod
    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        """The projection layers, ordered by index; read from shapes only."""

    @abstractmethod
    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[torch.Tensor]:
        """A_i (outputs x latent_dim) for each index, loading only those tensors."""

    def layer_groups(self, num_layers: int) -> dict[str, tuple[int, ...]]:
        """Named layer groups. Default: the SeFa paper's bottom / middle / top."""
        groups = {
            "bottom": tuple(range(0, min(2, num_layers))),
            "middle": tuple(range(2, min(6, num_layers))),
            "top": tuple(range(6, num_layers)),
        }
        return {name: idx for name, idx in groups.items() if idx}

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
    ) -> Generator:
        raise SynthesisUnavailableError(f"architecture {self.name!r} cannot synthesize images yet")

    # helpers for subclasses

    def check_options(self, options: Mapping[str, Any]) -> None:
        """A one-line SefaZooError naming the first option this architecture does not declare."""
        for name in options:
            if name not in self.options:
                takes = f"known: {', '.join(self.options)}" if self.options else "it takes none"
                raise SefaZooError(f"architecture {self.name!r} has no option {name!r} ({takes})")

    def prepared_generator(self, generator: torch.nn.Module, device: str | torch.device) -> Any:
        """``generator`` frozen, in eval mode, float32, on ``device``; a one-line SefaZooError
        when the device cannot take it (an unknown name, no CUDA)."""
        generator.requires_grad_(False).eval()
        try:
            import torch

            return generator.to(device=device, dtype=torch.float32)
        except (RuntimeError, AssertionError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SefaZooError(f"cannot put the {self.name} generator on device {str(device)!r}: {reason}") from None

    def resolve_layout(self, checkpoint: Checkpoint, layout: str | None) -> str:
        """``layout`` if given and known, else the detected one; a LayoutError otherwise."""
        if layout is not None:
            if layout not in self.layouts:
                known = ", ".join(self.layouts) or "none"
                raise LayoutError(
                    f"architecture {self.name!r} has no layout {layout!r} (known: {known})"
                )
            return layout
        found = self.detect(checkpoint)
        if found is None:
            raise LayoutError(
                f"{checkpoint.label}: not a {self.name} checkpoint in any known layout "
                f"({', '.join(self.layouts)})"
            )
        return found
