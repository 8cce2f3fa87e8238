"""SAR Studio: entry point. Page config and navigation only (declared in pages/navigation.py); each tool lives in pages/."""

from pages.navigation import declare_navigation

declare_navigation().run()
