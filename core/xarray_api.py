"""Speckle filters for notebooks: numpy arrays and xarray DataArrays (rioxarray), lazy when the data is Dask-backed.

    import rioxarray
    from core import xarray_api as sx

    scene = rioxarray.open_rasterio("s1_vv.tif", chunks={"x": 2048, "y": 2048})  # lazy, (band, y, x)
    filtered = sx.despeckle(scene, "lee", window=7, looks=4.4)                   # still lazy
    filtered.rio.to_raster("s1_vv_lee.tif", tiled=True, compress="deflate")      # computes chunk by chunk

`despeckle(data, name, kind=..., **params)` takes what `core.speckle.despeckle` takes (the filter names and
parameters of core.speckle.FILTERS) and:
- numpy (H, W) or (H, W, C): returns numpy, the same values as `core.speckle.despeckle` (converted from and back to
  `kind`);
- DataArray (y, x) or (band, y, x), numpy- or Dask-backed: returns a DataArray with the same dims, coordinates,
  attributes, CRS and transform (or GCPs: the `spatial_ref` coordinate is kept), nodata where the input was
  invalid (NaN when it has no nodata value). A Dask-backed input stays lazy: each chunk is filtered with a halo of
  window // 2 pixels read from its neighbours (`dask.array.map_overlap`), and chunks at the image edge see the
  image edge itself (no padding), so the values equal the numpy path on the whole image.

Lazy limits: the number of looks is estimated from the whole image when not given, so a lazy input needs `looks=`
(`estimate_looks(da)` computes the estimate explicitly); MERLIN (global scaling, network tiles) runs on numpy only;
median and refined Lee use one image-wide value only where invalid pixels must be filled, and in a lazy run that
value is the chunk's (the same as numpy on data without NaN/nodata).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core import io as sio
from core.errors import UserError
from core.speckle import despeckle as despeckle_numpy
from core.speckle import estimate_enl, filter_spec

# Filters whose parameters include the number of looks (estimated from the whole image when not given).
_LOOKS_FILTERS = ("lee", "kuan", "gamma_map", "refined_lee")


def despeckle(data: Any, name: str, kind: str = "intensity", **params: Any) -> Any:
    """Filter `data` (numpy array or xarray.DataArray) with the speckle filter `name`; see the module docstring."""
    spec = filter_spec(name)
    if kind not in sio.KINDS:
        raise UserError(f"unknown kind {kind!r}; use one of {', '.join(sio.KINDS)}.")
    if isinstance(data, np.ndarray):
        return sio.from_intensity(despeckle_numpy(sio.to_intensity(data, kind), name, **params), kind)
    import xarray as xr  # heavy (xarray, pandas): only DataArray input needs it

    if not isinstance(data, xr.DataArray):
        raise UserError(f"despeckle takes a numpy array or an xarray.DataArray, got {type(data).__name__}.")
    if data.ndim not in (2, 3):
        raise UserError(f"expected dims (y, x) or (band, y, x), got {data.dims}; select the bands to filter.")
    nodata = _nodata(data)
    lazy = _is_dask(data.data)
    if lazy and spec.deep:
        raise UserError(f"{name} runs on a whole image; call .compute() first or use a classic filter for lazy data.")
    if lazy and name in _LOOKS_FILTERS and params.get("looks") is None:
        raise UserError(
            f"{name} estimates the looks from the whole image; give looks= for lazy data "
            "(core.xarray_api.estimate_looks(da) computes the estimate)."
        )
    fn = _BandFilter(name, kind, nodata, params)
    if lazy:
        import dask.array as dsa  # heavy: only Dask-backed input needs it

        halo = int(params.get("window") or _default_window(spec)) // 2
        if name == "median":
            halo *= 2  # invalid pixels are first filled with the local mean: two windows of reach
        depth = {0: 0, 1: halo, 2: halo} if data.ndim == 3 else {0: halo, 1: halo}
        out = dsa.map_overlap(fn, data.data, depth=depth, boundary="none", dtype=fn.out_dtype, trim=True)
    else:
        out = fn(np.asarray(data.values))
    result = data.copy(data=out)
    fill = _fill_value(nodata, kind)
    if fill is not None and hasattr(result, "rio"):
        result = result.rio.write_nodata(fill, encoded=False)
    return result


def estimate_looks(data: Any, band: int = 0) -> float:
    """The equivalent number of looks of one band (computes it: reads the whole band)."""
    arr = data if isinstance(data, np.ndarray) else np.asarray(data.values if data.ndim == 2 else data[band].values)
    if arr.ndim == 3:
        arr = arr[..., band]
    return estimate_enl(arr.astype(np.float32))


class _BandFilter:
    """The function run on each array (or chunk with its halo): per band, to intensity, filter, back to `kind`.

    A class rather than a closure so Dask can pickle it to distributed workers."""

    def __init__(self, name: str, kind: str, nodata: float | None, params: dict) -> None:
        self.name, self.kind, self.nodata, self.params = name, kind, nodata, dict(params)
        self.out_dtype = np.dtype(np.uint8 if kind == "display" else np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if block.size == 0:
            return np.empty(block.shape, self.out_dtype)
        if block.ndim == 2:
            return self._band(block)
        return np.stack([self._band(b) for b in block])

    def _band(self, band: np.ndarray) -> np.ndarray:
        valid = np.isfinite(band) if band.dtype.kind in "fc" else np.ones(band.shape, bool)
        if self.nodata is not None and np.isfinite(self.nodata):
            valid &= band != self.nodata
        inten = np.where(valid, sio.to_intensity(band, self.kind), np.float32(np.nan)).astype(np.float32)
        if not valid.any():
            res = inten
        else:
            res = despeckle_numpy(inten, self.name, **self.params)
        out = sio.from_intensity(res, self.kind)
        fill = _fill_value(self.nodata, self.kind)
        if out.dtype.kind == "f":
            out = np.where(np.isfinite(res), out, np.float32(np.nan if fill is None else fill)).astype(np.float32)
        return out


def _fill_value(nodata: float | None, kind: str) -> float | None:
    if kind == "display":
        return None
    return float(nodata) if nodata is not None and np.isfinite(nodata) else None


def _nodata(data) -> float | None:
    import rioxarray  # noqa: F401  # heavy: registers the .rio accessor, only DataArray input needs it

    nd = data.rio.nodata
    return None if nd is None else float(nd)


def _is_dask(arr) -> bool:
    return type(arr).__module__.startswith("dask.")


def _default_window(spec) -> int:
    for p in spec.params:
        if p.name == "window":
            return int(p.default)
    return 0
