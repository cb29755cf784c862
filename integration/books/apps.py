from django.apps import AppConfig


class BooksConfig(AppConfig):
    """What compares and reports: the reconciliation, its CSV/PDF, the posting preview, the shape check."""

    name = "integration.books"
    label = "books"
    verbose_name = "Books"
