"""ShopLens spiders: ``shop`` (schema.org Product pages) and ``catalogue`` (products.json)."""
