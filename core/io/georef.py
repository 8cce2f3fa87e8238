"""Georeference as GDAL knows it, carried from every input to every output.

One record, `GeoInfo`: CRS + affine transform (map-projected products), or ground control points + their CRS
(Sentinel-1 GRD/SLC as delivered, most L1 products), or RPCs; plus nodata, band descriptions, dataset and band
tags. `GeoInfo.from_dataset(ds)` reads it from an open rasterio dataset, `apply_to(ds)` writes it onto a dataset
opened for writing, `scaled(f)` gives the georeference of the same footprint sampled f times finer.

Pixel conventions (GDAL's): a transform and GCP pixel/line positions use the corner of the top-left pixel as
(0, 0), so a pixel centre is at i + 0.5; RPC LINE_OFF/SAMP_OFF use the centre of the top-left pixel as (0, 0).
Scaling by f maps corner coordinates u -> f·u, hence centre coordinates p -> f·(p + 0.5) - 0.5, hence
RPC offsets OFF -> f·OFF + (f - 1)/2 and scales SCALE -> f·SCALE (checked against GDAL's RPC transformer in
tests/io/test_io_georef.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class GeoInfo:
    """Georeference, nodata, band descriptions and tags of a raster."""

    crs: str | None = None  # WKT of the transform's CRS
    transform: tuple[float, ...] | None = None  # affine a, b, c, d, e, f (rasterio order)
    nodata: float | None = None
    gcps: tuple[tuple[float, float, float, float, float], ...] = ()  # (line, pixel, x, y, z), GDAL corner convention
    gcp_crs: str | None = None  # WKT of the GCPs' CRS (EPSG:4326 for Sentinel-1)
    rpcs: dict[str, str] = field(default_factory=dict)  # GDAL's RPC metadata domain, as strings
    band_descriptions: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)  # dataset tags (default domain)
    band_tags: tuple[dict[str, str], ...] = ()

    @property
    def has_transform(self) -> bool:
        return self.transform is not None and (self.crs is not None or tuple(self.transform) != IDENTITY)

    @property
    def kind(self) -> str:
        """How the raster sits on the map: "transform", "gcps", "rpcs" or "none"."""
        if self.has_transform:
            return "transform"
        if self.gcps:
            return "gcps"
        if self.rpcs:
            return "rpcs"
        return "none"

    @property
    def is_georeferenced(self) -> bool:
        return self.kind != "none"

    @property
    def crs_wkt(self) -> str | None:
        """The CRS that places the raster: the transform's, or the GCPs' (RPCs are always WGS 84)."""
        return self.crs if self.has_transform else self.gcp_crs if self.gcps else self.crs

    def scaled(self, factor: float) -> GeoInfo:
        """Georeference of the same footprint sampled `factor` times finer (e.g. 4 for x4 super-resolution)."""
        out = replace(self, rpcs=dict(self.rpcs), tags=dict(self.tags))
        if self.has_transform and self.transform is not None:  # an identity "transform" stays identity
            a, b, c, d, e, f = self.transform[:6]
            out.transform = (a / factor, b / factor, c, d / factor, e / factor, f)
        out.gcps = tuple((li * factor, px * factor, x, y, z) for li, px, x, y, z in self.gcps)
        if self.rpcs:
            rp = dict(self.rpcs)
            for off, scale in (("LINE_OFF", "LINE_SCALE"), ("SAMP_OFF", "SAMP_SCALE")):
                if off in rp:
                    rp[off] = repr(float(rp[off]) * factor + (factor - 1) / 2)
                if scale in rp:
                    rp[scale] = repr(float(rp[scale]) * factor)
            out.rpcs = rp
        return out

    def describe(self) -> str:
        """One line for notes: what places the raster on the map."""
        kind = self.kind
        if kind == "none":
            return "no georeference"
        name = crs_name(self.crs_wkt) if kind != "rpcs" else "WGS 84"
        if kind == "gcps":
            return f"{len(self.gcps)} ground control points ({name})"
        if kind == "rpcs":
            return f"RPCs ({name})"
        return f"transform ({name})"

    # ------------------------------------------------------------------------------------------ GDAL side

    @classmethod
    def from_dataset(cls, ds: Any) -> GeoInfo:
        """Everything GDAL reports for an open rasterio dataset."""
        t = ds.transform
        gcps, gcp_crs = ds.gcps
        rpcs = ds.rpcs
        return cls(
            crs=ds.crs.to_wkt() if ds.crs else None,
            transform=(t.a, t.b, t.c, t.d, t.e, t.f),
            nodata=None if ds.nodata is None else float(ds.nodata),
            gcps=tuple((float(g.row), float(g.col), float(g.x), float(g.y), float(g.z or 0.0)) for g in gcps),
            gcp_crs=gcp_crs.to_wkt() if gcps and gcp_crs else None,
            rpcs={k: str(v) for k, v in rpcs.to_gdal().items()} if rpcs else {},
            band_descriptions=tuple(d or "" for d in ds.descriptions),
            tags=dict(ds.tags()),
            band_tags=tuple(dict(ds.tags(i)) for i in range(1, ds.count + 1)),
        )

    def creation_profile(self) -> dict[str, Any]:
        """crs / transform / nodata for rasterio.open(..., "w", **profile)."""
        from rasterio.crs import CRS
        from rasterio.transform import Affine

        profile: dict[str, Any] = {}
        if self.has_transform and self.transform is not None:
            profile["transform"] = Affine(*self.transform[:6])
            if self.crs is not None:
                profile["crs"] = CRS.from_wkt(self.crs)
        if self.nodata is not None:
            profile["nodata"] = self.nodata
        return profile

    def apply_to(self, ds: Any, band_names: list[str] | None = None) -> None:
        """Write GCPs, RPCs, tags and descriptions onto a dataset opened for writing (profile did the rest).

        Band tags and descriptions of the input are kept where the band count matches; `band_names` wins."""
        from rasterio.control import GroundControlPoint
        from rasterio.crs import CRS
        from rasterio.rpc import RPC

        if self.gcps and not self.has_transform:
            points = [GroundControlPoint(row=li, col=px, x=x, y=y, z=z) for li, px, x, y, z in self.gcps]
            ds.gcps = (points, CRS.from_wkt(self.gcp_crs) if self.gcp_crs else None)
        if self.rpcs:
            ds.rpcs = RPC.from_gdal(dict(self.rpcs))
        tags = {k: v for k, v in self.tags.items() if k != "AREA_OR_POINT"}
        if tags:
            ds.update_tags(**tags)
        same_bands = len(self.band_tags) == ds.count
        for i in range(ds.count):
            if same_bands and self.band_tags[i]:
                ds.update_tags(i + 1, **self.band_tags[i])
            names = band_names or (list(self.band_descriptions) if len(self.band_descriptions) == ds.count else [])
            if i < len(names) and names[i]:
                ds.set_band_description(i + 1, names[i])


def crs_name(wkt: str | None) -> str:
    """A short CRS name (EPSG code where known)."""
    if not wkt:
        return "no CRS"
    from rasterio.crs import CRS

    crs = CRS.from_wkt(wkt)
    epsg = crs.to_epsg()
    name = crs.to_dict().get("proj", "") if epsg is None else ""
    return f"EPSG:{epsg}" if epsg is not None else (name or "custom CRS")
