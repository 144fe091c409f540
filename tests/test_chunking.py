import pytest
import torch

from stemunet.chunking import overlap_add, segment_starts


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
