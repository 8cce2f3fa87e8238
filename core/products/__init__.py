"""Sentinel-1 products to analysis-ready data: noise removal, product forms, deburst, geocoding, terrain correction."""
