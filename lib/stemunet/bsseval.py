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

    def zeros(self, shape):
        return np.zeros(shape)

    def index(self, indices: np.ndarray):
        return indices

    def to_numpy(self, array) -> np.ndarray:
        return np.asarray(array)


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

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def index(self, indices: np.ndarray):
        return self.torch.as_tensor(indices, device=self.device)

    def to_numpy(self, array) -> np.ndarray:
        return array.detach().cpu().numpy()


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


def _pad_or_truncate(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """museval's ``pad_or_truncate``: estimates cut or zero-padded to the references' length."""
    n = references.shape[1]
    if estimates.shape[1] >= n:
        return estimates[:, :n]
    return np.pad(estimates, ((0, 0), (0, n - estimates.shape[1]), (0, 0)))


class ReferenceProjector:
    """Everything about one track's references that every estimate shares: their spectra, the
    Gram matrix of their delayed copies and its factorisations (whole and per source)."""

    def __init__(self, references: np.ndarray, backend, filter_length: int = FILTER_LENGTH):
        self.ops = backend
        self.references = np.asarray(references, dtype=np.float64)  # (n_src, n_samples, n_chan)
        n_src, n_samples, n_chan = self.references.shape
        self.n_src, self.n_samples, self.n_chan, self.length = n_src, n_samples, n_chan, filter_length
        self.n_fft = int(2 ** np.ceil(np.log2(n_samples + filter_length - 1.0)))
        L, ops = filter_length, backend
        # (n_src * n_chan, n_bins): row p = source * n_chan + channel, as museval orders them.
        signals = ops.asarray(self.references.transpose(0, 2, 1).reshape(n_src * n_chan, n_samples))
        self.spectra = ops.rfft(signals, self.n_fft)
        n_rows = n_src * n_chan
        gram = ops.zeros((n_rows * L, n_rows * L))
        lags = np.subtract.outer(np.arange(L), np.arange(L))  # a - b
        for p in range(n_rows):
            # museval: for pairs p <= q, corr = ifft(S_q conj(S_p)); block (p, q)[a, b] = corr[(a - b) mod n]
            # and block (q, p) its transpose.
            corr = ops.irfft(self.spectra[p:] * self.spectra[p].conj()[None], self.n_fft)  # (n_rows - p, n_fft)
            blocks = corr[:, ops.index(lags % self.n_fft)]  # (n_rows - p, L, L)
            for offset in range(n_rows - p):
                q = p + offset
                gram[p * L : (p + 1) * L, q * L : (q + 1) * L] = blocks[offset]
                gram[q * L : (q + 1) * L, p * L : (p + 1) * L] = blocks[offset].T
        eps = np.finfo(float).eps
        self.solve_all = ops.solver(gram + eps * ops.eye(n_rows * L))
        size = n_chan * L
        self.solve_own = [
            ops.solver(gram[j * size : (j + 1) * size, j * size : (j + 1) * size] + eps * ops.eye(size)) for j in range(n_src)
        ]

    def filters(self, estimates: np.ndarray) -> tuple[Any, Any]:
        """Distortion filters of ``(n_methods, n_src, n_samples, n_chan)`` estimates.

        Returns ``(C, Cj)``: ``C`` ``(n_methods, n_src_est, n_src, n_chan, L, n_chan)`` projects
        each estimate on all references; ``Cj`` ``(n_methods, n_src, n_chan, L, n_chan)`` on its own
        reference alone (museval's ``C[jest]`` and ``Cj[jtrue, jtrue]``).
        """
        ops, L = self.ops, self.length
        n_methods, n_est = estimates.shape[:2]
        n_rows = self.n_src * self.n_chan
        lags = ops.index((-np.arange(L)) % self.n_fft)  # museval: hstack(ssef[0], ssef[-1:-L:-1])
        columns = []
        for m in range(n_methods):
            for e in range(n_est):
                estimate = ops.asarray(estimates[m, e].T)  # (n_chan, n_samples)
                spectra = ops.rfft(estimate, self.n_fft)
                for c in range(self.n_chan):
                    corr = ops.irfft(self.spectra * spectra[c].conj()[None], self.n_fft)  # (n_rows, n_fft)
                    columns.append(corr[:, lags].reshape(n_rows * L))  # D[(p, k), c]
        rhs = _stack(ops, columns, axis=1)  # (n_rows * L, n_methods * n_est * n_chan)
        solved = self.solve_all(rhs).reshape(n_rows, L, n_methods, n_est, self.n_chan)
        size = self.n_chan * L
        own = []
        for j in range(n_est):
            # the rows of D that belong to reference j, for estimate j of every method
            block = rhs[j * size : (j + 1) * size].reshape(size, n_methods, n_est, self.n_chan)[:, :, j, :]
            own.append(self.solve_own[j](block.reshape(size, n_methods * self.n_chan)).reshape(self.n_chan, L, n_methods, self.n_chan))
        C = _permute(ops, solved.reshape(self.n_src, self.n_chan, L, n_methods, n_est, self.n_chan), (3, 4, 0, 1, 2, 5))
        Cj = _permute(ops, _stack(ops, own, axis=0), (3, 0, 1, 2, 4))  # (n_methods, n_src, n_chan, L, n_chan)
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
        ops, L = self.ops, self.length
        n_fft = int(2 ** np.ceil(np.log2(length + L - 1.0)))
        refs = np.stack([self.references[:, start:stop] for start, stop in windows])  # (T, src, n, ch)
        ests = np.stack([estimates[:, :, start:stop] for start, stop in windows], axis=1)  # (M, T, src, n, ch)
        silent = _silent(refs)[None, :] | _silent(ests)  # (M, T)
        ref_spectra = ops.rfft(ops.asarray(refs.transpose(0, 1, 3, 2)), n_fft)  # (T, src, ch, bins)
        C_spectra = ops.rfft(_permute(ops, C, (0, 1, 2, 3, 5, 4)), n_fft)  # (M, est, src, ch, ch_out, bins)
        Cj_spectra = ops.rfft(_permute(ops, Cj, (0, 1, 2, 4, 3)), n_fft)  # (M, src, ch, ch_out, bins)
        out = length + L - 1
        # Projections of the window's references through the filters (museval's _project).
        p_all = ops.irfft(ops.einsum("tjkf,mejkcf->mtecf", ref_spectra, C_spectra), n_fft)[..., :out]
        p_own = ops.irfft(ops.einsum("tekf,mekcf->mtecf", ref_spectra, Cj_spectra), n_fft)[..., :out]
        s_true = ops.zeros((1, len(windows), self.n_src, self.n_chan, out))
        s_true[..., :length] = ops.asarray(refs.transpose(0, 1, 3, 2))[None]
        estimate = ops.zeros((estimates.shape[0], len(windows), self.n_src, self.n_chan, out))
        estimate[..., :length] = ops.asarray(ests.transpose(0, 1, 2, 4, 3))

        def energy(signal):
            return ops.to_numpy((signal**2).sum(-1).sum(-1))  # over samples and channels: (M or 1, T, src)

        true_energy = energy(s_true)
        sdr = _db(true_energy, energy(estimate - s_true))
        isr = _db(true_energy, energy(p_own - s_true))
        sir = _db(energy(p_own), energy(p_all - p_own))
        sar = _db(energy(p_all), energy(estimate - p_all))
        for k, values in enumerate((sdr, isr, sir, sar)):
            values = np.broadcast_to(values, silent.shape + (self.n_src,)).copy()
            values[silent] = np.nan
            results[k][:, :, indices] = values.transpose(0, 2, 1)


def _stack(ops, arrays, axis: int):
    if isinstance(ops, NumpyBackend):
        return np.stack(arrays, axis=axis)
    return ops.torch.stack(arrays, dim=axis)


def _permute(ops, array, axes):
    if isinstance(ops, NumpyBackend):
        return np.transpose(array, axes)
    return array.permute(*axes)


# ----------------------------------------------------------------------------------------------
# Public API: museval.evaluate's signature
# ----------------------------------------------------------------------------------------------


def _checked(references: np.ndarray, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """museval's preparation and checks (the same errors for silent or mismatched sources)."""
    from museval.metrics import validate

    references = np.atleast_3d(np.array(references))
    estimates = _pad_or_truncate(references, np.atleast_3d(np.array(estimates)))
    validate(references, estimates)
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
    stacked = np.stack([values for _, values in checked.values()]).astype(np.float64)
    projector = ReferenceProjector(references, get_backend(backend))
    return dict(zip(checked, projector.scores(stacked, int(win), int(hop))))


def evaluate(references: np.ndarray, estimates: np.ndarray, win: int = 1 * 44100, hop: int = 1 * 44100, *, backend: str = "auto") -> Scores:
    """``museval.evaluate(references, estimates, win, hop)`` (v4), computed fast: ``(SDR, ISR, SIR, SAR)``."""
    return evaluate_methods(references, {"estimates": estimates}, win, hop, backend=backend)["estimates"]
