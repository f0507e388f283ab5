"""Operating the serving stack from the host: ``shoplens-serve archive|up|promote`` (``cli``), ``.mar``
archiving, exporting a bundle that has no export first (``archive``), TorchServe's launcher and its
``config.properties`` (``torchserve``), the local stack of redis-server, TorchServes and the API
(``stack``), and promoting a retrained model only when it is not worse (``promote``)."""
