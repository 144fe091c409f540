"""BSSEval v4 exactly as ``museval.evaluate`` computes it, shared work done once.

museval (v4: images, time-invariant 512-tap distortion filters estimated on the whole track,
metrics on 1 s windows) spends most of its time solving the same ``(G + eps I) C = D`` system:
``G`` holds the correlations of the *references* at lags 0..511 (a 4096 x 4096 matrix for four
stereo stems), and museval factorises it again for every estimate and every method. Here:

- ``G`` and its LU factorisation are computed once per track and shared by every estimate of
  every method (all right-hand sides ``D`` solved together); so are the per-stem blocks ``G_jj``
  that give the spatial-distortion filters;
- correlations use real FFTs, batched;
- the projections of every window onto the references (museval: 20 small convolutions per window
  and estimate) are batched FFT convolutions over windows, estimates and methods at once.

The arithmetic is museval's (float64, the same regularisation ``eps`` = machine epsilon, the same
lags, the same decomposition ``s_true + e_spat + e_interf + e_artif`` and energy ratios), so
results agree to rounding: tests compare every frame of every metric with ``museval.evaluate``.

Shapes follow museval: references and estimates ``(n_sources, n_samples, n_channels)``; each
metric comes back as ``(n_sources, n_windows)`` float64 dB, NaN for windows in which any
reference or any estimate is digitally silent.

Two backends: ``numpy`` (scipy's FFT and LAPACK) and ``torch`` (float64, on CUDA when there is
one); ``auto`` picks torch on CUDA, else numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

FILTER_LENGTH = 512
"""museval's distortion filter length (taps), ``filters_len``."""

FRAMES_PER_BATCH = 8
"""Windows projected together: bounds memory (about 100 MB per 8 one-second stereo windows and method)."""

BLOCK_FFT = 32768
"""FFT size of the blocks whose cross-spectra are summed into the correlations the filters need."""

BLOCKS_PER_BATCH = 16
"""Blocks transformed together (about 70 MB for four stereo references)."""

