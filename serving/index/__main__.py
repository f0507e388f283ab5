import sys

from serving.index.cli import main

sys.exit(main())
