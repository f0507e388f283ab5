"""The catalogue index for visual search: crawled product pictures embedded by a model bundle,
searched by cosine similarity (``store``), built and updated by ``shoplens-index`` (``build``, ``cli``)."""
