"""The StyleGAN2 generator: reading every layout into one module, and what the module computes.

Agreement with the original implementations (NVIDIA's, rosinality's) on stored reference
outputs is tests/test_stylegan2_fidelity.py; here the module is checked against direct
computations written out in the tests, and the layouts against each other.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sefa_zoo import Checkpoint, Generator, LayoutError, SefaZooError, open_checkpoint
from sefa_zoo_plugins.stylegan2.generator import modulated_conv2d, upsample_image
from sefa_zoo_plugins.stylegan2.reader import W_AVG_SAMPLES, estimate_w_avg, read_conv_clamp
from sefa_zoo_plugins.stylegan2 import (
    FIXTURE_LAYOUTS,
    StyleGAN2,
    StyleGAN2Generator,
    random_stylegan2_state,
    read_stylegan2_state,
    save_stylegan2,
    stylegan2_state_dict,
)

PREFIXES = {"rosinality": "g_ema.", "nvidia": "G_ema.", "nvidia-tf": "Gs.", "genforce": "generator_smooth.",
            "sefa-zoo": ""}
FILE_LAYOUT = {"rosinality": "rosinality", "rosinality-snapshot": "rosinality", "nvidia": "nvidia", "nvidia-tf": "nvidia-tf",
               "genforce": "genforce", "huggan": "genforce", "sefa-zoo": "sefa-zoo"}
Z_DIM = 12


def tiny_state(resolution: int = 32, **kwargs):
    kwargs = {"w_dim": Z_DIM, "z_dim": Z_DIM, "channel_base": 256, "channel_max": 16, "mapping_layers": 2, **kwargs}
    return random_stylegan2_state(resolution, **kwargs)


def as_checkpoint(state, layout: str) -> Checkpoint:
    tensors = {PREFIXES[layout] + k: v for k, v in stylegan2_state_dict(state, layout).items()}
    if layout == "rosinality":
        tensors["latent_avg"] = state.tensors["w_avg"]
    return Checkpoint.from_tensors(tensors)


def latents(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed))


def assert_same_state(read, state, *, skip=()):
    fields = ("resolution", "z_dim", "w_dim", "img_channels", "mapping_layers", "mapping_lr_multiplier",
              "channel_base", "channel_max")
    assert [getattr(read, f) for f in fields] == [getattr(state, f) for f in fields]
    assert set(read.tensors) == set(state.tensors)
    for name, tensor in state.tensors.items():
        if name not in skip:
            assert read.tensors[name].dtype == tensor.dtype, name
            assert torch.equal(read.tensors[name], tensor), name


@pytest.fixture(scope="module")
def state():
    return tiny_state()


@pytest.fixture(scope="module")
def files(state, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stylegan2-synthesis")
    return {layout: save_stylegan2(state, folder / f"{layout}.bin", layout) for layout in FIXTURE_LAYOUTS}


@pytest.fixture(scope="module")
def generator(state):
    return StyleGAN2().build_generator(as_checkpoint(state, "nvidia"))


# ---------------------------------------------------------------- reading every layout


@pytest.mark.parametrize("layout", PREFIXES)
def test_reading_inverts_each_layouts_state_dict_exactly(state, layout):
    assert_same_state(read_stylegan2_state(as_checkpoint(state, layout), layout), state)


@pytest.mark.parametrize("file_layout", ["rosinality", "nvidia", "nvidia-tf", "genforce", "huggan", "sefa-zoo"])
def test_reading_real_files_gives_back_the_ema_state(state, files, file_layout):
    checkpoint = open_checkpoint(files[file_layout])
    assert_same_state(read_stylegan2_state(checkpoint, FILE_LAYOUT[file_layout]), state)


def test_training_snapshot_without_average_w_gets_the_seeded_mapping_mean(state, files):
    read = read_stylegan2_state(open_checkpoint(files["rosinality-snapshot"]), "rosinality")
    assert_same_state(read, state, skip={"w_avg"})
    assert torch.equal(read.tensors["w_avg"], estimate_w_avg(state))
    # an independent sample of the same mapping agrees up to sampling error
    mapping_mean = StyleGAN2Generator(state).map(latents(W_AVG_SAMPLES, seed=123))[:, 0].mean(dim=0)
    spread = StyleGAN2Generator(state).map(latents(W_AVG_SAMPLES, seed=123))[:, 0].std(dim=0)
    assert (read.tensors["w_avg"] - mapping_mean).abs().max() < 5 * spread.max() / math.sqrt(W_AVG_SAMPLES)


def test_float16_checkpoints_load_as_float32(state):
    half = tiny_state(dtype=torch.float16)
    g = StyleGAN2().build_generator(as_checkpoint(half, "genforce"))
    assert {p.dtype for p in g.state_dict().values()} == {torch.float32}
    as_float = StyleGAN2Generator(read_stylegan2_state(as_checkpoint(half, "nvidia"), "nvidia"))
    codes = g.map(latents())
    assert torch.equal(g.synthesize(codes), as_float.synthesize(codes))


def test_conv_clamp_comes_from_the_nvidia_pickle_only(files):
    assert read_conv_clamp(open_checkpoint(files["nvidia"]), "nvidia") == 256.0
    for file_layout in ("rosinality", "nvidia-tf", "genforce", "huggan", "sefa-zoo"):
        assert read_conv_clamp(open_checkpoint(files[file_layout]), FILE_LAYOUT[file_layout]) is None
    assert StyleGAN2().build_generator(open_checkpoint(files["nvidia"])).conv_clamp == 256.0


def test_building_reads_only_the_generator_and_uses_its_tensors_in_place(state, files):
    opened = open_checkpoint(files["rosinality-snapshot"])
    read = []

    def loader(name):
        read.append(name)
        return opened[name]

    StyleGAN2().build_generator(Checkpoint({k: opened.shape(k) for k in opened}, loader, objects=opened.objects))
    assert len(read) == len(set(read))
    assert read and all(name.startswith("g_ema.") for name in read)  # never g, d or the optimisers
    assert not any(name.endswith(".kernel") for name in read)

    checkpoint = as_checkpoint(state, "nvidia")
    g = StyleGAN2().build_generator(checkpoint)
    stored = checkpoint["G_ema.synthesis.b16.conv0.weight"]
    assert g.state_dict()["16x16.conv0.weight"].data_ptr() == stored.data_ptr()


# ---------------------------------------------------------------- the same image from every layout


def test_every_layout_synthesizes_the_same_image(files):
    truncated, untruncated = {}, {}
    for file_layout, path in files.items():
        g = StyleGAN2().build_generator(open_checkpoint(path))
        truncated[file_layout] = g.synthesize(g.map(latents(), truncation_psi=0.7, truncation_cutoff=4))
        untruncated[file_layout] = g.synthesize(g.map(latents()))
    assert truncated["nvidia"].abs().max() > 0.5  # a real picture, not a blank
    for file_layout in files:
        assert (untruncated[file_layout] - untruncated["nvidia"]).abs().max() < 1e-5, file_layout
        if file_layout != "rosinality-snapshot":  # it has no stored average w to truncate towards
            assert (truncated[file_layout] - truncated["nvidia"]).abs().max() < 1e-5, file_layout


def test_the_generator_is_a_sefa_zoo_generator(generator):
    assert isinstance(generator, Generator)
    assert (generator.z_dim, generator.latent_dim, generator.num_layers) == (Z_DIM, Z_DIM, 8)
    codes = generator.map(latents(2).double())
    assert codes.shape == (2, 8, Z_DIM) and codes.dtype == torch.float32
    images = generator.synthesize(codes)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32 and images.device.type == "cpu"
    assert not images.requires_grad and not codes.requires_grad


def test_bad_inputs_are_refused_with_one_line_messages(generator):
    with pytest.raises(SefaZooError, match=r"z of shape \(N, 12\)"):
        generator.map(torch.zeros(2, 5))
    with pytest.raises(SefaZooError, match=r"codes of shape \(N, 8, 12\)"):
        generator.synthesize(torch.zeros(2, 7, Z_DIM))
    with pytest.raises(SefaZooError, match="noise mode 'fixed'"):
        generator.synthesize(torch.zeros(1, 8, Z_DIM), noise_mode="fixed")
    with pytest.raises(SefaZooError, match="cutoff"):
        generator.map(latents(1), truncation_psi=0.5, truncation_cutoff=-1)


def test_cannot_use_an_unknown_device(state):
    with pytest.raises(SefaZooError, match="device 'nodevice'"):
        StyleGAN2().build_generator(as_checkpoint(state, "nvidia"), device="nodevice")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu(state, generator):
    gpu = StyleGAN2().build_generator(as_checkpoint(state, "nvidia"), device="cuda")
    codes = generator.map(latents())
    assert gpu.synthesize(codes).device.type == "cuda"
    assert (gpu.synthesize(codes).cpu() - generator.synthesize(codes)).abs().max() < 1e-4


# ---------------------------------------------------------------- mapping and truncation


def test_mapping_is_the_normalised_equalised_dense_stack(state, generator):
    z = latents()
    x = z / z.square().mean(dim=1, keepdim=True).add(1e-8).sqrt()
    lr = state.mapping_lr_multiplier
    for i in range(state.mapping_layers):
        weight, bias = state.tensors[f"mapping.fc{i}.weight"], state.tensors[f"mapping.fc{i}.bias"]
        x = x @ (weight * lr / math.sqrt(weight.shape[1])).T + bias * lr
        x = torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    codes = generator.map(z)
    torch.testing.assert_close(codes, x[:, None].expand(-1, 8, -1), rtol=1e-5, atol=1e-6)


def test_truncation_pulls_the_first_cutoff_layers_to_the_average(state, generator):
    z = latents()
    free = generator.map(z)
    cut = generator.map(z, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.equal(cut[:, :3], state.tensors["w_avg"].expand(3, 3, -1))
    assert torch.equal(cut[:, 3:], free[:, 3:])
    half = generator.map(z, truncation_psi=0.5)  # no cutoff: every layer
    torch.testing.assert_close(half, (free + state.tensors["w_avg"]) / 2)
    assert torch.equal(generator.map(z, truncation_psi=1.0, truncation_cutoff=3), free)


# ---------------------------------------------------------------- synthesis


def test_an_edit_along_a_direction_changes_the_image(generator):
    codes = generator.map(latents(2), truncation_psi=0.7, truncation_cutoff=8)
    direction = torch.nn.functional.normalize(torch.randn(Z_DIM, generator=torch.Generator().manual_seed(5)), dim=0)
    base = generator.synthesize(codes)
    for layers in ([0, 1], [5, 6, 7]):
        edited = codes.clone()
        edited[:, layers] += 3.0 * direction
        change = (generator.synthesize(edited) - base).abs().mean()
        assert change > 0.05, layers
    assert torch.equal(generator.synthesize(codes.clone()), base)


def test_synthesis_is_deterministic_and_per_sample(state, generator):
    codes = generator.map(latents(4))
    batch = generator.synthesize(codes)
    assert torch.equal(batch, generator.synthesize(codes))
    assert torch.equal(batch, StyleGAN2().build_generator(as_checkpoint(state, "genforce")).synthesize(codes))
    for i in range(4):
        torch.testing.assert_close(generator.synthesize(codes[i : i + 1])[0], batch[i], rtol=0, atol=1e-5)


def test_noise_modes(state, generator):
    codes = generator.map(latents(2))
    const = generator.synthesize(codes)
    none = generator.synthesize(codes, noise_mode="none")
    assert (const - none).abs().max() > 1e-3  # the stored noise maps are used
    torch.manual_seed(11)
    random_a = generator.synthesize(codes, noise_mode="random")
    random_b = generator.synthesize(codes, noise_mode="random")
    torch.manual_seed(11)
    assert torch.equal(generator.synthesize(codes, noise_mode="random"), random_a)
    assert (random_a - random_b).abs().max() > 1e-3 and (random_a - const).abs().max() > 1e-3
    # with every noise strength at zero, the three modes agree
    quiet = {k: torch.zeros_like(v) if k.endswith("noise_strength") else v for k, v in state.tensors.items()}
    silent = StyleGAN2Generator(type(state)(**{**state.__dict__, "tensors": quiet}))
    outputs = [silent.synthesize(codes, noise_mode=mode) for mode in ("const", "random", "none")]
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])


def test_layer_outputs_are_clamped_when_the_checkpoint_says_so(state):
    clamped = StyleGAN2Generator(state, conv_clamp=0.25)
    peaks = []
    for module in clamped.modules():
        if hasattr(module, "conv_clamp"):
            module.register_forward_hook(lambda mod, args, out: peaks.append(out.abs().max().item()))
    images = clamped.synthesize(clamped.map(latents()))
    assert len(peaks) == 7 + 4 and max(peaks) <= 0.25
    unclamped = StyleGAN2Generator(state).synthesize(clamped.map(latents()))
    assert (images - unclamped).abs().max() > 0.1


def test_training_path_keeps_autograd(state):
    g = StyleGAN2Generator(state)
    images = g.forward_synthesis(g.forward_mapping(latents(1)), noise_mode="random")
    images.mean().backward()
    assert g.const.grad is not None and g.mapping.fc0.weight.grad is not None
    assert not g.synthesize(g.map(latents(1))).requires_grad


# ---------------------------------------------------------------- the operations, written out


def test_modulated_conv_equals_the_direct_per_sample_computation():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 6, 6, generator=gen)
    weight = torch.randn(4, 5, 3, 3, generator=gen)
    styles = torch.randn(2, 5, generator=gen)
    expected = []
    for i in range(2):
        w = weight * styles[i][None, :, None, None]
        w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        expected.append(F.conv2d(x[i : i + 1], w, padding=1))
    torch.testing.assert_close(modulated_conv2d(x, weight, styles), torch.cat(expected), rtol=1e-5, atol=1e-5)
    plain = modulated_conv2d(x, weight, styles, demodulate=False)
    torch.testing.assert_close(plain[1:], F.conv2d(x[1:] * styles[1][None, :, None, None], weight, padding=1))


def _fir(channels: int, gain: float) -> torch.Tensor:
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(taps, taps) / 64 * gain
    return kernel[None, None].repeat(channels, 1, 1, 1)


def test_upsampling_conv_is_zero_insertion_fir_then_convolution():
    # NVIDIA's generic path: zeros between pixels, pad 3/2, FIR x4, then a true convolution.
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 5, 4, 4, generator=gen)
    weight = torch.randn(3, 5, 3, 3, generator=gen)  # not symmetric: the orientation matters
    styles = torch.randn(2, 5, generator=gen)
    kernel = _fir(1, 1.0)[0, 0]
    expected = []
    for i in range(2):
        w = weight * styles[i][None, :, None, None]
        w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        up = torch.zeros(1, 5, 8, 8)
        up[:, :, ::2, ::2] = x[i : i + 1]
        up = F.conv2d(F.pad(up, [3, 2, 3, 2]), _fir(5, 4.0), groups=5)
        expected.append(F.conv2d(up, w.flip(2, 3)))
    result = modulated_conv2d(x, weight, styles, up_kernel=kernel)
    assert result.shape == (2, 3, 8, 8)
    torch.testing.assert_close(result, torch.cat(expected), rtol=1e-5, atol=1e-5)


def test_image_upsampling_is_a_strided_transposed_fir():
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(6))
    expected = F.conv_transpose2d(x, _fir(3, 4.0), stride=2, padding=1, groups=3)
    torch.testing.assert_close(upsample_image(x, _fir(1, 1.0)[0, 0]), expected)
    flat = upsample_image(torch.ones(1, 1, 6, 6), _fir(1, 1.0)[0, 0])
    torch.testing.assert_close(flat[:, :, 2:-2, 2:-2], torch.ones(1, 1, 8, 8))  # keeps a constant image


# ---------------------------------------------------------------- non-square pictures


def test_image_size_crops_the_middle_of_the_frame_as_for_the_car_model(state, generator):
    codes = generator.map(latents(2))
    frame = generator.synthesize(codes)
    # a 4:3 picture in a square frame: NVIDIA's center-crop-wide puts it at rows 64-447 of 512
    cropped = StyleGAN2().build_generator(as_checkpoint(state, "rosinality"), image_size=(32, 24))
    assert cropped.image_size == (32, 24)
    assert torch.equal(cropped.synthesize(codes), frame[:, :, 4:28, :])
    with pytest.raises(SefaZooError, match="64x24 does not fit in the generator's 32x32 frame"):
        cropped.set_image_size((64, 24))
    cropped.set_image_size(None)
    assert cropped.synthesize(codes).shape == frame.shape


def test_rectangular_generators_follow_their_const_and_noise_shapes(state):
    # StyleGAN-Human: a 4x2 const, noise maps half as wide, 1024x512 pictures
    tensors = dict(state.tensors)
    tensors["const"] = state.tensors["const"][:, :, :2].contiguous()
    for name, tensor in state.tensors.items():
        if name.endswith("noise_const"):
            tensors[name] = tensor[:, : tensor.shape[1] // 2].contiguous()
    tall = type(state)(**{**state.__dict__, "tensors": tensors})
    images = {}
    for layout in PREFIXES:
        g = StyleGAN2().build_generator(as_checkpoint(tall, layout))
        assert g.frame_size == (32, 16)
        images[layout] = g.synthesize(g.map(latents(2)))
    assert images["nvidia"].shape == (2, 3, 32, 16)
    assert (images["rosinality"] - images["nvidia"]).abs().max() < 1e-5
    assert (images["genforce"] - images["nvidia"]).abs().max() < 1e-5
    assert (images["sefa-zoo"] - images["nvidia"]).abs().max() < 1e-5


# ---------------------------------------------------------------- what cannot be synthesized


def test_generators_without_every_torgb_are_refused(state):
    tensors = {k: v for k, v in as_checkpoint(state, "nvidia").items() if ".b8.torgb." not in k}
    with pytest.raises(LayoutError, match="no 8x8.torgb layer.*'skip'"):
        StyleGAN2().build_generator(Checkpoint.from_tensors(tensors))


@pytest.mark.parametrize("layout, embedding", [
    ("genforce", "mapping.label_weight"), ("nvidia-tf", "mapping.LabelEmbed/weight"),
    ("nvidia-tf", "mapping.LabelConcat/weight"),
])
def test_conditional_generators_are_read_from_nvidias_pytorch_pickles_only(state, layout, embedding):
    """NVIDIA's stylegan2-ada-pytorch pickles are read with their label (test_stylegan2_conditional.py)."""
    tensors = dict(as_checkpoint(state, layout).items())
    tensors[PREFIXES[layout] + embedding] = torch.zeros(10, Z_DIM)
    with pytest.raises(LayoutError, match=f"{embedding}.*class-conditional StyleGAN2 generators are read from NVIDIA's"):
        StyleGAN2().build_generator(Checkpoint.from_tensors(tensors))


@pytest.mark.parametrize(
    "key,shape,message",
    [
        ("G_ema.synthesis.b16.conv1.noise_const", (16, 15), r"'16x16.conv1.noise_const' has shape \(16, 15\)"),
        ("G_ema.synthesis.b8.conv0.weight", (16, 16, 3, 3, 1), r"'8x8.conv0.weight' has shape"),
        ("G_ema.mapping.w_avg", (Z_DIM + 1,), "average w has shape"),
    ],
)
def test_inconsistent_shapes_are_named(state, key, shape, message):
    tensors = dict(as_checkpoint(state, "nvidia").items())
    tensors[key] = torch.zeros(shape)
    with pytest.raises(LayoutError, match=message):
        StyleGAN2().build_generator(Checkpoint.from_tensors(tensors))


def test_a_malformed_rosinality_tensor_is_named(state):
    tensors = dict(as_checkpoint(state, "rosinality").items())
    tensors["g_ema.noises.noise_2"] = torch.zeros(2, 1, 16, 16)
    with pytest.raises(LayoutError, match=r"'g_ema.noises.noise_2' has shape \(2, 1, 16, 16\)"):
        StyleGAN2().build_generator(Checkpoint.from_tensors(tensors))
