import sys

from tavaal_nb.cli import main

sys.exit(main())
