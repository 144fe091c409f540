import pytest
import torch

from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.model import UNet, count_parameters
from stemunet.separator import Separator

SEED_CARD = SeparatorConfig(
    StftConfig(sample_rate=16000, n_channels=1, n_fft=1024, hop_length=256),
    ModelConfig(block="double_conv", base_channels=32, depth=5, stem_stride=2, mask_activation="sigmoid"),
)


def test_seed_card_has_the_cards_parameter_count():
    parameters = count_parameters(Separator(SEED_CARD))
    assert abs(parameters - 6.2e6) / 6.2e6 < 0.10, parameters


def test_seed_card_channels_are_c32_to_c512():
    unet = Separator(SEED_CARD).unet
    widths = [block.layers[-1][0].out_channels for block in unet.encoder]
    assert widths == [32, 64, 128, 256, 512]


@pytest.mark.parametrize("n_bins, n_frames", [(513, 63), (100, 7), (1, 1), (2049, 130)])
@pytest.mark.parametrize("block", ["double_conv", "residual_separable"])
@pytest.mark.parametrize("stride", [1, 2])
def test_any_input_size_is_padded_and_cropped_back(n_bins, n_frames, block, stride):
    config = ModelConfig(base_channels=4, depth=3, block=block, stem_stride=stride)
    unet = UNet(config, n_channels=2).eval()
    masks = unet(torch.rand(2, 2, n_bins, n_frames))
    assert masks.shape == (2, 4, 2, n_bins, n_frames)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax", "relu"])
def test_mask_activations(activation):
    unet = UNet(ModelConfig(base_channels=4, depth=2, mask_activation=activation), n_channels=1).eval()
    masks = unet(torch.rand(1, 1, 64, 16) * 10)
    assert (masks >= 0).all()
    if activation == "sigmoid":
        assert (masks <= 1).all()
    if activation == "softmax":
        torch.testing.assert_close(masks.sum(dim=1), torch.ones(1, 1, 64, 16))


def test_bins_above_max_bin_pass_through_split_evenly():
    unet = UNet(ModelConfig(base_channels=4, depth=2, mask_activation="sigmoid"), n_channels=1, max_bin=40).eval()
    masks = unet(torch.rand(1, 1, 64, 16))
    torch.testing.assert_close(masks[:, :, :, 40:], torch.full((1, 4, 1, 24, 16), 0.25))


def test_wrong_channel_count_is_an_error():
    unet = UNet(ModelConfig(base_channels=4, depth=2), n_channels=2)
    with pytest.raises(ValueError, match="expects 2 channels"):
        unet(torch.rand(1, 1, 32, 8))


def test_gradients_reach_every_parameter():
    unet = UNet(ModelConfig(base_channels=4, depth=3), n_channels=2)
    masks = unet(torch.rand(2, 2, 64, 16))
    (masks * torch.randn_like(masks)).sum().backward()
    missing = [name for name, p in unet.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
