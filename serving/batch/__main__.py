"""``python -m serving.batch`` / ``shoplens-batch``; also the file ``spark-submit`` runs on a cluster."""

import sys

from serving.batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
