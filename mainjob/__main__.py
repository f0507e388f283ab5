import sys

from mainjob.job import main

sys.exit(main())
