"""Date formats per language, so every page writes a date the same way in that language.

English and Swedish pages write ISO dates (2026-12-01 14:05), Danish pages the Danish way
(01.12.2026 14:05). Templates use the named formats (``|date:"SHORT_DATETIME_FORMAT"``) rather
than patterns of their own; the stock admin pages follow ``DATETIME_FORMAT``.
"""
