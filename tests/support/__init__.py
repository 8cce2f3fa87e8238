"""What several test folders share and is not a fixture: builders of small generated inputs (a Sentinel-1 product
and its geometry, scenes for the memory tests, source projects' config files and folders), random-weight networks
with their hand-written functional references, and the AppTest entry for a page. Fixtures live in conftest.py
files; a test file never imports from another test file."""
