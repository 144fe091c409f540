import pytest
import torch

from stemunet.audio import resample
from stemunet.separation.chunking import SampleWindow, overlap_add, overlap_add_stream, resample_stream, segment_starts


def _identity(batch):
    """(batch, channels, length) -> (batch, 4 stems, channels, length): every stem is the input."""
    return batch.unsqueeze(1).expand(-1, 4, -1, -1)


@pytest.mark.parametrize("n_samples", [1, 999, 1000, 1001, 4321, 10000])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_identity_is_reconstructed_exactly(n_samples, overlap):
    waveform = torch.randn(2, n_samples)
    out = overlap_add(_identity, waveform, segment_length=1000, overlap=overlap, batch_segments=3)
    assert out.shape == (4, 2, n_samples)
    torch.testing.assert_close(out, waveform.expand(4, -1, -1), rtol=1e-6, atol=1e-6)


def test_segments_cover_the_track_and_end_at_its_end():
    starts = segment_starts(4321, 1000, 750)
    assert starts[0] == 0 and starts[-1] == 3321 and all(b > a for a, b in zip(starts, starts[1:]))
    assert all(b - a <= 750 for a, b in zip(starts, starts[1:]))


def test_segment_processing_is_batched():
    sizes = []

    def process(batch):
        sizes.append(batch.shape[0])
        return _identity(batch)

    overlap_add(process, torch.randn(1, 10000), segment_length=1000, overlap=0.5, batch_segments=4)
    assert max(sizes) == 4 and sum(sizes) == len(segment_starts(10000, 1000, 500))


def _blocks(waveform, size):
    return [waveform[..., i : i + size] for i in range(0, waveform.shape[-1], size)]


@pytest.mark.parametrize("n_samples", [1, 999, 1001, 4321, 10000])
@pytest.mark.parametrize("block_size", [7, 1000, 3333])
def test_streamed_identity_is_reconstructed_exactly_whatever_the_input_blocks(n_samples, block_size):
    waveform = torch.randn(2, n_samples)
    window = SampleWindow(_blocks(waveform, block_size), n_samples)
    blocks = list(overlap_add_stream(_identity, window, segment_length=1000, overlap=0.25, batch_segments=2))
    out = torch.cat(blocks, dim=-1)
    assert out.shape == (4, 2, n_samples)
    torch.testing.assert_close(out, waveform.expand(4, -1, -1), rtol=1e-6, atol=1e-6)


def test_streaming_holds_a_few_segments_not_the_track():
    n_samples, segment_length, batch_segments = 200_000, 1000, 2
    pulled = []

    def blocks():
        for start in range(0, n_samples, 500):
            pulled.append(start + 500)
            yield torch.ones(1, 500)

    window = SampleWindow(blocks(), n_samples)
    stream = overlap_add_stream(_identity, window, segment_length, overlap=0.5, batch_segments=batch_segments)
    first = next(stream)
    assert pulled[-1] <= 3 * segment_length  # output comes before the input is read to its end
    sizes = [first.shape[-1]] + [block.shape[-1] for block in stream]
    assert sum(sizes) == n_samples and max(sizes) <= batch_segments * segment_length
    assert window._buffer.shape[-1] <= 2 * segment_length  # released input is dropped


def test_released_samples_cannot_be_read_again():
    window = SampleWindow.from_tensor(torch.arange(10.0)[None])
    assert window.read(2, 5).tolist() == [[2.0, 3.0, 4.0]]
    window.release(4)
    assert window.read(4, 10).shape == (1, 6)
    with pytest.raises(ValueError, match="released"):
        window.read(3, 5)


@pytest.mark.parametrize("rates", [(44100, 16000), (16000, 44100), (48000, 44100), (44100, 22050)])
@pytest.mark.parametrize("n_samples", [1, 300, 6011])
def test_streamed_resampling_equals_resampling_the_whole_signal(rates, n_samples):
    waveform = torch.randn(2, n_samples)
    expected = resample(waveform, *rates)
    for block_size in (777, n_samples):
        out = torch.cat(list(resample_stream(_blocks(waveform, block_size), *rates, n_samples)), dim=-1)
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected, rtol=0, atol=2e-6)
