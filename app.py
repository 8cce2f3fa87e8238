"""SAR Studio: entry point. Page config and navigation only (declared in pages/navigation.py); each tool lives in pages/.

Before any page runs, the modules every page shares are imported here, in one order, by whichever session comes
first: two first sessions that start the speckle and translation pages at once otherwise import them concurrently,
and one of them gets a half-initialised module ("cannot import name 'KEPT_CAPTION' from 'pages.components'", and
plotly's lazy pandas: "partially initialized module 'pandas' has no attribute 'Series'"), seen with bench/load.py at
4 sessions on 2026-12-02.
"""

from core.budget import bound_heap_growth
from core.compute import apply_thread_budget

apply_thread_budget()  # every library's share of the CPUs, before a page loads torch, ONNX Runtime or GDAL
bound_heap_growth()  # the C heap's mmap threshold fixed before the first page's arrays (server RSS, bench/load.py)

import pandas  # noqa: E402, F401, TID253  (plotly finds it in sys.modules while another session is still importing it)
import plotly.graph_objects  # noqa: E402, F401, TID253  (imported here once, before any page; see the docstring)

import pages.components  # noqa: E402, F401
from pages.navigation import declare_navigation  # noqa: E402

declare_navigation().run()
