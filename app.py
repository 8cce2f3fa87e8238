"""SAR Studio: entry point. Page config and navigation only (declared in pages/navigation.py); each tool lives in pages/."""

from core.compute import apply_thread_budget
from pages.navigation import declare_navigation

apply_thread_budget()  # every library's share of the CPUs, before a page loads torch, ONNX Runtime or GDAL
declare_navigation().run()
