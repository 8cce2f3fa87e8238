"""Network definitions, one per file, registered by name in `models.registry`.

Importing this package imports no network (and no torch): the registry's lookups (`models.registry.names`,
`build`, ...) import every module of this folder the first time they are asked, so a new network is one file.
"""
