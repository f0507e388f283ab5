"""ShopLens serving: the TorchServe handler, .mar archiving and launcher, and the HTTP API (``serving.api``)."""
