"""Training the demo StyleGAN2 on the shapes data set: seeded, resumable, logged.

    python -m sefa_zoo_plugins.stylegan2.demo.train --out DIR [--resume] [--kimg N]
        [--device cpu|cuda] [--seed S] [--batch 32] [--snapshot-kimg 10] [--threads N]

The recipe (StyleGAN2's, scaled down): the project's own generator (StyleGAN2Generator's
forward_mapping / forward_synthesis, random noise, unfused modulation as NVIDIA trains) with channels 128/128/64/32 at
4/8/16/32 px, z = w = 64, 4 mapping layers (learning rate x 0.01); the residual
discriminator of ``discriminator``; the non-saturating logistic loss; lazy R1 on reals
(gamma 0.05 every 16 steps, with Adam's lr and betas adjusted for the interval as in
StyleGAN2); style mixing with probability 0.9; Adam lr 0.0025, betas (0, 0.99); batch 32;
an EMA generator with a 10 kimg half-life ramped up over the first 5 % of images; w_avg
tracked with beta 0.995 (no truncation during training).

DIR receives ``snapshot.pt`` (G, G_ema, D, both optimisers, every random state and the
progress; written atomically every ``--snapshot-kimg`` kimg and at the end), ``log.txt``
(the lines printed), ``stylegan2-shapes.safetensors`` (G_ema in sefa-zoo's own layout,
float16) and ``samples.png`` (G_ema's images for seeds 0-63, psi 1). ``--resume`` continues
from the snapshot exactly as if the run had not stopped (same device and thread count).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from sefa_zoo import SefaZooError, atomic_path

from ..fixtures import StyleGAN2State, random_stylegan2_state
from ..generator import StyleGAN2Generator
from ..native import write_sefa_zoo
from .discriminator import Discriminator
from .shapes import SIZE, ShapesData

SNAPSHOT = "snapshot.pt"
WEIGHTS = "stylegan2-shapes.safetensors"
SAMPLES = "samples.png"
LOG = "log.txt"


@dataclass(frozen=True)
class Config:
    seed: int = 0
    batch: int = 32
    kimg: float = 1000.0
    snapshot_kimg: float = 10.0
    log_every: int = 50  # iterations
    z_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 4
    channel_base: int = 1024  # min(1024 // r, 128): 128 / 128 / 64 / 32 at 4 / 8 / 16 / 32 px
    channel_max: int = 128
    mapping_lr_multiplier: float = 0.01
    lr: float = 0.0025
    beta2: float = 0.99
    r1_gamma: float = 0.05
    r1_every: int = 16
    style_mixing: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    w_avg_beta: float = 0.995


def initial_state(config: Config) -> StyleGAN2State:
    """StyleGAN2's initialisation: N(0, 1) weights (over the mapping lr), zero biases and noise
    strengths, affine biases 1, w_avg 0; the constant-noise maps stay N(0, 1)."""
    state = random_stylegan2_state(
        SIZE, z_dim=config.z_dim, w_dim=config.w_dim, mapping_layers=config.mapping_layers,
        channel_base=config.channel_base, channel_max=config.channel_max,
        mapping_lr_multiplier=config.mapping_lr_multiplier, seed=config.seed,
    )
    for name, tensor in state.tensors.items():
        if name.endswith("affine.bias"):
            tensor.fill_(1.0)
        elif name.endswith((".bias", "noise_strength")) or name == "w_avg":
            tensor.zero_()
    return state


def trained_state(generator: StyleGAN2Generator, config: Config) -> StyleGAN2State:
    tensors = {name: t.detach().cpu().clone() for name, t in generator.state_dict().items()}
    return StyleGAN2State(
        SIZE, config.z_dim, config.w_dim, 3, config.mapping_layers, config.mapping_lr_multiplier,
        config.channel_base, config.channel_max, tensors,
    )


class Trainer:
    """Everything one run holds; ``step`` is one iteration (a G step, then a D step)."""

    def __init__(self, config: Config, device: str | torch.device = "cpu"):
        self.config = config
        self.device = torch.device(device)
        torch.manual_seed(config.seed)  # the discriminator's initial weights and the noise inputs
        self.G = StyleGAN2Generator(initial_state(config)).to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.D = Discriminator(SIZE, channel_base=config.channel_base, channel_max=config.channel_max)
        self.D = self.D.to(self.device)
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=(0.0, config.beta2), eps=1e-8)
        ratio = config.r1_every / (config.r1_every + 1)  # lazy regularisation's correction
        self.D_opt = torch.optim.Adam(
            self.D.parameters(), lr=config.lr * ratio, betas=(0.0, config.beta2**ratio), eps=1e-8
        )
        self.data = ShapesData(config.seed + 1, device=self.device)
        self.latents = torch.Generator().manual_seed(config.seed + 2)
        self.iteration = 0
        self.nimg = 0
        self.elapsed = 0.0  # seconds of training, over all sessions

    # ------------------------------------------------------------- one iteration

    def _z(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.config.z_dim, generator=self.latents).to(self.device)

    def _codes(self, count: int) -> torch.Tensor:
        """Per-layer codes with style mixing; tracks w_avg as StyleGAN2 does."""
        codes = self.G.forward_mapping(self._z(count))
        with torch.no_grad():
            self.G.w_avg.copy_(codes[:, 0].mean(dim=0).lerp(self.G.w_avg, self.config.w_avg_beta))
        draws = torch.rand(2, generator=self.latents)
        if draws[0] < self.config.style_mixing:
            cutoff = 1 + int(draws[1] * (self.G.num_layers - 1))
            other = self.G.forward_mapping(self._z(count))
            codes = torch.cat([codes[:, :cutoff], other[:, cutoff:]], dim=1)
        return codes

    def _fakes(self, count: int) -> torch.Tensor:
        return self.G.forward_synthesis(self._codes(count), noise_mode="random", fused_modconv=False)

    def step(self) -> dict[str, float]:
        batch = self.config.batch
        losses = {}
        # generator: softplus(-D(G(z)))
        self.D.requires_grad_(False)
        self.G_opt.zero_grad(set_to_none=True)
        loss_G = F.softplus(-self.D(self._fakes(batch))).mean()
        loss_G.backward()
        self.G_opt.step()
        losses["G"] = loss_G.item()
        # discriminator: softplus(D(G(z))) + softplus(-D(x)), and lazy R1 on the reals
        self.D.requires_grad_(True)
        self.D_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            fakes = self._fakes(batch)
        reals, _ = self.data.batch(batch)
        regularise = self.iteration % self.config.r1_every == 0
        reals.requires_grad_(regularise)
        real_logits = self.D(reals)
        loss_D = F.softplus(self.D(fakes)).mean() + F.softplus(-real_logits).mean()
        total = loss_D
        if regularise:
            (gradient,) = torch.autograd.grad(real_logits.sum(), reals, create_graph=True)
            penalty = gradient.square().sum(dim=(1, 2, 3)).mean()
            total = total + penalty * (self.config.r1_gamma / 2 * self.config.r1_every)
            losses["R1"] = penalty.item()
        total.backward()
        self.D_opt.step()
        losses["D"] = loss_D.item()
        self.nimg += batch
        self.iteration += 1
        self._update_ema()
        return losses

    @torch.no_grad()
    def _update_ema(self) -> None:
        half_life = min(self.config.ema_kimg * 1000, self.nimg * self.config.ema_rampup)
        beta = 0.5 ** (self.config.batch / max(half_life, 1e-8))
        for ema, live in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            ema.copy_(live.lerp(ema, beta))
        for ema, live in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            ema.copy_(live)

    # ------------------------------------------------------------- snapshots

    def state_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(),
            "G_opt": self.G_opt.state_dict(),
            "D_opt": self.D_opt.state_dict(),
            "data": self.data.state_dict(),
            "latents": self.latents.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "iteration": self.iteration,
            "nimg": self.nimg,
            "elapsed": self.elapsed,
        }

    def load_state_dict(self, snapshot: dict) -> None:
        for name in ("G", "G_ema", "D", "G_opt", "D_opt", "data"):
            getattr(self, name).load_state_dict(snapshot[name])
        self.latents.set_state(snapshot["latents"])
        torch.set_rng_state(snapshot["torch_rng"])
        if self.device.type == "cuda" and snapshot["cuda_rng"] is not None:
            torch.cuda.set_rng_state(snapshot["cuda_rng"])
        self.iteration, self.nimg, self.elapsed = snapshot["iteration"], snapshot["nimg"], snapshot["elapsed"]

    def save(self, out: Path) -> None:
        with atomic_path(out / SNAPSHOT) as tmp:
            torch.save(self.state_dict(), tmp)
        write_sefa_zoo(trained_state(self.G_ema, self.config), out / WEIGHTS, float16=True)
        save_samples(self.G_ema, out / SAMPLES)


@torch.no_grad()
def save_samples(generator: StyleGAN2Generator, path: Path, seeds: range = range(64)) -> None:
    """An 8-wide grid of the generator's images for ``seeds`` (NVIDIA's seed convention, psi 1)."""
    from PIL import Image

    from sefa_zoo import latents_from_seeds

    images = generator.synthesize(generator.map(latents_from_seeds(list(seeds), generator.z_dim).to(generator.device)))
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    columns = 8
    rows = math.ceil(len(pixels) / columns)
    grid = torch.zeros(3, rows * SIZE, columns * SIZE, dtype=torch.uint8)
    for i, image in enumerate(pixels):
        r, c = divmod(i, columns)
        grid[:, r * SIZE:(r + 1) * SIZE, c * SIZE:(c + 1) * SIZE] = image
    picture = Image.fromarray(grid.permute(1, 2, 0).numpy()).resize((columns * SIZE * 4, rows * SIZE * 4), Image.NEAREST)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")


def train(
    out: str | Path,
    config: Config = Config(),
    *,
    resume: bool = False,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Train until ``config.kimg`` thousand images; the losses of every iteration run here."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, device)
    if resume:
        if not (out / SNAPSHOT).is_file():
            raise SefaZooError(f"{out / SNAPSHOT}: no snapshot to resume from")
        snapshot = torch.load(out / SNAPSHOT, map_location=trainer.device, weights_only=True)
        saved = {k: v for k, v in snapshot["config"].items() if k not in ("kimg", "snapshot_kimg", "log_every")}
        wanted = {k: v for k, v in asdict(config).items() if k in saved}
        if saved != wanted:
            changed = sorted(k for k in saved if saved[k] != wanted[k])
            raise SefaZooError(f"{out / SNAPSHOT}: was trained with other settings ({', '.join(changed)})")
        trainer.load_state_dict(snapshot)
    history = []
    total = int(config.kimg * 1000)
    snapshot_every = max(1, int(config.snapshot_kimg * 1000))
    next_snapshot = (trainer.nimg // snapshot_every + 1) * snapshot_every
    window_start, window_nimg = time.perf_counter(), trainer.nimg
    with open(out / LOG, "a") as log_file:
        def emit(line: str) -> None:
            log(line)
            log_file.write(line + "\n")
            log_file.flush()

        emit(f"# {'resuming at' if resume else 'starting'} kimg {trainer.nimg / 1000:.3f}: {json.dumps(asdict(config))}")
        while trainer.nimg < total:
            started = time.perf_counter()
            losses = trainer.step()
            trainer.elapsed += time.perf_counter() - started
            history.append(losses)
            done = trainer.nimg >= total
            if trainer.iteration % config.log_every == 0 or done:
                now = time.perf_counter()
                seconds = now - window_start
                images = max(trainer.nimg - window_nimg, 1)
                r1 = f" R1 {losses['R1']:.4f}" if "R1" in losses else ""
                emit(
                    f"kimg {trainer.nimg / 1000:8.3f}  it {trainer.iteration:7d}  G {losses['G']:.4f}  "
                    f"D {losses['D']:.4f}{r1}  s/kimg {seconds / images * 1000:7.2f}  "
                    f"s/it {seconds / images * config.batch:.3f}  hours {trainer.elapsed / 3600:.2f}"
                )
                window_start, window_nimg = now, trainer.nimg
            if trainer.nimg >= next_snapshot or done:
                trainer.save(out)
                emit(f"# snapshot at kimg {trainer.nimg / 1000:.3f}")
                next_snapshot = (trainer.nimg // snapshot_every + 1) * snapshot_every
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the demo StyleGAN2 on procedural shapes (resumable).")
    parser.add_argument("--out", required=True, help="folder for the snapshot, log, weights and samples")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/snapshot.pt")
    parser.add_argument("--kimg", type=float, default=Config.kimg, help="train until this many thousand images")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--batch", type=int, default=Config.batch)
    parser.add_argument("--snapshot-kimg", type=float, default=Config.snapshot_kimg)
    parser.add_argument("--log-every", type=int, default=Config.log_every, help="iterations between log lines")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch (default: torch's choice); 1 is far faster when other processes share the cores",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    config = Config(
        seed=args.seed, batch=args.batch, kimg=args.kimg, snapshot_kimg=args.snapshot_kimg, log_every=args.log_every
    )
    try:
        train(args.out, config, resume=args.resume, device=args.device)
    except SefaZooError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
