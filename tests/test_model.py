import pytest
import torch

from stemunet.config import ConfigError, ModelConfig, SeparatorConfig, StftConfig
from stemunet.model import UNet, count_parameters
from stemunet.separation.separator import Separator

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


# ---------------------------------------------------------------- tfc_tdf blocks


@pytest.mark.parametrize("n_bins, max_bin", [(513, 513), (513, 372), (2049, 1487), (100, 37), (30, 37)])
@pytest.mark.parametrize("stride", [1, 2])
def test_tfc_tdf_masks_have_the_input_shape_at_any_bin_count(n_bins, max_bin, stride):
    # Its linear layers are sized for max_bin's bins (padded); fewer input bins are padded up to them.
    config = ModelConfig(base_channels=4, depth=3, block="tfc_tdf", stem_stride=stride)
    unet = UNet(config, n_channels=2, max_bin=max_bin).eval()
    assert [block.n_bins for block in unet.encoder] == [unet.padded_bins // (stride * 2**level) for level in range(3)]
    assert unet.padded_bins % unet.size_multiple == 0 and 0 <= unet.padded_bins - max_bin < unet.size_multiple
    masks = unet(torch.rand(2, 2, n_bins, 9))
    assert masks.shape == (2, 4, 2, n_bins, 9)
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(2, 2, n_bins, 9))  # softmax over stems
    if n_bins > max_bin:
        torch.testing.assert_close(masks[:, :, :, max_bin:], torch.full((2, 4, 2, n_bins - max_bin, 9), 0.25))


@pytest.mark.parametrize("block, reaches", [("double_conv", False), ("tfc_tdf", True)])
def test_only_tfc_tdf_relates_bins_far_apart_in_one_level(block, reaches):
    # One full-resolution level: 3x3 convs see 4 bins either side, the frequency layer all of them.
    torch.manual_seed(0)
    unet = UNet(ModelConfig(base_channels=4, depth=1, stem_stride=1, block=block), n_channels=1, max_bin=64).eval()
    x = torch.rand(1, 1, 64, 8)
    nudged = x.clone()
    nudged[:, :, 0] += 5.0
    with torch.no_grad():
        far = (unet(nudged) - unet(x))[..., 40:, :].abs().max().item()
    assert (far > 1e-4) == reaches, far


def test_tfc_tdf_needs_a_band_limit():
    with pytest.raises(ValueError, match="max_frequency"):
        UNet(ModelConfig(base_channels=4, depth=2, block="tfc_tdf"), n_channels=1)
    with pytest.raises(ConfigError, match="tfc_tdf.*max_frequency"):
        ModelConfig(block="tfc_tdf", max_frequency=0.0)
    with pytest.raises(ConfigError, match="block"):
        ModelConfig.from_params({"block": "tdf"})


def test_tfc_tdf_separator_trains_and_folds_for_inference():
    config = SeparatorConfig(
        StftConfig(sample_rate=16000, n_channels=2, n_fft=512, hop_length=128),
        ModelConfig(base_channels=4, depth=3, block="tfc_tdf", max_frequency=6000.0),
    )
    separator = Separator(config)
    stems = separator(torch.randn(2, 2, 4000) * 0.1)
    assert stems.shape == (2, 4, 2, 4000)
    stems.square().mean().backward()
    missing = [name for name, p in separator.unet.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    separator.eval()
    magnitude = torch.rand(1, 2, config.stft.n_bins, 20)
    with torch.no_grad():
        torch.testing.assert_close(separator.inference_unet()(magnitude), separator.unet(magnitude), atol=1e-5, rtol=1e-4)


def test_a_stereo_model_hears_both_channels_in_one_network():
    # n_channels=2: one U-Net takes both channels and masks each; channel 0's masks depend on channel 1.
    torch.manual_seed(0)
    unet = UNet(ModelConfig(base_channels=4, depth=2), n_channels=2).eval()
    x = torch.rand(1, 2, 32, 8)
    nudged = x.clone()
    nudged[:, 1] += 3.0
    with torch.no_grad():
        masks, other = unet(x), unet(nudged)
    assert masks.shape == (1, 4, 2, 32, 8)
    assert (other[:, :, 0] - masks[:, :, 0]).abs().max() > 1e-3