Scores = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(SDR, ISR, SIR, SAR)``, each ``(n_sources, n_windows)`` dB, as ``museval.evaluate`` returns."""


# ----------------------------------------------------------------------------------------------
# Backends: the handful of array operations the engine needs
# ----------------------------------------------------------------------------------------------


class NumpyBackend:
    """float64 numpy arrays; scipy's pocketfft (all cores) and LAPACK."""

    name = "numpy"

    def asarray(self, array: Any) -> np.ndarray:
        return np.asarray(array, dtype=np.float64)

    def rfft(self, array, n: int):
        import scipy.fft

        return scipy.fft.rfft(array, n=n, axis=-1, workers=-1)

    def irfft(self, array, n: int):
        import scipy.fft

        return scipy.fft.irfft(array, n=n, axis=-1, workers=-1)

    def einsum(self, spec: str, *arrays):
        return np.einsum(spec, *arrays, optimize=True)

    def solver(self, matrix):
        """A function solving ``matrix @ X = B`` for any ``B``, factorised once (LU with pivoting, as ``np.linalg.solve``)."""
        import scipy.linalg

        try:
            factors = scipy.linalg.lu_factor(matrix, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return lambda rhs: np.linalg.lstsq(matrix, rhs, rcond=None)[0]
        return lambda rhs: scipy.linalg.lu_solve(factors, rhs, check_finite=False)

    def eye(self, n: int):
        return np.eye(n)

    def zeros(self, shape, complex_values: bool = False):
        return np.zeros(shape, dtype=np.complex128 if complex_values else np.float64)

    def index(self, indices: np.ndarray):
        return indices

    def to_numpy(self, array) -> np.ndarray:
        return np.asarray(array)

    def stack(self, arrays, axis: int):
        return np.stack(arrays, axis=axis)

    def permute(self, array, axes):
        return np.transpose(array, axes)

    def flip_last(self, array):
        return array[..., ::-1]


class TorchBackend:
    """float64 torch tensors on ``device`` (CUDA when available)."""

    name = "torch"

    def __init__(self, device: str | None = None):
        import torch

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def asarray(self, array: Any):
        return self.torch.as_tensor(np.asarray(array, dtype=np.float64), device=self.device)

    def rfft(self, array, n: int):
        return self.torch.fft.rfft(array, n=n, dim=-1)

    def irfft(self, array, n: int):
        return self.torch.fft.irfft(array, n=n, dim=-1)

    def einsum(self, spec: str, *arrays):
        return self.torch.einsum(spec, *arrays)

    def solver(self, matrix):
        torch = self.torch
        factors, pivots, info = torch.linalg.lu_factor_ex(matrix)
        if int(info) != 0:
            return lambda rhs: torch.linalg.lstsq(matrix.cpu(), rhs.cpu()).solution.to(self.device)
        return lambda rhs: torch.linalg.lu_solve(factors, pivots, rhs)

    def eye(self, n: int):
        return self.torch.eye(n, dtype=self.torch.float64, device=self.device)

    def zeros(self, shape, complex_values: bool = False):
        dtype = self.torch.complex128 if complex_values else self.torch.float64
        return self.torch.zeros(shape, dtype=dtype, device=self.device)

    def index(self, indices: np.ndarray):
        return self.torch.as_tensor(indices, device=self.device)

    def to_numpy(self, array) -> np.ndarray:
        return array.detach().cpu().numpy()

    def stack(self, arrays, axis: int):
        return self.torch.stack(arrays, dim=axis)

    def permute(self, array, axes):
        return array.permute(*axes)

    def flip_last(self, array):
        return array.flip(-1)


def get_backend(backend: str = "auto"):
    """``numpy``, ``torch`` (CUDA if available, else CPU), ``cuda``, ``cpu`` (torch on it), or ``auto``."""
    if backend == "numpy":
        return NumpyBackend()
    if backend in ("torch", "cuda", "cpu"):
        return TorchBackend(None if backend == "torch" else backend)
    if backend == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                return TorchBackend("cuda")
        except ImportError:
            pass
        return NumpyBackend()
    raise ValueError(f"BSSEval backend must be auto, numpy, torch, cuda or cpu, got {backend!r}")


# ----------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------


def _windows(n_samples: int, win: int, hop: int) -> list[tuple[int, int]]:
    """museval's ``Framing``: ``floor((n - win + hop) / hop)`` windows of ``win`` samples, or the whole signal once."""
    if win < n_samples:
        count = int(np.floor((n_samples - win + hop) / hop))
        return [(t * hop, min(t * hop + win, n_samples)) for t in range(count)]
    return [(0, n_samples)]


def _silent(frames: np.ndarray) -> np.ndarray:
    """museval's silence test per window: ``(..., n_sources, n_samples, n_channels)`` -> ``(...)``,
    true when any source's channel sum is zero at every sample."""
    return np.any(np.all(np.sum(frames, axis=-1) == 0, axis=-1), axis=-1)


def _db(numerator, denominator) -> np.ndarray:
    """museval's ``_safe_db``: ``10 log10(num / den)``, ``+inf`` where ``den`` is 0."""
    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = 10 * np.log10(numerator / np.where(denominator == 0, 1.0, denominator))
    return np.where(denominator == 0, np.inf, values)


def _distortion(own, every, reference, estimate):
    """museval's ``e_spat + e_interf + e_artif`` (``_bss_decomp_mtifilt``), in its order of operations:
    ``own``/``every`` are the reference's projections on its own and on all references."""
    e_spat = own - reference
    e_interf = every - reference - e_spat
    e_artif = -reference - e_spat - e_interf + estimate
    return e_spat + e_interf + e_artif


def _pad_or_truncate(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """museval's ``pad_or_truncate``: estimates cut or zero-padded to the references' length."""
    n = references.shape[1]
    if estimates.shape[1] >= n:
        return estimates[:, :n]
    return np.pad(estimates, ((0, 0), (0, n - estimates.shape[1]), (0, 0)))


class ReferenceProjector:
    """Everything about one track's references that every estimate shares: the Gram matrix of their
    delayed copies and its factorisations (whole, and per source for the spatial filters).

    Correlations at the few lags the filters need (``|lag| < 512``) are accumulated block by block
    (blocks of :data:`BLOCK_FFT` samples, cross-spectra summed over blocks, one small inverse FFT at
    the end) instead of museval's full-length FFT per pair: the same sums, in another order.
    """

    def __init__(self, references: np.ndarray, backend, filter_length: int = FILTER_LENGTH):
        self.ops = backend
        self.references = np.asarray(references, dtype=np.float64)  # (n_src, n_samples, n_chan)
        n_src, n_samples, n_chan = self.references.shape
        self.n_src, self.n_samples, self.n_chan, self.length = n_src, n_samples, n_chan, filter_length
        L, ops = filter_length, backend
        self.n_fft = max(BLOCK_FFT, int(2 ** np.ceil(np.log2(4 * L))))
        self.block = self.n_fft - 2 * (L - 1)
        # Rows p = source * n_chan + channel (museval's order), zero-padded so every block's segment
        # [start - (L - 1), start + block + L - 1) can be sliced.
        rows = self.references.transpose(0, 2, 1).reshape(n_src * n_chan, n_samples)
        self.padded = np.pad(rows, ((0, 0), (L - 1, self.block + L - 1)))
        self.starts = list(range(0, n_samples, self.block))
        n_rows = n_src * n_chan
        # cross[p, q, j] = sum_t x_q[t + j - (L - 1)] x_p[t], lags -(L - 1) .. L - 1.
        cross = ops.zeros((n_rows, n_rows, self.n_fft // 2 + 1), complex_values=True)
        for first in range(0, len(self.starts), BLOCKS_PER_BATCH):
            starts = self.starts[first : first + BLOCKS_PER_BATCH]
            segments = self._segments(starts)  # (b, rows, bins)
            own = ops.rfft(ops.asarray(np.stack([self.padded[:, s + L - 1 : s + L - 1 + self.block] for s in starts])), self.n_fft)
            cross += ops.einsum("bqf,bpf->pqf", segments, own.conj())
        lagged = ops.irfft(cross, self.n_fft)[..., : 2 * L - 1]  # (p, q, 2L - 1)
        lags = np.subtract.outer(np.arange(L), np.arange(L)) + (L - 1)  # a - b, shifted
        gram = ops.zeros((n_rows * L, n_rows * L))
        for p in range(n_rows):
            for q in range(p, n_rows):
                # museval: corr of the pair p <= q gives block (p, q)[a, b] = corr[a - b] and block
                # (q, p) its transpose.
                block = lagged[p, q][ops.index(lags)]
                gram[p * L : (p + 1) * L, q * L : (q + 1) * L] = block
                gram[q * L : (q + 1) * L, p * L : (p + 1) * L] = block.T
        eps = np.finfo(float).eps
        self.solve_all = ops.solver(gram + eps * ops.eye(n_rows * L))
        size = n_chan * L
        self.solve_own = [
            ops.solver(gram[j * size : (j + 1) * size, j * size : (j + 1) * size] + eps * ops.eye(size)) for j in range(n_src)
        ]

    def _segments(self, starts: list[int]):
        """Spectra of the references' segments around blocks starting at ``starts``: ``(b, rows, bins)``."""
        span = self.block + 2 * (self.length - 1)
        return self.ops.rfft(self.ops.asarray(np.stack([self.padded[:, s : s + span] for s in starts])), self.n_fft)

    def filters(self, estimates: np.ndarray) -> tuple[Any, Any]:
        """Distortion filters of ``(n_methods, n_src, n_samples, n_chan)`` estimates.

        Returns ``(C, Cj)``: ``C`` ``(n_methods, n_src_est, n_src, n_chan, L, n_chan)`` projects
        each estimate on all references; ``Cj`` ``(n_methods, n_src, n_chan, L, n_chan)`` on its own
        reference alone (museval's ``C[jest]`` and ``Cj[jtrue, jtrue]``).
        """
        ops, L = self.ops, self.length
        n_methods, n_est = estimates.shape[:2]
        n_rows = self.n_src * self.n_chan
        columns = n_methods * n_est * self.n_chan
        flat = estimates.transpose(0, 1, 3, 2).reshape(columns, self.n_samples)  # column (m, e, c)
        flat = np.pad(flat, ((0, 0), (0, self.block)))
        # cross[p, col, j] = sum_t x_p[t + j - (L - 1)] est_col[t]; D[p, k, col] = cross[p, col, L - 1 - k].
        cross = ops.zeros((n_rows, columns, self.n_fft // 2 + 1), complex_values=True)
        for first in range(0, len(self.starts), BLOCKS_PER_BATCH):
            starts = self.starts[first : first + BLOCKS_PER_BATCH]
            blocks = ops.rfft(ops.asarray(np.stack([flat[:, s : s + self.block] for s in starts])), self.n_fft)
            cross += ops.einsum("bpf,bcf->pcf", self._segments(starts), blocks.conj())
        lagged = ops.flip_last(ops.irfft(cross, self.n_fft)[..., :L])  # (p, col, k) for k = 0 .. L - 1
        rhs = ops.permute(lagged, (0, 2, 1)).reshape(n_rows * L, columns)  # D[(p, k), col]
        solved = self.solve_all(rhs).reshape(n_rows, L, n_methods, n_est, self.n_chan)
        size = self.n_chan * L
        own = []
        for j in range(n_est):
            # the rows of D that belong to reference j, for estimate j of every method
            block = rhs[j * size : (j + 1) * size].reshape(size, n_methods, n_est, self.n_chan)[:, :, j, :]
            own.append(self.solve_own[j](block.reshape(size, n_methods * self.n_chan)).reshape(self.n_chan, L, n_methods, self.n_chan))
        C = ops.permute(solved.reshape(self.n_src, self.n_chan, L, n_methods, n_est, self.n_chan), (3, 4, 0, 1, 2, 5))
        Cj = ops.permute(ops.stack(own, axis=0), (3, 0, 1, 2, 4))  # (n_methods, n_src, n_chan, L, n_chan)
        return C, Cj

    def scores(self, estimates: np.ndarray, win: int, hop: int) -> list[Scores]:
        """``(SDR, ISR, SIR, SAR)`` per method of ``(n_methods, n_src, n_samples, n_chan)`` estimates."""
        n_methods = estimates.shape[0]
        C, Cj = self.filters(estimates)
        windows = _windows(self.n_samples, win, hop)
        results = np.full((4, n_methods, self.n_src, len(windows)), np.nan)
        for first in range(0, len(windows), FRAMES_PER_BATCH):
            batch = windows[first : first + FRAMES_PER_BATCH]
            for length in sorted({stop - start for start, stop in batch}):
                indices = [first + i for i, (start, stop) in enumerate(batch) if stop - start == length]
                self._score_windows(estimates, C, Cj, [windows[i] for i in indices], length, results, indices)
        return [tuple(results[k, m] for k in range(4)) for m in range(n_methods)]  # type: ignore[misc]

    def _score_windows(self, estimates, C, Cj, windows, length, results, indices) -> None:
        """museval's per-window decomposition and energy ratios, for windows of ``length`` samples."""
        import scipy.fft

        ops, L = self.ops, self.length
        n_fft = scipy.fft.next_fast_len(length + L - 1, real=True)
        refs = np.stack([self.references[:, start:stop] for start, stop in windows])  # (T, src, n, ch)
        ests = np.stack([estimates[:, :, start:stop] for start, stop in windows], axis=1)  # (M, T, src, n, ch)
        silent = _silent(refs)[None, :] | _silent(ests)  # (M, T)
        refs = ops.asarray(refs.transpose(0, 1, 3, 2))  # (T, src, ch, n)
        ests = ops.asarray(ests.transpose(0, 1, 2, 4, 3))  # (M, T, src, ch, n)
        ref_spectra = ops.rfft(refs, n_fft)  # (T, src, ch, bins)
        C_spectra = ops.rfft(ops.permute(C, (0, 1, 2, 3, 5, 4)), n_fft)  # (M, est, src, ch, ch_out, bins)
        Cj_spectra = ops.rfft(ops.permute(Cj, (0, 1, 2, 4, 3)), n_fft)  # (M, src, ch, ch_out, bins)
        out = length + L - 1
        # Projections of the window's references through the filters (museval's _project), length n + L - 1.
        p_all = ops.irfft(ops.einsum("tjkf,mejkcf->mtecf", ref_spectra, C_spectra), n_fft)[..., :out]
        p_own = ops.irfft(ops.einsum("tekf,mekcf->mtecf", ref_spectra, Cj_spectra), n_fft)[..., :out]

        def energy(signal):  # over channels and samples: (..., ch, n) -> (...)
            return ops.to_numpy((signal * signal).sum(-1).sum(-1))

        def energy_past(signal):  # of what lies beyond the window (the filters' tails), where s_true and the estimate are 0
            return energy(signal[..., length:])

        true_energy = energy(refs)[None]
        # museval's SDR denominator is e_spat + e_interf + e_artif, each computed from the projections:
        # mathematically the estimate minus the reference, but carrying the projections' rounding, so
        # an estimate equal to its reference scores a large finite SDR (about 300-400 dB), never the
        # +inf of an exact zero (which is not valid JSON either). The same sums, in its order.
        head = _distortion(p_own[..., :length], p_all[..., :length], refs[None], ests)
        tail = _distortion(p_own[..., length:], p_all[..., length:], 0.0, 0.0)  # the filters' tails: s_true = 0
        sdr = _db(true_energy, energy(head) + energy(tail))
        isr = _db(true_energy, energy(p_own[..., :length] - refs[None]) + energy_past(p_own))
        sir = _db(energy(p_own), energy(p_all - p_own))
        sar = _db(energy(p_all), energy(ests - p_all[..., :length]) + energy_past(p_all))
        for k, values in enumerate((sdr, isr, sir, sar)):
            values = np.broadcast_to(values, silent.shape + (self.n_src,)).copy()
            values[silent] = np.nan
            results[k][:, :, indices] = values.transpose(0, 2, 1)


# ----------------------------------------------------------------------------------------------
# Public API: museval.evaluate's signature
# ----------------------------------------------------------------------------------------------


def _checked(references: np.ndarray, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """museval's preparation (``pad_or_truncate``) and checks (``metrics.validate``), with its
    messages, without importing museval (seconds of imports in every worker process)."""
    references = np.atleast_3d(np.asarray(references))
    estimates = _pad_or_truncate(references, np.atleast_3d(np.asarray(estimates)))
    if references.shape != estimates.shape:
        raise ValueError(
            f"The shape of estimated sources and the true sources should match. reference_sources.shape = "
            f"{references.shape}, estimated_sources.shape = {estimates.shape}"
        )
    if references.ndim > 3 or estimates.ndim > 3:
        raise ValueError(f"The number of dimensions is too high (must be less than 3). reference_sources.ndim = {references.ndim}")
    if references.size and _silent(references):
        raise ValueError("All the reference sources should be non-silent (not all-zeros), but at least one of the reference sources is all 0s")
    if estimates.size and _silent(estimates):
        raise ValueError("All the estimated sources should be non-silent (not all-zeros), but at least one of the estimated sources is all 0s")
    return references, estimates


def evaluate_methods(
    references: np.ndarray,
    estimates: Mapping[str, np.ndarray],
    win: int = 1 * 44100,
    hop: int = 1 * 44100,
    *,
    backend: str = "auto",
) -> dict[str, Scores]:
    """BSSEval v4 of several methods' estimates of the same references, sharing the references' work.

    Args:
        references: ``(n_sources, n_samples, n_channels)``, as for ``museval.evaluate``.
        estimates: ``{method: (n_sources, n_samples, n_channels)}`` (cut or zero-padded to the
            references' length, as museval does).
        win, hop: window and hop in samples (museval's defaults: one second at 44.1 kHz).
        backend: ``auto``, ``numpy``, ``torch``, ``cuda`` or ``cpu`` (see :func:`get_backend`).

    Returns:
        ``{method: (SDR, ISR, SIR, SAR)}``, each ``(n_sources, n_windows)`` float64 dB, what
        ``museval.evaluate(references, estimates[method], win, hop)`` returns (to rounding).
    """
    if not estimates:
        return {}
    checked = {name: _checked(references, values) for name, values in estimates.items()}
    references = next(iter(checked.values()))[0]
    stacked = np.stack([values for _, values in checked.values()]).astype(np.float64, copy=False)
    projector = ReferenceProjector(references, get_backend(backend))
    return dict(zip(checked, projector.scores(stacked, int(win), int(hop))))


def evaluate(references: np.ndarray, estimates: np.ndarray, win: int = 1 * 44100, hop: int = 1 * 44100, *, backend: str = "auto") -> Scores:
    """``museval.evaluate(references, estimates, win, hop)`` (v4), computed fast: ``(SDR, ISR, SIR, SAR)``."""
    return evaluate_methods(references, {"estimates": estimates}, win, hop, backend=backend)["estimates"]
