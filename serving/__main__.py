import sys

from serving.operations.cli import main

sys.exit(main())
