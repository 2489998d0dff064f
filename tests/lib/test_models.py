import pytest
import torch
from torch import nn
from torch.testing import assert_close

from dltheory import models


def test_mlp_blocks_compose_to_the_forward_pass():
    torch.manual_seed(0)
    net = models.MLP([5, 7, 6, 3], batch_norm=True).eval()
    x = torch.randn(4, 5)
    outputs = net.layer_outputs(x)
    assert list(outputs) == ["1", "2", "3"]
    assert_close(outputs["3"], net(x))
    # Hidden blocks are Linear-BN-ReLU, the last a plain Linear.
    assert [type(m) for m in net.blocks[0]] == [nn.Linear, nn.BatchNorm1d, nn.ReLU]
    assert [type(m) for m in net.blocks[-1]] == [nn.Linear]
    assert (outputs["1"] >= 0).all()


def test_mlp_with_activated_output_ends_in_relu():
    net = models.MLP([4, 8, 8], linear_output=False)
    assert isinstance(net.blocks[-1][-1], nn.ReLU)
    assert (net(torch.randn(3, 4)) >= 0).all()


def test_digits_backbone_and_projector_have_the_chapter_shapes():
    model = models.JointEmbedding(
        models.digits_backbone(), models.projector([128, 128, 64])
    )
    h, z = model.eval()(torch.rand(5, 64))
    assert h.shape == (5, 128)
    assert z.shape == (5, 64)
    # Backbone 64*128+128 + 256 (BN) + 128*128+128 + 256;
    # projector 128*128+128 + 256 (BN) + 128*64+64.
    assert (
        models.count_parameters(model) == 8320 + 256 + 16512 + 256 + 16512 + 256 + 8256
    )


def test_joint_embedding_layer_outputs_follow_backbone_then_projector():
    torch.manual_seed(0)
    model = models.JointEmbedding(
        models.MLP([4, 6, 6], linear_output=False), models.projector([6, 5, 2])
    ).eval()
    x = torch.randn(3, 4)
    outputs = models.layer_outputs(model, x)
    assert list(outputs) == ["backbone.1", "backbone.2", "projector.1", "projector.2"]
    h, z = model(x)
    assert_close(outputs["backbone.2"], h)
    assert_close(outputs["projector.2"], z)


@pytest.mark.parametrize(
    ("in_shape", "flat"), [((1, 8, 8), 64), ((1, 28, 28), 784), ((1, 40), 40)]
)
def test_cnn_accepts_images_signals_and_flat_inputs(in_shape, flat):
    torch.manual_seed(0)
    net = models.CNN(in_shape, channels=(4, 8)).eval()
    x = torch.randn(2, *in_shape)
    assert net(x).shape == (2, 8)
    assert_close(net(x.reshape(2, flat)), net(x))
    outputs = models.layer_outputs(net, x)
    assert list(outputs) == ["1", "2"]
    assert_close(outputs["2"], net(x))


def test_layer_outputs_of_a_sequential():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    outputs = models.layer_outputs(net, torch.randn(2, 3))
    assert list(outputs) == ["1", "2", "3"]


def test_short_layer_names_of_a_joint_embedding():
    # Chapter 05's labels: two backbone layers, three projector layers, the input.
    model = models.JointEmbedding(
        models.MLP([6, 5, 4], linear_output=False), models.projector([4, 4, 4, 3])
    )
    names = ["input", *models.layer_outputs(model.eval(), torch.randn(2, 6))]
    short = models.short_layer_names(names)
    assert short == {
        "input": "input",
        "backbone.1": "bb1",
        "backbone.2": "bb2",
        "projector.1": "proj1",
        "projector.2": "proj2",
        "projector.3": "out",
    }
    assert list(short) == names  # forward order kept
    # A one-layer head: its only layer is the output; a dict's keys are its names.
    assert models.short_layer_names({"backbone.1": 0.9, "projector.1": 0.8}) == {
        "backbone.1": "bb1",
        "projector.1": "out",
    }


@pytest.mark.parametrize(
    ("names", "error", "match"),
    [
        (["input"], ValueError, "at least one layer"),
        (["backbone.1", "1"], ValueError, "'1'"),
        (["backbone.0"], ValueError, "backbone.0"),
        (["head.1"], ValueError, "head.1"),
        ([3], TypeError, "int"),
    ],
)
def test_short_layer_names_rejects_other_names(names, error, match):
    with pytest.raises(error, match=match):
        models.short_layer_names(names)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: models.MLP([5]), ValueError, "dims"),
        (lambda: models.MLP([5, 0]), ValueError, "dims"),
        (lambda: models.MLP([5, 2.5]), TypeError, "dims"),
        (lambda: models.MLP([5, 3], activation="swish"), ValueError, "activation"),
        (lambda: models.CNN((1, 8, 8), channels=()), ValueError, "channels"),
        (lambda: models.CNN((1, 2, 3, 4)), ValueError, "in_shape"),
        (
            lambda: models.layer_outputs(nn.Linear(2, 2), torch.randn(1, 2)),
            TypeError,
            "model",
        ),
    ],
)
def test_models_reject_bad_settings(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_mlp_bn_affine_and_zero_bias_options():
    # Defaults unchanged: affine BN, torch's uniform (non-zero) biases.
    torch.manual_seed(0)
    default = models.MLP([2, 8, 8, 1], batch_norm=True)
    assert default.blocks[0][1].affine
    assert default.blocks[0][0].bias.abs().sum() > 0
    torch.manual_seed(0)
    net = models.MLP([2, 8, 8, 1], batch_norm=True, bn_affine=False, zero_bias=True)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(bns) == 2
    assert not any(bn.affine for bn in bns)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert all((m.bias == 0).all() for m in linears)
    # Same weights as the default under the same seed (zeroing the bias draws nothing).
    assert_close(linears[0].weight, default.blocks[0][0].weight)
    with pytest.raises(TypeError, match="zero_bias"):
        models.MLP([2, 3], zero_bias=1)
    with pytest.raises(TypeError, match="bn_affine"):
        models.MLP([2, 3], bn_affine="no")
