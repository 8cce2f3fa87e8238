"""SAR Studio: entry point. Page config and navigation only (declared in app_pages.py); each tool lives in pages/."""

from app_pages import declare_navigation

declare_navigation().run()
