"""One module per kind of document; importing this package registers every handler.

Each module appends its import below.
"""
