import sys

from shoplens.demo import main

sys.exit(main())
