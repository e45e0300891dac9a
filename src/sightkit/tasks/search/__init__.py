"""Similar-image search: a SQLite catalogue of classifier embeddings, queried by cosine similarity.

Example:
    >>> from sightkit.tasks.search.api import SearchIndex                       # doctest: +SKIP
    >>> SearchIndex.build("runs/shop/model", "catalogue/", "catalog.db")        # doctest: +SKIP
"""
