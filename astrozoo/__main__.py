import sys

from astrozoo.cli import main

sys.exit(main())
