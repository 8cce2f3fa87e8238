"""Network definitions, one per file, registered by name in `models.registry`.

Importing this package imports no network (torch): `models.registry` reads what each file declares from its text
and imports a network's module when that network is first built (`build`, `network_class`).
"""

from models.registry import REGISTRY, build, register  # noqa: F401
