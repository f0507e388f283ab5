"""ShopLens serving: the TorchServe handler, .mar archiving and launcher (the Flask API is to come)."""
