"""Sentinel-1 products, from the product as delivered to analysis-ready data in radar geometry.

Modules: safexml (files of a folder or zip, XML parsed with DTDs refused), metadata (manifest and annotation:
measurements, size, geolocation grid, bursts), calibration (sigma0/beta0/gamma0 LUTs, bilinear per window),
noise (thermal noise power η, both IPF layouts), bursts (TOPS SLC deburst plan), merge (TOPS SLC swaths on one grid), reader (`open_product`: a
windowed Source computing (I − η) / A² per window), chain (`prepare_product`: the whole chain to a GeoTIFF, with
a slot for the geometry step), geocode (GCPs -> north-up grid, thin-plate spline, no DEM), terrain (range-Doppler
terrain correction and RTC with the user's DEM).
"""
