"""The curves of a run as plain data: the loss at every step and, with a reference, the PSNR
of the output and of the moving average. No Qt: the plots draw a copy (flooring the loss for
their log axis), while recording and exporting read these raw values; an activation-
maximisation run's loss is negative and stays so here."""
from __future__ import annotations

import numpy as np


class GrowingSeries:
    """Two parallel arrays (x, y) with amortised O(1) appends of whole batches."""

    def __init__(self, capacity: int = 1024, x_dtype=np.int64, y_dtype=np.float64):
        self._x = np.empty(capacity, dtype=x_dtype)
        self._y = np.empty(capacity, dtype=y_dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, xs, ys) -> None:
        xs = np.asarray(xs).ravel()
        ys = np.asarray(ys).ravel()
        k = len(xs)
        if k != len(ys):
            raise ValueError("x and y batches differ in length")
        need = self._n + k
        if need > len(self._x):
            cap = max(len(self._x), 1)
            while cap < need:
                cap *= 2
            # np.resize would repeat the data; keep the prefix and leave the tail empty
            x = np.empty(cap, dtype=self._x.dtype)
            y = np.empty(cap, dtype=self._y.dtype)
            x[:self._n], y[:self._n] = self._x[:self._n], self._y[:self._n]
            self._x, self._y = x, y
        self._x[self._n:need] = xs
        self._y[self._n:need] = ys
        self._n = need

    @property
    def x(self) -> np.ndarray:
        return self._x[:self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self._n]

    def clear(self) -> None:
        self._n = 0


class RunCurves:
    """The loss per step and the PSNR curves ("output", "ema") of one run, unfloored."""

    def __init__(self) -> None:
        self.loss = GrowingSeries()
        self.psnr = {"output": GrowingSeries(256), "ema": GrowingSeries(256)}

    def __len__(self) -> int:
        return len(self.loss)

    def clear(self) -> None:
        self.loss.clear()
        for s in self.psnr.values():
            s.clear()

    def append_losses(self, steps, losses) -> None:
        if len(steps):
            self.loss.append(steps, losses)

    def add_psnr(self, step: int, values: dict) -> None:
        for key, series in self.psnr.items():
            if values.get(key) is not None:
                series.append([step], [values[key]])

    @classmethod
    def of_record(cls, rec) -> RunCurves:
        """The curves an app.runs.RunRecord keeps (a shown older run, a reopened project)."""
        curves = cls()
        curves.append_losses(np.asarray(rec.curve_steps), np.asarray(rec.curve_loss))
        for key, (steps, values) in (getattr(rec, "curve_psnr", None) or {}).items():
            if key in curves.psnr and len(steps):
                curves.psnr[key].append(steps, values)
        return curves

    def loss_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.loss.x.copy(), self.loss.y.copy()

    def psnr_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {k: (s.x.copy(), s.y.copy()) for k, s in self.psnr.items()}

    def csv_text(self) -> str:
        """step,loss,psnr_output,psnr_ema: one line per step of the loss curve."""
        out = dict(zip(self.psnr["output"].x.tolist(), self.psnr["output"].y.tolist()))
        ema = dict(zip(self.psnr["ema"].x.tolist(), self.psnr["ema"].y.tolist()))
        lines = ["step,loss,psnr_output,psnr_ema"]
        for s, loss in zip(self.loss.x.tolist(), self.loss.y.tolist()):
            o, e = out.get(s), ema.get(s)
            lines.append(f"{s},{loss:.8g},{'' if o is None else f'{o:.4f}'},{'' if e is None else f'{e:.4f}'}")
        return "\n".join(lines) + "\n"
