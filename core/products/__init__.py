"""Sentinel-1 products, from the product as read (core.io.sentinel1) to analysis-ready data.

Modules: chain (`prepare_product`: the whole chain to a GeoTIFF, with a slot for the geometry step), geocode (GCPs
-> north-up grid, thin-plate spline, no DEM), terrain (range-Doppler terrain correction and RTC with the user's
DEM), footprint (a product's outline and preview on the map), jobs (the chain as a background job of the page).
Reading a product (manifest, annotation, calibration, noise, deburst, swath merging) sits below, in core.io.sentinel1,
so that every engine opens a product through `core.io.open_source` without importing this package.
"""
