"""Shoppers' corrections and the review queue, shared by the API (which writes them) and
training (which reads the accepted ones back): the tables (`models`), their Alembic
migrations (``migrations/``), the picture store on disk (`pictures`) and the store's API
(`store`, whose docstring lists its functions). Imports nothing from crawler, training or
serving.
"""
