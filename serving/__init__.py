"""ShopLens serving: TorchServe handler and the Flask API (see the serving issue)."""
