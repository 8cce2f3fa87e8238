"""Sentinel-1 products as delivered (.SAFE folder, manifest.safe or zip), read with our own parser into a windowed
`Source` (core.io.source) whose values are calibrated and noise-removed per window.

Modules: safexml (files of a folder or zip, XML parsed with DTDs refused), metadata (manifest and annotation:
measurements, size, geolocation grid, bursts), calibration (sigma0/beta0/gamma0 LUTs, bilinear per window),
noise (thermal noise power η, both IPF layouts), bursts (TOPS SLC deburst plan), reader (`open_swath`: one swath
as a windowed Source computing (I − η) / A² per window), merge (TOPS SLC swaths on one grid), product
(`open_product`: one swath or several merged, as --swath asks; `check_product` for `core info`).
Users open a product through `core.io.open_source`; the analysis-ready chain built on it is core.products.
"""
