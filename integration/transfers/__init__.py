"""One module per kind of document: the mapping (pure) and the steps that write.

Each handler module registers itself with ``integration.core.handlers``; ``TransfersConfig.ready``
imports them all. A new kind of document adds its module to that list.
"""
