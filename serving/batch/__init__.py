"""Batch classification on Spark: ``shoplens-batch classify`` labels and embeds a whole catalogue into
Parquet (``job``), ``shoplens-batch report`` turns that output into an HTML report with plots (``report``)."""
