"""Small networks for the book: MLPs, CNNs, projector heads, joint embeddings.

Used by every chapter. Each network is a stack of *blocks* (``net.blocks``, an
``nn.ModuleList``) so that the output of every layer can be read one by one
(``layer_outputs``): per-layer probes (chapter 05), spline partitions (chapters 00,
06) and singular values (chapter 07) all need that. Shapes: ``n`` samples, ``d``
input features, ``H`` representation width, ``K`` embedding width.

Notation of the joint-embedding setting (chapter 00): a backbone f gives the
representation h = f(x), a projector g gives the embedding z = g(h); downstream
tasks use h, the self-supervised losses act on z.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from dltheory._checks import check_choice, check_data, check_float, check_int

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def _check_dims(dims: object, *, name: str = "dims") -> list[int]:
    if not isinstance(dims, list | tuple) or len(dims) < 2:
        raise ValueError(
            f"{name}: expected a list of at least two widths, got {dims!r}"
        )
    for width in dims:
        check_int(width, name=f"{name} entries", minimum=1)
    return list(dims)


class MLP(nn.Module):
    """A multilayer perceptron whose layers can be read one by one.

    Block ``l`` is Linear, then BatchNorm1d when ``batch_norm``, then the activation;
    the last block is a plain Linear unless ``linear_output=False`` (a backbone whose
    representation is the output of an activation, as in chapter 00's digits
    backbone 64 -> 128 -> 128).

    Args:
        dims: Widths ``[d_in, h_1, ..., d_out]``, at least two entries.
        batch_norm: Insert BatchNorm1d after each hidden Linear.
        activation: One of ``"relu"``, ``"leaky_relu"``, ``"tanh"``, ``"gelu"``.
        bias: Whether the Linear layers have a bias.
        linear_output: If True the last block is a Linear alone; if False it is
            followed by batch norm and the activation like the hidden blocks.
        bn_affine: The ``affine`` flag of every BatchNorm1d (learnable gamma and
            beta; default True). ``False`` pins gamma = 1, beta = 0 (chapter 06).
        zero_bias: Set every Linear bias to zero at initialisation (default False:
            torch's default uniform bias). Chapter 06's "zero-bias" baseline.

    Raises:
        ValueError: If ``dims`` has fewer than two widths or ``activation`` is unknown.
        TypeError: If ``bn_affine`` or ``zero_bias`` is not a bool.
    """

    def __init__(
        self,
        dims: list[int],
        *,
        batch_norm: bool = False,
        activation: str = "relu",
        bias: bool = True,
        linear_output: bool = True,
        bn_affine: bool = True,
        zero_bias: bool = False,
    ) -> None:
        super().__init__()
        dims = _check_dims(dims)
        check_choice(activation, name="activation", choices=ACTIVATIONS)
        for flag, value in (("bn_affine", bn_affine), ("zero_bias", zero_bias)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag}: expected a bool, got {type(value).__name__}")
        self.dims = dims
        blocks = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            last = i == len(dims) - 2
            layers: list[nn.Module] = [nn.Linear(d_in, d_out, bias=bias)]
            if zero_bias and bias:
                nn.init.zeros_(layers[0].bias)
            if not (last and linear_output):
                if batch_norm:
                    layers.append(nn.BatchNorm1d(d_out, affine=bn_affine))
                layers.append(ACTIVATIONS[activation]())
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``x`` of shape (n, d_in) to (n, d_out)."""
        check_float(x, name="x")  # type and shape only: no GPU sync per step
        if x.dim() == 0 or x.shape[-1] != self.dims[0]:
            raise ValueError(
                f"x: expected shape (n, {self.dims[0]}), got {tuple(x.shape)}"
            )
        for block in self.blocks:
            x = block(x)
        return x

    def layer_outputs(self, x: Tensor) -> dict[str, Tensor]:
        """The output of every block, keyed ``"1"``, ``"2"``, ... in forward order."""
        outputs = {}
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            outputs[str(i)] = x
        return outputs


def projector(dims: list[int], *, batch_norm: bool = True) -> MLP:
    """A projector head g: Linear-BN-ReLU blocks ending with a plain Linear.

    The head of VICReg, Barlow Twins and SimCLR [bardes2022vicreg, arXiv:2105.04906v3,
    Sec. 4.2]: chapter 00 uses ``projector([128, 128, 64])``.

    Args:
        dims: Widths ``[H, ..., K]``.
        batch_norm: BatchNorm1d after each hidden Linear (the papers' choice).
    """
    return MLP(dims, batch_norm=batch_norm, linear_output=True)


class CNN(nn.Module):
    """A small convolutional backbone for 8x8 or 28x28 images and 1-D signals.

    Blocks of Conv (3x3, or 3 taps in 1-D, padding 1), BatchNorm when ``batch_norm``,
    ReLU, and a 2x max-pool after every block but the last while the spatial size
    allows; the last block ends with global average pooling, so the representation
    has ``channels[-1]`` features. Flat inputs (n, prod(in_shape)) are reshaped to
    ``in_shape`` first, so the same data tensors feed an MLP or a CNN.

    Args:
        in_shape: ``(C, H, W)`` for images or ``(C, L)`` for signals.
        channels: Output channels of each block.
        batch_norm: Whether to use batch norm.

    Raises:
        ValueError: If ``in_shape`` is not of length 2 or 3 or ``channels`` is empty.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        channels: tuple[int, ...] = (32, 64),
        *,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(in_shape, list | tuple) or len(in_shape) not in (2, 3):
            raise ValueError(
                f"in_shape: expected (C, H, W) or (C, L), got {in_shape!r}"
            )
        _check_dims([in_shape[0], *channels], name="channels")
        self.in_shape = tuple(in_shape)
        spatial = len(in_shape) - 1
        conv = nn.Conv2d if spatial == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if spatial == 2 else nn.BatchNorm1d
        pool = nn.MaxPool2d if spatial == 2 else nn.MaxPool1d
        size = min(in_shape[1:])
        blocks = []
        c_in = in_shape[0]
        for i, c_out in enumerate(channels):
            layers: list[nn.Module] = [conv(c_in, c_out, 3, padding=1)]
            if batch_norm:
                layers.append(norm(c_out))
            layers.append(nn.ReLU())
            if i == len(channels) - 1:
                layers += [
                    nn.AdaptiveAvgPool2d(1)
                    if spatial == 2
                    else nn.AdaptiveAvgPool1d(1),
                    nn.Flatten(),
                ]
            elif size >= 4:
                layers.append(pool(2))
                size //= 2
            blocks.append(nn.Sequential(*layers))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.out_features = channels[-1]

    def _reshape(self, x: Tensor) -> Tensor:
        if x.dim() == 2 and x.shape[1] == math.prod(self.in_shape):
            return x.reshape(-1, *self.in_shape)  # (n, C, H, W) or (n, C, L)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(n, *in_shape)`` or ``(n, prod(in_shape))`` to (n, channels[-1])."""
        x = self._reshape(x)
        for block in self.blocks:
            x = block(x)
        return x

    def layer_outputs(self, x: Tensor) -> dict[str, Tensor]:
        """The output of every block, flattened to (n, features), keyed ``"1"``, ..."""
        x = self._reshape(x)
        outputs = {}
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            outputs[str(i)] = x.flatten(1)
        return outputs


class JointEmbedding(nn.Module):
    """Backbone f and projector g of joint-embedding SSL: ``forward(x) -> (h, z)``.

    h = f(x) is the representation used downstream, z = g(h) the embedding the loss
    sees [bardes2022vicreg, arXiv:2105.04906v3, Fig. 1].

    Args:
        backbone: Maps (n, ...) to (n, H).
        projector: Maps (n, H) to (n, K).
    """

    def __init__(self, backbone: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        for name, module in (("backbone", backbone), ("projector", projector)):
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"{name}: expected an nn.Module, got {type(module).__name__}"
                )
        self.backbone = backbone
        self.projector = projector

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return the representation h (n, H) and the embedding z (n, K)."""
        h = self.backbone(x)  # (n, H)
        return h, self.projector(h)  # (n, K)

    def layer_outputs(self, x: Tensor) -> dict[str, Tensor]:
        """Every layer: ``"backbone.1"``, ..., then ``"projector.1"``, ..."""
        outputs = {}
        for part in ("backbone", "projector"):
            module = getattr(self, part)
            if hasattr(module, "layer_outputs"):
                layers = module.layer_outputs(x)
                x = layers[next(reversed(layers))]
            else:
                x = module(x)
                layers = {"1": x}
            outputs.update({f"{part}.{k}": v for k, v in layers.items()})
        return outputs


def layer_outputs(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """The outputs of every layer of ``model`` on ``x``, flattened to (n, features).

    Works for ``MLP``, ``CNN``, ``JointEmbedding`` (backbone then projector) and
    ``nn.Sequential`` (one entry per child). Runs under the model's current mode.

    Raises:
        TypeError: If ``model`` is none of those.
    """
    check_data(x, name="x")
    if hasattr(model, "layer_outputs"):
        return {k: v.flatten(1) for k, v in model.layer_outputs(x).items()}
    if isinstance(model, nn.Sequential):
        outputs = {}
        for i, child in enumerate(model, start=1):
            x = child(x)
            outputs[str(i)] = x.flatten(1)
        return outputs
    raise TypeError(
        "model: expected an MLP, CNN, JointEmbedding or nn.Sequential, "
        f"got {type(model).__name__}"
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def digits_backbone(*, batch_norm: bool = True) -> MLP:
    """Chapter 00's backbone: 64 -> 128 -> 128, Linear-BN-ReLU twice (H = 128)."""
    return MLP([64, 128, 128], batch_norm=batch_norm, linear_output=False)


def short_layer_names(names) -> dict[str, str]:
    """Short names of a joint-embedding network's layers, as chapter 05 writes them.

    Maps the names of ``layer_outputs`` for a ``JointEmbedding`` (and ``"input"``,
    which ``probes.probe_layers(..., include_input=True)`` adds) to the labels of
    the text and figures: ``"backbone.k"`` -> ``"bbk"``, ``"projector.k"`` ->
    ``"projk"``, the last layer -> ``"out"`` (the projector's or the classifier
    head's output, where the loss acts), ``"input"`` -> ``"input"``. Chapter 05 reads
    its guillotine gaps (G1)-(G2) on these names.

    Args:
        names: Layer names in forward order, e.g. the keys of ``probe_layers``'s
            result (a dict works: its keys are used).

    Returns:
        ``{name: short name}`` in the order of ``names``.

    Raises:
        TypeError: If a name is not a str.
        ValueError: If there is no layer, or a name is none of ``"input"``,
            ``"backbone.k"`` and ``"projector.k"`` with k a positive integer.
    """
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise TypeError(
            f"names: expected an iterable of layer names, got {type(names).__name__}"
        )
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"names: expected str, got {type(name).__name__}")
    layers = [name for name in names if name != "input"]
    if not layers:
        raise ValueError(f"names: expected at least one layer, got {names}")
    short = {}
    for name in names:
        part, _, k = name.partition(".")
        if name == "input":
            short[name] = "input"
        elif part not in ("backbone", "projector") or not k.isdigit() or k == "0":
            raise ValueError(
                f"names: expected 'input', 'backbone.k' or 'projector.k', got {name!r}"
            )
        elif name == layers[-1]:
            short[name] = "out"
        else:
            short[name] = ("bb" if part == "backbone" else "proj") + k
    return short
