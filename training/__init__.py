"""ShopLens training: fine-tune and evaluate garment classifiers (``python -m training``)."""
